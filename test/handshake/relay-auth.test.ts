import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from '../../src/crypto/bytes.js';
import { HybridSigner } from '../../src/crypto/hybrid-sign.js';
import { issueCaCertificate, issueMemberCertificate, type CaCertificate, type MemberCertificate } from '../../src/identity/certificate.js';
import { MembershipVerifier } from '../../src/identity/membership.js';
import { issueRevocationList } from '../../src/identity/revocation.js';
import {
  RelayAuthClient,
  RelayAuthServer,
  RelayAuthError,
  RELAY_AUTH_CONTEXT,
  errorFromRelayCode,
  relayAuthTranscript,
  relayCodeOf,
  smCodeOfRelayCode,
} from '../../src/handshake/relay-auth.js';
import { RelayAuthCode } from '../../src/handshake/handshake-errors.js';
import { FakeClock } from '../../testkit/fake-clock.js';
import { CHALLENGE_BYTES, FrameType, RelayErrorCode } from '../../src/wire/constants.js';
import { decodeRelayFrame, encodeRelayFrame } from '../../src/wire/relay-frames.js';

const DAY_MS = 86_400_000;
const clock = new FakeClock(1_800_000_000_000);

interface Member { signer: HybridSigner; cert: MemberCertificate }
let caSigner: HybridSigner;
let ca: CaCertificate;
let alice: Member;
let bob: Member;
let expired: Member;
let outsider: Member;

function member(issuer: HybridSigner, issuerCa: CaCertificate, name: string, host: number, notBeforeMs: number, notAfterMs: number): Member {
  const signer = HybridSigner.generate();
  const cert = issueMemberCertificate(issuer, issuerCa, { name, addresses: [`10.9.0.${host}/24`], publicKey: signer.publicKey, notBeforeMs, notAfterMs });
  return { signer, cert };
}

before(() => {
  const now = clock.now();
  caSigner = HybridSigner.generate();
  ca = issueCaCertificate(caSigner, { name: 'relay-auth test', notBeforeMs: now - 30 * DAY_MS, notAfterMs: now + 365 * DAY_MS });
  alice = member(caSigner, ca, 'alice', 2, now - DAY_MS, now + 30 * DAY_MS);
  bob = member(caSigner, ca, 'bob', 3, now - DAY_MS, now + 30 * DAY_MS);
  expired = member(caSigner, ca, 'old', 4, now - 20 * DAY_MS, now - 10 * DAY_MS);
  const otherCaSigner = HybridSigner.generate();
  const otherCa = issueCaCertificate(otherCaSigner, { name: 'other', notBeforeMs: now - DAY_MS, notAfterMs: now + 365 * DAY_MS });
  outsider = member(otherCaSigner, otherCa, 'mallory', 2, now - DAY_MS, now + 30 * DAY_MS);
});

function isAuthError(code: string, relayCode: number, fatal = true) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof RelayAuthError, `expected RelayAuthError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.relayCode, relayCode);
    assert.equal(e.fatal, fatal);
    return true;
  };
}

/** Run admission to the end; returns both machines and what the client learnt. */
function admit(m: Member, verifier = new MembershipVerifier(ca)) {
  const exporter = randomBytes(32);
  const server = new RelayAuthServer({ verifier }, { exporter });
  const client = new RelayAuthClient({ signer: m.signer, certificate: m.cert.raw });
  const hello = client.hello(randomBytes);
  const challenge = server.onHello(hello, clock.now(), randomBytes);
  const auth = client.onChallenge(challenge, exporter);
  const admitted = server.onAuth(auth);
  return { exporter, server, client, hello, challenge, auth, admitted };
}

test('a member is admitted; both machines end in their final states', () => {
  const r = admit(alice);
  assert.deepEqual(r.admitted.peerId, alice.cert.peerId);
  assert.equal(r.server.state, 'admitted');
  assert.equal(r.server.failed, false);
  assert.equal(r.client.state, 'await-established');
  const established = encodeRelayFrame({
    type: FrameType.Established, sessionId: new Uint8Array(16).fill(7), heartbeatMs: 30_000, idleTimeoutMs: 90_000,
    maxFrameBytes: 65_792, observedAddress: '127.0.0.1', observedPort: 40_000,
  });
  const info = r.client.onEstablished(established);
  assert.equal(r.client.state, 'established');
  assert.equal(info.observedAddress, '127.0.0.1');
  assert.equal(info.observedPort, 40_000);
  assert.equal(info.relayTimeMs, clock.now());
  established.fill(0);
  assert.deepEqual(info.sessionId, new Uint8Array(16).fill(7), 'sessionId is a copy');
});

test('CHALLENGE carries a fresh 32-byte nonce and the relay time', () => {
  const exporter = randomBytes(32);
  const nonces = new Set<string>();
  for (let i = 0; i < 3; i++) {
    const server = new RelayAuthServer({ verifier: new MembershipVerifier(ca) }, { exporter });
    const client = new RelayAuthClient({ signer: alice.signer, certificate: alice.cert.raw });
    const challenge = server.onHello(client.hello(randomBytes), clock.now(), randomBytes);
    assert.equal(challenge.length, CHALLENGE_BYTES);
    const f = decodeRelayFrame(challenge);
    assert.equal(f.type, FrameType.Challenge);
    if (f.type !== FrameType.Challenge) return;
    assert.equal(f.relayTimeMs, clock.now());
    nonces.add(Buffer.from(f.serverNonce).toString('hex'));
  }
  assert.equal(nonces.size, 3);
});

test('the signature covers SHA-256(label ‖ exporter ‖ HELLO ‖ CHALLENGE) with context relay-auth', async () => {
  const r = admit(alice);
  const { hybridVerify } = await import('../../src/crypto/hybrid-sign.js');
  const f = decodeRelayFrame(r.auth);
  assert.equal(f.type, FrameType.Auth);
  if (f.type !== FrameType.Auth) return;
  const transcript = relayAuthTranscript(r.exporter, r.hello, r.challenge);
  assert.equal(hybridVerify(alice.cert.publicKey, RELAY_AUTH_CONTEXT, transcript, f.signature), true);
  const otherExporter = Uint8Array.from(r.exporter);
  otherExporter[0] = (otherExporter[0] as number) ^ 1;
  assert.equal(hybridVerify(alice.cert.publicKey, RELAY_AUTH_CONTEXT, relayAuthTranscript(otherExporter, r.hello, r.challenge), f.signature), false);
});

test('an AUTH made for another TLS connection (other exporter) is refused: BadSignature', () => {
  const verifier = new MembershipVerifier(ca);
  const server = new RelayAuthServer({ verifier }, { exporter: randomBytes(32) });
  const client = new RelayAuthClient({ signer: alice.signer, certificate: alice.cert.raw });
  const challenge = server.onHello(client.hello(randomBytes), clock.now(), randomBytes);
  // A relay-in-the-middle gets the client to sign for *its own* TLS connection.
  const auth = client.onChallenge(challenge, randomBytes(32));
  assert.throws(() => server.onAuth(auth), isAuthError(RelayAuthCode.BAD_SIGNATURE, RelayErrorCode.BadSignature));
  assert.equal(server.failed, true);
  assert.equal(server.admitted, null);
});

test('an AUTH replayed against a new challenge is refused', () => {
  const first = admit(alice);
  const server = new RelayAuthServer({ verifier: new MembershipVerifier(ca) }, { exporter: first.exporter });
  server.onHello(first.hello, clock.now(), randomBytes);
  assert.throws(() => server.onAuth(first.auth), isAuthError(RelayAuthCode.BAD_SIGNATURE, RelayErrorCode.BadSignature));
});

test('an AUTH signed by another member for this certificate is refused', () => {
  const exporter = randomBytes(32);
  const server = new RelayAuthServer({ verifier: new MembershipVerifier(ca) }, { exporter });
  // Bob presents Alice's certificate but holds only his own key.
  const client = new RelayAuthClient({ signer: bob.signer, certificate: alice.cert.raw });
  const challenge = server.onHello(client.hello(randomBytes), clock.now(), randomBytes);
  assert.throws(() => server.onAuth(client.onChallenge(challenge, exporter)), isAuthError(RelayAuthCode.BAD_SIGNATURE, RelayErrorCode.BadSignature));
});

test('a certificate from another CA is refused before any challenge: NotMember', () => {
  const server = new RelayAuthServer({ verifier: new MembershipVerifier(ca) }, { exporter: randomBytes(32) });
  const client = new RelayAuthClient({ signer: outsider.signer, certificate: outsider.cert.raw });
  assert.throws(() => server.onHello(client.hello(randomBytes), clock.now(), randomBytes), isAuthError(RelayAuthCode.NOT_MEMBER, RelayErrorCode.NotMember));
  assert.equal(server.state, 'failed');
});

test('an expired certificate is refused: CertValidity', () => {
  const server = new RelayAuthServer({ verifier: new MembershipVerifier(ca) }, { exporter: randomBytes(32) });
  const client = new RelayAuthClient({ signer: expired.signer, certificate: expired.cert.raw });
  assert.throws(() => server.onHello(client.hello(randomBytes), clock.now(), randomBytes), isAuthError(RelayAuthCode.CERT_VALIDITY, RelayErrorCode.CertValidity));
});

test('a revoked member is refused: Revoked', () => {
  const crl = issueRevocationList(caSigner, ca, { number: 1, issuedAtMs: clock.now(), peerIds: [bob.cert.peerId] });
  const verifier = new MembershipVerifier(ca, crl);
  const server = new RelayAuthServer({ verifier }, { exporter: randomBytes(32) });
  const client = new RelayAuthClient({ signer: bob.signer, certificate: bob.cert.raw });
  assert.throws(() => server.onHello(client.hello(randomBytes), clock.now(), randomBytes), isAuthError(RelayAuthCode.REVOKED, RelayErrorCode.Revoked));
  assert.doesNotThrow(() => admit(alice, verifier));
});

test('garbage, a truncated HELLO or the wrong first frame is a fatal Protocol error', () => {
  const inputs = [
    new Uint8Array([1, 2, 3]),
    Uint8Array.from(randomBytes(200)),
    encodeRelayFrame({ type: FrameType.Ping, nonce: 1n }),
    new RelayAuthClient({ signer: alice.signer, certificate: alice.cert.raw }).hello(randomBytes).subarray(0, 50),
  ];
  for (const bytes of inputs) {
    const server = new RelayAuthServer({ verifier: new MembershipVerifier(ca) }, { exporter: randomBytes(32) });
    assert.throws(() => server.onHello(bytes, clock.now(), randomBytes), isAuthError(RelayAuthCode.PROTOCOL, RelayErrorCode.Protocol));
    assert.equal(server.failed, true);
  }
});

test('a HELLO where AUTH is due is a Protocol error', () => {
  const server = new RelayAuthServer({ verifier: new MembershipVerifier(ca) }, { exporter: randomBytes(32) });
  const hello = new RelayAuthClient({ signer: alice.signer, certificate: alice.cert.raw }).hello(randomBytes);
  server.onHello(hello, clock.now(), randomBytes);
  assert.throws(() => server.onAuth(hello), isAuthError(RelayAuthCode.PROTOCOL, RelayErrorCode.Protocol));
});

test('calls in the wrong state are not fatal and leave the machine unchanged', () => {
  const server = new RelayAuthServer({ verifier: new MembershipVerifier(ca) }, { exporter: randomBytes(32) });
  assert.throws(() => server.onAuth(new Uint8Array(10)), isAuthError(RelayAuthCode.STATE, RelayErrorCode.Protocol, false));
  assert.equal(server.state, 'await-hello');
  const client = new RelayAuthClient({ signer: alice.signer, certificate: alice.cert.raw });
  assert.throws(() => client.onEstablished(new Uint8Array(10)), isAuthError(RelayAuthCode.STATE, RelayErrorCode.Protocol, false));
  assert.equal(client.state, 'start');
  client.hello(randomBytes);
  assert.throws(() => client.hello(randomBytes), isAuthError(RelayAuthCode.STATE, RelayErrorCode.Protocol, false));
  assert.equal(client.state, 'await-challenge');
});

test('a wrong-size exporter is a programmer error', () => {
  assert.throws(() => new RelayAuthServer({ verifier: new MembershipVerifier(ca) }, { exporter: new Uint8Array(16) }), isAuthError(RelayAuthCode.STATE, RelayErrorCode.Protocol, false));
});

test('the client turns a relay ERROR into a refusal carrying the relay code', () => {
  const client = new RelayAuthClient({ signer: alice.signer, certificate: alice.cert.raw });
  client.hello(randomBytes);
  const err = encodeRelayFrame({ type: FrameType.Error, code: RelayErrorCode.NotMember, message: 'not a member' });
  assert.throws(
    () => client.onChallenge(err, randomBytes(32)),
    (e: unknown) => e instanceof RelayAuthError && e.code === RelayAuthCode.NOT_MEMBER && e.relayCode === RelayErrorCode.NotMember && e.byRelay && e.fatal,
  );
  assert.equal(client.failed, true);
});

test('the client refuses an unexpected frame in place of CHALLENGE or ESTABLISHED', () => {
  const c1 = new RelayAuthClient({ signer: alice.signer, certificate: alice.cert.raw });
  c1.hello(randomBytes);
  assert.throws(() => c1.onChallenge(encodeRelayFrame({ type: FrameType.Ping, nonce: 5n }), randomBytes(32)), isAuthError(RelayAuthCode.PROTOCOL, RelayErrorCode.Protocol));
  const r = admit(alice);
  assert.throws(() => r.client.onEstablished(r.challenge), isAuthError(RelayAuthCode.PROTOCOL, RelayErrorCode.Protocol));
  assert.equal(r.client.failed, true);
});

test('every protocol code maps to its own SM_ERR code, unknown codes to a generic refusal', () => {
  const seen = new Set<string>();
  for (const code of Object.values(RelayErrorCode)) seen.add(smCodeOfRelayCode(code));
  assert.equal(seen.size, Object.values(RelayErrorCode).length);
  assert.equal(smCodeOfRelayCode(999), RelayAuthCode.UNKNOWN);
  assert.equal(errorFromRelayCode(RelayErrorCode.RelayFull, 'full').code, RelayAuthCode.RELAY_FULL);
  assert.equal(relayCodeOf(new Error('x')), RelayErrorCode.Protocol);
});
