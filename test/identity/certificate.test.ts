import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HybridSigner } from '../../src/crypto/hybrid-sign.js';
import { MAX_CERT_BYTES } from '../../src/wire/constants.js';
import {
  caIdFromPublicKey,
  decodeCaCertificate,
  decodeMemberCertificate,
  issueCaCertificate,
  issueMemberCertificate,
  MAX_MEMBER_CERT_BYTES,
  verifyMemberSignature,
} from '../../src/identity/certificate.js';
import { peerIdFromPublicKey } from '../../src/identity/peer-id.js';
import { DAY_MS, flipBit, makeCa, makeMember, T0_MS } from '../../testkit/identity-fixtures.js';
import { throwsWithCode } from '../../testkit/expect-code.js';

const ca = makeCa();
const memberKey = HybridSigner.generate();

test('member certificate round trip: every field survives encode/decode, raw re-decodes identically', () => {
  const serial = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
  const cert = issueMemberCertificate(ca.signer, ca.ca, {
    name: 'alice ✓ laptop',
    addresses: ['10.10.10.3/24', 'FD00:0::3/64'],
    groups: ['ops', 'dev.team_1'],
    publicKey: memberKey.publicKey,
    notBeforeMs: T0_MS,
    notAfterMs: T0_MS + 30 * DAY_MS,
    serial,
  });
  assert.equal(cert.name, 'alice ✓ laptop');
  assert.deepEqual(cert.addresses, ['10.10.10.3/24', 'fd00::3/64']);
  assert.deepEqual(cert.groups, ['ops', 'dev.team_1']);
  assert.deepEqual(cert.serial, serial);
  assert.deepEqual(cert.publicKey, memberKey.publicKey);
  assert.deepEqual(cert.peerId, peerIdFromPublicKey(memberKey.publicKey));
  assert.deepEqual(cert.caId, ca.ca.caId);
  assert.equal(cert.notBeforeMs, T0_MS);
  assert.equal(cert.notAfterMs, T0_MS + 30 * DAY_MS);
  assert.ok(cert.raw.length < MAX_CERT_BYTES);
  const again = decodeMemberCertificate(cert.raw);
  assert.deepEqual({ ...again }, { ...cert });
  assert.ok(verifyMemberSignature(again, ca.ca));
});

test('decoders copy their input: mutating it afterwards changes nothing', () => {
  const cert = makeMember(ca, { publicKey: memberKey.publicKey });
  const input = Uint8Array.from(cert.raw);
  const decoded = decodeMemberCertificate(input);
  input.fill(0);
  assert.deepEqual(decoded.publicKey, memberKey.publicKey);
  assert.ok(verifyMemberSignature(decoded, ca.ca));
});

test('largest member certificate allowed by the field limits stays under MAX_CERT_BYTES', () => {
  assert.ok(MAX_MEMBER_CERT_BYTES <= MAX_CERT_BYTES);
  const cert = issueMemberCertificate(ca.signer, ca.ca, {
    name: 'n'.repeat(64),
    addresses: Array.from({ length: 8 }, (_, i) => `fd00::${i + 1}:1/64`),
    groups: Array.from({ length: 16 }, (_, i) => `${String(i).padStart(2, '0')}${'g'.repeat(30)}`),
    // Two IPv6 routes fill the shared budget of 10 addresses and routes (cert-routes.ts).
    routes: ['fd50:1:2:3:4:5:6:0/112', 'fd51:1:2:3:4:5:6:0/112'],
    publicKey: memberKey.publicKey,
    notBeforeMs: T0_MS,
    notAfterMs: T0_MS + DAY_MS,
  });
  assert.equal(cert.raw.length, MAX_MEMBER_CERT_BYTES);
  assert.ok(cert.raw.length <= MAX_CERT_BYTES);
});

test('issuance refuses bad fields with SM_ERR_CERT_FIELD', () => {
  const base = { name: 'alice', addresses: ['10.0.0.2/24'], groups: [] as string[], publicKey: memberKey.publicKey, notBeforeMs: T0_MS, notAfterMs: T0_MS + DAY_MS };
  const bad: Array<Partial<typeof base>> = [
    { name: '' },
    { name: 'x'.repeat(65) },
    { name: 'é'.repeat(33) }, // 66 bytes
    { name: 'bad\nname' },
    { name: 'bell\u0007' },
    { name: ' padded' },
    { name: 'e\u0301' }, // not NFC
    { name: 'rtl\u202eoverride' },
    { addresses: [] },
    { addresses: ['10.0.0.2'] },
    { addresses: ['10.0.0.0/24'] },
    { groups: [''] },
    { groups: ['a,b'] },
    { groups: ['with space'] },
    { groups: ['-leading'] },
    { groups: ['x'.repeat(33)] },
    { groups: ['dup', 'dup'] },
    { groups: Array.from({ length: 17 }, (_, i) => `g${i}`) },
    { notAfterMs: T0_MS },
    { notBeforeMs: -1 },
    { notBeforeMs: 1.5 },
    { notAfterMs: ca.ca.notAfterMs + 1 }, // outlives the CA
    { notBeforeMs: ca.ca.notBeforeMs - 1 }, // starts before the CA
    { publicKey: new Uint8Array(32) },
  ];
  for (const b of bad) throwsWithCode(() => issueMemberCertificate(ca.signer, ca.ca, { ...base, ...b }), 'SM_ERR_CERT_FIELD');
  throwsWithCode(() => issueMemberCertificate(ca.signer, ca.ca, { ...base, serial: new Uint8Array(15) }), 'SM_ERR_CERT_FIELD');
  // A signer that does not hold the CA's key is a programmer mistake.
  throwsWithCode(() => issueMemberCertificate(memberKey, ca.ca, base), 'SM_ERR_CONFIG_SIGNER');
});

test('CA certificate round trip; caId is the labelled hash of its key', () => {
  assert.deepEqual(ca.ca.caId, caIdFromPublicKey(ca.signer.publicKey));
  const again = decodeCaCertificate(ca.ca.raw);
  assert.deepEqual({ ...again }, { ...ca.ca });
  assert.equal(again.name, 'test CA');
});

test('a CA certificate whose self-signature was made by another key is malformed', () => {
  const other = HybridSigner.generate();
  const forged = issueCaCertificate(other, { name: 'test CA', notBeforeMs: ca.ca.notBeforeMs, notAfterMs: ca.ca.notAfterMs });
  // Splice the real CA's key and id into the forged certificate: caId matches, signature does not.
  const bytes = Uint8Array.from(forged.raw);
  bytes.set(ca.ca.raw.subarray(4, 36), 4);
  bytes.set(ca.ca.publicKey, 52);
  throwsWithCode(() => decodeCaCertificate(bytes), 'SM_ERR_CERT_MALFORMED');
});

test('member and CA certificates cannot be confused', () => {
  const cert = makeMember(ca, { publicKey: memberKey.publicKey });
  throwsWithCode(() => decodeCaCertificate(cert.raw), 'SM_ERR_CERT_MALFORMED');
  throwsWithCode(() => decodeMemberCertificate(ca.ca.raw), 'SM_ERR_CERT_MALFORMED');
});

test('structural damage is SM_ERR_CERT_MALFORMED: truncation, trailing bytes, header, peer id', () => {
  const cert = makeMember(ca, { publicKey: memberKey.publicKey });
  const raw = cert.raw;
  const cases = [
    new Uint8Array(0),
    raw.subarray(0, 3),
    raw.subarray(0, raw.length - 1),
    Uint8Array.from([...raw, 0]),
    flipBit(raw, 0, 1), // version
    flipBit(raw, 2, 0), // reserved
    flipBit(raw, 68, 0), // peerId no longer matches the key
    flipBit(raw, 200, 3), // key no longer matches the peer id
    new Uint8Array(MAX_MEMBER_CERT_BYTES + 1),
  ];
  for (const c of cases) throwsWithCode(() => decodeMemberCertificate(c), 'SM_ERR_CERT_MALFORMED');
  throwsWithCode(() => decodeMemberCertificate('text' as unknown as Uint8Array), 'SM_ERR_CERT_MALFORMED');
});

test('a CA certificate may carry the network domain (header flag 0x01, after the name); without one it encodes as before', () => {
  assert.equal(ca.ca.domain, null);
  assert.equal(ca.ca.raw[2], 0, 'no domain: byte 2 stays zero, the format before the flag');
  const fields = { name: 'test CA', notBeforeMs: ca.ca.notBeforeMs, notAfterMs: ca.ca.notAfterMs };
  const signer = HybridSigner.generate();
  const withDomain = issueCaCertificate(signer, { ...fields, domain: 'corp.mesh' });
  assert.equal(withDomain.raw[2], 0x01);
  assert.equal(withDomain.domain, 'corp.mesh');
  assert.equal(withDomain.raw.length, issueCaCertificate(signer, fields).raw.length + 1 + 'corp.mesh'.length);
  assert.deepEqual({ ...decodeCaCertificate(withDomain.raw) }, { ...withDomain });
  // The domain is signed: a changed letter breaks the self-signature.
  const tampered = Uint8Array.from(withDomain.raw);
  tampered[withDomain.raw.length - 4691 - 1] = 'x'.charCodeAt(0);
  throwsWithCode(() => decodeCaCertificate(tampered), 'SM_ERR_CERT_MALFORMED');
  // Unknown flag bits, and a flag on a member certificate, are refused.
  const unknownFlag = Uint8Array.from(withDomain.raw);
  unknownFlag[2] = 0x03;
  throwsWithCode(() => decodeCaCertificate(unknownFlag), 'SM_ERR_CERT_MALFORMED');
  const member = Uint8Array.from(makeMember(ca, { publicKey: memberKey.publicKey }).raw);
  member[2] = 0x01;
  throwsWithCode(() => decodeMemberCertificate(member), 'SM_ERR_CERT_MALFORMED');
  // Only the canonical spelling is issued.
  for (const bad of ['Corp.Mesh', 'corp.mesh.', '', 'a..b', '-a.mesh', 'x'.repeat(254)]) {
    throwsWithCode(() => issueCaCertificate(signer, { ...fields, domain: bad }), 'SM_ERR_CERT_FIELD');
  }
  signer.destroy();
});
