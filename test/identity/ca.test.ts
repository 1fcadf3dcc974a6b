import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { HybridSigner } from '../../src/crypto/hybrid-sign.js';
import { initCa, revokeMembers, signMember } from '../../src/identity/ca.js';
import { loadCaCertificate, loadMemberCertificate, loadRevocationList } from '../../src/identity/files.js';
import { MembershipVerifier } from '../../src/identity/membership.js';
import { formatPeerId } from '../../src/identity/peer-id.js';
import { DAY_MS, T0_MS, tempDir } from '../../testkit/identity-fixtures.js';
import { rejectsWithCode } from '../../testkit/expect-code.js';

const aliceKey = HybridSigner.generate().publicKey;
const bobKey = HybridSigner.generate().publicKey;

test('init, sign, revoke: files on disk verify end to end', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const ca = await initCa(dir, { name: 'net', nowMs: T0_MS });
    assert.equal((await stat(join(dir, 'ca.key'))).mode & 0o777, 0o600);
    assert.deepEqual((await loadCaCertificate(join(dir, 'ca.crt'))).raw, ca.raw);
    const crl0 = await loadRevocationList(join(dir, 'crl'), ca);
    assert.equal(crl0.number, 0);
    assert.equal(crl0.peerIds.length, 0);
    await rejectsWithCode(() => initCa(dir), 'SM_ERR_ID_EXISTS');

    const alice = await signMember(dir, { name: 'alice', addresses: ['10.10.10.3/24'], groups: ['ops'], publicKey: aliceKey, nowMs: T0_MS, validMs: 30 * DAY_MS });
    assert.equal(alice.notAfterMs - alice.notBeforeMs, 30 * DAY_MS);
    const issued = await loadMemberCertificate(join(dir, 'issued', `${formatPeerId(alice.peerId)}.crt`));
    assert.deepEqual(issued.raw, alice.raw);
    const v = new MembershipVerifier(ca, crl0);
    v.verify(alice.raw, T0_MS);

    const crl1 = await revokeMembers(dir, [alice.peerId], { nowMs: T0_MS });
    assert.equal(crl1.number, 1);
    const onDisk = await loadRevocationList(join(dir, 'crl'), ca);
    assert.deepEqual(onDisk.raw, crl1.raw);
    v.setRevocationList(onDisk);
    await rejectsWithCode(async () => v.verify(alice.raw, T0_MS), 'SM_ERR_CERT_REVOKED');
    // A revoked key is not signed again.
    await rejectsWithCode(() => signMember(dir, { name: 'alice2', addresses: ['10.10.10.9/24'], publicKey: aliceKey, nowMs: T0_MS }), 'SM_ERR_CERT_REVOKED');
    const crl2 = await revokeMembers(dir, [bobKey.subarray(0, 32)], { nowMs: T0_MS });
    assert.equal(crl2.number, 2);
    assert.equal(crl2.peerIds.length, 2);
  } finally {
    await cleanup();
  }
});

test('signMember refuses a name or address held by another live member, allows renewal', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await initCa(dir, { nowMs: T0_MS });
    await signMember(dir, { name: 'alice', addresses: ['10.10.10.3/24'], publicKey: aliceKey, nowMs: T0_MS });
    await rejectsWithCode(() => signMember(dir, { name: 'bob', addresses: ['10.10.10.3/16'], publicKey: bobKey, nowMs: T0_MS }), 'SM_ERR_CERT_ADDRESS_IN_USE');
    await rejectsWithCode(() => signMember(dir, { name: 'alice', addresses: ['10.10.10.4/24'], publicKey: bobKey, nowMs: T0_MS }), 'SM_ERR_CERT_NAME_IN_USE');
    await signMember(dir, { name: 'alice', addresses: ['10.10.10.3/24'], publicKey: aliceKey, nowMs: T0_MS + DAY_MS }); // renewal
    // Once alice's certificate has expired, her address is free again.
    await signMember(dir, { name: 'bob', addresses: ['10.10.10.3/24'], publicKey: bobKey, nowMs: T0_MS + 400 * DAY_MS });
  } finally {
    await cleanup();
  }
});

test('bad input to signMember is refused before anything is written', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await initCa(dir, { nowMs: T0_MS, validMs: 100 * DAY_MS });
    await rejectsWithCode(() => signMember(dir, { name: 'a', addresses: ['10.0.0.0/24'], publicKey: aliceKey, nowMs: T0_MS }), 'SM_ERR_CERT_FIELD');
    await rejectsWithCode(() => signMember(dir, { name: 'a', addresses: ['10.0.0.5/24'], publicKey: aliceKey, nowMs: T0_MS }), 'SM_ERR_CERT_FIELD'); // 365d outlives the CA
    await rejectsWithCode(() => signMember(dir, { name: 'a', addresses: ['10.0.0.5/24'], publicKey: aliceKey, nowMs: T0_MS + 200 * DAY_MS, validMs: DAY_MS }), 'SM_ERR_CERT_EXPIRED');
    await rejectsWithCode(() => signMember(dir, { name: 'a', addresses: ['10.0.0.5/24'], publicKey: new Uint8Array(5) }), 'SM_ERR_CONFIG_PUBLIC_KEY');
    await rejectsWithCode(() => signMember(join(dir, 'nope'), { name: 'a', addresses: ['10.0.0.5/24'], publicKey: aliceKey }), 'SM_ERR_ID_MISSING');
  } finally {
    await cleanup();
  }
});

test('passphrase-protected CA key; a held lock means SM_ERR_CA_BUSY', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await initCa(dir, { passphrase: 'ca secret', nowMs: T0_MS });
    await rejectsWithCode(() => signMember(dir, { name: 'a', addresses: ['10.0.0.5/24'], publicKey: aliceKey, nowMs: T0_MS }), 'SM_ERR_ID_PASSPHRASE');
    await rejectsWithCode(() => revokeMembers(dir, [new Uint8Array(32)], { passphrase: 'nope', nowMs: T0_MS }), 'SM_ERR_ID_PASSPHRASE');
    const cert = await signMember(dir, { name: 'a', addresses: ['10.0.0.5/24'], publicKey: aliceKey, passphrase: 'ca secret', nowMs: T0_MS });
    assert.equal(cert.name, 'a');
    await writeFile(join(dir, 'lock'), '1\n');
    await rejectsWithCode(() => revokeMembers(dir, [new Uint8Array(32)], { passphrase: 'ca secret' }), 'SM_ERR_CA_BUSY');
    assert.equal(await readFile(join(dir, 'lock'), 'utf8'), '1\n', 'another holder\'s lock is left alone');
  } finally {
    await cleanup();
  }
});

test('re-signing an issued key must keep its name and addresses and not end sooner: no address is ever held by two live certificates', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await initCa(dir, { nowMs: T0_MS });
    const first = await signMember(dir, { name: 'alice', addresses: ['10.10.10.3/24', 'fd00::3/64'], publicKey: aliceKey, nowMs: T0_MS, validMs: 100 * DAY_MS });
    // Under a new name, or without one of its addresses, or ending sooner: refused, and nothing is recorded.
    await rejectsWithCode(() => signMember(dir, { name: 'alice2', addresses: ['10.10.10.3/24', 'fd00::3/64'], publicKey: aliceKey, nowMs: T0_MS + DAY_MS }), 'SM_ERR_CERT_RENEWAL');
    await rejectsWithCode(() => signMember(dir, { name: 'alice', addresses: ['10.10.10.9/24'], publicKey: aliceKey, nowMs: T0_MS + DAY_MS }), 'SM_ERR_CERT_RENEWAL');
    await rejectsWithCode(() => signMember(dir, { name: 'alice', addresses: ['10.10.10.3/24', 'fd00::3/64'], publicKey: aliceKey, nowMs: T0_MS + DAY_MS, validMs: DAY_MS }), 'SM_ERR_CERT_RENEWAL');
    const recorded = await loadMemberCertificate(join(dir, 'issued', `${formatPeerId(first.peerId)}.crt`));
    assert.deepEqual(recorded.raw, first.raw);
    // The first certificate still holds 10.10.10.3 and fd00::3 (and its name) until it expires.
    await rejectsWithCode(() => signMember(dir, { name: 'bob', addresses: ['10.10.10.3/24'], publicKey: bobKey, nowMs: T0_MS + 2 * DAY_MS }), 'SM_ERR_CERT_ADDRESS_IN_USE');
    await rejectsWithCode(() => signMember(dir, { name: 'bob', addresses: ['fd00::3/64'], publicKey: bobKey, nowMs: T0_MS + 2 * DAY_MS }), 'SM_ERR_CERT_ADDRESS_IN_USE');
    // A renewal may add an address and live longer.
    const renewed = await signMember(dir, { name: 'alice', addresses: ['10.10.10.3/24', 'fd00::3/64', '10.10.10.4/24'], publicKey: aliceKey, nowMs: T0_MS + 2 * DAY_MS });
    assert.deepEqual(renewed.addresses, ['10.10.10.3/24', 'fd00::3/64', '10.10.10.4/24']);
    await rejectsWithCode(() => signMember(dir, { name: 'bob', addresses: ['10.10.10.4/24'], publicKey: bobKey, nowMs: T0_MS + 3 * DAY_MS }), 'SM_ERR_CERT_ADDRESS_IN_USE');
    // Within the verifiers' clock-skew allowance after expiry, the certificate still counts as live.
    const end = renewed.notAfterMs;
    await rejectsWithCode(() => signMember(dir, { name: 'bob', addresses: ['10.10.10.3/24'], publicKey: bobKey, nowMs: end + 60_000 }), 'SM_ERR_CERT_ADDRESS_IN_USE');
    // Once every certificate of the key has expired, the key may be signed afresh and its addresses go to others.
    await signMember(dir, { name: 'bob', addresses: ['10.10.10.3/24'], publicKey: bobKey, nowMs: end + DAY_MS });
    await signMember(dir, { name: 'alice-new', addresses: ['10.10.10.9/24'], publicKey: aliceKey, nowMs: end + DAY_MS });
  } finally {
    await cleanup();
  }
});
