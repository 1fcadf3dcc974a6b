/**
 * How far the relay process lets V8's heap grow past what a collection left
 * alive (docs/configuration.md "Relay memory").
 *
 * A relay's JavaScript garbage is mostly medium-lived: presence sets that
 * wait for a flush, frames that wait for their socket's write. It outlives
 * the young generation and piles up in the old one, and V8's default
 * heuristics let the old generation grow to several times its live size
 * before collecting it: at 10,000 members the heap was 400+ MiB for
 * 140-190 MiB alive. Two V8 flags keep it near its live size:
 *
 *  - the old generation's growing factor, fixed at 1 + RELAY_HEAP_GROWING_PERCENT
 *    / 100: it is collected sooner, at the price of more frequent
 *    (concurrent, mostly off the main thread) full collections;
 *  - the young generation's growth factor, fixed at 1: it stays at its
 *    initial size instead of doubling under load. On Node 24, whose young
 *    generation grew to 64 MiB under a relay's load, the first flag alone
 *    changed nothing (~330 MiB with or without it on the workload of
 *    test/cli/relay-heap.test.ts, ~137 MiB with both); it works there only
 *    with the young generation kept small.
 *
 * Both can be set after V8 started (v8.setFlagsFromString), unlike the
 * semi-space sizes, so the relay applies them itself and a relay started
 * by hand gets them as well as one started by systemd
 * (BENCHMARKS.md "One relay holding many members").
 *
 * `shadowmesh relay` calls limitRelayHeapGrowth() once, before it loads its
 * configuration; a flag the operator gave Node (on its command line or in
 * NODE_OPTIONS) is kept. Process-wide: never call it from a node or a test
 * process that is not a relay.
 */
import { setFlagsFromString } from 'node:v8';

/** Old-generation growth past the live size before the next full
 *  collection, in percent: 25 keeps a 10,000-member relay's heap within a
 *  few tens of MiB of what is alive, while a full collection is still
 *  needed only after a quarter of the live heap was allocated anew. */
export const RELAY_HEAP_GROWING_PERCENT = 25;

/** The young generation keeps its initial size. */
export const RELAY_SEMI_SPACE_GROWTH_FACTOR = 1;

/** The flags limitRelayHeapGrowth() applies, by name. */
export const RELAY_HEAP_FLAGS: ReadonlyArray<readonly [name: string, value: number]> = [
  ['heap-growing-percent', RELAY_HEAP_GROWING_PERCENT],
  ['semi-space-growth-factor', RELAY_SEMI_SPACE_GROWTH_FACTOR],
];

/** V8 accepts `-` and `_` alike in a flag's name. */
function givesFlag(args: readonly string[], name: string): boolean {
  const spellings = [name, name.replaceAll('-', '_')].map((n) => `--${n}`);
  return args.some((a) => spellings.some((s) => a === s || a.startsWith(`${s}=`)));
}

/**
 * The relay's heap flags Node was not started with (execArgv, or
 * NODE_OPTIONS split on blanks), as `--name=value`.
 */
export function relayHeapFlagsToApply(execArgv: readonly string[], nodeOptions: string): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/).filter((a) => a !== '')];
  return RELAY_HEAP_FLAGS.filter(([name]) => !givesFlag(given, name)).map(([name, value]) => `--${name}=${value}`);
}

/** Set the relay's heap flags for this process, each unless Node was started with it; returns the flags applied. */
export function limitRelayHeapGrowth(): string[] {
  const flags = relayHeapFlagsToApply(process.execArgv, process.env['NODE_OPTIONS'] ?? '');
  for (const flag of flags) setFlagsFromString(flag);
  return flags;
}
