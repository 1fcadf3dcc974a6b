import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeArmor, encodeArmor, peekArmorLabel } from '../../src/identity/armor.js';
import { throwsWithCode } from '../../testkit/expect-code.js';

test('armor round trip, 64-character lines, PEM-like frame', () => {
  const bytes = Uint8Array.from({ length: 200 }, (_, i) => i);
  const text = encodeArmor('CERTIFICATE', bytes);
  const lines = text.trimEnd().split('\n');
  assert.equal(lines[0], '-----BEGIN SHADOWMESH CERTIFICATE-----');
  assert.equal(lines[lines.length - 1], '-----END SHADOWMESH CERTIFICATE-----');
  assert.ok(lines.slice(1, -1).every((l) => l.length <= 64));
  assert.equal(lines[1]?.length, 64);
  assert.deepEqual(decodeArmor(text, 'CERTIFICATE'), bytes);
  assert.equal(peekArmorLabel(text), 'CERTIFICATE');
  // CRLF and surrounding whitespace are tolerated.
  assert.deepEqual(decodeArmor(`\n  ${text.replaceAll('\n', '\r\n')}  \n`, 'CERTIFICATE'), bytes);
});

test('armor round trip for arbitrary bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), (bytes) => {
      assert.deepEqual(decodeArmor(encodeArmor('PUBLIC KEY', bytes), 'PUBLIC KEY'), bytes);
    }),
    { numRuns: 200 },
  );
});

test('armor refuses a wrong label, bad base64, missing lines and extra blocks', () => {
  const text = encodeArmor('CA CERTIFICATE', Uint8Array.from([1, 2, 3, 4, 5]));
  const err = throwsWithCode(() => decodeArmor(text, 'CERTIFICATE'), 'SM_ERR_ID_ARMOR');
  assert.match(err.message, /CA CERTIFICATE/);
  const body = text.split('\n')[1] as string;
  const cases = [
    '',
    'hello',
    text.replace(body, `${body.slice(0, -2)}!!`),
    text.replace(body, body.slice(0, -1)), // broken padding
    text.replace(body, 'AQIDBAV='), // non-zero pad bits: non-canonical
    text.replace('-----END SHADOWMESH CA CERTIFICATE-----', ''),
    text.replace('-----BEGIN SHADOWMESH CA CERTIFICATE-----', ''),
    text + text,
    `${text}trailing`,
    '-----BEGIN SHADOWMESH CA CERTIFICATE-----\n-----END SHADOWMESH CA CERTIFICATE-----\n',
  ];
  for (const bad of cases) throwsWithCode(() => decodeArmor(bad, 'CA CERTIFICATE'), 'SM_ERR_ID_ARMOR');
});

test('armor labels are checked', () => {
  throwsWithCode(() => encodeArmor('lower', new Uint8Array(1)), 'SM_ERR_CONFIG_ARMOR_LABEL');
  throwsWithCode(() => encodeArmor('A--B', new Uint8Array(1)), 'SM_ERR_CONFIG_ARMOR_LABEL');
});
