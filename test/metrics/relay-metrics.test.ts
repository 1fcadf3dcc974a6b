/**
 * `shadowmesh relay --metrics` as an operator meets it: a real relay process
 * with the listener on 127.0.0.1 and two real relay-only daemons; the scrape
 * is parsed strictly and the counters must move with traffic.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatPeerId } from '../../src/identity/peer-id.js';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';
import { runCliAsync, startDaemon, type DaemonProcess } from '../../testkit/daemon-process.js';
import { familyType, seriesValue } from '../../testkit/prometheus-exposition.js';
import { freePort } from '../../testkit/free-port.js';
import { httpGet, scrape } from '../../testkit/metrics-scrape.js';

let net: TestNetwork;
let relay: RelayProcess;
let metricsPort: number;
let sockDir: string;
const daemons: DaemonProcess[] = [];

function upArgs(member: string): string[] {
  const m = net.member(member);
  return ['--relay', relay.url, '--pin', relay.pin, '--ca', net.caFile, '--cert', m.certFile, '--dir', m.dir, '--dev', 'none', '--no-direct', '--control', join(sockDir, `${member}.sock`)];
}

before(async () => {
  net = await createTestNetwork({ members: ['alice', 'bob'] });
  sockDir = await mkdtemp(join(tmpdir(), 'sm-met-'));
  metricsPort = await freePort();
  relay = await startRelayProcess({ caFile: net.caFile, args: ['--metrics', `127.0.0.1:${metricsPort}`] });
});

after(async () => {
  for (const d of daemons) await d.stop();
  await relay?.stop();
  await net?.cleanup();
  if (sockDir) await rm(sockDir, { recursive: true, force: true });
});

test('relay /health and /ready answer 200 once it listens; the metrics carry their types', async () => {
  assert.equal((await httpGet(metricsPort, '/health')).status, 200);
  const ready = await httpGet(metricsPort, '/ready');
  assert.equal(ready.status, 200);
  assert.deepEqual(JSON.parse(ready.body), { status: 'ready' });
  assert.equal((await httpGet(metricsPort, '/stats')).status, 404, 'the metrics listener serves only its three paths');
  const f = await scrape(metricsPort);
  assert.equal(familyType(f, 'shadowmesh_relay_connections_active'), 'gauge');
  for (const name of ['connections_total', 'admissions_refused_total', 'frames_routed_total', 'bytes_routed_total', 'drops_total']) {
    assert.equal(familyType(f, `shadowmesh_relay_${name}`), 'counter', name);
  }
  assert.equal(familyType(f, 'shadowmesh_relay_admission_duration_seconds'), 'histogram');
  assert.equal(familyType(f, 'process_resident_memory_bytes'), 'gauge', 'default process metrics');
  assert.equal(seriesValue(f, 'shadowmesh_relay_connections_active'), 0);
});

test('connections, admissions and routed frames move when two members join and ping', async () => {
  daemons.push(...(await Promise.all([startDaemon(upArgs('alice')), startDaemon(upArgs('bob'))])));
  const before = await scrape(metricsPort);
  assert.equal(seriesValue(before, 'shadowmesh_relay_connections_active'), 2);
  assert.ok(seriesValue(before, 'shadowmesh_relay_connections_total')! >= 2);
  assert.ok(seriesValue(before, 'shadowmesh_relay_admission_duration_seconds_count')! >= 2, 'one admission observed per member');
  const routed0 = seriesValue(before, 'shadowmesh_relay_frames_routed_total') ?? 0;
  const bytes0 = seriesValue(before, 'shadowmesh_relay_bytes_routed_total') ?? 0;
  const r = await runCliAsync(['ping', formatPeerId(net.member('bob').peerId), '--count', '3', '--interval', '50ms', '--json', '--control', join(sockDir, 'alice.sock')]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { replies: unknown[] }).replies.length, 3);
  const after = await scrape(metricsPort);
  // Three pings and three pongs at least, all through the relay (both members run --no-direct).
  assert.ok(seriesValue(after, 'shadowmesh_relay_frames_routed_total')! >= routed0 + 6, `frames routed ${routed0} -> ${seriesValue(after, 'shadowmesh_relay_frames_routed_total')}`);
  assert.ok(seriesValue(after, 'shadowmesh_relay_bytes_routed_total')! > bytes0);
});

test('a bad --metrics value is one line on stderr and exit status 1', async () => {
  const r = await runCliAsync(['relay', '--ca', net.caFile, '--listen', '127.0.0.1:0', '--metrics', 'localhost']);
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^shadowmesh: --metrics: expected HOST:PORT or \[IPV6\]:PORT, e\.g\. 127\.0\.0\.1:9469, got "localhost" \(SM_ERR_CONFIG_VALUE\)$/);
});
