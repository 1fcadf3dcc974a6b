/**
 * Signed policies (src/policy/signed-policy.ts, policy-holder.ts,
 * ca-policy.ts): a member accepts only a policy its CA signed, refuses a
 * tampered blob, another CA's policy and any version lower than the one it
 * holds; the CA directory hands out versions that only grow.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { HYBRID_SIGNATURE_BYTES } from '../../src/crypto/hybrid-sign.js';
import { initCa } from '../../src/identity/ca.js';
import { decodeArmor } from '../../src/identity/armor.js';
import { lastPolicyVersion, signPolicy } from '../../src/policy/ca-policy.js';
import { PolicyHolder } from '../../src/policy/policy-holder.js';
import { decodeSignedPolicy, decodeSignedPolicyUnverified, issueSignedPolicy, POLICY_ARMOR_LABEL } from '../../src/policy/signed-policy.js';
import { flipBit, makeCa, tempDir, T0_MS } from '../../testkit/identity-fixtures.js';

const TEXT_V1 = 'rules:\n  - name: ops\n    from: group:ops\n    to: any\n    proto: any\n';
const TEXT_V2 = 'rules: []\n';

test('a signed policy round-trips and carries its version, time and compiled rules', () => {
  const ca = makeCa();
  const sp = issueSignedPolicy(ca.signer, ca.ca, { version: 3, issuedAtMs: T0_MS, text: TEXT_V1 });
  const back = decodeSignedPolicy(sp.raw, ca.ca);
  assert.equal(back.version, 3);
  assert.equal(back.issuedAtMs, T0_MS);
  assert.equal(back.text, TEXT_V1);
  assert.deepEqual(back.policy.ruleNames, ['ops']);
});

test('a tampered blob is refused: every region (header, version, text, signature)', () => {
  const ca = makeCa();
  const sp = issueSignedPolicy(ca.signer, ca.ca, { version: 1, issuedAtMs: T0_MS, text: TEXT_V1 });
  const sigStart = sp.raw.length - HYBRID_SIGNATURE_BYTES;
  const textAt = sp.raw.indexOf('o'.charCodeAt(0), 56);
  for (const [at, why] of [[1, 'kind'], [40, 'version'], [textAt, 'text'], [sigStart + 5, 'signature'], [sp.raw.length - 1, 'signature end']] as const) {
    assert.throws(() => decodeSignedPolicy(flipBit(sp.raw, at, 0), ca.ca), (err: { code?: string }) => err.code === 'SM_ERR_POLICY_SIGNATURE' || err.code === 'SM_ERR_POLICY_MALFORMED', why);
  }
  // A flip inside the text that keeps it valid YAML still fails the signature.
  assert.throws(() => decodeSignedPolicy(flipBit(sp.raw, textAt, 1), ca.ca), { code: 'SM_ERR_POLICY_SIGNATURE' });
  assert.throws(() => decodeSignedPolicy(sp.raw.subarray(0, sp.raw.length - 1), ca.ca), { code: 'SM_ERR_POLICY_MALFORMED' });
  assert.throws(() => decodeSignedPolicy(new Uint8Array([...sp.raw, 0]), ca.ca), { code: 'SM_ERR_POLICY_MALFORMED' });
  assert.throws(() => decodeSignedPolicyUnverified(new Uint8Array(10)), { code: 'SM_ERR_POLICY_MALFORMED' });
});

test('a policy signed by another CA is refused', () => {
  const ours = makeCa();
  const theirs = makeCa('other CA');
  const sp = issueSignedPolicy(theirs.signer, theirs.ca, { version: 9, issuedAtMs: T0_MS, text: TEXT_V1 });
  assert.throws(() => decodeSignedPolicy(sp.raw, ours.ca), { code: 'SM_ERR_POLICY_OTHER_CA' });
  assert.throws(() => new PolicyHolder(ours.ca).accept(sp.raw), { code: 'SM_ERR_POLICY_OTHER_CA' });
});

test('invalid policy text is not signed', () => {
  const ca = makeCa();
  assert.throws(() => issueSignedPolicy(ca.signer, ca.ca, { version: 1, issuedAtMs: T0_MS, text: 'rules: 3\n' }), { code: 'SM_ERR_POLICY_INVALID' });
});

test('the holder keeps the highest version it verified: lower refused, same re-delivery ignored, same version with other bytes refused', () => {
  const ca = makeCa();
  const v1 = issueSignedPolicy(ca.signer, ca.ca, { version: 1, issuedAtMs: T0_MS, text: TEXT_V1 });
  const v2 = issueSignedPolicy(ca.signer, ca.ca, { version: 2, issuedAtMs: T0_MS + 1, text: TEXT_V2 });
  const v2other = issueSignedPolicy(ca.signer, ca.ca, { version: 2, issuedAtMs: T0_MS + 2, text: TEXT_V1 });
  const holder = new PolicyHolder(ca.ca);
  assert.equal(holder.version, 0);
  assert.equal(holder.accept(v1.raw), true);
  assert.equal(holder.accept(v2.raw), true);
  assert.equal(holder.version, 2);
  assert.throws(() => holder.accept(v1.raw), { code: 'SM_ERR_POLICY_ROLLBACK' });
  assert.equal(holder.accept(v2.raw), false);
  assert.throws(() => holder.accept(v2other.raw), { code: 'SM_ERR_POLICY_ROLLBACK' });
  assert.throws(() => holder.accept(flipBit(v2.raw, v2.raw.length - 10, 0)), { code: 'SM_ERR_POLICY_SIGNATURE' });
  assert.equal(holder.version, 2);
  assert.equal(holder.current!.text, TEXT_V2);
});

test('a floor recorded before a restart (minVersion) refuses older versions before any policy is held', () => {
  const ca = makeCa();
  const v1 = issueSignedPolicy(ca.signer, ca.ca, { version: 1, issuedAtMs: T0_MS, text: TEXT_V1 });
  const v3 = issueSignedPolicy(ca.signer, ca.ca, { version: 3, issuedAtMs: T0_MS, text: TEXT_V2 });
  const holder = new PolicyHolder(ca.ca, { minVersion: 2 });
  assert.equal(holder.version, 2);
  assert.throws(() => holder.accept(v1.raw), { code: 'SM_ERR_POLICY_ROLLBACK' });
  assert.equal(holder.current, null);
  assert.equal(holder.accept(v3.raw), true);
  assert.equal(holder.version, 3);
  assert.throws(() => new PolicyHolder(ca.ca, { minVersion: -1 }), { code: 'SM_ERR_CONFIG_POLICY_VERSION' });
});

test('the CA directory signs versions that only grow and records the last one', async () => {
  const { dir, cleanup } = await tempDir('sm-policy-');
  try {
    const caDir = join(dir, 'ca');
    const ca = await initCa(caDir, {});
    assert.equal(await lastPolicyVersion(caDir), 0);
    const a = await signPolicy(caDir, TEXT_V1);
    const b = await signPolicy(caDir, TEXT_V2);
    assert.deepEqual([a.version, b.version], [1, 2]);
    assert.equal(await lastPolicyVersion(caDir), 2);
    await assert.rejects(signPolicy(caDir, 'rules: nope\n'), { code: 'SM_ERR_POLICY_INVALID' });
    assert.equal(await lastPolicyVersion(caDir), 2, 'a refused file spends no version');
    const copy = decodeSignedPolicy(decodeArmor(await readFile(join(caDir, 'policy.signed'), 'utf8'), POLICY_ARMOR_LABEL), ca);
    assert.equal(copy.version, 2);
  } finally {
    await cleanup();
  }
});
