import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HybridSigner, HYBRID_SIGNATURE_BYTES } from '../../src/crypto/hybrid-sign.js';
import { CERT_CLOCK_SKEW_MS, MembershipVerifier } from '../../src/identity/membership.js';
import { issueRevocationList } from '../../src/identity/revocation.js';
import { DAY_MS, flipBit, makeCa, makeMember, T0_MS } from '../../testkit/identity-fixtures.js';
import { throwsWithCode } from '../../testkit/expect-code.js';

const ca = makeCa();
const otherCa = makeCa('test CA'); // same name, different key
const alice = makeMember(ca);
const bob = makeMember(ca, { name: 'bob', addresses: ['10.10.10.4/24'] });

test('a valid certificate of this CA is accepted and decoded', () => {
  const v = new MembershipVerifier(ca.ca);
  const cert = v.verify(alice.raw, T0_MS);
  assert.equal(cert.name, 'alice');
  assert.deepEqual(cert.peerId, alice.peerId);
  assert.equal(v.ca, ca.ca);
});

test('a certificate of another CA is NOT_MEMBER, even with the same CA name', () => {
  const foreign = makeMember(otherCa);
  throwsWithCode(() => new MembershipVerifier(ca.ca).verify(foreign.raw, T0_MS), 'SM_ERR_CERT_NOT_MEMBER');
});

test('a certificate naming this CA but signed by another key is NOT_MEMBER', () => {
  const forged = Uint8Array.from(makeMember(otherCa).raw);
  forged.set(ca.ca.caId, 20); // claim our CA
  throwsWithCode(() => new MembershipVerifier(ca.ca).verify(forged, T0_MS), 'SM_ERR_CERT_NOT_MEMBER');
});

test('validity window with clock skew: not yet valid, valid at the edges, expired', () => {
  const v = new MembershipVerifier(ca.ca);
  const { notBeforeMs, notAfterMs } = alice;
  v.verify(alice.raw, notBeforeMs - CERT_CLOCK_SKEW_MS);
  v.verify(alice.raw, notAfterMs + CERT_CLOCK_SKEW_MS);
  throwsWithCode(() => v.verify(alice.raw, notBeforeMs - CERT_CLOCK_SKEW_MS - 1), 'SM_ERR_CERT_NOT_YET_VALID');
  throwsWithCode(() => v.verify(alice.raw, notAfterMs + CERT_CLOCK_SKEW_MS + 1), 'SM_ERR_CERT_EXPIRED');
});

test('an expired CA makes every certificate expired', () => {
  const shortCa = makeCa('short', T0_MS - DAY_MS, T0_MS + DAY_MS);
  const cert = makeMember(shortCa, { notBeforeMs: T0_MS - DAY_MS, notAfterMs: T0_MS + DAY_MS });
  const v = new MembershipVerifier(shortCa.ca);
  v.verify(cert.raw, T0_MS);
  throwsWithCode(() => v.verify(cert.raw, T0_MS + 2 * DAY_MS), 'SM_ERR_CERT_EXPIRED');
});

test('revoked peers are refused; others still pass', () => {
  const crl = issueRevocationList(ca.signer, ca.ca, { number: 1, issuedAtMs: T0_MS, peerIds: [alice.peerId] });
  const v = new MembershipVerifier(ca.ca, crl);
  throwsWithCode(() => v.verify(alice.raw, T0_MS), 'SM_ERR_CERT_REVOKED');
  assert.equal(v.isRevoked(alice.peerId), true);
  assert.equal(v.isRevoked(bob.peerId), false);
  v.verify(bob.raw, T0_MS);
});

test('revocation lists never roll back and must come from this CA', () => {
  const crl1 = issueRevocationList(ca.signer, ca.ca, { number: 1, issuedAtMs: T0_MS, peerIds: [alice.peerId] });
  const crl2 = issueRevocationList(ca.signer, ca.ca, { number: 2, issuedAtMs: T0_MS, peerIds: [alice.peerId, bob.peerId] });
  const crl2b = issueRevocationList(ca.signer, ca.ca, { number: 2, issuedAtMs: T0_MS, peerIds: [] });
  const v = new MembershipVerifier(ca.ca, crl2);
  assert.equal(v.revocationNumber, 2);
  throwsWithCode(() => v.setRevocationList(crl1), 'SM_ERR_CRL_ROLLBACK');
  throwsWithCode(() => v.setRevocationList(crl2b), 'SM_ERR_CRL_ROLLBACK'); // same number, other contents
  assert.equal(v.isRevoked(bob.peerId), true, 'a refused list changes nothing');
  v.setRevocationList(crl2); // the same list again is fine
  const foreign = issueRevocationList(otherCa.signer, otherCa.ca, { number: 9, issuedAtMs: T0_MS, peerIds: [] });
  throwsWithCode(() => v.setRevocationList(foreign), 'SM_ERR_CRL_OTHER_CA');
  // A hand-edited list object is re-checked from its raw bytes.
  throwsWithCode(() => v.setRevocationList({ ...crl2, raw: flipBit(crl2.raw, 40, 0) }), 'SM_ERR_CRL_SIGNATURE');
  const crl3 = issueRevocationList(ca.signer, ca.ca, { number: 3, issuedAtMs: T0_MS, peerIds: [] });
  v.setRevocationList(crl3);
  assert.equal(v.isRevoked(alice.peerId), false);
});

test('a flipped bit anywhere in a certificate is rejected, never accepted', () => {
  const v = new MembershipVerifier(ca.ca);
  const raw = alice.raw;
  const signedEnd = raw.length - HYBRID_SIGNATURE_BYTES;
  // Every byte of the signed part and of the Ed25519 signature (cheap to reject), then a
  // stride through the ML-DSA signature (each of those costs a full ML-DSA verification).
  const positions: number[] = [];
  for (let i = 0; i < signedEnd + 64; i++) positions.push(i);
  for (let i = signedEnd + 64; i < raw.length; i += 37) positions.push(i);
  positions.push(raw.length - 1);
  for (const i of positions) {
    const bit = i % 8;
    let code: string | undefined;
    try {
      v.verify(flipBit(raw, i, bit), T0_MS);
    } catch (err) {
      code = (err as { code?: string }).code;
    }
    assert.ok(code === 'SM_ERR_CERT_MALFORMED' || code === 'SM_ERR_CERT_NOT_MEMBER', `flip at byte ${i} bit ${bit}: ${code ?? 'ACCEPTED'}`);
  }
});

test('the verifier does not accept a certificate for a different key under the same peer id claim', () => {
  const mallory = HybridSigner.generate();
  const forged = Uint8Array.from(alice.raw);
  forged.set(mallory.publicKey, 100); // swap the key, keep alice's peer id
  throwsWithCode(() => new MembershipVerifier(ca.ca).verify(forged, T0_MS), 'SM_ERR_CERT_MALFORMED');
});
