import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DirectTransport } from '../../../src/node/path/direct-transport.js';
import { OfferExchange } from '../../../src/node/path/rendezvous/offer-exchange.js';
import { Rendezvous } from '../../../src/node/path/rendezvous/rendezvous.js';

const peer = new Uint8Array(32).fill(7);

test('addresses inside our mesh subnets are never advertised as direct candidates', async () => {
  const rendezvous = new Rendezvous({ advertise: ['10.10.10.3', '203.0.113.9'] });
  const t = new DirectTransport({ pathAuthKey: () => null, rendezvous }, { listenHost: '127.0.0.1' });
  const offers = new OfferExchange({
    signer: { sign: () => new Uint8Array(4691) },
    localPeerId: new Uint8Array(32).fill(1),
    rendezvous,
    currentPin: () => t.currentPin(),
    peerPublicKey: () => null,
  });
  await t.start();
  try {
    const before = rendezvous.localCandidates().map((c) => c.address).sort();
    assert.deepEqual(before, ['10.10.10.3', '127.0.0.1', '203.0.113.9']);
    let changed = 0;
    offers.on('offer_changed', () => changed++);
    rendezvous.setMeshPrefixes(['10.10.10.3/24']);
    assert.equal(changed, 1, 'peers must be told');
    assert.deepEqual(rendezvous.localCandidates().map((c) => c.address).sort(), ['127.0.0.1', '203.0.113.9']);
    rendezvous.setMeshPrefixes(['203.0.112.5/23', '10.10.10.3/24']);
    assert.deepEqual(rendezvous.localCandidates().map((c) => c.address), ['127.0.0.1']);
    // and a connect() to a peer whose only candidates sit in our mesh is refused without dialing
    const failed: string[][] = [];
    t.on('connect_failed', (_p: Uint8Array, codes: string[]) => failed.push(codes));
    t.connect(peer);
    assert.equal(t.stats.dials, 0);
    assert.equal(failed.length, 1);
  } finally {
    await t.stop();
  }
});

test('paused dials (an exit node in use): connect() refuses at once with SM_ERR_PATH_DIALS_PAUSED and dials nothing; resumed, it is judged as before', async () => {
  const rendezvous = new Rendezvous({ advertise: ['203.0.113.9'] });
  const t = new DirectTransport({ pathAuthKey: () => null, rendezvous }, { listenHost: '127.0.0.1' });
  await t.start();
  try {
    const failed: string[][] = [];
    t.on('connect_failed', (_p: Uint8Array, codes: string[]) => failed.push(codes));
    t.pauseDials(true);
    t.connect(peer);
    assert.deepEqual(failed, [['SM_ERR_PATH_DIALS_PAUSED']]);
    assert.equal(t.stats.refused['SM_ERR_PATH_DIALS_PAUSED'], 1);
    t.pauseDials(false);
    t.connect(peer);
    assert.deepEqual(failed[1], ['SM_ERR_PATH_NO_OFFER']);
    assert.equal(t.stats.dials, 0);
  } finally {
    await t.stop();
  }
});
