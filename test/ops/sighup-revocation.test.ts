/**
 * SIGHUP on `shadowmesh up` reloads the revocation list without a restart
 * (issue 7 "Lifecycle"): a relay and three `up --dev none` daemons (alice,
 * bob, carol) on 127.0.0.1; alice holds sessions with bob and carol. Carol
 * is revoked in the CA and only alice is sent SIGHUP (the relay keeps the
 * old list, so what removes carol is alice's own check): carol leaves
 * alice's `peers --json` and cannot be pinged, while alice's session with
 * bob is the same one (its age kept growing, the relay link never
 * reconnected) and still answers pings. A second SIGHUP with the same list
 * changes nothing; an unreadable list is refused and the previous one stays.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PeersResult, PingResult, StatusResult } from '../../src/node/control/control-protocol.js';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';
import { runCliAsync, startDaemon, waitFor, type DaemonProcess } from '../../testkit/daemon-process.js';
import { loggedRecords, type LogRecord } from '../../testkit/log-records.js';

let net: TestNetwork;
let relay: RelayProcess;
let dir: string;
/** alice's own copy of the CRL, so the test decides when she sees a new one. */
let aliceCrl: string;
const daemons: Record<string, DaemonProcess> = {};

const sock = (name: string): string => join(dir, `${name}.sock`);
const hex = (name: string): string => Buffer.from(net.member(name).peerId).toString('hex');

function upArgs(member: string, crl: string): string[] {
  const m = net.member(member);
  return ['--relay', relay.url, '--pin', relay.pin, '--ca', net.caFile, '--crl', crl, '--cert', m.certFile, '--dir', m.dir, '--dev', 'none', '--p2p-listen', '127.0.0.1', '--control', sock(member)];
}

async function json<T>(args: string[]): Promise<T> {
  const r = await runCliAsync([...args, '--json']);
  assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

const peersOf = (name: string): Promise<PeersResult> => json<PeersResult>(['peers', '--control', sock(name)]);

async function pingOk(from: string, to: string): Promise<void> {
  const r = await json<PingResult>(['ping', to, '--count', '3', '--interval', '100ms', '--control', sock(from)]);
  assert.equal(r.summary.received, 3, `${from} -> ${to}: ${JSON.stringify(r.lost)}`);
}

/** Log records of one daemon whose msg matches. */
function logged(d: DaemonProcess, msg: RegExp): LogRecord[] {
  return loggedRecords(d.stderr(), msg);
}

before(async () => {
  net = await createTestNetwork({ members: ['alice', 'bob', 'carol'] });
  dir = await mkdtemp(join(tmpdir(), 'sm-hup-'));
  aliceCrl = join(dir, 'alice.crl');
  await copyFile(net.crlFile, aliceCrl);
  relay = await startRelayProcess({ caFile: net.caFile, crlFile: net.crlFile });
  const started = await Promise.all(['alice', 'bob', 'carol'].map((n) => startDaemon(upArgs(n, n === 'alice' ? aliceCrl : net.crlFile))));
  ['alice', 'bob', 'carol'].forEach((n, i) => { daemons[n] = started[i]!; });
});

after(async () => {
  for (const d of Object.values(daemons)) await d.stop();
  await relay?.stop();
  await net?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('SIGHUP after a revocation drops the revoked member and keeps the other session', async () => {
  const alice = daemons['alice']!;
  await waitFor('alice sees bob and carol', async () => {
    const ids = (await peersOf('alice')).peers.map((p) => p.peerId);
    return ids.includes(hex('bob')) && ids.includes(hex('carol')) ? true : undefined;
  });
  await pingOk('alice', 'bob');
  await pingOk('alice', 'carol');
  const before = await peersOf('alice');
  const t0 = Date.now();
  const bobBefore = before.peers.find((p) => p.peerId === hex('bob'))!;
  assert.equal(bobBefore.session.established, true);
  assert.equal(before.peers.find((p) => p.peerId === hex('carol'))?.session.established, true);
  const statusBefore = await json<StatusResult>(['status', '--control', sock('alice')]);

  // Same list again: nothing changes.
  process.kill(alice.pid, 'SIGHUP');
  await waitFor('the unchanged reload is logged', async () => (logged(alice, /^revocation list unchanged$/).length === 1 ? true : undefined));
  assert.equal((await peersOf('alice')).peers.length, 2);

  // A file that is not a revocation list: refused, the previous list stays.
  await writeFile(aliceCrl, 'not a list\n');
  process.kill(alice.pid, 'SIGHUP');
  await waitFor('the refused reload is logged', async () => (logged(alice, /^revocation reload failed/).length === 1 ? true : undefined));
  assert.equal((await peersOf('alice')).peers.length, 2);

  await new Promise((r) => setTimeout(r, 1_000));
  await net.revoke(net.member('carol'));
  await copyFile(net.crlFile, aliceCrl);
  process.kill(alice.pid, 'SIGHUP');
  const after = await waitFor('carol leaves alice\'s peers', async () => {
    const p = await peersOf('alice');
    return p.peers.some((x) => x.peerId === hex('carol')) ? undefined : p;
  });
  const t1 = Date.now();

  const reload = logged(alice, /^revocation list reloaded$/);
  assert.equal(reload.length, 1, alice.stderr());
  assert.equal(reload[0]!['newlyRevoked'], 1);
  assert.equal(reload[0]!['leftDirectory'], 1);
  assert.equal(logged(alice, new RegExp(`^${hex('carol').slice(0, 8)} revoked$`)).length, 1);

  // bob: the same session (its age grew by the elapsed time, no new handshake), the relay link untouched, pings answered.
  const bobAfter = after.peers.find((p) => p.peerId === hex('bob'));
  assert.ok(bobAfter !== undefined, 'bob is still listed');
  assert.equal(bobAfter.session.established, true);
  assert.ok(bobAfter.session.ageMs! >= bobBefore.session.ageMs! + (t1 - t0) - 1_000, `session age ${bobAfter.session.ageMs} ms after ${bobBefore.session.ageMs} ms and ${t1 - t0} ms: a new session`);
  assert.ok(bobAfter.session.lastHandshakeAgoMs! >= bobBefore.session.lastHandshakeAgoMs! + (t1 - t0) - 1_000, 'no handshake with bob since');
  const statusAfter = await json<StatusResult>(['status', '--control', sock('alice')]);
  assert.equal(statusAfter.relay.connects, statusBefore.relay.connects);
  assert.equal(statusAfter.relay.reconnects, statusBefore.relay.reconnects);
  await pingOk('alice', 'bob');

  // carol cannot be reached by alice any more, and the daemons never restarted.
  const toCarol = await runCliAsync(['ping', 'carol', '--count', '1', '--control', sock('alice')]);
  assert.notEqual(toCarol.status, 0);
  for (const d of Object.values(daemons)) assert.equal(await Promise.race([d.exited.then(() => 'exited'), Promise.resolve('running')]), 'running');
});
