import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HandshakeInitiator, HandshakeResponder, isFatal } from '../../src/handshake/peer-handshake.js';
import { decodePeerFrame, encodePeerFrame } from '../../src/wire/peer-frames.js';
import { FrameType } from '../../src/wire/constants.js';
import { equalBytes, randomBytes } from '../../src/crypto/bytes.js';
import { FIXTURE_EPOCH_MS, fixtureNetwork } from '../../testkit/member-fixture.js';
import type { MemberCertificate } from '../../src/identity/certificate.js';

const net = fixtureNetwork();
const alice = net.member('alice', '10.10.10.3/24');
const bob = net.member('bob', '10.10.10.4/24');
const carol = net.member('carol', '10.10.10.5/24');
const now = FIXTURE_EPOCH_MS;
const idA = { signer: alice.signer, certificate: alice.cert.raw, verifier: net.verifier };
const idB = { signer: bob.signer, certificate: bob.cert.raw, verifier: net.verifier };

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return String((err as { code?: unknown }).code);
  }
  return 'no error';
}

function flip(bytes: Uint8Array, index: number): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy[index] = copy[index]! ^ 0x01;
  return copy;
}

test('a complete handshake gives both sides matching keys, crossed per direction', () => {
  const ini = HandshakeInitiator.start(idA, bob.peerId, 1111, now, now, randomBytes);
  const res = HandshakeResponder.respond(idB, ini.init, alice.peerId, 2222, now);
  const a = ini.onResponse(res.resp, now);
  const b = res.onFinish(a.finish, now);
  assert.ok(equalBytes(a.keys.sendKey, b.keys.recvKey));
  assert.ok(equalBytes(a.keys.recvKey, b.keys.sendKey));
  assert.ok(equalBytes(a.keys.pathAuthKey, b.keys.pathAuthKey));
  assert.ok(!equalBytes(a.keys.sendKey, a.keys.recvKey));
  assert.ok(!equalBytes(a.keys.sendKey, a.keys.pathAuthKey));
  assert.equal(a.keys.localIndex, 1111);
  assert.equal(a.keys.remoteIndex, 2222);
  assert.equal(b.keys.localIndex, 2222);
  assert.equal(b.keys.remoteIndex, 1111);
  assert.equal(a.keys.isInitiator, true);
  assert.equal(b.keys.isInitiator, false);
  assert.ok(equalBytes(a.peer.peerId, bob.peerId));
  assert.ok(equalBytes(b.peer.peerId, alice.peerId));
  assert.equal((b.peer as MemberCertificate).name, 'alice');
  assert.equal(ini.state, 'done');
  assert.equal(res.state, 'done');
});

test('two handshakes between the same peers give unrelated keys', () => {
  const run = () => {
    const ini = HandshakeInitiator.start(idA, bob.peerId, 1, now, now, randomBytes);
    const res = HandshakeResponder.respond(idB, ini.init, alice.peerId, 2, now);
    return ini.onResponse(res.resp, now).keys.sendKey;
  };
  assert.ok(!equalBytes(run(), run()));
});

test('a relay that swaps the KEM public key in INIT is detected by the initiator', () => {
  const ini = HandshakeInitiator.start(idA, bob.peerId, 1, now, now, randomBytes);
  const init = decodePeerFrame(ini.init);
  assert.equal(init.type, FrameType.HsInit);
  if (init.type !== FrameType.HsInit) return;
  const forgedInit = encodePeerFrame({ ...init, kemPublic: HandshakeInitiator.start(idA, bob.peerId, 1, now, now, randomBytes).init.subarray(4 + 4 + 8 + 32, 4 + 4 + 8 + 32 + 1600) });
  const res = HandshakeResponder.respond(idB, forgedInit, alice.peerId, 2, now);
  assert.equal(codeOf(() => ini.onResponse(res.resp, now)), 'SM_ERR_HS_SIGNATURE');
  assert.equal(ini.state, 'sent_init', 'a forged message is dropped, the machine keeps waiting');
});

test('a relay that swaps the ciphertext or any byte of RESP is detected', () => {
  const ini = HandshakeInitiator.start(idA, bob.peerId, 1, now, now, randomBytes);
  const res = HandshakeResponder.respond(idB, ini.init, alice.peerId, 2, now);
  // ciphertext region starts after header(4) + two indices(8)
  for (const i of [12, 12 + 40, 12 + 1599, res.resp.length - 1, res.resp.length - 4691, res.resp.length - 4000]) {
    const code = codeOf(() => ini.onResponse(flip(res.resp, i), now));
    assert.ok(['SM_ERR_HS_SIGNATURE', 'SM_ERR_HS_CERT', 'SM_ERR_HS_MALFORMED'].includes(code), `byte ${i}: ${code}`);
  }
  // the genuine response still completes afterwards
  const a = ini.onResponse(res.resp, now);
  assert.equal(a.keys.remoteIndex, 2);
});

test('a tampered FINISH is dropped and the genuine one still completes', () => {
  const ini = HandshakeInitiator.start(idA, bob.peerId, 1, now, now, randomBytes);
  const res = HandshakeResponder.respond(idB, ini.init, alice.peerId, 2, now);
  const a = ini.onResponse(res.resp, now);
  assert.equal(codeOf(() => res.onFinish(flip(a.finish, a.finish.length - 10), now)), 'SM_ERR_HS_SIGNATURE');
  assert.equal(codeOf(() => res.onFinish(flip(a.finish, 20), now)), 'SM_ERR_HS_SIGNATURE');
  assert.equal(res.state, 'sent_resp');
  const b = res.onFinish(a.finish, now);
  assert.ok(equalBytes(b.keys.recvKey, a.keys.sendKey));
});

test('a FINISH signed by another member is refused', () => {
  const ini = HandshakeInitiator.start(idA, bob.peerId, 1, now, now, randomBytes);
  const res = HandshakeResponder.respond(idB, ini.init, alice.peerId, 2, now);
  ini.onResponse(res.resp, now);
  const forged = encodePeerFrame({ type: FrameType.HsFinish, receiverIndex: 2, signature: carol.signer.sign('peer-finish', new Uint8Array(32)) });
  assert.equal(codeOf(() => res.onFinish(forged, now)), 'SM_ERR_HS_SIGNATURE');
});

test('a certificate naming another peer than the transport claims is refused', () => {
  const ini = HandshakeInitiator.start(idA, bob.peerId, 1, now, now, randomBytes);
  assert.equal(codeOf(() => HandshakeResponder.respond(idB, ini.init, carol.peerId, 2, now)), 'SM_ERR_HS_PEER_MISMATCH');
  // and the initiator refuses a responder that is not the peer it meant to reach
  const idC = { signer: carol.signer, certificate: carol.cert.raw, verifier: net.verifier };
  const resC = HandshakeResponder.respond(idC, ini.init, alice.peerId, 3, now);
  assert.equal(codeOf(() => ini.onResponse(resC.resp, now)), 'SM_ERR_HS_PEER_MISMATCH');
});

test('a non-member (certificate of another CA) is refused by both roles', () => {
  const other = fixtureNetwork({ name: 'other network' });
  const mallory = other.member('mallory', '10.10.10.66/24');
  const idM = { signer: mallory.signer, certificate: mallory.cert.raw, verifier: net.verifier };
  const ini = HandshakeInitiator.start(idM, bob.peerId, 1, now, now, randomBytes);
  assert.equal(codeOf(() => HandshakeResponder.respond(idB, ini.init, mallory.peerId, 2, now)), 'SM_ERR_HS_CERT');
  const iniA = HandshakeInitiator.start(idA, mallory.peerId, 1, now, now, randomBytes);
  const resM = HandshakeResponder.respond({ ...idM, verifier: net.verifier }, iniA.init, alice.peerId, 2, now);
  assert.equal(codeOf(() => iniA.onResponse(resM.resp, now)), 'SM_ERR_HS_CERT');
});

test('an expired certificate is refused', () => {
  const old = net.member('old', '10.10.10.9/24', { notBeforeMs: now - 20 * 86_400_000, notAfterMs: now - 10 * 86_400_000 });
  const idO = { signer: old.signer, certificate: old.cert.raw, verifier: net.verifier };
  const ini = HandshakeInitiator.start(idO, bob.peerId, 1, now, now, randomBytes);
  assert.equal(codeOf(() => HandshakeResponder.respond(idB, ini.init, old.peerId, 2, now)), 'SM_ERR_HS_CERT');
});

test('messages for another handshake index are dropped; a finished machine is dead', () => {
  const ini = HandshakeInitiator.start(idA, bob.peerId, 1, now, now, randomBytes);
  const res = HandshakeResponder.respond(idB, ini.init, alice.peerId, 2, now);
  const other = HandshakeInitiator.start(idA, bob.peerId, 9, now, now, randomBytes);
  assert.equal(codeOf(() => other.onResponse(res.resp, now)), 'SM_ERR_HS_INDEX');
  const a = ini.onResponse(res.resp, now);
  let err: unknown;
  try { ini.onResponse(res.resp, now); } catch (e) { err = e; }
  assert.equal((err as { code: string }).code, 'SM_ERR_HS_STATE');
  assert.ok(isFatal(err));
  res.onFinish(a.finish, now);
  assert.equal(codeOf(() => res.onFinish(a.finish, now)), 'SM_ERR_HS_STATE');
});

test('garbage and wrong frame types are dropped with a code, never anything else', () => {
  const ini = HandshakeInitiator.start(idA, bob.peerId, 1, now, now, randomBytes);
  assert.equal(codeOf(() => ini.onResponse(new Uint8Array(10), now)), 'SM_ERR_HS_MALFORMED');
  assert.equal(codeOf(() => ini.onResponse(ini.init, now)), 'SM_ERR_HS_UNEXPECTED');
  assert.equal(codeOf(() => HandshakeResponder.respond(idB, randomBytes(7000), alice.peerId, 2, now)), 'SM_ERR_HS_MALFORMED');
  assert.equal(ini.state, 'sent_init');
});

test('an INIT re-sent with a cookie keys the same handshake: the cookie is outside the transcript', () => {
  const ini = HandshakeInitiator.start(idA, bob.peerId, 1111, now, now, randomBytes);
  const withCookie = ini.initWithCookie(new Uint8Array(16).fill(7));
  assert.equal(withCookie.length, ini.init.length + 16);
  const verified = HandshakeResponder.verifyInit(idB, withCookie, alice.peerId, now);
  assert.ok(equalBytes(verified.transcriptBytes, ini.init));
  const res = HandshakeResponder.respondVerified(idB, verified, 2222, now);
  const a = ini.onResponse(res.resp, now);
  const b = res.onFinish(a.finish, now);
  assert.ok(equalBytes(a.keys.sendKey, b.keys.recvKey));
  assert.equal(codeOf(() => ini.initWithCookie(new Uint8Array(15))), 'SM_ERR_HS_ARGUMENT');
});

test('verifyInit refuses a certificate that names another peer than the sender, before any KEM work', () => {
  const ini = HandshakeInitiator.start(idA, bob.peerId, 1111, now, now, randomBytes);
  assert.equal(codeOf(() => HandshakeResponder.verifyInit(idB, ini.init, carol.peerId, now)), 'SM_ERR_HS_PEER_MISMATCH');
  ini.destroy();
});
