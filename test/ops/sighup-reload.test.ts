/**
 * SIGHUP reloads the configuration file of a running node and a running
 * relay without dropping sessions (issue 7 "Lifecycle";
 * docs/configuration.md "Reloading on SIGHUP"). Real processes on
 * 127.0.0.1: a relay and alice run from config files, bob and carol from
 * flags, all `--dev none`.
 *
 * Node: alice's file moves log.level info -> debug, points node.crl at a
 * list revoking carol, changes node.p2p.retryInterval (live: the path
 * manager's timers) and node.p2p.connectTimeout (restart-only).
 * After SIGHUP debug records appear (a TLS client without a certificate at
 * her direct-path listener is logged at debug, and was not before), carol
 * leaves her peers and cannot be pinged, the path timers in force report the
 * new retry interval, a warning names node.p2p.connectTimeout, and her
 * session with bob is the same one (age
 * kept growing, no handshake, relay link never reconnected) and answers
 * pings. A file with three problems is then logged problem by problem and
 * changes nothing (still debug); a good file back at info makes the debug
 * records stop.
 *
 * Relay: its file moves log.level to debug, relay.crl to a list revoking
 * carol and relay.heartbeat (restart-only): carol is disconnected as
 * revoked, alice and bob keep their admission (no new one) and their pings,
 * a warning names relay.heartbeat, debug records appear (a non-TLS client);
 * an invalid file changes nothing.
 *
 * "No debug record" is checked after a later info record of the same process
 * (an unchanged reload) is seen: stderr is ordered, so an earlier debug
 * record would have arrived first.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PeersResult, PingResult, StatusResult } from '../../src/node/control/control-protocol.js';
import { DirectCode } from '../../src/node/path/path-errors.js';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';
import { runCliAsync, startDaemon, waitFor, type DaemonProcess } from '../../testkit/daemon-process.js';
import { loggedRecords, logRecords } from '../../testkit/log-records.js';
import { freePort } from '../../testkit/free-port.js';

/** A reload takes milliseconds; generous for a loaded machine. */
const RELOAD_WAIT_MS = 20_000;
/** A probe connection is answered in milliseconds; cut it past this. */
const PROBE_TIMEOUT_MS = 10_000;

let net: TestNetwork;
let relay: RelayProcess;
let dir: string;
let aliceYaml: string;
let relayYaml: string;
let aliceCrl: string;
let relayCrl: string;
let alicePort: number;
const daemons: Record<string, DaemonProcess> = {};

const sock = (name: string): string => join(dir, `${name}.sock`);
const hex = (name: string): string => Buffer.from(net.member(name).peerId).toString('hex');


/** A TLS client with no certificate: alice's direct-path listener refuses it and logs that at debug, then closes. */
function tlsWithoutCertificate(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    const t = setTimeout(() => s.destroy(), PROBE_TIMEOUT_MS);
    s.on('error', () => undefined);
    s.on('close', () => { clearTimeout(t); resolve(); });
  });
}

/** Plain text at a TLS port: the relay logs the failed TLS handshake at debug and drops the socket. */
function notTls(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = netConnect({ host: '127.0.0.1', port }, () => s.write('GET / HTTP/1.0\r\n\r\n'));
    const t = setTimeout(() => s.destroy(), PROBE_TIMEOUT_MS);
    s.on('error', () => undefined);
    s.on('close', () => { clearTimeout(t); resolve(); });
  });
}

async function json<T>(args: string[]): Promise<T> {
  const r = await runCliAsync([...args, '--json']);
  assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
const peersOf = (name: string): Promise<PeersResult> => json<PeersResult>(['peers', '--control', sock(name)]);
const statusOf = (name: string): Promise<StatusResult> => json<StatusResult>(['status', '--control', sock(name)]);
async function pingOk(from: string, to: string): Promise<void> {
  const r = await json<PingResult>(['ping', to, '--count', '3', '--interval', '100ms', '--control', sock(from)]);
  assert.equal(r.summary.received, 3, `${from} -> ${to}: ${JSON.stringify(r.lost)}`);
}

function aliceFile(level: string, extra = ''): string {
  const m = net.member('alice');
  return [
    'log:', `  level: ${level}`,
    'node:', `  relay: ${relay.url}`, `  pin: ${relay.pin}`, `  ca: ${net.caFile}`, `  cert: ${m.certFile}`, `  crl: ${aliceCrl}`,
    `  dir: ${m.dir}`, '  dev: none', `  control: ${sock('alice')}`,
    '  p2p:', '    listen: 127.0.0.1', `    port: ${alicePort}`, extra, '',
  ].join('\n');
}

function relayFile(level: string, extra = ''): string {
  return ['log:', `  level: ${level}`, 'relay:', `  crl: ${relayCrl}`, extra, ''].join('\n');
}

/** SIGHUP and wait until the process logged its n-th reload outcome (applied or refused). */
async function hup(pid: number, stderr: () => string, what: string): Promise<void> {
  const done = (): number => loggedRecords(stderr(), /^configuration reload(ed| refused)/).length;
  const before = done();
  process.kill(pid, 'SIGHUP');
  await waitFor(`${what}: reload outcome logged`, async () => (done() > before ? true : undefined), RELOAD_WAIT_MS);
}

before(async () => {
  net = await createTestNetwork({ members: ['alice', 'bob', 'carol'] });
  dir = await mkdtemp(join(tmpdir(), 'sm-reload-'));
  aliceCrl = join(dir, 'alice.crl');
  relayCrl = join(dir, 'relay.crl');
  await copyFile(net.crlFile, aliceCrl);
  await copyFile(net.crlFile, relayCrl);
  aliceYaml = join(dir, 'alice.yaml');
  relayYaml = join(dir, 'relay.yaml');
  await writeFile(relayYaml, relayFile('info'));
  relay = await startRelayProcess({ caFile: net.caFile, args: ['--config', relayYaml], env: { SHADOWMESH_HOME: join(dir, 'home') } });
  alicePort = await freePort();
  await writeFile(aliceYaml, aliceFile('info'));
  const flagsOf = (n: string): string[] => {
    const m = net.member(n);
    return ['--relay', relay.url, '--pin', relay.pin, '--ca', net.caFile, '--crl', net.crlFile, '--cert', m.certFile, '--dir', m.dir, '--dev', 'none', '--p2p-listen', '127.0.0.1', '--control', sock(n)];
  };
  const home = { SHADOWMESH_HOME: join(dir, 'home') };
  const [a, b, c] = await Promise.all([startDaemon(['--config', aliceYaml], home), startDaemon(flagsOf('bob'), home), startDaemon(flagsOf('carol'), home)]);
  Object.assign(daemons, { alice: a, bob: b, carol: c });
});

after(async () => {
  for (const d of Object.values(daemons)) await d.stop();
  await relay?.stop();
  await net?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('node: SIGHUP applies a new log level and revocation list, names a restart-only key, keeps the other session; a bad file changes nothing', { timeout: 120_000 }, async () => {
  const alice = daemons['alice']!;
  // Only the probe's refusal: carol, revoked at alice but still at the relay, may have her offers refused at debug too.
  const refusedDebug = (): number => loggedRecords(alice.stderr(), /direct path refused/, 'debug').filter((r) => r['code'] === DirectCode.NO_CLIENT_CERT).length;
  await waitFor('alice sees bob and carol', async () => {
    const ids = (await peersOf('alice')).peers.map((p) => p.peerId);
    return ids.includes(hex('bob')) && ids.includes(hex('carol')) ? true : undefined;
  }, RELOAD_WAIT_MS);
  await pingOk('alice', 'bob');
  await pingOk('alice', 'carol');

  // At info: the probe is refused, but not logged. An unchanged reload orders the check after it.
  await tlsWithoutCertificate(alicePort);
  await hup(alice.pid, alice.stderr, 'unchanged file');
  assert.equal(loggedRecords(alice.stderr(), /^configuration reloaded$/).length, 1, alice.stderr());
  assert.equal(logRecords(alice.stderr()).filter((r) => r['level'] === 'debug').length, 0, 'no debug record at all at info');

  const before = await peersOf('alice');
  const bobBefore = before.peers.find((p) => p.peerId === hex('bob'))!;
  const statusBefore = await statusOf('alice');
  const t0 = Date.now();

  // debug + carol revoked + a live timer + a restart-only one.
  await net.revoke(net.member('carol'));
  await copyFile(net.crlFile, aliceCrl);
  await writeFile(aliceYaml, aliceFile('debug', '    retryInterval: 3s\n    connectTimeout: 20s'));
  await hup(alice.pid, alice.stderr, 'debug, revocation, retryInterval, connectTimeout');
  const reloaded = loggedRecords(alice.stderr(), /^configuration reloaded$/);
  assert.equal(reloaded.length, 2, alice.stderr());
  assert.equal(reloaded[1]!['applied'], 'log.level,node.p2p.retryInterval', 'the CRL path did not change; its content is re-read anyway');
  assert.equal(reloaded[1]!['restartPending'], 'node.p2p.connectTimeout');
  const timers = loggedRecords(alice.stderr(), /^path timers applied$/);
  assert.equal(timers.at(-1)?.['retryBaseMs'], 3_000, `the running path manager did not take the new retry interval: ${alice.stderr()}`);
  const warned = loggedRecords(alice.stderr(), /node\.p2p\.connectTimeout/, 'warn');
  assert.equal(warned.length, 1, alice.stderr());
  assert.match(String(warned[0]!['msg']), /takes effect at the next restart/);
  assert.equal(warned[0]!['running'], '10s');
  assert.equal(warned[0]!['file'], '20s');

  // The new level is in force: the same probe is now logged at debug.
  await tlsWithoutCertificate(alicePort);
  await waitFor('a debug record of the refused probe', async () => (refusedDebug() === 1 ? true : undefined), RELOAD_WAIT_MS);

  // carol is cut; bob's session is the same one and answers.
  const afterPeers = await waitFor('carol leaves alice\'s peers', async () => {
    const p = await peersOf('alice');
    return p.peers.some((x) => x.peerId === hex('carol')) ? undefined : p;
  }, RELOAD_WAIT_MS);
  const t1 = Date.now();
  assert.equal(loggedRecords(alice.stderr(), new RegExp(`^${hex('carol').slice(0, 8)} revoked$`)).length, 1);
  const bobAfter = afterPeers.peers.find((p) => p.peerId === hex('bob'));
  assert.ok(bobAfter?.session.established, 'bob still has an established session');
  assert.ok(bobAfter.session.ageMs! >= bobBefore.session.ageMs! + (t1 - t0) - 1_000, `session age ${bobAfter.session.ageMs} ms after ${bobBefore.session.ageMs} ms and ${t1 - t0} ms: a new session`);
  assert.ok(bobAfter.session.lastHandshakeAgoMs! >= bobBefore.session.lastHandshakeAgoMs! + (t1 - t0) - 1_000, 'no handshake with bob since');
  const statusAfter = await statusOf('alice');
  assert.equal(statusAfter.relay.connects, statusBefore.relay.connects);
  assert.equal(statusAfter.relay.reconnects, statusBefore.relay.reconnects);
  await pingOk('alice', 'bob');
  assert.notEqual((await runCliAsync(['ping', 'carol', '--count', '1', '--control', sock('alice')])).status, 0, 'carol cannot be pinged');

  // A file with three problems (and a valid level: info): every problem logged, nothing changes.
  await writeFile(aliceYaml, aliceFile('info', '    retryInterval: soon\n  colour: blue\n  mtu: 9'));
  await hup(alice.pid, alice.stderr, 'invalid file');
  const refused = loggedRecords(alice.stderr(), /^configuration reload refused: .*nothing changed$/, 'error');
  assert.equal(refused.length, 1, alice.stderr());
  const problems = loggedRecords(alice.stderr(), /^config reload: /, 'error').map((r) => String(r['msg']));
  for (const p of [/^config reload: node\.p2p\.retryInterval: expected a duration/, /^config reload: node\.colour: unknown key/, /^config reload: node\.mtu: /]) {
    assert.ok(problems.some((m) => p.test(m)), `${p} among ${problems.join(' | ')}`);
  }
  await tlsWithoutCertificate(alicePort);
  await waitFor('still at debug: the probe is logged again', async () => (refusedDebug() === 2 ? true : undefined), RELOAD_WAIT_MS);

  // A good file at info: debug records stop.
  await writeFile(aliceYaml, aliceFile('info'));
  await hup(alice.pid, alice.stderr, 'back to info');
  assert.equal(loggedRecords(alice.stderr(), /^configuration reloaded$/).length, 3);
  await tlsWithoutCertificate(alicePort);
  await hup(alice.pid, alice.stderr, 'unchanged file (ordering marker)');
  assert.equal(loggedRecords(alice.stderr(), /^configuration reloaded$/).length, 4);
  assert.equal(refusedDebug(), 2, 'no debug record after going back to info');

  await pingOk('alice', 'bob');
  for (const d of Object.values(daemons)) assert.equal(await Promise.race([d.exited.then(() => 'exited'), Promise.resolve('running')]), 'running');
});

test('relay: SIGHUP applies a new log level and revocation list, names a restart-only key, keeps the other members; a bad file changes nothing', { timeout: 120_000 }, async () => {
  const tlsFailedDebug = (): number => loggedRecords(relay.stderr(), /^TLS handshake failed$/, 'debug').length;
  await notTls(relay.port);
  await hup(relay.pid, relay.stderr, 'relay: unchanged file');
  assert.equal(tlsFailedDebug(), 0, 'no debug record at info');

  const statsBefore = await relay.stats();
  const aliceBefore = await statusOf('alice');
  const bobBefore = await statusOf('bob');

  // carol is already on the CA's list (the node test revoked her); now the relay reads it too.
  await copyFile(net.crlFile, relayCrl);
  await writeFile(relayYaml, relayFile('debug', '  heartbeat: 20s'));
  await hup(relay.pid, relay.stderr, 'relay: debug, revocation, heartbeat');
  const reloaded = loggedRecords(relay.stderr(), /^configuration reloaded$/);
  assert.equal(reloaded.length, 2, relay.stderr());
  assert.equal(reloaded[1]!['restartPending'], 'relay.heartbeat');
  assert.equal(loggedRecords(relay.stderr(), /relay\.heartbeat changed; it takes effect at the next restart/, 'warn').length, 1, relay.stderr());
  const crlLine = loggedRecords(relay.stderr(), /^revocation list reloaded$/);
  assert.equal(crlLine.at(-1)?.['disconnected'], 1, relay.stderr());

  const statsAfter = await waitFor('carol disconnected as revoked', async () => {
    const s = await relay.stats();
    return (s.disconnects['revoked'] ?? 0) === (statsBefore.disconnects['revoked'] ?? 0) + 1 ? s : undefined;
  }, RELOAD_WAIT_MS);
  await notTls(relay.port);
  await waitFor('a debug record of the failed TLS handshake', async () => (tlsFailedDebug() >= 1 ? true : undefined), RELOAD_WAIT_MS);

  // alice and bob: admitted once, never again; still talking.
  await pingOk('alice', 'bob');
  for (const [name, before] of [['alice', aliceBefore], ['bob', bobBefore]] as const) {
    const now = await statusOf(name);
    assert.equal(now.relay.connects, before.relay.connects, `${name} reconnected`);
    assert.equal(now.relay.connected, true);
  }
  assert.ok(statsAfter.activeClients >= 2);

  // An invalid file: every problem logged, nothing changes (still debug).
  const admissions = (await relay.stats()).admissions;
  await writeFile(relayYaml, relayFile('info', '  heartbeat: often\n  port: 1'));
  await hup(relay.pid, relay.stderr, 'relay: invalid file');
  assert.equal(loggedRecords(relay.stderr(), /^configuration reload refused: .*nothing changed$/, 'error').length, 1, relay.stderr());
  const problems = loggedRecords(relay.stderr(), /^config reload: /, 'error').map((r) => String(r['msg']));
  assert.ok(problems.some((m) => /^config reload: relay\.heartbeat: expected a duration/.test(m)), problems.join(' | '));
  assert.ok(problems.some((m) => /^config reload: relay\.port: unknown key/.test(m)), problems.join(' | '));
  const debugBefore = tlsFailedDebug();
  await notTls(relay.port);
  await waitFor('still at debug', async () => (tlsFailedDebug() > debugBefore ? true : undefined), RELOAD_WAIT_MS);
  await pingOk('alice', 'bob');
  assert.equal((await relay.stats()).admissions, admissions, 'nobody was re-admitted');
  assert.equal(await Promise.race([relay.exited.then(() => 'exited'), Promise.resolve('running')]), 'running');
});
