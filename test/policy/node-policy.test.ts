/**
 * The node's signed policy file (src/policy/node-policy.ts): a policy of the
 * node's CA loads from its armored or raw file; the highest version verified
 * is kept in DIR/policy-version, so an older file is refused on reload and
 * after a restart; a bad file leaves the policy in force.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeSignedPolicy } from '../../src/policy/ca-policy.js';
import { NodePolicy, NODE_POLICY_VERSION_FILE } from '../../src/policy/node-policy.js';
import { issueSignedPolicy } from '../../src/policy/signed-policy.js';
import { flipBit, makeCa, tempDir, T0_MS } from '../../testkit/identity-fixtures.js';

const TEXT = (name: string): string => `rules:\n  - name: ${name}\n    from: group:ops\n    to: any\n    proto: any\n`;

test('node policy: loads, persists its version, refuses older and tampered files, survives a restart', async () => {
  const ca = makeCa();
  const other = makeCa('other CA');
  const { dir, cleanup } = await tempDir('sm-node-policy-');
  try {
    const file = join(dir, 'policy.signed');
    const v = (n: number, c = ca) => issueSignedPolicy(c.signer, c.ca, { version: n, issuedAtMs: T0_MS, text: TEXT(`r${n}`) });
    await writeFile(file, encodeSignedPolicy(v(2)));
    const np = await NodePolicy.load(file, ca.ca, dir);
    assert.equal(np.version, 2);
    assert.deepEqual(np.current.policy.ruleNames, ['r2']);
    assert.equal((await readFile(join(dir, NODE_POLICY_VERSION_FILE), 'utf8')).trim(), '2');

    // The same file again: unchanged. A newer one (raw bytes this time): in force and persisted.
    assert.equal(await np.reload(), false);
    await writeFile(file, v(3).raw);
    assert.equal(await np.reload(), true);
    assert.equal(np.version, 3);
    assert.equal((await readFile(join(dir, NODE_POLICY_VERSION_FILE), 'utf8')).trim(), '3');

    // Older, tampered, another CA's, unreadable: refused with a code, version 3 stays.
    await writeFile(file, encodeSignedPolicy(v(1)));
    await assert.rejects(np.reload(), { code: 'SM_ERR_POLICY_ROLLBACK' });
    await writeFile(file, flipBit(v(4).raw, 40, 0));
    await assert.rejects(np.reload(), (err: { code?: string }) => err.code === 'SM_ERR_POLICY_SIGNATURE' || err.code === 'SM_ERR_POLICY_MALFORMED');
    await writeFile(file, encodeSignedPolicy(v(5, other)));
    await assert.rejects(np.reload(), { code: 'SM_ERR_POLICY_OTHER_CA' });
    await assert.rejects(np.reload(join(dir, 'absent')));
    assert.equal(np.version, 3);
    assert.deepEqual(np.current.policy.ruleNames, ['r3']);

    // A restart with an older file is refused too (DIR/policy-version = 3); the same or a newer one loads.
    await writeFile(file, encodeSignedPolicy(v(2)));
    await assert.rejects(NodePolicy.load(file, ca.ca, dir), { code: 'SM_ERR_POLICY_ROLLBACK' });
    await writeFile(file, encodeSignedPolicy(v(6)));
    assert.equal((await NodePolicy.load(file, ca.ca, dir)).version, 6);
    assert.equal((await readFile(join(dir, NODE_POLICY_VERSION_FILE), 'utf8')).trim(), '6');
  } finally {
    await cleanup();
  }
});
