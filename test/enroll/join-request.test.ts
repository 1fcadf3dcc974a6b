/**
 * The join request (src/enroll/join-request.ts): a built request parses
 * back and its proof verifies only for the connection's exporter; the
 * parser answers any bytes with a checked request or a coded refusal
 * (SM_ERR_ENROLL_REQUEST, _TOO_LARGE), never another exception.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { HybridSigner } from '../../src/crypto/hybrid-sign.js';
import { buildJoinRequest, checkJoinProof, parseJoinRequest } from '../../src/enroll/join-request.js';
import { MAX_REQUEST_BYTES } from '../../src/enroll/request-body.js';
import { throwsWithCode } from '../../testkit/expect-code.js';

const signer = HybridSigner.generate();
const exporter = new Uint8Array(32).fill(9);
const secret = new Uint8Array(32).fill(3);
const text = buildJoinRequest(signer, '0011223344556677', secret, 'alice', exporter);
const bytes = new TextEncoder().encode(text);

test('a built request parses back, and its proof holds for this exporter only', () => {
  const req = parseJoinRequest(bytes);
  assert.equal(req.tokenId, '0011223344556677');
  assert.equal(req.name, 'alice');
  assert.deepEqual(req.secret, secret);
  assert.deepEqual(req.publicKey, signer.publicKey);
  checkJoinProof(req, exporter);
  throwsWithCode(() => checkJoinProof(req, new Uint8Array(32).fill(8)), 'SM_ERR_ENROLL_PROOF');
  throwsWithCode(() => checkJoinProof({ ...req, name: 'mallory' }, exporter), 'SM_ERR_ENROLL_PROOF');
  throwsWithCode(() => checkJoinProof({ ...req, tokenId: '0011223344556678' }, exporter), 'SM_ERR_ENROLL_PROOF');
  const other = HybridSigner.generate();
  throwsWithCode(() => checkJoinProof({ ...req, publicKey: other.publicKey }, exporter), 'SM_ERR_ENROLL_PROOF');
  other.destroy();
});

test('malformed requests are refused with their codes', () => {
  const obj = JSON.parse(text) as Record<string, unknown>;
  const mutate = (patch: Record<string, unknown>) => new TextEncoder().encode(JSON.stringify({ ...obj, ...patch }));
  for (const b of [
    new TextEncoder().encode('not json'),
    new Uint8Array([0xff, 0xfe]),
    new TextEncoder().encode('[]'),
    new TextEncoder().encode('null'),
    mutate({ v: 2 }),
    mutate({ extra: 1 }),
    mutate({ token: 'XYZ' }),
    mutate({ secret: 'AAAA' }),
    mutate({ name: '' }),
    mutate({ name: 'a\u0000b' }),
    mutate({ name: 7 }),
    mutate({ publicKey: 'AAAA' }),
    mutate({ proof: (obj['proof'] as string).slice(4) }),
    mutate({ proof: `${(obj['proof'] as string)}==` }),
  ]) {
    throwsWithCode(() => parseJoinRequest(b), 'SM_ERR_ENROLL_REQUEST');
  }
  throwsWithCode(() => parseJoinRequest(new Uint8Array(MAX_REQUEST_BYTES + 1)), 'SM_ERR_ENROLL_TOO_LARGE');
});

test('property: any bytes or JSON give a request or SM_ERR_ENROLL_REQUEST', () => {
  const obj = JSON.parse(text) as Record<string, unknown>;
  const field = fc.constantFrom('v', 'token', 'secret', 'name', 'publicKey', 'proof', 'other');
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 2000 }),
        fc.json({ maxDepth: 3 }).map((j) => new TextEncoder().encode(j)),
        fc.tuple(field, fc.jsonValue({ maxDepth: 2 })).map(([k, v]) => new TextEncoder().encode(JSON.stringify({ ...obj, [k]: v }))),
      ),
      (b) => {
        try {
          parseJoinRequest(b);
        } catch (err) {
          assert.equal((err as { code?: string }).code, 'SM_ERR_ENROLL_REQUEST', String(err));
        }
      },
    ),
    { numRuns: 1000 },
  );
});
