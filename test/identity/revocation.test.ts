import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeRevocationList, decodeRevocationListUnverified, issueRevocationList } from '../../src/identity/revocation.js';
import { flipBit, makeCa, T0_MS } from '../../testkit/identity-fixtures.js';
import { throwsWithCode } from '../../testkit/expect-code.js';

const ca = makeCa();
const other = makeCa('other');
const ids = [0x30, 0x10, 0x20, 0x10].map((b) => new Uint8Array(32).fill(b));

test('round trip; ids come back sorted and de-duplicated', () => {
  const crl = issueRevocationList(ca.signer, ca.ca, { number: 7, issuedAtMs: T0_MS, peerIds: ids });
  assert.equal(crl.number, 7);
  assert.equal(crl.issuedAtMs, T0_MS);
  assert.deepEqual(crl.peerIds.map((id) => id[0]), [0x10, 0x20, 0x30]);
  const again = decodeRevocationList(crl.raw, ca.ca);
  assert.deepEqual({ ...again }, { ...crl });
  const empty = issueRevocationList(ca.signer, ca.ca, { number: 0, issuedAtMs: T0_MS, peerIds: [] });
  assert.equal(decodeRevocationList(empty.raw, ca.ca).peerIds.length, 0);
});

test('another CA, bad signature, bad structure', () => {
  const crl = issueRevocationList(ca.signer, ca.ca, { number: 1, issuedAtMs: T0_MS, peerIds: ids });
  throwsWithCode(() => decodeRevocationList(crl.raw, other.ca), 'SM_ERR_CRL_OTHER_CA');
  throwsWithCode(() => decodeRevocationList(flipBit(crl.raw, 36, 0), ca.ca), 'SM_ERR_CRL_SIGNATURE'); // number
  throwsWithCode(() => decodeRevocationList(flipBit(crl.raw, crl.raw.length - 1, 7), ca.ca), 'SM_ERR_CRL_SIGNATURE');
  throwsWithCode(() => decodeRevocationList(crl.raw.subarray(0, crl.raw.length - 1), ca.ca), 'SM_ERR_CRL_MALFORMED');
  throwsWithCode(() => decodeRevocationList(flipBit(crl.raw, 1, 0), ca.ca), 'SM_ERR_CRL_MALFORMED');
  // Unsorted ids are not canonical: swap the first two.
  const swapped = Uint8Array.from(crl.raw);
  swapped.set(crl.raw.subarray(88, 120), 56);
  swapped.set(crl.raw.subarray(56, 88), 88);
  throwsWithCode(() => decodeRevocationListUnverified(swapped), 'SM_ERR_CRL_MALFORMED');
  // A count that promises more ids than the bytes hold.
  const lying = Uint8Array.from(crl.raw);
  lying[52] = 0xff;
  throwsWithCode(() => decodeRevocationListUnverified(lying), 'SM_ERR_CRL_MALFORMED');
});
