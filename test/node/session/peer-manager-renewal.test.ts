/**
 * A renewed certificate reaches peers without a forced handshake
 * (docs/architecture.md "Certificate renewal"): PeerManager.setCertificate
 * makes every later handshake present the new certificate, and the rekeys
 * of a session in use (REKEY_AFTER_TIME) carry it to the peer well before
 * the peer's expiry check (CERT_CLOCK_SKEW_MS past the old notAfter) would
 * forget us. Both ends on a FakeClock over a MemoryRelay, default timers;
 * bob is the initiator, so alice's certificate travels in her responses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PeerManager } from '../../../src/node/session/peer-manager.js';
import { REKEY_AFTER_TIME_MS } from '../../../src/node/session/session-timers.js';
import { issueMemberCertificate, type MemberCertificate } from '../../../src/identity/certificate.js';
import { CERT_CLOCK_SKEW_MS } from '../../../src/identity/membership.js';
import { utf8 } from '../../../src/crypto/bytes.js';
import { FakeClock } from '../../../testkit/fake-clock.js';
import { MemoryRelay } from '../../../testkit/memory-relay.js';
import { fixtureNetwork, FIXTURE_EPOCH_MS, type FixtureMember } from '../../../testkit/member-fixture.js';

const DAY_MS = 86_400_000;
const net = fixtureNetwork();
/** Alice's first certificate ends a minute after the start. */
const OLD_END_MS = FIXTURE_EPOCH_MS + 60_000;
const alice = net.member('alice', '10.10.10.3/24', { notBeforeMs: FIXTURE_EPOCH_MS - DAY_MS, notAfterMs: OLD_END_MS });
const bob = net.member('bob', '10.10.10.4/24');
const renewed = issueMemberCertificate(net.caSigner, net.ca, {
  name: 'alice', addresses: ['10.10.10.3/24'], publicKey: alice.signer.publicKey, notBeforeMs: FIXTURE_EPOCH_MS, notAfterMs: FIXTURE_EPOCH_MS + 30 * DAY_MS,
});

function manager(m: FixtureMember, relay: MemoryRelay, clock: FakeClock): PeerManager<MemberCertificate> {
  const pm = new PeerManager<MemberCertificate>(
    { identity: { signer: m.signer, certificate: m.cert.raw, verifier: net.verifier }, localPeerId: m.peerId, transport: relay.transportFor(m.peerId), clock },
  );
  relay.attach(m.peerId, (src, frame) => pm.onFrame(src, frame));
  pm.start();
  return pm;
}

/**
 * Traffic both ways every second from the start until the peer's expiry check would cut alice (old notAfter
 * plus the skew, plus a second); alice renews `renewAtMs` after the start (never, when null). Returns when bob
 * first held each of alice's certificates, every payload bob got, and the handshakes bob's session counted.
 */
function run(renewAtMs: number | null): { seenAtMs: Map<number, number>; received: number; sent: number; handshakesAfterRenewal: number; lastCert: MemberCertificate | null } {
  const clock = new FakeClock(FIXTURE_EPOCH_MS);
  const relay = new MemoryRelay();
  const a = manager(alice, relay, clock);
  const b = manager(bob, relay, clock);
  let received = 0;
  b.on('payload', () => received++);
  const seenAtMs = new Map<number, number>();
  let sent = 0;
  let handshakesAtRenewal = 0;
  const endMs = OLD_END_MS + CERT_CLOCK_SKEW_MS + 1_000;
  for (let t = 0; FIXTURE_EPOCH_MS + t <= endMs; t += 1_000) {
    if (renewAtMs !== null && t === renewAtMs) {
      a.setCertificate(renewed.raw);
      handshakesAtRenewal = b.peers()[0]!.stats.handshakes;
    }
    b.sendPayload(alice.peerId, utf8(`b${t}`));
    if (a.sendPayload(bob.peerId, utf8(`a${t}`)) !== 'dropped') sent++;
    relay.pump();
    clock.advance(1_000);
    relay.pump();
    const cert = b.peerCertificate(alice.peerId);
    if (cert !== null && !seenAtMs.has(cert.notAfterMs)) seenAtMs.set(cert.notAfterMs, t);
  }
  const result = { seenAtMs, received, sent, handshakesAfterRenewal: b.peers()[0]!.stats.handshakes - handshakesAtRenewal, lastCert: b.peerCertificate(alice.peerId) };
  a.stop(); b.stop();
  return result;
}

test('a renewal 10 s in reaches bob at a rekey, long before the old notAfter plus the skew; nothing is lost', () => {
  const r = run(10_000);
  assert.equal(r.lastCert?.notAfterMs, renewed.notAfterMs, 'bob holds the renewed certificate');
  const seen = r.seenAtMs.get(renewed.notAfterMs)!;
  assert.ok(seen > 10_000 && seen <= 10_000 + REKEY_AFTER_TIME_MS + 10_000, `bob learned it at ${seen} ms, at the first rekey after the renewal`);
  assert.ok(seen < OLD_END_MS - FIXTURE_EPOCH_MS + CERT_CLOCK_SKEW_MS);
  assert.equal(r.received, r.sent, 'every payload alice sent arrived');
  assert.ok(r.handshakesAfterRenewal <= Math.ceil((OLD_END_MS + CERT_CLOCK_SKEW_MS - FIXTURE_EPOCH_MS) / REKEY_AFTER_TIME_MS), `only the periodic rekeys ran (${r.handshakesAfterRenewal})`);
});

test('without the renewal bob still holds the old certificate when the skew runs out (what the expiry check then cuts)', () => {
  const r = run(null);
  assert.equal(r.lastCert?.notAfterMs, OLD_END_MS);
  assert.equal(r.seenAtMs.has(renewed.notAfterMs), false);
});
