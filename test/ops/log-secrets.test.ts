/**
 * Logs never carry key material or plaintext (docs/conventions.md §13; issue 7 "Logs"):
 * a real relay and two `up --dev none` daemons that go direct on 127.0.0.1,
 * all at debug level, exchange mesh pings and a chat message carrying a
 * marker; then everything they wrote on stderr is searched for the marker
 * and for the secrets we can read back from disk: each member's identity
 * seed (from identity.key) and the relay's TLS private key, as hex (whole
 * and in 16-byte windows) and base64, and the armored file bodies line by
 * line. Session keys live only in memory and are not observable from here;
 * they never pass through the logger by construction (no field of that
 * type is logged anywhere), which this test cannot prove.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArmorLabel, decodeArmor } from '../../src/identity/armor.js';
import { IDENTITY_KEY_FILE } from '../../src/identity/key-file.js';
import { openSeed, SeedKind } from '../../src/identity/sealed-seed.js';
import type { PeersResult, PingResult } from '../../src/node/control/control-protocol.js';
import { TLS_KEY_FILE_NAME } from '../../src/relay/tls-identity.js';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';
import { runCliAsync, startDaemon, waitFor, type DaemonProcess } from '../../testkit/daemon-process.js';

const MARKER = 'PLAINTEXT-MARKER-7f3a9c1e5b';
const DEBUG = { SHADOWMESH_LOG_LEVEL: 'debug' };

let net: TestNetwork;
let relay: RelayProcess;
let relayData: string;
let sockDir: string;
const daemons: Record<string, DaemonProcess> = {};

const sock = (name: string): string => join(sockDir, `${name}.sock`);

function upArgs(member: string): string[] {
  const m = net.member(member);
  return ['--relay', relay.url, '--pin', relay.pin, '--ca', net.caFile, '--crl', net.crlFile, '--cert', m.certFile, '--dir', m.dir, '--dev', 'none', '--p2p-listen', '127.0.0.1', '--control', sock(member)];
}

before(async () => {
  net = await createTestNetwork({ members: ['alice', 'bob'] });
  sockDir = await mkdtemp(join(tmpdir(), 'sm-logsec-'));
  relayData = await mkdtemp(join(tmpdir(), 'sm-logsec-relay-'));
  relay = await startRelayProcess({ caFile: net.caFile, crlFile: net.crlFile, dataDir: relayData, env: DEBUG });
  const [a, b] = await Promise.all([startDaemon(upArgs('alice'), DEBUG), startDaemon(upArgs('bob'), DEBUG)]);
  daemons['alice'] = a;
  daemons['bob'] = b;
});

after(async () => {
  for (const d of Object.values(daemons)) await d.stop();
  await relay?.stop();
  await net?.cleanup();
  if (sockDir) await rm(sockDir, { recursive: true, force: true });
  if (relayData) await rm(relayData, { recursive: true, force: true });
});

/** Every text form of `bytes` a careless log line could carry. */
function encodings(what: string, bytes: Uint8Array): Array<[string, string]> {
  const b = Buffer.from(bytes);
  const out: Array<[string, string]> = [
    [`${what} hex`, b.toString('hex')],
    [`${what} base64`, b.toString('base64')],
    [`${what} base64url`, b.toString('base64url')],
  ];
  // Any 16-byte window (8-byte steps), in case a slice or a half is logged.
  for (let i = 0; i + 16 <= b.length; i += 8) out.push([`${what}[${i}..${i + 16}] hex`, b.subarray(i, i + 16).toString('hex')]);
  return out;
}

/** The base64 lines of an armored or PEM file (headers skipped). */
function bodyLines(what: string, text: string): Array<[string, string]> {
  return text.split('\n').map((l) => l.trim()).filter((l) => l.length >= 16 && !l.startsWith('-----') && !l.includes(':')).map((l) => [`${what} line`, l]);
}

test('at debug level, after pings and a chat message, no log line holds the marker, an identity seed or the relay TLS key', async () => {
  const bobHex = Buffer.from(net.member('bob').peerId).toString('hex');
  await waitFor('alice sees bob', async () => {
    const r = await runCliAsync(['peers', '--json', '--control', sock('alice')]);
    return r.status === 0 && (JSON.parse(r.stdout) as PeersResult).peers.some((p) => p.peerId === bobHex) ? true : undefined;
  });
  const ping = await runCliAsync(['ping', 'bob', '--count', '5', '--interval', '100ms', '--json', '--control', sock('alice')]);
  assert.equal(ping.status, 0, ping.stderr);
  assert.equal((JSON.parse(ping.stdout) as PingResult).summary.received, 5);
  const back = await runCliAsync(['ping', 'alice', '--count', '3', '--interval', '100ms', '--control', sock('bob')]);
  assert.equal(back.status, 0, back.stderr);

  // The chat request waits at bob until recv --accept; then the message is delivered with an ack.
  const sent = runCliAsync(['send', 'bob', `${MARKER} hello`, '--json', '--control', sock('alice')]);
  let atBob = '';
  await waitFor('request accepted at bob', async () => {
    const r = await runCliAsync(['recv', '--accept', '--control', sock('bob')]);
    atBob += r.stdout;
    return r.status === 0 && r.stdout.includes('asks to chat') ? true : undefined;
  }, 15_000, 200);
  const s = await sent;
  assert.equal(s.status, 0, s.stderr);
  assert.equal((JSON.parse(s.stdout) as { delivered: boolean }).delivered, true);
  atBob += (await runCliAsync(['recv', '--json', '--control', sock('bob')])).stdout;
  assert.ok(atBob.includes(MARKER), 'the message itself reached bob (so the marker did cross the mesh)');

  // Let in-flight debug lines land, then stop everything so the last lines are written too.
  await new Promise((r) => setTimeout(r, 300));
  for (const d of Object.values(daemons)) assert.equal(await d.stop(), 0);
  const logs: Array<[string, string]> = [['relay', relay.stderr()], ['alice', daemons['alice']!.stderr()], ['bob', daemons['bob']!.stderr()]];
  await relay.stop();

  // The logs are real: JSON lines at debug level from each process, peers named by short id.
  for (const [who, text] of logs) {
    const lines = text.trim().split('\n');
    assert.ok(lines.length > 5, `${who} logged something (${lines.length} lines)`);
    for (const l of lines) assert.doesNotThrow(() => JSON.parse(l), `${who}: not a JSON line: ${l}`);
    if (who !== 'relay') assert.ok(lines.some((l) => (JSON.parse(l) as { level: string }).level === 'debug'), `${who} logged at debug`);
  }
  assert.ok(logs[1]![1].includes(bobHex.slice(0, 8)), "alice's log names bob by short id");

  const secrets: Array<[string, string]> = [['marker', MARKER], ['marker (base64)', Buffer.from(MARKER).toString('base64').slice(0, 24)]];
  for (const name of ['alice', 'bob']) {
    const text = await readFile(join(net.member(name).dir, IDENTITY_KEY_FILE), 'utf8');
    const sealed = decodeArmor(text, ArmorLabel.PRIVATE_KEY);
    const seed = await openSeed(sealed, SeedKind.Identity, name);
    assert.equal(seed.length, 64);
    secrets.push(...encodings(`${name} seed`, seed), ...encodings(`${name} identity.key`, sealed), ...bodyLines(`${name} identity.key`, text));
  }
  const pem = await readFile(join(relayData, TLS_KEY_FILE_NAME), 'utf8');
  const key = createPrivateKey(pem);
  const der = key.export({ type: 'pkcs8', format: 'der' });
  const d = Buffer.from(key.export({ format: 'jwk' }).d!, 'base64url');
  secrets.push(...encodings('relay TLS key pkcs8', der), ...encodings('relay TLS private scalar', d), ...bodyLines('relay TLS key PEM', pem));

  assert.ok(secrets.length > 40);
  for (const [who, text] of logs) {
    const lower = text.toLowerCase();
    for (const [what, needle] of secrets) {
      const hit = /^[0-9a-f]+$/.test(needle) ? lower.includes(needle) : text.includes(needle);
      assert.ok(!hit, `${who}'s log holds ${what}`);
    }
  }
});
