import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HybridSigner } from '../../src/crypto/hybrid-sign.js';
import { checkReplacement, sameCertificate } from '../../src/identity/cert-replacement.js';
import { MembershipVerifier } from '../../src/identity/membership.js';
import { issueRevocationList } from '../../src/identity/revocation.js';
import { DAY_MS, makeCa, makeMember, T0_MS } from '../../testkit/identity-fixtures.js';
import { throwsWithCode } from '../../testkit/expect-code.js';

const ca = makeCa();
const otherCa = makeCa('test CA');
const key = HybridSigner.generate().publicKey;
const current = makeMember(ca, { publicKey: key, notAfterMs: T0_MS + 10 * DAY_MS });
const verifier = new MembershipVerifier(ca.ca);
const renewal = (o: Parameters<typeof makeMember>[1] = {}) => makeMember(ca, { publicKey: key, notBeforeMs: T0_MS, notAfterMs: T0_MS + 400 * DAY_MS, ...o });

test('a renewal of the same key, name and addresses from our CA is accepted and decoded; groups may change', () => {
  const next = renewal({ groups: ['ops', 'web'] });
  const cert = checkReplacement(current, next.raw, verifier, T0_MS);
  assert.equal(cert.notAfterMs, T0_MS + 400 * DAY_MS);
  assert.deepEqual(cert.groups, ['ops', 'web']);
  // The addresses in another order are the same set.
  checkReplacement(current, renewal({ addresses: ['fd00::3/64', '10.10.10.3/24'] }).raw, verifier, T0_MS);
});

test('the same bytes are recognised as no replacement', () => {
  assert.equal(sameCertificate(current, current.raw), true);
  assert.equal(sameCertificate(current, renewal().raw), false);
});

test('a certificate of another key is SM_ERR_CERT_REPLACE_KEY', () => {
  throwsWithCode(() => checkReplacement(current, makeMember(ca, { notAfterMs: T0_MS + 400 * DAY_MS }).raw, verifier, T0_MS), 'SM_ERR_CERT_REPLACE_KEY');
});

test('a certificate of another CA is SM_ERR_CERT_NOT_MEMBER', () => {
  throwsWithCode(() => checkReplacement(current, makeMember(otherCa, { publicKey: key, notAfterMs: T0_MS + 400 * DAY_MS }).raw, verifier, T0_MS), 'SM_ERR_CERT_NOT_MEMBER');
});

test('a revoked key is SM_ERR_CERT_REVOKED', () => {
  const v = new MembershipVerifier(ca.ca, issueRevocationList(ca.signer, ca.ca, { number: 1, issuedAtMs: T0_MS, peerIds: [current.peerId] }));
  throwsWithCode(() => checkReplacement(current, renewal().raw, v, T0_MS), 'SM_ERR_CERT_REVOKED');
});

test('an expired certificate is SM_ERR_CERT_EXPIRED, even inside the verifiers\' clock skew', () => {
  const short = renewal({ notBeforeMs: T0_MS - 2 * DAY_MS, notAfterMs: T0_MS + 11 * DAY_MS });
  checkReplacement(current, short.raw, verifier, T0_MS + 11 * DAY_MS);
  throwsWithCode(() => checkReplacement(current, short.raw, verifier, T0_MS + 11 * DAY_MS + 1), 'SM_ERR_CERT_EXPIRED');
});

test('a dropped, changed or added address is SM_ERR_CERT_RENEWAL (the device would need reconfiguring)', () => {
  throwsWithCode(() => checkReplacement(current, renewal({ addresses: ['10.10.10.3/24'] }).raw, verifier, T0_MS), 'SM_ERR_CERT_RENEWAL');
  throwsWithCode(() => checkReplacement(current, renewal({ addresses: ['10.10.10.9/24', 'fd00::3/64'] }).raw, verifier, T0_MS), 'SM_ERR_CERT_RENEWAL');
  throwsWithCode(() => checkReplacement(current, renewal({ addresses: ['10.10.10.3/24', 'fd00::3/64', '10.10.10.8/24'] }).raw, verifier, T0_MS), 'SM_ERR_CERT_RENEWAL');
});

test('another name, or an earlier end, is SM_ERR_CERT_RENEWAL', () => {
  throwsWithCode(() => checkReplacement(current, renewal({ name: 'alicia' }).raw, verifier, T0_MS), 'SM_ERR_CERT_RENEWAL');
  throwsWithCode(() => checkReplacement(current, renewal({ notAfterMs: T0_MS + 9 * DAY_MS }).raw, verifier, T0_MS), 'SM_ERR_CERT_RENEWAL');
});

test('bytes that are no certificate are refused with a certificate code', () => {
  throwsWithCode(() => checkReplacement(current, new Uint8Array([1, 2, 3]), verifier, T0_MS), 'SM_ERR_CERT_MALFORMED');
});
