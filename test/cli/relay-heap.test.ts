/**
 * src/cli/relay-heap.ts: the relay process keeps V8's heap near its live
 * size (docs/configuration.md "Relay memory"). Real child
 * processes run the same allocation pattern a relay's presence makes —
 * a long-lived set plus medium-lived batches that outlive the young
 * generation — once with limitRelayHeapGrowth() and once without, and the
 * largest heap each reached is compared, on every Node the suite runs
 * (20 and 24: Node 24's V8 ignored the growing factor alone). An
 * operator's own flags are left alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { relayHeapFlagsToApply } from '../../src/cli/relay-heap.js';

const MODULE = fileURLToPath(new URL('../../src/cli/relay-heap.js', import.meta.url));
/** A child's run takes a second or two; generous for a loaded machine. */
const CHILD_TIMEOUT_MS = 120_000;
/** Measured 115 against 315 MiB (Node 20), 136-139 against 320-350 MiB (Node 24): a limit that did nothing fails by a wide margin. */
const MAX_RATIO = 0.75;

/** ~20 MiB alive throughout; 400 batches of 2,000 objects, each batch alive for the next 40 (~50 MiB). */
const WORKLOAD = `
import { getHeapStatistics } from 'node:v8';
const [, modulePath, mode] = process.argv;
if (mode === 'limited') {
  const { limitRelayHeapGrowth } = await import(modulePath);
  if (limitRelayHeapGrowth().length !== 2) throw new Error('not applied');
}
const live = Array.from({ length: 20_000 }, (_, i) => ({ i, pad: new Array(100).fill(i) }));
const ring = [];
let max = 0;
for (let round = 0; round < 400; round++) {
  ring.push(Array.from({ length: 2_000 }, (_, i) => ({ round, i, pad: new Array(60).fill(round) })));
  if (ring.length > 40) ring.shift();
  max = Math.max(max, getHeapStatistics().total_heap_size);
}
process.stdout.write(JSON.stringify({ max, live: live.length }));
`;

function largestHeap(mode: 'limited' | 'default'): number {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', WORKLOAD, MODULE, mode], { encoding: 'utf8', timeout: CHILD_TIMEOUT_MS });
  assert.equal(r.status, 0, `${mode}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { max: number }).max;
}

test('a process that applied the relay heap limit grows its heap far less under the same garbage', () => {
  const limited = largestHeap('limited');
  const dflt = largestHeap('default');
  assert.ok(limited < dflt * MAX_RATIO, `largest heap ${(limited / 2 ** 20).toFixed(0)} MiB limited, ${(dflt / 2 ** 20).toFixed(0)} MiB by default`);
});

test('a heap flag the operator gave Node, on its command line or in NODE_OPTIONS, is kept', () => {
  assert.deepEqual(relayHeapFlagsToApply([], ''), ['--heap-growing-percent=25', '--semi-space-growth-factor=1']);
  assert.deepEqual(relayHeapFlagsToApply(['--heap-growing-percent=50'], ''), ['--semi-space-growth-factor=1']);
  assert.deepEqual(relayHeapFlagsToApply(['--heap_growing_percent', '50'], ''), ['--semi-space-growth-factor=1']);
  assert.deepEqual(relayHeapFlagsToApply([], '--max-old-space-size=900  --semi-space-growth-factor=2'), ['--heap-growing-percent=25']);
  assert.deepEqual(relayHeapFlagsToApply(['--semi_space_growth_factor=4'], '--heap-growing-percent=10'), []);
  // A longer flag that only begins like one of them is not it.
  assert.deepEqual(relayHeapFlagsToApply(['--heap-growing-percentage=5'], ''), ['--heap-growing-percent=25', '--semi-space-growth-factor=1']);
});
