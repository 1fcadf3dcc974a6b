/**
 * `shadowmesh up --metrics` as an operator meets it: a real relay and two
 * real `up --dev none` daemons on 127.0.0.1 with direct paths on loopback.
 * Every scrape is parsed strictly; /ready must follow admission and the
 * path counters must move when the daemons go direct.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatPeerId } from '../../src/identity/peer-id.js';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';
import { runCliAsync, startDaemon, waitFor, type DaemonProcess } from '../../testkit/daemon-process.js';
import { familyType, seriesValue, type Family } from '../../testkit/prometheus-exposition.js';
import { freePort } from '../../testkit/free-port.js';
import { httpGet, scrape } from '../../testkit/metrics-scrape.js';

let net: TestNetwork;
let relay: RelayProcess;
let sockDir: string;
const daemons: Record<string, DaemonProcess> = {};
const ports: Record<string, number> = {};

function upArgs(member: string, relayUrl: string, pin: string, extra: string[]): string[] {
  const m = net.member(member);
  return ['--relay', relayUrl, '--pin', pin, '--ca', net.caFile, '--cert', m.certFile, '--dir', m.dir, '--dev', 'none', '--control', join(sockDir, `${member}.sock`), ...extra];
}

function ping(from: string, to: string, count: number): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return runCliAsync(['ping', formatPeerId(net.member(to).peerId), '--count', String(count), '--interval', '50ms', '--json', '--control', join(sockDir, `${from}.sock`)]);
}

const value = (f: Map<string, Family>, name: string, labels: Record<string, string> = {}): number => seriesValue(f, name, labels) ?? Number.NaN;

before(async () => {
  net = await createTestNetwork({ members: ['alice', 'bob', 'carol'] });
  sockDir = await mkdtemp(join(tmpdir(), 'sm-met-'));
  relay = await startRelayProcess({ caFile: net.caFile });
});

after(async () => {
  for (const d of Object.values(daemons)) await d.stop();
  await relay?.stop();
  await net?.cleanup();
  if (sockDir) await rm(sockDir, { recursive: true, force: true });
});

test('before admission /health is 200 and /ready is 503 with the reason', async () => {
  // A relay that is not there: the daemon keeps trying until its startup timeout, then exits 1.
  const closed = await freePort();
  const port = await freePort();
  const run = runCliAsync(['up', ...upArgs('carol', `wss://127.0.0.1:${closed}`, relay.pin, ['--no-direct', '--startup-timeout', '4s', '--metrics', `127.0.0.1:${port}`])]);
  const ready = await waitFor('carol /ready to answer', async () => httpGet(port, '/ready').catch(() => undefined), 8_000, 50);
  assert.equal(ready.status, 503);
  assert.deepEqual(JSON.parse(ready.body), { status: 'not ready', reason: 'not admitted by the relay' });
  assert.equal((await httpGet(port, '/health')).status, 200);
  const f = await scrape(port);
  assert.equal(value(f, 'shadowmesh_relay_connected'), 0);
  const r = await run;
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /SM_ERR_DAEMON_RELAY_UNREACHABLE/);
});

test('after admission /ready is 200 and the node metrics are there with their types', async () => {
  ports['alice'] = await freePort();
  ports['bob'] = await freePort();
  const [a, b] = await Promise.all(['alice', 'bob'].map((m) => startDaemon(upArgs(m, relay.url, relay.pin, ['--p2p-listen', '127.0.0.1', '--metrics', `127.0.0.1:${ports[m]}`]))));
  daemons['alice'] = a!;
  daemons['bob'] = b!;
  for (const m of ['alice', 'bob']) {
    const ready = await httpGet(ports[m]!, '/ready');
    assert.equal(ready.status, 200, `${m}: ${ready.body}`);
    const f = await scrape(ports[m]!);
    assert.equal(value(f, 'shadowmesh_relay_connected'), 1);
    for (const [name, type] of [
      ['shadowmesh_peers', 'gauge'], ['shadowmesh_paths', 'gauge'], ['shadowmesh_frames_total', 'counter'], ['shadowmesh_bytes_total', 'counter'],
      ['shadowmesh_drops_total', 'counter'], ['shadowmesh_handshakes_total', 'counter'], ['shadowmesh_p2p_migrations_total', 'counter'],
      ['shadowmesh_p2p_fallbacks_total', 'counter'], ['shadowmesh_p2p_retries_total', 'counter'], ['shadowmesh_p2p_migration_duration_seconds', 'histogram'],
      ['shadowmesh_chat_messages_total', 'counter'], ['process_cpu_user_seconds_total', 'counter'],
    ] as const) assert.equal(familyType(f, name), type, `${m}: ${name}`);
  }
});

test('pings move the frame counters; going direct moves paths, migrations, retries and the migration histogram', async () => {
  const before = await scrape(ports['alice']!);
  const r = await ping('alice', 'bob', 3);
  assert.equal(r.status, 0, r.stderr);
  const afterPing = await scrape(ports['alice']!);
  assert.ok(value(afterPing, 'shadowmesh_frames_total', { direction: 'out' }) >= (seriesValue(before, 'shadowmesh_frames_total', { direction: 'out' }) ?? 0) + 3);
  assert.ok(value(afterPing, 'shadowmesh_frames_total', { direction: 'in' }) >= 3);
  assert.ok(value(afterPing, 'shadowmesh_bytes_total', { direction: 'in' }) > 0);
  assert.ok(value(afterPing, 'shadowmesh_handshakes_total') >= 1);
  assert.equal(value(afterPing, 'shadowmesh_peers'), 1);
  // Both daemons move to the direct path on their own once the session exists (PATH_OFFER inside it).
  for (const m of ['alice', 'bob']) {
    await waitFor(`${m} on a direct path`, async () => {
      const f = await scrape(ports[m]!);
      return value(f, 'shadowmesh_paths', { kind: 'direct' }) === 1 && value(f, 'shadowmesh_p2p_migrations_total', { status: 'to_direct' }) >= 1 ? true : undefined;
    }, 20_000, 100);
  }
  // The first frame sent on the new path completes the migration; pings provide it.
  await waitFor('a completed migration timed on alice', async () => {
    const p = await ping('alice', 'bob', 1);
    assert.equal(p.status, 0, p.stderr);
    return value(await scrape(ports['alice']!), 'shadowmesh_p2p_migration_duration_seconds_count') >= 1 ? true : undefined;
  }, 20_000, 100);
  const fa = await scrape(ports['alice']!);
  const fb = await scrape(ports['bob']!);
  assert.equal(value(fa, 'shadowmesh_paths', { kind: 'relay' }), 0);
  // Retries count backoff-driven attempts (path-timers.ts); an offer answered at once needs none, so only their presence is fixed.
  for (const f of [fa, fb]) for (const status of ['ok', 'failed']) assert.ok(value(f, 'shadowmesh_p2p_retries_total', { status }) >= 0, status);
  assert.ok(value(fb, 'shadowmesh_p2p_migrations_total', { status: 'to_direct' }) >= 1);
  assert.equal(value(fa, 'shadowmesh_p2p_fallbacks_total'), 0);
  assert.ok(value(fa, 'shadowmesh_p2p_migration_duration_seconds_sum') >= 0);
});

test('a bad --metrics value for up is one line on stderr and exit status 1', async () => {
  const r = await runCliAsync(['up', ...upArgs('carol', relay.url, relay.pin, ['--metrics', '127.0.0.1:99999'])]);
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^shadowmesh: --metrics: expected HOST:PORT or \[IPV6\]:PORT, e\.g\. 127\.0\.0\.1:9469, got "127\.0\.0\.1:99999" \(SM_ERR_CONFIG_VALUE\)$/);
});

test('stream refusals are shadowmesh_drops_total{component="streams"} with their reasons, beside the open-streams gauge', async () => {
  // carol: a SOCKS5 proxy; bob (no device, no --serve-loopback) refuses every stream; "nobody" names no member.
  const port = await freePort();
  const socks = await freePort();
  const carol = await startDaemon(upArgs('carol', relay.url, relay.pin, ['--no-direct', '--metrics', `127.0.0.1:${port}`, '--socks5', `127.0.0.1:${socks}`]));
  daemons['carol'] = carol;
  const before = await scrape(port);
  assert.equal(familyType(before, 'shadowmesh_streams_open'), 'gauge');
  assert.equal(value(before, 'shadowmesh_streams_open'), 0);
  const bobAddress = net.member('bob').certificate.addresses[0]!.split('/')[0]!;
  const reply = async (host: string): Promise<number> => {
    const { connect } = await import('node:net');
    const s = connect(socks, '127.0.0.1');
    let got = Buffer.alloc(0);
    s.on('data', (c: Buffer) => { got = Buffer.concat([got, c]); });
    s.on('error', () => {});
    s.write(Buffer.concat([Buffer.from([5, 1, 0, 5, 1, 0, 3, host.length]), Buffer.from(host), Buffer.from([0, 80])]));
    for (let i = 0; i < 400 && got.length < 4 && !s.destroyed; i++) await new Promise((r) => setTimeout(r, 25));
    s.destroy();
    return got[3] ?? -1;
  };
  assert.equal(await reply('nobody'), 0x04);
  // bob is listed a moment after carol's admission: until then his address is no member's (0x04 too).
  // He accepts no streams (Disabled): general failure, 0x01.
  const refused = await waitFor('bob listed and refusing', async () => ((await reply(bobAddress)) === 0x01 ? true : undefined), 20_000, 200);
  assert.equal(refused, true);
  const f = await scrape(port);
  assert.equal(value(f, 'shadowmesh_drops_total', { component: 'streams', reason: 'socks_unknown_name' }), 1);
  assert.equal(value(f, 'shadowmesh_drops_total', { component: 'streams', reason: 'socks_refused' }), 1);
  assert.equal(value(f, 'shadowmesh_drops_total', { component: 'streams', reason: 'refused_exit_denied' }), Number.NaN, 'carol accepts no streams: no acceptor counters');
  assert.equal(value(f, 'shadowmesh_streams_open'), 0);
  // The same counts as status shows them (streams.<reason>).
  const st = await runCliAsync(['status', '--json', '--control', join(sockDir, 'carol.sock')]);
  const drops = (JSON.parse(st.stdout) as { drops: Record<string, number> }).drops;
  assert.equal(drops['streams.socks_unknown_name'], 1);
  assert.equal(drops['streams.socks_refused'], 1);
});
