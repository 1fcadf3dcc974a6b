/**
 * The metrics listener, the exposition parser the tests rely on, and the
 * relay and node collectors against fake sources, in one process (each with
 * its own registry).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { request } from 'node:http';
import { createMetricsRegistry } from '../../src/metrics/metrics-registry.js';
import { MetricsServer, parseMetricsAddress } from '../../src/metrics/metrics-server.js';
import { registerNodeMetrics, type NodeMetricsSource } from '../../src/metrics/node-metrics.js';
import { registerRelayMetrics } from '../../src/metrics/relay-metrics.js';
import type { RelayStatsSnapshot } from '../../src/relay/relay-stats.js';
import { familyType, parseExposition, seriesValue } from '../../testkit/prometheus-exposition.js';

function get(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('parseMetricsAddress takes HOST:PORT and [IPV6]:PORT and names the flag otherwise', () => {
  assert.deepEqual(parseMetricsAddress('127.0.0.1:9469'), { host: '127.0.0.1', port: 9469 });
  assert.deepEqual(parseMetricsAddress('[::1]:0'), { host: '::1', port: 0 });
  for (const bad of ['9469', '127.0.0.1', '127.0.0.1:65536', 'host:port', ':80', '']) {
    assert.throws(() => parseMetricsAddress(bad), (e: Error & { code?: string }) => e.code === 'SM_ERR_CONFIG_VALUE' && e.message.startsWith('--metrics: expected HOST:PORT'), bad);
  }
});

test('the exposition parser reads what it should and rejects malformed lines', () => {
  const ok = parseExposition(
    '# HELP a_total A thing.\n# TYPE a_total counter\na_total{reason="x",b="q\\"uo\\\\te"} 3\na_total 1e3\n' +
      '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 0.5\nh_count 2\n# a comment\n\n',
  );
  assert.equal(familyType(ok, 'a_total'), 'counter');
  assert.equal(seriesValue(ok, 'a_total', { reason: 'x', b: 'q"uo\\te' }), 3);
  assert.equal(seriesValue(ok, 'a_total'), 1000);
  assert.equal(seriesValue(ok, 'h_bucket', { le: '+Inf' }), 2);
  assert.equal(seriesValue(ok, 'h_count'), 2);
  const bad = [
    '# TYPE a counter\na{x="1"} one',
    '# TYPE a counter\na{x=1} 1',
    '# TYPE a counter\na{x="1} 1',
    '# TYPE a counter\na{1x="1"} 1',
    '# TYPE a counter\na 1 2 3',
    '# TYPE a counter\n1a 1',
    '# TYPE a counter\na{x="1"}1',
    '# TYPE a counter\na 1\na 2',
    '# TYPE a widget\na 1',
    'orphan 1',
    '# TYPE a counter\na{x="\\q"} 1',
  ];
  for (const text of bad) assert.throws(() => parseExposition(text), /line \d+:/, JSON.stringify(text));
});

test('the server serves /metrics, /health and /ready, 404 elsewhere, 405 for other methods; stop is idempotent', async () => {
  const registry = createMetricsRegistry();
  let ready = false;
  const server = new MetricsServer({ registry, ready: () => (ready ? { ok: true } : { ok: false, reason: 'waiting for the relay' }) }, { host: '127.0.0.1', port: 0 });
  await server.start();
  await server.start();
  try {
    assert.ok(server.port > 0);
    const m = await get(server.port, '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.type, /^text\/plain; version=0\.0\.4/);
    const fams = parseExposition(m.body);
    assert.equal(familyType(fams, 'process_cpu_user_seconds_total'), 'counter', 'default process metrics are registered');
    assert.equal((await get(server.port, '/health')).status, 200);
    const notReady = await get(server.port, '/ready');
    assert.equal(notReady.status, 503);
    assert.deepEqual(JSON.parse(notReady.body), { status: 'not ready', reason: 'waiting for the relay' });
    ready = true;
    assert.equal((await get(server.port, '/ready')).status, 200);
    assert.equal((await get(server.port, '/ready', 'HEAD')).status, 200);
    assert.equal((await get(server.port, '/stats')).status, 404);
    assert.equal((await get(server.port, '/metrics', 'POST')).status, 405);
  } finally {
    await server.stop();
    await server.stop();
  }
  await assert.rejects(get(server.port, '/health'));
});

test('a listener that cannot bind is an SM_ERR_METRICS_LISTEN naming the flag', async () => {
  const a = new MetricsServer({ registry: createMetricsRegistry(), ready: () => ({ ok: true }) }, { host: '127.0.0.1', port: 0 });
  await a.start();
  try {
    const b = new MetricsServer({ registry: createMetricsRegistry(), ready: () => ({ ok: true }) }, { host: '127.0.0.1', port: a.port });
    await assert.rejects(b.start(), (e: Error & { code?: string }) => e.code === 'SM_ERR_METRICS_LISTEN' && e.message.startsWith('--metrics: cannot listen'));
    await b.stop();
  } finally {
    await a.stop();
  }
});

test('relay metrics copy the stats snapshot at scrape time, with reasons as labels', async () => {
  const registry = createMetricsRegistry();
  const snap: RelayStatsSnapshot = {
    activeClients: 2, pendingClients: 1, totalConnections: 5, admissionAttempts: 4, admissions: 3, framesRouted: 10, bytesRouted: 1234,
    peerUpSent: 2, peerDownSent: 0, admissionsRefused: { revoked: 1 }, drops: { unreachable: 2 }, disconnects: {},
  };
  const obs = registerRelayMetrics(registry, () => ({ snapshot: () => snap }));
  obs.admission(0.02);
  let f = parseExposition(await registry.metrics());
  assert.equal(seriesValue(f, 'shadowmesh_relay_connections_active'), 2);
  assert.equal(familyType(f, 'shadowmesh_relay_connections_total'), 'counter');
  assert.equal(seriesValue(f, 'shadowmesh_relay_connections_total'), 5);
  assert.equal(seriesValue(f, 'shadowmesh_relay_admissions_refused_total', { reason: 'revoked' }), 1);
  assert.equal(seriesValue(f, 'shadowmesh_relay_drops_total', { reason: 'unreachable' }), 2);
  assert.equal(seriesValue(f, 'shadowmesh_relay_bytes_routed_total'), 1234);
  assert.equal(seriesValue(f, 'shadowmesh_relay_admission_duration_seconds_count'), 1);
  assert.equal(seriesValue(f, 'shadowmesh_relay_admission_duration_seconds_bucket', { le: '0.025' }), 1);
  snap.framesRouted = 11;
  snap.drops = { unreachable: 2, 'queue-full': 1 };
  f = parseExposition(await registry.metrics());
  assert.equal(seriesValue(f, 'shadowmesh_relay_frames_routed_total'), 11);
  assert.equal(seriesValue(f, 'shadowmesh_relay_drops_total', { reason: 'queue-full' }), 1);
});

test('two registries in one process do not share series', async () => {
  const a = createMetricsRegistry();
  const b = createMetricsRegistry();
  const snap = { activeClients: 0, pendingClients: 0, totalConnections: 0, admissionAttempts: 0, admissions: 0, framesRouted: 7, bytesRouted: 0, peerUpSent: 0, peerDownSent: 0, admissionsRefused: {}, drops: {}, disconnects: {} };
  registerRelayMetrics(a, () => ({ snapshot: () => snap }));
  registerRelayMetrics(b, () => null);
  assert.equal(seriesValue(parseExposition(await a.metrics()), 'shadowmesh_relay_frames_routed_total'), 7);
  assert.equal(seriesValue(parseExposition(await b.metrics()), 'shadowmesh_relay_frames_routed_total'), 0);
});

test('node metrics read sessions, paths, drops and chat; the migration histogram follows the event', async () => {
  const registry = createMetricsRegistry();
  const paths = Object.assign(new EventEmitter(), {
    stats: { migrations: { to_direct: 1, to_relay: 0 }, fallbacks: 0, retries: { ok: 1, failed: 2 }, drops: { stopped: 0, ack_unknown: 1 } },
    pathInfos: () => new Map([['aa', { path: 'direct', carrier: 'udp' }], ['bb', { path: 'relay', carrier: 'relay' }], ['cc', { path: 'direct', carrier: 'wss' }], ['dd', { path: 'direct', carrier: 'udp' }]]),
  });
  const peer = (established: boolean, framesIn: number) => ({ established, stats: { framesIn, framesOut: 2 * framesIn, bytesIn: 100 * framesIn, bytesOut: 200 * framesIn, handshakes: 1 }, drops: { replay: 1 } });
  const source: NodeMetricsSource = {
    node: {
      link: { established: {}, stats: { drops: { 'not-established': 3 } } },
      peers: { drops: { malformed: 0 } },
      paths,
      dataplane: null,
      udp: { stats: { punches: 3, established: 2, roams: 1, drops: { bad_mac: 4 }, candidatesRefused: { multicast: 2 } }, natMapping: 'endpoint-dependent' },
      rendezvous: { stats: { candidatesRefused: { loopback: 1 } } },
      peerList: () => [peer(true, 1), peer(false, 2)],
    },
    pinger: { drops: { malformed: 0 } },
    chatService: { drops: { session_dropped: 1 }, stats: { delivered: 4, acked: 5 } },
    chatInbox: { drops: { backlog_full: 0 } },
  };
  registerNodeMetrics(registry, source);
  paths.emit('migration_complete', new Uint8Array(32), 9);
  const f = parseExposition(await registry.metrics());
  assert.equal(seriesValue(f, 'shadowmesh_peers'), 1);
  assert.equal(seriesValue(f, 'shadowmesh_relay_connected'), 1);
  assert.equal(seriesValue(f, 'shadowmesh_frames_total', { direction: 'in' }), 3);
  assert.equal(seriesValue(f, 'shadowmesh_bytes_total', { direction: 'out' }), 600);
  assert.equal(seriesValue(f, 'shadowmesh_handshakes_total'), 2);
  assert.equal(seriesValue(f, 'shadowmesh_paths', { kind: 'direct' }), 3);
  assert.equal(seriesValue(f, 'shadowmesh_direct_paths', { carrier: 'udp' }), 2);
  assert.equal(seriesValue(f, 'shadowmesh_direct_paths', { carrier: 'wss' }), 1);
  assert.equal(seriesValue(f, 'shadowmesh_udp_punches_total'), 3);
  assert.equal(seriesValue(f, 'shadowmesh_udp_paths_established_total'), 2);
  assert.equal(seriesValue(f, 'shadowmesh_udp_roams_total'), 1);
  assert.equal(seriesValue(f, 'shadowmesh_nat_mapping', { mapping: 'endpoint-dependent' }), 1);
  assert.equal(seriesValue(f, 'shadowmesh_nat_mapping', { mapping: 'endpoint-independent' }), 0);
  assert.equal(seriesValue(f, 'shadowmesh_drops_total', { component: 'udp', reason: 'bad_mac' }), 4);
  assert.equal(seriesValue(f, 'shadowmesh_candidates_refused_total', { transport: 'udp', reason: 'multicast' }), 2);
  assert.equal(seriesValue(f, 'shadowmesh_candidates_refused_total', { transport: 'wss', reason: 'loopback' }), 1);
  assert.equal(seriesValue(f, 'shadowmesh_paths', { kind: 'relay' }), 1);
  assert.equal(seriesValue(f, 'shadowmesh_p2p_migrations_total', { status: 'to_direct' }), 1);
  assert.equal(seriesValue(f, 'shadowmesh_p2p_migrations_total', { status: 'to_relay' }), 0);
  assert.equal(seriesValue(f, 'shadowmesh_p2p_retries_total', { status: 'failed' }), 2);
  assert.equal(seriesValue(f, 'shadowmesh_p2p_fallbacks_total'), 0);
  assert.equal(seriesValue(f, 'shadowmesh_drops_total', { component: 'link', reason: 'not-established' }), 3);
  assert.equal(seriesValue(f, 'shadowmesh_drops_total', { component: 'session', reason: 'replay' }), 2);
  assert.equal(seriesValue(f, 'shadowmesh_drops_total', { component: 'paths', reason: 'ack_unknown' }), 1);
  assert.equal(seriesValue(f, 'shadowmesh_drops_total', { component: 'chat', reason: 'session_dropped' }), 1);
  assert.equal(seriesValue(f, 'shadowmesh_chat_messages_total', { direction: 'in' }), 4);
  assert.equal(seriesValue(f, 'shadowmesh_p2p_migration_duration_seconds_count'), 1);
  assert.equal(seriesValue(f, 'shadowmesh_p2p_migration_duration_seconds_bucket', { le: '0.01' }), 1);
  assert.equal(seriesValue(f, 'shadowmesh_p2p_migration_duration_seconds_bucket', { le: '0.005' }), 0);
});
