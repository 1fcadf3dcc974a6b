/**
 * Tests for src/node/session/key-pair.ts: retirement and destruction wipe the
 * handed-over buffers, creation time is capped by our clock, `sent` survives
 * retirement.
 */
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { KeyPair } from '../../../src/node/session/key-pair.js';
import { isZero, matchingKeys } from '../../../testkit/session-fixtures.js';

describe('KeyPair', () => {
  it('caps its creation time at our clock and keeps indices and role', () => {
    const k = matchingKeys(5_000, 1, 2).a;
    const kp = new KeyPair(k, 'chacha20-poly1305', 100n, 2048, 4_000);
    assert.equal(kp.createdAtMs, 4_000, 'a handshake clock ahead of ours does not extend the life');
    assert.equal(new KeyPair(matchingKeys(3_000, 1, 2).a, 'chacha20-poly1305', 100n, 2048, 4_000).createdAtMs, 3_000);
    assert.equal(kp.localIndex, 1);
    assert.equal(kp.remoteIndex, 2);
    assert.equal(kp.isInitiator, true);
    assert.equal(kp.replay.windowSize, 2048);
  });

  it('retire() destroys the sealer and wipes only the send key; sent is remembered', () => {
    const k = matchingKeys(0, 1, 2).a;
    const kp = new KeyPair(k, 'chacha20-poly1305', 100n, 2048, 0);
    const buf = new Uint8Array(16 + 16);
    kp.sealer!.sealInPlace(buf, 0, 16, 8, 0);
    kp.sealer!.sealInPlace(buf, 0, 16, 8, 0);
    kp.retire(10);
    assert.equal(kp.retiredAtMs, 10);
    assert.equal(kp.sealer, null);
    assert.equal(kp.sent, 2n);
    assert.ok(isZero(k.sendKey));
    assert.ok(!isZero(k.recvKey) && !isZero(k.pathAuthKey));
    assert.equal(kp.pathAuthKey, k.pathAuthKey);
    kp.retire(20);
    assert.equal(kp.retiredAtMs, 10, 'retire is idempotent');
  });

  it('destroy() wipes every handed-over buffer and is idempotent', () => {
    const k = matchingKeys(0, 1, 2).a;
    const kp = new KeyPair(k, 'aes-256-gcm', 100n, 2048, 0);
    kp.destroy();
    kp.destroy();
    assert.ok(isZero(k.sendKey) && isZero(k.recvKey) && isZero(k.pathAuthKey));
    assert.equal(kp.pathAuthKey, null);
    assert.equal(kp.sealer, null);
    assert.throws(() => kp.opener.open(new Uint8Array(16), 0n, new Uint8Array(16)), 'the opener is destroyed too');
  });
});
