/**
 * `shadowmesh up` / `status` / `peers` / `ping` end to end, as a user meets
 * them: a real relay process and two real `up --dev none` daemons on
 * 127.0.0.1, with control sockets in a temp directory.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatPeerId } from '../../src/identity/peer-id.js';
import type { PeersResult, PingResult, StatusResult } from '../../src/node/control/control-protocol.js';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';
import { runCliAsync, startDaemon, waitFor, type CliRun, type DaemonProcess } from '../../testkit/daemon-process.js';

let net: TestNetwork;
let other: TestNetwork;
let relay: RelayProcess;
let sockDir: string;
const daemons: Record<string, DaemonProcess> = {};

function sock(name: string): string {
  return join(sockDir, `${name}.sock`);
}

function upArgs(member: string, extra: string[] = []): string[] {
  const m = net.member(member);
  return ['--relay', relay.url, '--pin', relay.pin, '--ca', net.caFile, '--crl', net.crlFile, '--cert', m.certFile, '--dir', m.dir, '--dev', 'none', '--control', sock(member), ...extra];
}

/** Direct paths on loopback only: the test talks to no address but 127.0.0.1. */
function directArgs(member: string): string[] {
  return upArgs(member, ['--p2p-listen', '127.0.0.1']);
}

function oneLine(r: CliRun, pattern: RegExp): void {
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(r.status, 1, `exit status; stderr: ${r.stderr}`);
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^shadowmesh: .*\(SM_ERR_[A-Z_]+\)$/);
  assert.match(lines[0]!, pattern);
  assert.ok(!r.stderr.includes('    at '), 'no stack trace');
}

before(async () => {
  net = await createTestNetwork({ members: ['alice', 'bob', 'carol', 'dave'] });
  other = await createTestNetwork({ members: ['mallory'], caName: 'another network' });
  sockDir = await mkdtemp(join(tmpdir(), 'sm-ctl-'));
  relay = await startRelayProcess({ caFile: net.caFile, crlFile: net.crlFile });
  // alice and bob stay on the relay (--no-direct) so these tests see relay paths; carol and dave go direct.
  const [a, b] = await Promise.all([startDaemon(upArgs('alice', ['--no-direct'])), startDaemon(upArgs('bob', ['--no-direct']))]);
  daemons['alice'] = a;
  daemons['bob'] = b;
});

after(async () => {
  for (const d of Object.values(daemons)) await d.stop();
  await relay?.stop();
  await net?.cleanup();
  await other?.cleanup();
  if (sockDir) await rm(sockDir, { recursive: true, force: true });
});

test('up prints one ready line naming the node, no device, its address and the relay', () => {
  const a = daemons['alice']!;
  assert.equal(a.shortId, formatPeerId(net.member('alice').peerId).slice(0, 8));
  assert.equal(a.readyLine, `node ${a.shortId} up: device none ${net.member('alice').certificate.addresses.join(',')} via relay ${relay.url}`);
});

test('the control socket is created 0600', async () => {
  const st = await stat(sock('alice'));
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o777, 0o600);
});

test('status --json reports identity, no device and the relay connection', async () => {
  const r = await runCliAsync(['status', '--json', '--control', sock('alice')]);
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout) as StatusResult;
  assert.equal(s.peerId, formatPeerId(net.member('alice').peerId));
  assert.equal(s.name, 'alice');
  assert.deepEqual(s.addresses, net.member('alice').certificate.addresses);
  assert.equal(s.device, null);
  assert.equal(s.relay.connected, true);
  assert.equal(s.relay.url, relay.url);
  assert.equal(s.relay.observedAddress, '127.0.0.1');
  assert.ok(typeof s.relay.observedPort === 'number' && s.relay.observedPort > 0);
  assert.ok(s.relay.connects >= 1);
  assert.ok(s.uptimeMs >= 0);
  const human = await runCliAsync(['status', '--control', sock('alice')]);
  assert.equal(human.status, 0, human.stderr);
  assert.match(human.stdout, /relay +wss:\/\/127\.0\.0\.1:\d+\/? connected, seen as 127\.0\.0\.1:\d+/);
  assert.match(human.stdout, /device +none/);
});

test('ping --count 3 --json gets three replies over the relay; then peers shows the session on both sides', async () => {
  const bobHex = formatPeerId(net.member('bob').peerId);
  const r = await runCliAsync(['ping', bobHex, '--count', '3', '--interval', '100ms', '--json', '--control', sock('alice')]);
  assert.equal(r.status, 0, r.stderr);
  const p = JSON.parse(r.stdout) as PingResult;
  assert.equal(p.replies.length, 3, r.stdout);
  assert.deepEqual(p.replies.map((x) => x.seq), [1, 2, 3]);
  for (const x of p.replies) {
    assert.equal(x.path, 'relay');
    assert.ok(x.rttMs >= 0 && x.rttMs < 5_000, `rtt ${x.rttMs}`);
  }
  assert.deepEqual(p.lost, []);
  assert.equal(p.summary.sent, 3);
  assert.equal(p.summary.received, 3);
  assert.equal(p.summary.lossPercent, 0);
  assert.equal(p.peer.name, 'bob');

  for (const [self, peer] of [['alice', 'bob'], ['bob', 'alice']] as const) {
    const pr = await runCliAsync(['peers', '--json', '--control', sock(self)]);
    assert.equal(pr.status, 0, pr.stderr);
    const list = (JSON.parse(pr.stdout) as PeersResult).peers;
    assert.equal(list.length, 1, pr.stdout);
    const e = list[0]!;
    assert.equal(e.peerId, formatPeerId(net.member(peer).peerId));
    assert.equal(e.name, peer);
    assert.deepEqual(e.addresses, net.member(peer).certificate.addresses);
    assert.equal(e.path, 'relay');
    assert.equal(e.session.established, true);
    assert.ok(e.session.ageMs !== null && e.session.ageMs >= 0);
    assert.ok(e.session.lastHandshakeAgoMs !== null && e.session.lastHandshakeAgoMs >= 0);
    assert.ok(e.stats.framesIn >= 3 && e.stats.framesOut >= 3, JSON.stringify(e.stats));
    assert.ok(e.stats.bytesIn > 0 && e.stats.bytesOut > 0);
  }
  const human = await runCliAsync(['peers', '--control', sock('alice')]);
  assert.equal(human.status, 0, human.stderr);
  assert.match(human.stdout, /^NAME +PEER/);
  assert.match(human.stdout, /\nbob +[0-9a-f]{16} +\S+ +relay +up /);
});

test('with direct paths, peers shows the direct path with its remote address, and pings report it', async () => {
  const [c, d] = await Promise.all([startDaemon(directArgs('carol')), startDaemon(directArgs('dave'))]);
  daemons['carol'] = c;
  daemons['dave'] = d;
  const daveHex = formatPeerId(net.member('dave').peerId);
  const direct = await waitFor('carol to reach dave directly', async () => {
    await runCliAsync(['ping', daveHex, '--count', '1', '--json', '--control', sock('carol')]);
    const pr = await runCliAsync(['peers', '--json', '--control', sock('carol')]);
    const e = (JSON.parse(pr.stdout) as PeersResult).peers.find((x) => x.name === 'dave');
    return e?.path === 'direct' ? e : undefined;
  }, 30_000);
  assert.match(direct.remote, /^127\.0\.0\.1:\d+$/);
  assert.ok(direct.migrations.to_direct >= 1);
  assert.equal(direct.fallbacks, 0);
  const r = await runCliAsync(['ping', 'dave', '--count', '2', '--interval', '50ms', '--json', '--control', sock('carol')]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual((JSON.parse(r.stdout) as PingResult).replies.map((x) => x.path), ['direct', 'direct']);
  const human = await runCliAsync(['peers', '--control', sock('carol')]);
  assert.match(human.stdout, /dave .* direct (udp|wss) 127\.0\.0\.1:\d+/);
  // carol and dave are members alice sees too, but the relay-only pair never went direct
  const ap = (JSON.parse((await runCliAsync(['peers', '--json', '--control', sock('alice')])).stdout) as PeersResult).peers;
  assert.ok(ap.every((x) => x.path === 'relay'), JSON.stringify(ap.map((x) => [x.name, x.path])));
});

test('ping by member name and by mesh address once the session exists; human output shows each reply and a summary', async () => {
  const byName = await runCliAsync(['ping', 'alice', '--count', '2', '--interval', '50ms', '--control', sock('bob')]);
  assert.equal(byName.status, 0, byName.stderr);
  assert.equal((byName.stdout.match(/^reply from alice: seq=\d+ rtt=\d+\.\d{3} ms path=relay$/gm) ?? []).length, 2, byName.stdout);
  assert.match(byName.stdout, /2 sent, 2 received, 0% loss, rtt min\/avg\/max/);
  const addr = net.member('alice').certificate.addresses[0]!.split('/')[0]!;
  const byAddr = await runCliAsync(['ping', addr, '--count', '1', '--json', '--control', sock('bob')]);
  assert.equal(byAddr.status, 0, byAddr.stderr);
  assert.equal((JSON.parse(byAddr.stdout) as PingResult).peer.peerId, formatPeerId(net.member('alice').peerId));
});

test('ping of an unknown member is one line with a code, exit 1', async () => {
  const r = await runCliAsync(['ping', 'nobody', '--count', '1', '--control', sock('alice')]);
  oneLine(r, /no known member matches "nobody".*SM_ERR_CONTROL_UNKNOWN_PEER/);
  const bad = await runCliAsync(['ping', 'bob', '--count', '0', '--control', sock('alice')]);
  oneLine(bad, /--count.*SM_ERR_CONFIG_VALUE/);
});

function rawExchange(path: string, payload: string, lines: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    let buf = '';
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`no ${lines} answers; got ${JSON.stringify(buf)}`)); }, 5_000);
    s.setEncoding('utf8');
    s.on('connect', () => s.write(payload));
    s.on('data', (c: string) => {
      buf += c;
      const got = buf.split('\n').filter((l) => l.length > 0);
      if (got.length >= lines) { clearTimeout(timer); s.destroy(); resolve(got.slice(0, lines)); }
    });
    s.on('close', () => { clearTimeout(timer); resolve(buf.split('\n').filter((l) => l.length > 0)); });
    s.on('error', reject);
  });
}

test('malformed requests on the socket get coded errors and the daemon keeps serving', async () => {
  const answers = await rawExchange(sock('alice'), [
    'not json',
    '[1,2]',
    '{"id":-1,"method":"status"}',
    '{"id":5,"method":"reboot"}',
    '{"id":6,"method":"status","params":{"x":1}}',
    '{"id":7,"method":"ping","params":{"peer":"bob","count":1e9}}',
    '{"id":8,"method":"status"}',
  ].join('\n') + '\n', 7);
  const parsed = answers.map((l) => JSON.parse(l) as { id: number | null; error?: { code: string }; result?: unknown });
  assert.deepEqual(parsed.slice(0, 6).map((a) => [a.id, a.error?.code]), [
    [null, 'SM_ERR_CONTROL_REQUEST'],
    [null, 'SM_ERR_CONTROL_REQUEST'],
    [null, 'SM_ERR_CONTROL_REQUEST'],
    [5, 'SM_ERR_CONTROL_METHOD'],
    [6, 'SM_ERR_CONTROL_PARAMS'],
    [7, 'SM_ERR_CONTROL_PARAMS'],
  ]);
  assert.equal(parsed[6]!.id, 8);
  assert.equal((parsed[6]!.result as StatusResult).name, 'alice');
  // An oversized line is refused and the connection closed.
  const big = await rawExchange(sock('alice'), 'x'.repeat(64 * 1024), 1);
  assert.equal((JSON.parse(big[0]!) as { error: { code: string } }).error.code, 'SM_ERR_CONTROL_TOO_LARGE');
  const still = await runCliAsync(['status', '--json', '--control', sock('alice')]);
  assert.equal(still.status, 0, still.stderr);
});

test('a second daemon on a live control socket is refused before it joins; the first keeps running', async () => {
  const r = await runCliAsync(['up', ...upArgs('alice')]);
  oneLine(r, /another daemon answers on .*alice\.sock.*SM_ERR_CONTROL_IN_USE/);
  const still = await runCliAsync(['status', '--json', '--control', sock('alice')]);
  assert.equal(still.status, 0, still.stderr);
  assert.equal((JSON.parse(still.stdout) as StatusResult).relay.connected, true);
});

test('up with a certificate of another network exits 1 with one line', async () => {
  const m = other.member('mallory');
  const r = await runCliAsync(['up', '--relay', relay.url, '--pin', relay.pin, '--ca', net.caFile, '--cert', m.certFile, '--dir', m.dir, '--dev', 'none', '--control', sock('mallory')]);
  oneLine(r, /not a valid member certificate of the network.*another CA.*SM_ERR_CERT_NOT_MEMBER/);
});

test('up with bad options or files exits 1 with one line', async () => {
  const base = upArgs('bob').filter((_, i, a) => a[i - 1] !== '--control' && a[i] !== '--control');
  const runs: Array<[string[], RegExp]> = [
    [[...base, '--control', sock('x1'), '--relay', 'http://127.0.0.1:1'], /--relay: expected wss:\/\/HOST:PORT.*SM_ERR_CONFIG_VALUE/],
    [[...base, '--control', sock('x2'), '--pin', 'sha256:abc'], /--pin.*SM_ERR_CONFIG_VALUE/],
    [[...base, '--control', sock('x3'), '--dev', 'eth'], /--dev: expected tap, tun or none.*SM_ERR_CONFIG_VALUE/],
    [[...base, '--control', sock('x4'), '--cert', join(sockDir, 'absent.crt')], /absent\.crt.*SM_ERR_/],
    [[...base, '--control', sock('x5'), '--cert', net.member('alice').certFile], /is for peer .* but the identity.*SM_ERR_DAEMON_CERT_MISMATCH/],
    // Subnet routes are TUN-only, and served only when the CA signed some (docs/architecture.md "Subnet routes").
    [[...base, '--control', sock('x6'), '--accept-routes'], /--accept-routes needs --dev tun.*SM_ERR_DAEMON_ROUTES_DEVICE/],
    [[...base.map((x, i, all) => (all[i - 1] === '--dev' ? 'tap' : x)), '--control', sock('x7'), '--advertise-routes'], /--advertise-routes needs --dev tun.*SM_ERR_DAEMON_ROUTES_DEVICE/],
    [[...base.map((x, i, all) => (all[i - 1] === '--dev' ? 'tun' : x)), '--control', sock('x8'), '--advertise-routes'], /carries no route.*ca sign --route.*SM_ERR_DAEMON_ROUTES_NONE/],
    // Exit nodes (docs/configuration.md "Exit nodes"): TUN, or --dev none for streams only; a marked certificate to serve, another member to use.
    [[...base.map((x, i, all) => (all[i - 1] === '--dev' ? 'tap' : x)), '--control', sock('x9'), '--exit-node', 'alice'], /--exit-node needs --dev tun .* or --dev none .*got --dev tap.*SM_ERR_DAEMON_EXIT_NODE_DEVICE/],
    [[...base, '--control', sock('x14'), '--exit-node', 'alice', '--exit-node-fallback'], /--exit-node-fallback needs --dev tun: with --dev none only streams.*SM_ERR_DAEMON_EXIT_NODE_DEVICE/],
    [[...base, '--control', sock('x15'), '--advertise-exit-node'], /carries no exit mark.*ca sign --exit.*SM_ERR_DAEMON_EXIT_NODE_NOT_EXIT/],
    [[...base.map((x, i, all) => (all[i - 1] === '--dev' ? 'tun' : x)), '--control', sock('x10'), '--advertise-exit-node'], /carries no exit mark.*ca sign --exit.*SM_ERR_DAEMON_EXIT_NODE_NOT_EXIT/],
    [[...base.map((x, i, all) => (all[i - 1] === '--dev' ? 'tun' : x)), '--control', sock('x11'), '--exit-node', 'bob'], /--exit-node "bob": that is this member.*SM_ERR_DAEMON_EXIT_NODE_NAME/],
    [[...base.map((x, i, all) => (all[i - 1] === '--dev' ? 'tun' : x)), '--control', sock('x12'), '--exit-node', '192.0.2.7'], /--exit-node "192\.0\.2\.7": not inside our mesh subnets.*SM_ERR_DAEMON_EXIT_NODE_NAME/],
    [[...base.map((x, i, all) => (all[i - 1] === '--dev' ? 'tun' : x)), '--control', sock('x13'), '--exit-node-fallback'], /--exit-node-fallback needs --exit-node NAME.*SM_ERR_DAEMON_EXIT_NODE_NAME/],
  ];
  const results = await Promise.all(runs.map(([args]) => runCliAsync(['up', ...args])));
  results.forEach((r, i) => oneLine(r, runs[i]![1]));
});

test('up that cannot reach its relay or open its device exits 1, its last line saying why, no stack trace', async () => {
  const base = upArgs('bob').filter((_, i, a) => a[i - 1] !== '--control' && a[i] !== '--control');
  const runs: Array<[string[], RegExp]> = [
    // nothing listens on port 1 of loopback
    [[...base, '--control', sock('y1'), '--relay', 'wss://127.0.0.1:1', '--startup-timeout', '2s'], /^shadowmesh: relay wss:\/\/127\.0\.0\.1:1 did not admit this node within 2000 ms; last error: .*ECONNREFUSED.*\(SM_ERR_DAEMON_RELAY_UNREACHABLE\)$/],
    // the loopback interface is no TUN device (as non-root: the capability message)
    [[...base.map((a, i, all) => (all[i - 1] === '--dev' ? 'tun' : a)), '--control', sock('y2'), '--name', 'lo'], /^shadowmesh: .*(lo|CAP_NET_ADMIN).*\(SM_ERR_DEVICE_[A-Z_]+\)$/],
  ];
  const results = await Promise.all(runs.map(([args]) => runCliAsync(['up', ...args])));
  results.forEach((r, i) => {
    assert.equal(r.status, 1, r.stderr);
    const last = r.stderr.trimEnd().split('\n').pop()!;
    assert.match(last, runs[i]![1]);
    assert.ok(!r.stderr.includes('    at '), 'no stack trace');
  });
});

test('a daemon stops on SIGTERM with exit 0 and removes its socket; status then says no daemon is listening', async () => {
  const b = daemons['bob']!;
  assert.equal(await b.stop(), 0, b.stderr());
  delete daemons['bob'];
  await assert.rejects(stat(sock('bob')), { code: 'ENOENT' });
  const r = await runCliAsync(['status', '--control', sock('bob')]);
  oneLine(r, /no daemon listening on .*bob\.sock: is `shadowmesh up` running\? \(SM_ERR_CONTROL_NO_DAEMON\)/);
  // alice hears from the relay that bob left: he is no longer a member she can reach.
  const lost = await waitFor('alice to report bob lost', async () => {
    const p = await runCliAsync(['ping', 'bob', '--count', '1', '--json', '--control', sock('alice')], {}, 30_000);
    return p.status === 1 ? p : undefined;
  }, 20_000);
  const lostError = (JSON.parse(lost.stderr) as { error: { code: string; message: string } }).error;
  assert.equal(lostError.code, 'SM_ERR_CONTROL_UNKNOWN_PEER');
  assert.match(lostError.message, /no known member matches "bob": is it online\?/);
  const peers = JSON.parse((await runCliAsync(['peers', '--json', '--control', sock('alice')])).stdout) as { peers: Array<{ name: string | null; online: boolean }> };
  assert.equal(peers.peers.find((p) => p.name === 'bob')?.online ?? false, false, 'bob is listed offline or not at all');
});
