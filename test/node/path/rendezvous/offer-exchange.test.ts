/**
 * PATH_OFFER (src/node/path/rendezvous/path-offer.ts, docs/protocol.md §3.1) and
 * OfferExchange.accept: byte layout, signature, freshness, identity.
 * Each refusal has a test that fails if its check is removed.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';

import fc from 'fast-check';

import { randomBytes, toHex } from '../../../../src/crypto/bytes.js';
import { OfferExchange } from '../../../../src/node/path/rendezvous/offer-exchange.js';
import { Rendezvous } from '../../../../src/node/path/rendezvous/rendezvous.js';
import { type DirectTransport, type DirectTransportOptions } from '../../../../src/node/path/direct-transport.js';
import {
  decodePathOffer,
  MIN_PATH_OFFER_BYTES,
  PATH_OFFER_CONTEXT,
  signPathOffer,
  verifyPathOffer,
  encodePathOfferSigned,
} from '../../../../src/node/path/rendezvous/path-offer.js';
import { MAX_PATH_CANDIDATES } from '../../../../src/wire/constants.js';
import { FUZZ_TEST_TIMEOUT_MS, fuzzParams } from '../../../../testkit/fuzz-config.js';
import { assertWireErrorCode } from '../../../../testkit/wire-properties.js';
import { OfferCode } from '../../../../src/node/path/rendezvous/rendezvous-errors.js';
import { FakeSessions, members, offersOf, rendezvousOf, type Member } from '../../../../testkit/direct-transport-fixture.js';

describe('PATH_OFFER codec', () => {
  it('round-trips and signs everything before the signature', () => {
    const [a] = members() as [Member];
    const fields = {
      peerId: a.peerId,
      timestampMs: 1_700_000_000_000,
      fingerprint: randomBytes(32),
      candidates: [
        { address: '192.0.2.7', port: 41641, transport: 'wss' as const, reflexive: false },
        { address: '2001:db8::1', port: 443, transport: 'wss' as const, reflexive: false },
        { address: '198.51.100.9', port: 20001, transport: 'udp' as const, reflexive: true },
      ],
    };
    const bytes = signPathOffer(a.signer, fields);
    assert.equal(bytes.length, MIN_PATH_OFFER_BYTES + (2 + 1 + 4 + 2) + (2 + 1 + 16 + 2) + (2 + 1 + 4 + 2));
    assert.equal(bytes[0], 2, 'version 2: candidates carry their transport');
    assert.equal(bytes[74], 3, 'candidate count at offset 74');
    assert.deepEqual([...bytes.subarray(75, 77)], [1, 0], 'first candidate: WSS, not reflexive');
    const o = decodePathOffer(bytes);
    assert.deepEqual([...o.peerId], [...a.peerId]);
    assert.equal(o.timestampMs, fields.timestampMs);
    assert.deepEqual(o.candidates, fields.candidates);
    assert.deepEqual(o.signed, encodePathOfferSigned(fields));
    assert.ok(verifyPathOffer(a.signer.publicKey, o));
    assert.equal(PATH_OFFER_CONTEXT, 'path-offer');
  });

  it('refuses bad fields with wire codes', () => {
    const [a] = members() as [Member];
    const base = { peerId: a.peerId, timestampMs: 1, fingerprint: randomBytes(32) };
    assert.throws(() => encodePathOfferSigned({ ...base, candidates: [{ address: '10.0.0.1', port: 0 }] }), { code: 'SM_ERR_WIRE_FIELD' });
    assert.throws(() => encodePathOfferSigned({ ...base, candidates: [{ address: 'host', port: 1 }] }), { code: 'SM_ERR_WIRE_FIELD' });
    const many = Array.from({ length: MAX_PATH_CANDIDATES + 1 }, (_, i) => ({ address: `10.0.0.${i + 1}`, port: 1 }));
    assert.throws(() => encodePathOfferSigned({ ...base, candidates: many }), { code: 'SM_ERR_WIRE_TOO_LARGE' });
    const ok = signPathOffer(a.signer, { ...base, candidates: [] });
    assert.throws(() => decodePathOffer(ok.subarray(1)), { code: 'SM_ERR_WIRE_LENGTH' });
    const v3 = ok.slice();
    v3[0] = 3;
    assert.throws(() => decodePathOffer(v3), { code: 'SM_ERR_WIRE_VERSION' });
    const udp = signPathOffer(a.signer, { ...base, candidates: [{ address: '10.0.0.1', port: 1, transport: 'udp' }] });
    const badTransport = udp.slice();
    badTransport[75] = 3;
    assert.throws(() => decodePathOffer(badTransport), { code: 'SM_ERR_WIRE_FIELD' });
    const badFlags = udp.slice();
    badFlags[76] = 2;
    assert.throws(() => decodePathOffer(badFlags), { code: 'SM_ERR_WIRE_FIELD' });
  });

  it('still reads version 1 offers: every candidate a WSS listener', () => {
    const [a] = members() as [Member];
    const v2 = encodePathOfferSigned({ peerId: a.peerId, timestampMs: 7, fingerprint: randomBytes(32), candidates: [{ address: '192.0.2.1', port: 443 }] });
    // The v1 layout: the same fixed part, candidates without the transport and flags bytes.
    const v1Signed = Buffer.concat([v2.subarray(0, 75), v2.subarray(77)]);
    v1Signed[0] = 1;
    const v1 = Buffer.concat([v1Signed, a.signer.sign(PATH_OFFER_CONTEXT, v1Signed)]);
    const o = decodePathOffer(v1);
    assert.deepEqual(o.candidates, [{ address: '192.0.2.1', port: 443, transport: 'wss', reflexive: false }]);
    assert.ok(verifyPathOffer(a.signer.publicKey, o));
  });

  it('decoder only throws WireError and re-encodes what it accepts (fuzz)', { timeout: FUZZ_TEST_TIMEOUT_MS }, () => {
    const [a] = members() as [Member];
    const seed = signPathOffer(a.signer, { peerId: a.peerId, timestampMs: 5, fingerprint: randomBytes(32), candidates: [{ address: '10.1.2.3', port: 9 }] });
    const input = fc.oneof(
      fc.array(fc.tuple(fc.nat(120), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }).map((edits) => {
        const b = seed.slice();
        for (const [at, v] of edits) b[at % b.length] = v;
        return b;
      }),
      fc.integer({ min: 0, max: 200 }).map((cut) => seed.subarray(0, Math.max(0, seed.length - cut))),
      fc.uint8Array({ maxLength: 200 }),
    );
    fc.assert(
      fc.property(input, (bytes) => {
        let o;
        try {
          o = decodePathOffer(bytes);
        } catch (err) {
          assertWireErrorCode(err);
          return;
        }
        assert.deepEqual(encodePathOfferSigned(o), o.signed);
      }),
      fuzzParams(500),
    );
  });
});

describe('OfferExchange.accept', () => {
  let sessions: FakeSessions;
  let a: DirectTransport;
  let b: DirectTransport;
  let ma: Member;
  let mb: Member;
  let mc: Member;

  before(async () => {
    [ma, mb, mc] = members() as [Member, Member, Member];
    sessions = new FakeSessions(members());
    sessions.pair(ma, mb);
    a = sessions.transport(ma);
    b = sessions.transport(mb);
    await Promise.all([a.start(), b.start()]);
  });
  after(async () => {
    await Promise.all([a.stop(), b.stop()]);
  });

  it('our offer carries our pin and the REAL listener port', () => {
    const o = decodePathOffer(offersOf(a).localOffer());
    assert.deepEqual([...o.fingerprint], [...(a.fingerprint as Uint8Array)]);
    assert.deepEqual(o.candidates, [{ address: '127.0.0.1', port: a.port, transport: 'wss', reflexive: false }]);
    assert.notEqual(a.port, 0);
    assert.equal(offersOf(a).localOffer(), offersOf(a).localOffer(), 'cached until something changes');
  });

  it('accepts a genuine offer, and the same offer again as a duplicate', () => {
    const offer = offersOf(b).localOffer();
    assert.equal(offersOf(a).accept(mb.peerId, offer), true);
    assert.equal(offersOf(a).accept(mb.peerId, offer), true);
    assert.deepEqual(rendezvousOf(a).peerCandidates(mb.peerId), [{ address: '127.0.0.1', port: b.port, transport: 'wss', reflexive: false }]);
    assert.equal(Object.keys(offersOf(a).stats.refused).length, 0);
  });

  it('refuses a forged signature (a bit flipped in the signature, or in the signed body)', () => {
    const fresh = (): Uint8Array =>
      signPathOffer(mb.signer, { peerId: mb.peerId, timestampMs: Date.now() + 5_000, fingerprint: randomBytes(32), candidates: [{ address: '127.0.0.1', port: 1 }] });
    const codes: string[] = [];
    offersOf(a).on('refused', (_p: Uint8Array | null, code: string) => codes.push(code));
    const sig = fresh();
    sig[sig.length - 1]! ^= 1;
    assert.equal(offersOf(a).accept(mb.peerId, sig), false);
    const body = fresh();
    body[78]! ^= 1; // a byte of the candidate address (offsets 78..81 after transport, flags, family): signed, so the signature fails
    assert.equal(offersOf(a).accept(mb.peerId, body), false);
    offersOf(a).removeAllListeners('refused');
    assert.deepEqual(codes, [OfferCode.SIGNATURE, OfferCode.SIGNATURE]);
    assert.deepEqual(rendezvousOf(a).peerCandidates(mb.peerId), [{ address: '127.0.0.1', port: b.port, transport: 'wss', reflexive: false }], 'nothing forged was stored');
  });

  it('refuses an offer signed by another identity for B, and one naming another peer', () => {
    const forged = signPathOffer(mc.signer, { peerId: mb.peerId, timestampMs: Date.now() + 10_000, fingerprint: randomBytes(32), candidates: [] });
    const before = offersOf(a).stats.refused[OfferCode.SIGNATURE] ?? 0;
    assert.equal(offersOf(a).accept(mb.peerId, forged), false);
    assert.equal(offersOf(a).stats.refused[OfferCode.SIGNATURE], before + 1);
    const cOwn = signPathOffer(mc.signer, { peerId: mc.peerId, timestampMs: Date.now(), fingerprint: randomBytes(32), candidates: [] });
    assert.equal(offersOf(a).accept(mb.peerId, cOwn), false, 'relayed through B session but names C');
    assert.equal(offersOf(a).stats.refused[OfferCode.PEER], 1);
  });

  it('refuses a stale offer (not newer than the last accepted)', () => {
    const t = Date.now() + 60_000;
    const fp = randomBytes(32);
    const newer = signPathOffer(mb.signer, { peerId: mb.peerId, timestampMs: t, fingerprint: fp, candidates: [] });
    const older = signPathOffer(mb.signer, { peerId: mb.peerId, timestampMs: t - 1, fingerprint: randomBytes(32), candidates: [] });
    const sameTime = signPathOffer(mb.signer, { peerId: mb.peerId, timestampMs: t, fingerprint: randomBytes(32), candidates: [] });
    assert.equal(offersOf(a).accept(mb.peerId, newer), true);
    assert.equal(offersOf(a).accept(mb.peerId, older), false);
    assert.equal(offersOf(a).accept(mb.peerId, sameTime), false);
    assert.equal(offersOf(a).stats.refused[OfferCode.STALE], 2);
  });

  it('refuses garbage and unknown identities', () => {
    assert.equal(offersOf(a).accept(mb.peerId, new Uint8Array(10)), false);
    assert.equal(offersOf(a).stats.refused[OfferCode.MALFORMED], 1);
    const stranger = { ...mc, peerId: randomBytes(32) };
    const offer = signPathOffer(stranger.signer, { peerId: stranger.peerId, timestampMs: 1, fingerprint: randomBytes(32), candidates: [] });
    assert.equal(offersOf(a).accept(stranger.peerId, offer), false);
    assert.equal(offersOf(a).stats.refused[OfferCode.UNKNOWN_PEER], 1);
  });

  it('setAdvertise adds candidates with the listener port and announces the change', () => {
    let changed = 0;
    offersOf(a).on('offer_changed', () => changed++);
    rendezvousOf(a).setAdvertise(['203.0.113.9']);
    rendezvousOf(a).setAdvertise(['203.0.113.9']);
    assert.equal(changed, 1);
    const o = decodePathOffer(offersOf(a).localOffer());
    assert.deepEqual(o.candidates[0], { address: '203.0.113.9', port: a.port, transport: 'wss', reflexive: true });
    assert.throws(() => rendezvousOf(a).setAdvertise(['not an ip']), { code: 'SM_ERR_PATH_OPTION' });
  });

  it('options are validated', () => {
    assert.throws(() => sessions.transport(ma, { bogus: 1 } as unknown as DirectTransportOptions), { code: 'SM_ERR_PATH_OPTION' });
    assert.throws(() => sessions.transport(ma, { certLifetimeMs: 10 }), { code: 'SM_ERR_PATH_OPTION' });
    assert.throws(() => sessions.transport(ma, { listenHost: 'localhost' }), { code: 'SM_ERR_PATH_OPTION' });
    assert.equal(sessions.transport(ma).options.rehandshakeSkewMs, 30_000);
    assert.ok(Object.isFrozen(sessions.transport(ma).options));
  });
});

describe('OfferExchange under a network policy (mayExchange)', () => {
  it('withholds our offer from a peer the policy keeps apart and refuses its offers before reading them; a change of answer takes effect at once', () => {
    const [ma, mb] = members() as [Member, Member];
    const sent: string[] = [];
    let allowed = false;
    const rendezvous = new Rendezvous();
    const ex = new OfferExchange({
      signer: ma.signer,
      localPeerId: ma.peerId,
      rendezvous,
      currentPin: () => new Uint8Array(32).fill(7),
      peerPublicKey: (id) => (toHex(id) === toHex(mb.peerId) ? mb.signer.publicKey : null),
      sendOffer: (id) => sent.push(toHex(id)),
      mayExchange: (id) => allowed || toHex(id) !== toHex(mb.peerId),
    });
    ex.ready = true;
    ex.send(mb.peerId);
    assert.deepEqual(sent, [], 'no candidates to a peer we may not talk to');
    assert.equal(ex.stats.withheld, 1);
    const offer = signPathOffer(mb.signer, { peerId: mb.peerId, timestampMs: 1_000, fingerprint: randomBytes(32), candidates: [{ address: '192.0.2.9', port: 4000, transport: 'udp' }] });
    const refused: string[] = [];
    ex.on('refused', (_id: Uint8Array, code: string) => refused.push(code));
    assert.equal(ex.receive(mb.peerId, offer), false);
    assert.equal(ex.receive(mb.peerId, new Uint8Array(3)), false, 'garbage too is refused for the policy, not parsed');
    assert.deepEqual(refused, [OfferCode.POLICY, OfferCode.POLICY]);
    assert.equal(rendezvous.peerCandidates(mb.peerId), null, 'nothing stored');
    assert.deepEqual(ex.drops(), { policy: 2 }, 'status and metrics name the reason');

    allowed = true; // a newer policy lets the pair talk
    ex.send(mb.peerId);
    assert.deepEqual(sent, [toHex(mb.peerId)]);
    assert.equal(ex.receive(mb.peerId, offer), true);
    assert.deepEqual(rendezvous.peerCandidates(mb.peerId, 'udp'), [{ address: '192.0.2.9', port: 4000, transport: 'udp', reflexive: false }]);
  });
});
