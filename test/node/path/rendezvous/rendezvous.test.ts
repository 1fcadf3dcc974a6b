/**
 * Rendezvous and OfferExchange on their own, without a transport or a
 * socket (src/node/path/rendezvous/): offers from an unknown peer are
 * refused and counted, bad candidates of a verified offer are dropped and
 * counted by reason, at most MAX_CANDIDATES_PER_OFFER are kept per peer,
 * pins index their peers, and our own candidates follow the carriers.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';

import { randomBytes } from '../../../../src/crypto/bytes.js';
import { MAX_CANDIDATES_PER_OFFER } from '../../../../src/node/path/rendezvous/candidate-filter.js';
import { OfferCode } from '../../../../src/node/path/rendezvous/rendezvous-errors.js';
import { OfferExchange } from '../../../../src/node/path/rendezvous/offer-exchange.js';
import { signPathOffer, type PathCandidate } from '../../../../src/node/path/rendezvous/path-offer.js';
import { Rendezvous } from '../../../../src/node/path/rendezvous/rendezvous.js';
import { members, type Member } from '../../../../testkit/direct-transport-fixture.js';

function exchange(self: Member, known: Member[], pin: Uint8Array | null = randomBytes(32)): { rendezvous: Rendezvous; offers: OfferExchange; sent: Array<[Uint8Array, Uint8Array]> } {
  const rendezvous = new Rendezvous();
  // Not on loopback: loopback candidates are refused like any other bad one.
  rendezvous.setWssListener('0.0.0.0', 4_433, true);
  const sent: Array<[Uint8Array, Uint8Array]> = [];
  const offers = new OfferExchange({
    signer: self.signer,
    localPeerId: self.peerId,
    rendezvous,
    currentPin: () => pin,
    peerPublicKey: (p) => known.find((m) => Buffer.compare(m.peerId, p) === 0)?.signer.publicKey ?? null,
    sendOffer: (p, body) => sent.push([p, body]),
    establishedPeers: () => known.map((m) => m.peerId),
  });
  return { rendezvous, offers, sent };
}

function offerOf(m: Member, candidates: PathCandidate[], timestampMs = Date.now(), fingerprint = randomBytes(32)): Uint8Array {
  return signPathOffer(m.signer, { peerId: m.peerId, timestampMs, fingerprint, candidates });
}

describe('OfferExchange', () => {
  it('refuses and counts an offer from a peer whose identity key it does not know; nothing is stored', () => {
    const [ma, mb] = members() as [Member, Member];
    const { rendezvous, offers } = exchange(ma, []);
    const codes: string[] = [];
    offers.on('refused', (_p: Uint8Array, code: string) => codes.push(code));
    assert.equal(offers.accept(mb.peerId, offerOf(mb, [{ address: '198.51.100.7', port: 443, transport: 'wss' }])), false);
    assert.deepEqual(codes, [OfferCode.UNKNOWN_PEER]);
    assert.equal(offers.stats.refused[OfferCode.UNKNOWN_PEER], 1);
    assert.equal(rendezvous.peerCandidates(mb.peerId), null);
  });

  it('stores a verified offer in the rendezvous: candidates per carrier, pins indexed, the previous pin kept', () => {
    const [ma, mb] = members() as [Member, Member];
    const { rendezvous, offers } = exchange(ma, [mb]);
    const pin1 = randomBytes(32);
    const pin2 = randomBytes(32);
    const cands: PathCandidate[] = [{ address: '198.51.100.7', port: 443, transport: 'wss' }, { address: '198.51.100.7', port: 5_000, transport: 'udp' }];
    assert.equal(offers.accept(mb.peerId, offerOf(mb, cands, 1_000, pin1)), true);
    assert.deepEqual(rendezvous.peerCandidates(mb.peerId, 'wss')?.map((c) => c.port), [443]);
    assert.deepEqual(rendezvous.peerCandidates(mb.peerId, 'udp')?.map((c) => c.port), [5_000]);
    assert.equal(offers.accept(mb.peerId, offerOf(mb, cands, 2_000, pin2)), true);
    assert.deepEqual(rendezvous.peerPins(mb.peerId), [pin2, pin1]);
    assert.deepEqual(rendezvous.pinOwners(pin1), [mb.peerId]);
    assert.deepEqual(rendezvous.pinOwners(randomBytes(32)), []);
    rendezvous.forgetPeer(mb.peerId);
    assert.equal(rendezvous.peerPins(mb.peerId), null);
    assert.deepEqual(rendezvous.pinOwners(pin2), []);
  });

  it('re-sends a changed offer to every established peer once ready, and never without a pin', () => {
    const [ma, mb, mc] = members() as [Member, Member, Member];
    let pin: Uint8Array | null = null;
    const rendezvous = new Rendezvous();
    rendezvous.setWssListener('198.51.100.20', 4_433, true);
    const sent: Uint8Array[] = [];
    const offers = new OfferExchange({
      signer: ma.signer, localPeerId: ma.peerId, rendezvous, currentPin: () => pin, peerPublicKey: () => null,
      sendOffer: (p) => sent.push(p), establishedPeers: () => [mb.peerId, mc.peerId],
    });
    let changed = 0;
    offers.on('offer_changed', () => changed++);
    rendezvous.setAdvertise(['198.51.100.9']);
    assert.equal(changed, 0, 'no listener, no offer to change');
    assert.throws(() => offers.localOffer(), { code: 'SM_ERR_PATH_ARG' });
    pin = randomBytes(32);
    rendezvous.setAdvertise(['198.51.100.10']);
    assert.equal(changed, 1);
    assert.equal(sent.length, 0, 'not ready yet');
    offers.ready = true;
    rendezvous.setUdpCandidates([{ address: '198.51.100.10', port: 7, transport: 'udp' }]);
    assert.equal(changed, 2);
    assert.deepEqual(sent, [mb.peerId, mc.peerId]);
  });
});

describe('Rendezvous', () => {
  it('drops bad candidates of a verified offer, counting each by reason, and keeps at most MAX_CANDIDATES_PER_OFFER per peer', () => {
    const [ma, mb] = members() as [Member, Member];
    const { rendezvous, offers } = exchange(ma, [mb]);
    const bad: PathCandidate[] = [
      { address: '127.0.0.1', port: 443, transport: 'wss' },
      { address: '0.0.0.0', port: 443, transport: 'wss' },
      { address: '224.0.0.1', port: 443, transport: 'udp' },
    ];
    const good: PathCandidate[] = Array.from({ length: MAX_CANDIDATES_PER_OFFER + 3 }, (_, i) => ({ address: `198.51.100.${i + 2}`, port: 443, transport: 'wss' as const }));
    assert.equal(offers.accept(mb.peerId, offerOf(mb, [...bad, ...good])), true, 'the offer itself is genuine');
    const kept = rendezvous.peerCandidates(mb.peerId)!;
    assert.equal(kept.length, MAX_CANDIDATES_PER_OFFER);
    assert.ok(kept.every((c) => good.some((g) => g.address === c.address)));
    const r = rendezvous.stats.candidatesRefused;
    assert.equal(r.loopback, 1);
    assert.equal(r.unspecified, 1);
    assert.equal(r.multicast, 1);
    assert.equal(r.over_cap, 3);
  });

  it('our candidates: UDP first, then advertised and listener WSS addresses with the listener port; mesh addresses never', () => {
    const rendezvous = new Rendezvous({ advertise: ['203.0.113.9', '10.10.10.3'] });
    rendezvous.setWssListener('127.0.0.1', 4_433, true);
    rendezvous.setUdpCandidates([{ address: '203.0.113.9', port: 5_000, transport: 'udp', reflexive: true }]);
    rendezvous.setMeshPrefixes(['10.10.10.3/24']);
    assert.equal(rendezvous.isMeshAddress('10.10.10.77'), true);
    assert.equal(rendezvous.isMeshAddress('not an address'), false);
    assert.deepEqual(rendezvous.localCandidates(), [
      { address: '203.0.113.9', port: 5_000, transport: 'udp', reflexive: true },
      { address: '203.0.113.9', port: 4_433, transport: 'wss', reflexive: true },
      { address: '127.0.0.1', port: 4_433, transport: 'wss', reflexive: false },
    ]);
  });

  it('routes we accept count as mesh: a member\'s LAN address is never a direct path (it would run through the tunnel)', () => {
    const rendezvous = new Rendezvous();
    rendezvous.setWssListener('127.0.0.1', 4_433, true);
    rendezvous.setUdpCandidates([{ address: '192.168.50.7', port: 5_000, transport: 'udp', reflexive: false }, { address: '203.0.113.9', port: 5_000, transport: 'udp', reflexive: true }]);
    assert.equal(rendezvous.isMeshAddress('192.168.50.1'), false);
    rendezvous.setRoutedPrefixes(['192.168.50.0/24', 'fd50::/64']);
    assert.equal(rendezvous.isMeshAddress('192.168.50.1'), true);
    assert.equal(rendezvous.isMeshAddress('fd50::1'), true);
    assert.equal(rendezvous.isMeshAddress('192.168.51.1'), false);
    assert.deepEqual(rendezvous.localCandidates().filter((c) => c.transport === 'udp').map((c) => c.address), ['203.0.113.9']);
    rendezvous.setRoutedPrefixes([]);
    assert.equal(rendezvous.isMeshAddress('192.168.50.1'), false);
  });
});
