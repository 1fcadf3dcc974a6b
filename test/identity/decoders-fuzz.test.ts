/**
 * Property tests for the identity decoders (docs/conventions.md §15, property tests): arbitrary
 * bytes and mutated valid encodings only ever raise an IdentityError with an
 * SM_ERR_* code; a mutated certificate is never accepted as a member.
 * SHADOWMESH_FUZZ_RUNS=<n> raises the number of cases for a long run.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeCaCertificate, decodeMemberCertificate } from '../../src/identity/certificate.js';
import { MembershipVerifier } from '../../src/identity/membership.js';
import { decodeRevocationList, issueRevocationList } from '../../src/identity/revocation.js';
import { makeCa, makeMember, T0_MS } from '../../testkit/identity-fixtures.js';

const RUNS = Number(process.env['SHADOWMESH_FUZZ_RUNS'] ?? '300');
const ca = makeCa();
const member = makeMember(ca);
const crl = issueRevocationList(ca.signer, ca.ca, { number: 1, issuedAtMs: T0_MS, peerIds: [member.peerId] });

function onlyIdentityErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    assert.equal((err as Error).name, 'IdentityError', `unexpected ${(err as Error).name}: ${(err as Error).message}`);
    assert.match((err as { code: string }).code, /^SM_ERR_(CERT|CRL)_/);
  }
}

/** Valid encoding with random mutations: byte overwrites, truncation or extension. */
function mutated(valid: Uint8Array): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    fc.array(fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }).map((edits) => {
      const out = Uint8Array.from(valid);
      for (const [i, x] of edits) out[i] = (out[i] as number) ^ x;
      return out;
    }),
    fc.nat({ max: valid.length - 1 }).map((n) => valid.slice(0, n)),
    fc.uint8Array({ minLength: 1, maxLength: 16 }).map((tail) => Uint8Array.from([...valid, ...tail])),
  );
}

const header = fc.tuple(fc.constantFrom(0, 1, 2), fc.constantFrom(0, 1, 2, 3, 4), fc.uint8Array({ maxLength: 600 })).map(
  ([v, k, rest]) => Uint8Array.from([v, k, 0, 0, ...rest]),
);
const anyBytes = fc.oneof(fc.uint8Array({ maxLength: 9000 }), header);

test('arbitrary bytes: decoders only throw IdentityError with a code', () => {
  fc.assert(
    fc.property(anyBytes, (bytes) => {
      onlyIdentityErrors(() => decodeMemberCertificate(bytes));
      onlyIdentityErrors(() => decodeCaCertificate(bytes));
      onlyIdentityErrors(() => decodeRevocationList(bytes, ca.ca));
    }),
    { numRuns: RUNS },
  );
});

test('mutated member certificates are never accepted', () => {
  const v = new MembershipVerifier(ca.ca);
  fc.assert(
    fc.property(mutated(member.raw), (bytes) => {
      let accepted = false;
      onlyIdentityErrors(() => {
        v.verify(bytes, T0_MS);
        accepted = true;
      });
      assert.equal(accepted, false);
    }),
    { numRuns: RUNS },
  );
});

test('mutated CA certificates and revocation lists are never accepted', () => {
  fc.assert(
    fc.property(mutated(ca.ca.raw), mutated(crl.raw), (caBytes, crlBytes) => {
      let accepted = 0;
      onlyIdentityErrors(() => {
        decodeCaCertificate(caBytes);
        accepted++;
      });
      onlyIdentityErrors(() => {
        decodeRevocationList(crlBytes, ca.ca);
        accepted++;
      });
      assert.equal(accepted, 0);
    }),
    { numRuns: Math.ceil(RUNS / 3) },
  );
});
