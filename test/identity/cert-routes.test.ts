import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { HybridSigner } from '../../src/crypto/hybrid-sign.js';
import { HYBRID_SIGNATURE_BYTES } from '../../src/crypto/hybrid-sign.js';
import { initCa, signMember } from '../../src/identity/ca.js';
import { decodeMemberCertificate, issueMemberCertificate, verifyMemberSignature } from '../../src/identity/certificate.js';
import { parseRoute, prefixContains } from '../../src/identity/cert-routes.js';
import { loadMemberCertificate } from '../../src/identity/files.js';
import { formatPeerId } from '../../src/identity/peer-id.js';
import { DAY_MS, makeCa, T0_MS, tempDir } from '../../testkit/identity-fixtures.js';
import { rejectsWithCode, throwsWithCode } from '../../testkit/expect-code.js';

const ca = makeCa();
const key = HybridSigner.generate();

function issue(routes: string[] | undefined, addresses = ['10.10.10.3/24', 'fd00::3/64']) {
  return issueMemberCertificate(ca.signer, ca.ca, {
    name: 'router', addresses, ...(routes !== undefined ? { routes } : {}), publicKey: key.publicKey, notBeforeMs: T0_MS, notAfterMs: T0_MS + DAY_MS,
  });
}

test('routes round trip: IPv4 and IPv6 prefixes survive encode/decode in canonical form, signature covers them', () => {
  const cert = issue(['192.168.50.0/24', 'FD50:0::/64', '172.16.0.0/12']);
  assert.deepEqual(cert.routes, ['192.168.50.0/24', 'fd50::/64', '172.16.0.0/12']);
  const again = decodeMemberCertificate(cert.raw);
  assert.deepEqual(again.routes, cert.routes);
  assert.ok(verifyMemberSignature(again, ca.ca));
  // Flipping a bit of a route's network breaks the CA signature (or the route rules).
  const tampered = Uint8Array.from(cert.raw);
  const at = cert.raw.length - HYBRID_SIGNATURE_BYTES - 2; // inside the last route's address
  tampered[at] = (tampered[at] as number) ^ 0x01;
  let ok = false;
  try {
    ok = verifyMemberSignature(decodeMemberCertificate(tampered), ca.ca);
  } catch {
    ok = false;
  }
  assert.equal(ok, false);
});

test('a certificate without routes is byte-for-byte the old format: no routes field, routes decode as []', () => {
  const none = issue(undefined);
  const empty = issue([]);
  assert.deepEqual(none.routes, []);
  assert.equal(none.raw.length, empty.raw.length);
  const withOne = issue(['192.168.50.0/24']);
  // The field costs a count byte plus family, prefix and 4 address bytes, nothing when absent.
  assert.equal(withOne.raw.length - none.raw.length, 1 + 2 + 4);
});

test('the routes flag and field come together: flag with an empty field, flag without field, field without flag are all malformed', () => {
  const none = issue(undefined);
  assert.equal(none.raw[2], 0, 'no routes: header flags zero, as before routes existed');
  assert.equal(issue(['192.168.50.0/24']).raw[2], 0x01);
  const sigAt = none.raw.length - HYBRID_SIGNATURE_BYTES;
  const withByte = (flag: number, extra: number[]): Uint8Array => {
    const out = new Uint8Array(none.raw.length + extra.length);
    out.set(none.raw.subarray(0, sigAt), 0);
    out.set(extra, sigAt);
    out.set(none.raw.subarray(sigAt), sigAt + extra.length);
    out[2] = flag;
    return out;
  };
  throwsWithCode(() => decodeMemberCertificate(withByte(0x01, [0])), 'SM_ERR_CERT_MALFORMED'); // count 0
  throwsWithCode(() => decodeMemberCertificate(withByte(0x01, [])), 'SM_ERR_CERT_MALFORMED'); // no field
  throwsWithCode(() => decodeMemberCertificate(withByte(0x00, [1, 4, 24, 192, 168, 50, 0])), 'SM_ERR_CERT_MALFORMED'); // field, no flag
  throwsWithCode(() => decodeMemberCertificate(withByte(0x04, [])), 'SM_ERR_CERT_MALFORMED'); // unknown flag (0x02 is the exit flag)
});

test('issuance refuses bad routes with SM_ERR_CERT_FIELD', () => {
  const bad: string[][] = [
    ['0.0.0.0/0'], // default route: exit nodes, not this
    ['::/0'],
    ['192.168.50.7/24'], // host bits set
    ['192.168.50.0'], // no prefix
    ['192.168.50.0/33'],
    ['10.10.10.0/24'], // the member's own mesh subnet
    ['10.0.0.0/8'], // contains the mesh subnet
    ['10.10.10.128/25'], // inside the mesh subnet
    ['fd00::/48'], // contains the IPv6 mesh subnet
    ['127.0.0.0/8'],
    ['224.0.0.0/4'],
    ['169.254.0.0/16'],
    ['fe80::/10'],
    ['ff00::/8'],
    ['192.168.0.0/16', '192.168.50.0/24'], // overlapping each other
    ['192.168.50.0/24', '192.168.50.0/24'],
    Array.from({ length: 9 }, (_, i) => `192.168.${i}.0/24`), // more than 8
  ];
  for (const routes of bad) throwsWithCode(() => issue(routes), 'SM_ERR_CERT_FIELD', undefined);
  // Addresses and routes share a budget of 10 entries.
  const eight = Array.from({ length: 8 }, (_, i) => `fd00::${i + 1}/64`);
  throwsWithCode(() => issue(['192.168.1.0/24', '192.168.2.0/24', '192.168.3.0/24'], eight), 'SM_ERR_CERT_FIELD', /together/);
  assert.deepEqual(issue(['192.168.1.0/24', '192.168.2.0/24'], eight).routes.length, 2);
});

test('prefixContains: longest-prefix building block', () => {
  const net = parseRoute('192.168.50.0/24');
  assert.ok(prefixContains(net.address, 24, Uint8Array.of(192, 168, 50, 10)));
  assert.ok(!prefixContains(net.address, 24, Uint8Array.of(192, 168, 51, 10)));
  const n6 = parseRoute('fd50::/63');
  const a6 = parseRoute('fd50:0:0:1::/64');
  assert.ok(prefixContains(n6.address, 63, a6.address));
  assert.ok(!prefixContains(a6.address, 64, n6.address.map((b, i) => (i === 7 ? 2 : b))));
});

test('CA: signMember records routes; refuses a route overlapping another live member (SM_ERR_CERT_ROUTE_IN_USE); renewal keeps routes', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await initCa(dir, { name: 'net', nowMs: T0_MS });
    const r = HybridSigner.generate().publicKey;
    const b = HybridSigner.generate().publicKey;
    const cert = await signMember(dir, { name: 'r', addresses: ['10.10.10.2/24'], routes: ['192.168.50.0/24'], publicKey: r, nowMs: T0_MS, validMs: DAY_MS });
    assert.deepEqual(cert.routes, ['192.168.50.0/24']);
    const issued = await loadMemberCertificate(join(dir, 'issued', `${formatPeerId(cert.peerId)}.crt`));
    assert.deepEqual(issued.routes, ['192.168.50.0/24']);
    await rejectsWithCode(() => signMember(dir, { name: 'b', addresses: ['10.10.10.3/24'], routes: ['192.168.50.128/25'], publicKey: b, nowMs: T0_MS, validMs: DAY_MS }), 'SM_ERR_CERT_ROUTE_IN_USE');
    // Another member's mesh subnet is not a route either, and a mesh address may not sit in a route.
    await rejectsWithCode(() => signMember(dir, { name: 'b', addresses: ['10.20.0.3/24'], routes: ['10.10.0.0/16'], publicKey: b, nowMs: T0_MS, validMs: DAY_MS }), 'SM_ERR_CERT_ROUTE_IN_USE');
    await rejectsWithCode(() => signMember(dir, { name: 'b', addresses: ['192.168.50.9/24'], publicKey: b, nowMs: T0_MS, validMs: DAY_MS }), 'SM_ERR_CERT_ROUTE_IN_USE');
    const ok = await signMember(dir, { name: 'b', addresses: ['10.10.10.3/24'], routes: ['192.168.60.0/24'], publicKey: b, nowMs: T0_MS, validMs: DAY_MS });
    assert.deepEqual(ok.routes, ['192.168.60.0/24']);
    // Renewal: dropping the route while the older certificate lives is refused; keeping it (and adding one) is fine.
    await rejectsWithCode(() => signMember(dir, { name: 'r', addresses: ['10.10.10.2/24'], publicKey: r, nowMs: T0_MS, validMs: 2 * DAY_MS }), 'SM_ERR_CERT_RENEWAL');
    const renewed = await signMember(dir, { name: 'r', addresses: ['10.10.10.2/24'], routes: ['192.168.50.0/24', 'fd50::/64'], publicKey: r, nowMs: T0_MS, validMs: 2 * DAY_MS });
    assert.deepEqual(renewed.routes, ['192.168.50.0/24', 'fd50::/64']);
  } finally {
    await cleanup();
  }
});
