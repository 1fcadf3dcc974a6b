/**
 * Tokens and pool against a real CA directory (src/enroll/token-store.ts,
 * src/enroll/enroll.ts): expiry, uses, unknown ids and wrong secrets; two
 * concurrent joins on a single-use token (exactly one wins, the other is
 * told "used up"); pool addresses skip live certificates (also those signed
 * by hand), come back once revoked or expired, and a manual `ca sign` can
 * never take an address the pool gave out; a refused join spends nothing.
 */
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { HybridSigner } from '../../src/crypto/hybrid-sign.js';
import { parsePool } from '../../src/enroll/address-pool.js';
import { enrollMember } from '../../src/enroll/enroll.js';
import type { JoinRequest } from '../../src/enroll/join-request.js';
import { checkTokenLocked, createTokenRecord, listTokenRecords, revokeTokenRecord } from '../../src/enroll/token-store.js';
import { initCa, revokeMembers, signMember, withCaLock } from '../../src/identity/ca.js';
import { DAY_MS, tempDir } from '../../testkit/identity-fixtures.js';
import { rejectsWithCode } from '../../testkit/expect-code.js';

const HOUR = 60 * 60 * 1000;
const pool = parsePool('10.60.0.0/24');
/** Six keys: the contention test gives each of its three rounds two of its own. */
const keys = Array.from({ length: 6 }, () => HybridSigner.generate().publicKey);

function request(tokenId: string, secret: Uint8Array, name: string, publicKey: Uint8Array): JoinRequest {
  return { tokenId, secret, name, publicKey, proof: new Uint8Array(0) };
}

async function withCa(fn: (dir: string) => Promise<void>): Promise<void> {
  const { dir, cleanup } = await tempDir('sm-enroll-');
  try {
    await initCa(dir, { name: 'net' });
    await fn(dir);
  } finally {
    await cleanup();
  }
}

test('a token record keeps a hash of the secret only (mode 0600); unknown ids, wrong secrets, expiry and spent uses are refused with their codes', async () => {
  await withCa(async (dir) => {
    const now = Date.now();
    const { record, secret } = await createTokenRecord(dir, { groups: ['web'], ttlMs: HOUR, uses: 2, nowMs: now });
    const file = join(dir, 'tokens', `${record.id}.json`);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const stored = await readFile(file, 'utf8');
    assert.ok(!stored.includes(Buffer.from(secret).toString('hex')) && !stored.includes(Buffer.from(secret).toString('base64url')));
    const check = (id: string, s: Uint8Array, at: number) => withCaLock(dir, () => checkTokenLocked(dir, id, s, at));
    assert.equal((await check(record.id, secret, now)).usesLeft, 2);
    await rejectsWithCode(() => check('ffffffffffffffff', secret, now), 'SM_ERR_ENROLL_TOKEN_UNKNOWN');
    await rejectsWithCode(() => check('../../etc/passwd', secret, now), 'SM_ERR_ENROLL_TOKEN_UNKNOWN');
    await rejectsWithCode(() => check(record.id, new Uint8Array(32), now), 'SM_ERR_ENROLL_TOKEN_UNKNOWN');
    await rejectsWithCode(() => check(record.id, secret, now + HOUR), 'SM_ERR_ENROLL_TOKEN_EXPIRED');

    const a = await enrollMember(dir, request(record.id, secret, 'a', keys[0]!), { pool, validMs: 30 * DAY_MS });
    assert.deepEqual(a.certificate.groups, ['web']);
    assert.equal(a.usesLeft, 1);
    await enrollMember(dir, request(record.id, secret, 'b', keys[1]!), { pool, validMs: 30 * DAY_MS });
    await rejectsWithCode(() => enrollMember(dir, request(record.id, secret, 'c', keys[2]!), { pool, validMs: 30 * DAY_MS }), 'SM_ERR_ENROLL_TOKEN_USED_UP');
    assert.deepEqual((await listTokenRecords(dir)).map((r) => r.usesLeft), [0]);

    await revokeTokenRecord(dir, record.id);
    await rejectsWithCode(() => enrollMember(dir, request(record.id, secret, 'c', keys[2]!), { pool, validMs: 30 * DAY_MS }), 'SM_ERR_ENROLL_TOKEN_UNKNOWN');
    await rejectsWithCode(() => revokeTokenRecord(dir, record.id), 'SM_ERR_ENROLL_TOKEN_UNKNOWN');
    await rejectsWithCode(() => createTokenRecord(dir, { ttlMs: 31 * DAY_MS, uses: 1 }), 'SM_ERR_CONFIG_DURATION');
    await rejectsWithCode(() => createTokenRecord(dir, { ttlMs: HOUR, uses: 0 }), 'SM_ERR_CONFIG_VALUE');
    await rejectsWithCode(() => createTokenRecord(dir, { ttlMs: HOUR, uses: 1, groups: ['bad group'] }), 'SM_ERR_CERT_FIELD');
  });
});

test('two concurrent joins on a single-use token: exactly one wins, the other is told it is used up', async () => {
  await withCa(async (dir) => {
    for (let round = 0; round < 3; round++) {
      const { record, secret } = await createTokenRecord(dir, { ttlMs: HOUR, uses: 1 });
      const results = await Promise.allSettled([
        // Keys of their own: a key a former round's winner holds would be refused as a renewal under another name.
        enrollMember(dir, request(record.id, secret, `x${round}`, keys[2 * round]!), { pool, validMs: DAY_MS }),
        enrollMember(dir, request(record.id, secret, `y${round}`, keys[2 * round + 1]!), { pool, validMs: DAY_MS }),
      ]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      assert.equal(won.length, 1, JSON.stringify(lost.map((l) => String(l.reason))));
      assert.equal((lost[0]!.reason as { code?: string }).code, 'SM_ERR_ENROLL_TOKEN_USED_UP');
    }
  });
});

test('pool addresses skip live certificates (also hand-signed ones), come back when revoked or expired; ca sign cannot take a pool address', async () => {
  await withCa(async (dir) => {
    const now = Date.now();
    const { record, secret } = await createTokenRecord(dir, { ttlMs: 2 * DAY_MS, uses: 10, nowMs: now });
    const join1 = (name: string, key: Uint8Array, at = now, validMs = 30 * DAY_MS) => enrollMember(dir, request(record.id, secret, name, key), { pool, validMs, nowMs: at });
    // A hand-signed member holds .1: the pool starts at .2.
    await signMember(dir, { name: 'manual', addresses: ['10.60.0.1/24'], publicKey: keys[0]!, nowMs: now });
    const a = await join1('a', keys[1]!);
    assert.deepEqual(a.certificate.addresses, ['10.60.0.2/24']);
    // ca sign refuses the address the pool gave out.
    await rejectsWithCode(() => signMember(dir, { name: 'grab', addresses: ['10.60.0.2/24'], publicKey: keys[4]!, nowMs: now }), 'SM_ERR_CERT_ADDRESS_IN_USE');
    // A short-lived member gets .3 ...
    const b = await join1('b', keys[2]!, now, 60_000);
    assert.deepEqual(b.certificate.addresses, ['10.60.0.3/24']);
    // ... a refused join (name in use) spends no use and takes no address
    const before = (await listTokenRecords(dir))[0]!.usesLeft;
    await rejectsWithCode(() => join1('a', keys[3]!), 'SM_ERR_CERT_NAME_IN_USE');
    assert.equal((await listTokenRecords(dir))[0]!.usesLeft, before);
    // ... revoking "a" frees .2, which the next join gets
    await revokeMembers(dir, [a.certificate.peerId]);
    const c = await join1('c', keys[3]!);
    assert.deepEqual(c.certificate.addresses, ['10.60.0.2/24']);
    // ... and once b's certificate has expired (past the clock-skew allowance) .3 comes back.
    const later = now + DAY_MS;
    const d = await join1('d', keys[4]!, later);
    assert.deepEqual(d.certificate.addresses, ['10.60.0.3/24']);
  });
});

test('a repeated join by the same key (its answer was lost) keeps the address it holds', async () => {
  await withCa(async (dir) => {
    const { record, secret } = await createTokenRecord(dir, { ttlMs: HOUR, uses: 3 });
    const first = await enrollMember(dir, request(record.id, secret, 'a', keys[0]!), { pool, validMs: DAY_MS });
    await enrollMember(dir, request(record.id, secret, 'b', keys[1]!), { pool, validMs: DAY_MS });
    const again = await enrollMember(dir, request(record.id, secret, 'a', keys[0]!), { pool, validMs: DAY_MS });
    assert.deepEqual(again.certificate.addresses, first.certificate.addresses);
  });
});
