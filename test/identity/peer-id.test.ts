import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { HYBRID_SIGN_PUBLIC_BYTES } from '../../src/crypto/hybrid-sign.js';
import { formatPeerId, parsePeerId, PEER_ID_LABEL, peerIdFromPublicKey, shortId } from '../../src/identity/peer-id.js';
import { flipBit } from '../../testkit/identity-fixtures.js';
import { throwsWithCode } from '../../testkit/expect-code.js';

const pub = Uint8Array.from({ length: HYBRID_SIGN_PUBLIC_BYTES }, (_, i) => (i * 7) & 0xff);

test('peer id is SHA-256(label || public key), computed independently here', () => {
  const expected = createHash('sha256').update(PEER_ID_LABEL, 'utf8').update(pub).digest();
  assert.deepEqual(peerIdFromPublicKey(pub), Uint8Array.from(expected));
  const pqChanged = flipBit(pub, HYBRID_SIGN_PUBLIC_BYTES - 1, 0); // the ML-DSA half counts
  assert.notDeepEqual(peerIdFromPublicKey(pqChanged), peerIdFromPublicKey(pub));
  const edChanged = flipBit(pub, 0, 0); // and the Ed25519 half
  assert.notDeepEqual(peerIdFromPublicKey(edChanged), peerIdFromPublicKey(pub));
});

test('peer id text: 64 lower-case hex, parse accepts upper case, short id is 8 chars', () => {
  const id = peerIdFromPublicKey(pub);
  const text = formatPeerId(id);
  assert.match(text, /^[0-9a-f]{64}$/);
  assert.deepEqual(parsePeerId(text), id);
  assert.deepEqual(parsePeerId(` ${text.toUpperCase()}\n`), id);
  assert.equal(shortId(id), text.slice(0, 8));
});

test('parsePeerId refuses anything but 64 hex digits', () => {
  const text = formatPeerId(peerIdFromPublicKey(pub));
  for (const bad of ['', text.slice(1), `${text}0`, `0x${text.slice(2)}`, `${text.slice(0, 63)}g`, text.replace(/^(.{32})/, '$1 ')]) {
    throwsWithCode(() => parsePeerId(bad), 'SM_ERR_ID_PEER_ID');
  }
});

test('wrong lengths are argument errors', () => {
  throwsWithCode(() => peerIdFromPublicKey(new Uint8Array(32)), 'SM_ERR_CONFIG_PUBLIC_KEY');
  throwsWithCode(() => formatPeerId(new Uint8Array(31)), 'SM_ERR_CONFIG_PEER_ID');
  throwsWithCode(() => shortId(new Uint8Array(33)), 'SM_ERR_CONFIG_PEER_ID');
});
