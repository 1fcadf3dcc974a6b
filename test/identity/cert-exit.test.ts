/**
 * The exit-node mark of member certificates (header flag 0x02,
 * src/identity/certificate.ts; docs/architecture.md "Exit nodes"): a flag
 * without a field, so a certificate without it keeps its bytes; signed like
 * every other byte of the certificate; kept by renewals.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HybridSigner, HYBRID_SIGNATURE_BYTES } from '../../src/crypto/hybrid-sign.js';
import { initCa, signMember } from '../../src/identity/ca.js';
import { decodeMemberCertificate, issueMemberCertificate, MEMBER_FLAG_EXIT, verifyMemberSignature } from '../../src/identity/certificate.js';
import { DAY_MS, makeCa, T0_MS, tempDir } from '../../testkit/identity-fixtures.js';
import { rejectsWithCode, throwsWithCode } from '../../testkit/expect-code.js';

const ca = makeCa();
const key = HybridSigner.generate();
const serial = new Uint8Array(16).fill(7);

function issue(fields: { exit?: boolean; routes?: string[] }) {
  return issueMemberCertificate(ca.signer, ca.ca, {
    name: 'exit', addresses: ['10.10.10.2/24'], ...fields, publicKey: key.publicKey, notBeforeMs: T0_MS, notAfterMs: T0_MS + DAY_MS, serial,
  });
}

test('exit flag: set by exit: true, no extra bytes, decoded as exit; a certificate without it decodes as exit: false', () => {
  const plain = issue({});
  const exit = issue({ exit: true });
  assert.equal(plain.exit, false);
  assert.equal(plain.raw[2], 0, 'no exit: header flags zero, as before the flag existed');
  assert.equal(exit.exit, true);
  assert.equal(exit.raw[2], MEMBER_FLAG_EXIT);
  assert.equal(exit.raw.length, plain.raw.length, 'a flag only, no field');
  assert.equal(decodeMemberCertificate(exit.raw).exit, true);
  assert.ok(verifyMemberSignature(decodeMemberCertificate(exit.raw), ca.ca));
  // With routes both flags are set and both fields decode.
  const both = issue({ exit: true, routes: ['192.168.50.0/24'] });
  assert.equal(both.raw[2], 0x03);
  assert.deepEqual(decodeMemberCertificate(both.raw).routes, ['192.168.50.0/24']);
  assert.equal(decodeMemberCertificate(both.raw).exit, true);
});

test('the exit flag is signed: setting it on a plain certificate breaks the CA signature', () => {
  const plain = issue({});
  const forged = Uint8Array.from(plain.raw);
  forged[2] = MEMBER_FLAG_EXIT;
  const decoded = decodeMemberCertificate(forged);
  assert.equal(decoded.exit, true);
  assert.equal(verifyMemberSignature(decoded, ca.ca), false);
  assert.equal(forged.length - HYBRID_SIGNATURE_BYTES, plain.raw.length - HYBRID_SIGNATURE_BYTES);
});

test('issuance refuses a non-boolean exit with SM_ERR_CERT_FIELD', () => {
  throwsWithCode(() => issue({ exit: 'yes' as unknown as boolean }), 'SM_ERR_CERT_FIELD');
});

test('CA: signMember records the exit mark; a renewal must keep it (SM_ERR_CERT_RENEWAL)', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await initCa(dir, { name: 'net', nowMs: T0_MS });
    const x = HybridSigner.generate().publicKey;
    const cert = await signMember(dir, { name: 'x', addresses: ['10.10.10.2/24'], exit: true, publicKey: x, nowMs: T0_MS, validMs: DAY_MS });
    assert.equal(cert.exit, true);
    await rejectsWithCode(() => signMember(dir, { name: 'x', addresses: ['10.10.10.2/24'], publicKey: x, nowMs: T0_MS, validMs: 2 * DAY_MS }), 'SM_ERR_CERT_RENEWAL');
    const renewed = await signMember(dir, { name: 'x', addresses: ['10.10.10.2/24'], exit: true, publicKey: x, nowMs: T0_MS, validMs: 2 * DAY_MS });
    assert.equal(renewed.exit, true);
  } finally {
    await cleanup();
  }
});
