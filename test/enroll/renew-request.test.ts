/**
 * The renew request (src/enroll/renew-request.ts): a built request parses
 * back and its proof holds only for the certificate's key, this exporter
 * and this certificate; any bytes give a request or a coded refusal.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { HybridSigner } from '../../src/crypto/hybrid-sign.js';
import { buildRenewRequest, checkRenewProof, parseRenewRequest } from '../../src/enroll/renew-request.js';
import { makeCa, makeMember } from '../../testkit/identity-fixtures.js';
import { throwsWithCode } from '../../testkit/expect-code.js';

const ca = makeCa();
const signer = HybridSigner.generate();
const member = { signer, cert: makeMember(ca, { publicKey: signer.publicKey }) };
const exporter = new Uint8Array(32).fill(5);

test('a built renew request parses back; its proof holds for this key, exporter and certificate only', () => {
  const text = buildRenewRequest(member.signer, member.cert.raw, exporter);
  const req = parseRenewRequest(new TextEncoder().encode(text));
  assert.deepEqual(req.certificate.raw, member.cert.raw);
  checkRenewProof(req, exporter);
  throwsWithCode(() => checkRenewProof(req, new Uint8Array(32)), 'SM_ERR_ENROLL_PROOF');
  const other = HybridSigner.generate();
  const forged = parseRenewRequest(new TextEncoder().encode(buildRenewRequest(other, member.cert.raw, exporter)));
  throwsWithCode(() => checkRenewProof(forged, exporter), 'SM_ERR_ENROLL_PROOF');
  other.destroy();
});

test('property: any bytes or JSON give a renew request or SM_ERR_ENROLL_REQUEST', () => {
  const obj = JSON.parse(buildRenewRequest(member.signer, member.cert.raw, exporter)) as Record<string, unknown>;
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 2000 }),
        fc.json({ maxDepth: 3 }).map((j) => new TextEncoder().encode(j)),
        fc.tuple(fc.constantFrom('v', 'certificate', 'proof', 'x'), fc.jsonValue({ maxDepth: 2 })).map(([k, v]) => new TextEncoder().encode(JSON.stringify({ ...obj, [k]: v }))),
        fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => new TextEncoder().encode(JSON.stringify({ ...obj, certificate: Buffer.concat([Buffer.from(member.cert.raw), b]).toString('base64') }))),
      ),
      (b) => {
        try {
          parseRenewRequest(b);
        } catch (err) {
          assert.equal((err as { code?: string }).code, 'SM_ERR_ENROLL_REQUEST', String(err));
        }
      },
    ),
    { numRuns: 500 },
  );
});
