/**
 * Single-relay mode stays the default and loads nothing of the relay
 * cluster (docs/architecture.md "Relay cluster"): a real relay process
 * started without --cluster resolves no module of @nats-io and not
 * src/relay/cluster/relay-cluster.js; started with --cluster it loads both.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelayProcess } from '../../testkit/relay-process.js';
import { createTestNetwork } from '../../testkit/test-network.js';

const TRACE_HOOK = new URL('../../testkit/module-trace.js', import.meta.url).href;

async function loadedBy(args: string[]): Promise<string[]> {
  const net = await createTestNetwork();
  const dir = await mkdtemp(join(tmpdir(), 'sm-lazy-'));
  const trace = join(dir, 'modules.txt');
  const relay = await startRelayProcess({ caFile: net.caFile, args: ['--no-stun', ...args], env: { NODE_OPTIONS: `--import ${TRACE_HOOK}`, SHADOWMESH_MODULE_TRACE: trace } });
  try {
    // With --cluster the NATS client is imported when the background connection starts.
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    await relay.stop();
  }
  const text = await readFile(trace, 'utf8');
  await rm(dir, { recursive: true, force: true });
  await net.cleanup();
  return text.split('\n').filter((l) => l !== '');
}

test('a relay without --cluster loads nothing of NATS or the cluster; with --cluster it does', async () => {
  const single = await loadedBy([]);
  assert.ok(single.some((u) => u.endsWith('/src/relay/relay-server.js')), 'the trace sees the relay itself');
  assert.deepEqual(single.filter((u) => u.includes('@nats-io') || u.endsWith('/relay-cluster.js') || u.endsWith('/nats-link.js')), []);
  // Nothing listens on this port: the relay keeps retrying in the background.
  const clustered = await loadedBy(['--cluster', 'nats://127.0.0.1:1']);
  assert.ok(clustered.some((u) => u.endsWith('/src/relay/cluster/relay-cluster.js')));
  assert.ok(clustered.some((u) => u.includes('@nats-io/transport-node')));
});

test('a relay whose NATS is unreachable serves and stops cleanly on SIGTERM (exit 0)', async () => {
  const net = await createTestNetwork();
  const relay = await startRelayProcess({ caFile: net.caFile, args: ['--no-stun', '--cluster', 'nats://127.0.0.1:1'] });
  try {
    await new Promise((r) => setTimeout(r, 1_500));
    const stats = await relay.stats();
    assert.equal(stats.cluster?.natsConnected, false);
  } finally {
    assert.equal(await relay.stop(), 0);
    await net.cleanup();
  }
});
