/**
 * Admission against a real relay process (`shadowmesh relay` on 127.0.0.1,
 * port 0): members in, everyone else out, with the protocol's error codes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from '../../src/crypto/bytes.js';
import { RelayAuthClient, RELAY_AUTH_CONTEXT, relayAuthTranscript } from '../../src/handshake/relay-auth.js';
import { RelayAuthCode } from '../../src/handshake/handshake-errors.js';
import { RelayLink } from '../../src/node/path/relay-link.js';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { createTestNetwork, type TestMember, type TestNetwork } from '../../testkit/test-network.js';
import { FrameType, RelayErrorCode } from '../../src/wire/constants.js';
import { encodeRelayFrame } from '../../src/wire/relay-frames.js';
import { connectRaw, eventually, once } from '../../testkit/raw-relay-client.js';

const HOUR_MS = 3_600_000;
let net: TestNetwork;
let relay: RelayProcess;
let outsider: TestMember;
let expired: TestMember;
const links: RelayLink[] = [];

before(async () => {
  net = await createTestNetwork({ members: ['alice', 'bob', 'carol', 'dave'] });
  const other = await createTestNetwork({ caName: 'another network' });
  outsider = await net.addMember('mallory', { ca: other });
  await other.cleanup();
  // Issued a day ago for one hour: expired far beyond the 5-minute skew allowance.
  expired = await net.addMember('old', { nowMs: Date.now() - 24 * HOUR_MS, validMs: HOUR_MS });
  await net.revoke(net.member('carol'));
  relay = await startRelayProcess({ caFile: net.caFile, crlFile: net.crlFile, args: ['--handshake-timeout', '1500ms', '--heartbeat', '300ms', '--idle-timeout', '3s'] });
});

after(async () => {
  await Promise.all(links.map((l) => l.stop()));
  await relay?.stop();
  await net?.cleanup();
});

function link(m: TestMember): RelayLink {
  const l = new RelayLink({ signer: m.signer, certificate: m.certBytes }, { url: relay.url, pin: relay.pin, reconnectBaseMs: 50, reconnectMaxMs: 200, connectTimeoutMs: 5_000 });
  links.push(l);
  return l;
}

/** Start a link that the relay must refuse; returns the refusal. */
async function refusal(m: TestMember): Promise<{ code: string; relayCode: number }> {
  const l = link(m);
  const refused = once(l, 'refused');
  l.start();
  const [err] = (await refused) as [{ code: string; relayCode: number }];
  await l.stop();
  assert.equal(l.established, null);
  return err;
}

test('a member is admitted; ESTABLISHED reports 127.0.0.1 and the source port of its connection', async () => {
  const l = link(net.member('alice'));
  const established = once(l, 'established');
  l.start();
  const [info] = (await established) as [{ observedAddress: string; observedPort: number; heartbeatMs: number; sessionId: Uint8Array }];
  assert.equal(info.observedAddress, '127.0.0.1');
  assert.equal(info.observedPort, l.localPort);
  assert.equal(info.heartbeatMs, 300);
  assert.equal(info.sessionId.length, 16);
  assert.deepEqual(l.established, info);
  const stats = await relay.stats();
  assert.ok(stats.activeClients >= 1);
  await l.stop();
  await l.stop(); // idempotent
  assert.equal(l.established, null);
});

test('a certificate from another CA is refused with NotMember', async () => {
  const before = (await relay.stats()).admissionsRefused['not-member'] ?? 0;
  const err = await refusal(outsider);
  assert.equal(err.code, RelayAuthCode.NOT_MEMBER);
  assert.equal(err.relayCode, RelayErrorCode.NotMember);
  assert.equal((await relay.stats()).admissionsRefused['not-member'], before + 1);
});

test('an expired certificate is refused with CertValidity', async () => {
  const err = await refusal(expired);
  assert.equal(err.code, RelayAuthCode.CERT_VALIDITY);
  assert.ok(((await relay.stats()).admissionsRefused['cert-validity'] ?? 0) >= 1);
});

test('a revoked member is refused with Revoked', async () => {
  const err = await refusal(net.member('carol'));
  assert.equal(err.code, RelayAuthCode.REVOKED);
  assert.ok(((await relay.stats()).admissionsRefused['revoked'] ?? 0) >= 1);
});

test('an AUTH signed by the wrong key is refused with BadSignature', async () => {
  const c = await connectRaw(relay.host, relay.port);
  // Bob's certificate, Alice's key.
  const auth = new RelayAuthClient({ signer: net.member('alice').signer, certificate: net.member('bob').certBytes });
  c.send(auth.hello(randomBytes));
  c.send(auth.onChallenge(await c.next(), c.exporter));
  const f = await c.nextFrame();
  assert.equal(f.type, FrameType.Error);
  if (f.type === FrameType.Error) assert.equal(f.code, RelayErrorCode.BadSignature);
  await c.closed;
});

test('an AUTH made on another TLS connection is refused (exporter binding)', async () => {
  const bob = net.member('bob');
  const victim = await connectRaw(relay.host, relay.port);
  const attacker = await connectRaw(relay.host, relay.port);
  // The attacker sends bob's HELLO on its own connection and gets bob to sign
  // that connection's HELLO and CHALLENGE, but bob binds his own exporter.
  const hello = new RelayAuthClient({ signer: bob.signer, certificate: bob.certBytes }).hello(randomBytes);
  attacker.send(hello);
  const challenge = await attacker.next();
  const signature = bob.signer.sign(RELAY_AUTH_CONTEXT, relayAuthTranscript(victim.exporter, hello, challenge));
  attacker.send(encodeRelayFrame({ type: FrameType.Auth, signature }));
  const f = await attacker.nextFrame();
  assert.equal(f.type, FrameType.Error);
  if (f.type === FrameType.Error) assert.equal(f.code, RelayErrorCode.BadSignature);
  victim.close();
  await attacker.closed;
});

test('an AUTH replayed from an admitted connection on a new one is refused', async () => {
  const dave = net.member('dave');
  const first = await connectRaw(relay.host, relay.port);
  const auth = new RelayAuthClient({ signer: dave.signer, certificate: dave.certBytes });
  const hello = auth.hello(randomBytes);
  first.send(hello);
  const authBytes = auth.onChallenge(await first.next(), first.exporter);
  first.send(authBytes);
  assert.equal((await first.nextFrame()).type, FrameType.Established);
  const second = await connectRaw(relay.host, relay.port);
  second.send(hello);
  assert.equal((await second.nextFrame()).type, FrameType.Challenge);
  second.send(authBytes);
  const f = await second.nextFrame();
  assert.equal(f.type, FrameType.Error);
  if (f.type === FrameType.Error) assert.equal(f.code, RelayErrorCode.BadSignature);
  first.close();
});

test('garbage or an out-of-order frame before admission: ERROR Protocol and close', async () => {
  for (const bytes of [Uint8Array.from([0xde, 0xad, 0xbe, 0xef, 1, 2, 3]), encodeRelayFrame({ type: FrameType.Send, peerId: net.member('bob').peerId, payload: Uint8Array.of(1) })]) {
    const c = await connectRaw(relay.host, relay.port);
    c.send(bytes);
    const f = await c.nextFrame();
    assert.equal(f.type, FrameType.Error);
    if (f.type === FrameType.Error) assert.equal(f.code, RelayErrorCode.Protocol);
    await c.closed;
  }
  assert.ok(((await relay.stats()).admissionsRefused['protocol'] ?? 0) >= 2);
});

test('a client that never completes admission is cut at the handshake timeout', async () => {
  const c = await connectRaw(relay.host, relay.port);
  const started = Date.now();
  const f = await c.nextFrame();
  const waited = Date.now() - started;
  assert.equal(f.type, FrameType.Error);
  if (f.type === FrameType.Error) assert.equal(f.code, RelayErrorCode.HandshakeTimeout);
  assert.ok(waited >= 1_000 && waited < 4_000, `cut after ${waited} ms`);
  await c.closed;
  assert.ok(((await relay.stats()).admissionsRefused['handshake-timeout'] ?? 0) >= 1);
});

test('a CRL reloaded on SIGHUP disconnects a live member with CLOSE Revoked', async () => {
  const bob = net.member('bob');
  const l = link(bob);
  const established = once(l, 'established');
  l.start();
  await established;
  const down = once(l, 'down');
  await net.revoke(bob);
  relay.signal('SIGHUP');
  const [reason] = (await down) as [{ code: string }];
  assert.equal(reason.code, RelayAuthCode.REVOKED);
  // Its reconnection is refused from now on.
  const [err] = (await once(l, 'refused')) as [{ code: string }];
  assert.equal(err.code, RelayAuthCode.REVOKED);
  await l.stop();
  const stats = await eventually('disconnect counted', async () => {
    const s = await relay.stats();
    return (s.disconnects['revoked'] ?? 0) >= 1 ? s : undefined;
  });
  assert.equal(stats.disconnects['revoked'], 1);
});

test('with --max-clients 1 a second member is refused with RelayFull', async () => {
  const small = await startRelayProcess({ caFile: net.caFile, args: ['--max-clients', '1'] });
  try {
    const opts = { url: small.url, pin: small.pin, reconnectBaseMs: 50, reconnectMaxMs: 200 };
    const a = new RelayLink({ signer: net.member('alice').signer, certificate: net.member('alice').certBytes }, opts);
    const d = new RelayLink({ signer: net.member('dave').signer, certificate: net.member('dave').certBytes }, opts);
    links.push(a, d);
    const est = once(a, 'established');
    a.start();
    await est;
    const refused = once(d, 'refused');
    d.start();
    const [err] = (await refused) as [{ code: string }];
    assert.equal(err.code, RelayAuthCode.RELAY_FULL);
    await d.stop();
    await a.stop();
    assert.ok(((await small.stats()).admissionsRefused['relay-full'] ?? 0) >= 1);
  } finally {
    await small.stop();
  }
});
