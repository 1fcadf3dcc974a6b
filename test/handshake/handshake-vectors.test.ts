import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { runHandshakeVector, type HandshakeVectorInputs, type HandshakeVectorOutputs } from '../../testkit/handshake-vector.js';

const file = new URL('../../../test/vectors/handshake-v1.json', import.meta.url);
const vector = JSON.parse(readFileSync(file, 'utf8')) as { inputs: HandshakeVectorInputs; outputs: HandshakeVectorOutputs };

test('the committed handshake vector replays byte for byte', () => {
  assert.deepEqual(runHandshakeVector(vector.inputs), vector.outputs);
});

test('changing any fixed input changes the outputs (the vector can fail)', () => {
  const changed = { ...vector.inputs, nonce: vector.inputs.nonce.replace(/^../, '56') };
  const out = runHandshakeVector(changed);
  assert.notEqual(out.initSha256, vector.outputs.initSha256);
  assert.notEqual(out.keyInitiatorToResponder, vector.outputs.keyInitiatorToResponder);
  // the last byte is ML-KEM's m (the first would be X25519's, whose low bits are clamped away)
  const otherKem = { ...vector.inputs, encapsSeed: vector.inputs.encapsSeed.replace(/..$/, '45') };
  assert.notEqual(runHandshakeVector(otherKem).keyPathAuth, vector.outputs.keyPathAuth);
});
