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
import { NodePolicy, NODE_DELIVERED_POLICY_FILE, NODE_POLICY_VERSION_FILE, readSignedPolicyFile } from '../../src/policy/node-policy.js';
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

test('node policy from the relay: verified as a file, a newer one kept in DIR/policy.signed; at start the highest of file and delivery wins', async () => {
  const ca = makeCa();
  const other = makeCa('other CA');
  const { dir, cleanup } = await tempDir('sm-node-policy-relay-');
  try {
    const file = join(dir, 'given.signed');
    const stored = join(dir, NODE_DELIVERED_POLICY_FILE);
    const v = (n: number, c = ca, name = `r${n}`) => issueSignedPolicy(c.signer, c.ca, { version: n, issuedAtMs: T0_MS, text: TEXT(name) });
    const v2 = v(2);

    // No file, nothing delivered yet: no policy. An empty holder takes the first delivery and keeps it.
    assert.equal(await NodePolicy.open(undefined, ca.ca, dir), null);
    const np = await NodePolicy.empty(ca.ca, dir);
    assert.equal(np.held, false);
    assert.equal(await np.acceptDelivered(v2.raw), true);
    assert.ok(np.held && np.delivered);
    assert.equal(np.version, 2);
    assert.equal((await readFile(join(dir, NODE_POLICY_VERSION_FILE), 'utf8')).trim(), '2');
    assert.deepEqual(await readSignedPolicyFile(stored), v2.raw);
    // A re-delivery changes nothing; older, tampered, other-CA, same version with other bytes: refused, nothing written.
    assert.equal(await np.acceptDelivered(v2.raw), false);
    await assert.rejects(np.acceptDelivered(v(1).raw), { code: 'SM_ERR_POLICY_ROLLBACK' });
    await assert.rejects(np.acceptDelivered(flipBit(v(3).raw, 44, 0)), { code: 'SM_ERR_POLICY_SIGNATURE' });
    await assert.rejects(np.acceptDelivered(v(4, other).raw), { code: 'SM_ERR_POLICY_OTHER_CA' });
    await assert.rejects(np.acceptDelivered(v(2, ca, 'other').raw), { code: 'SM_ERR_POLICY_ROLLBACK' });
    await assert.rejects(np.acceptDelivered(Uint8Array.of(1, 2, 3)), { code: 'SM_ERR_POLICY_MALFORMED' });
    assert.equal(np.version, 2);
    assert.deepEqual(await readSignedPolicyFile(stored), v2.raw);

    // A restart without the relay and without a file keeps enforcing the delivery.
    const again = await NodePolicy.open(undefined, ca.ca, dir);
    assert.ok(again !== null && again.version === 2 && again.delivered);

    // With a file too: the highest wins, whichever it is; an older file is no refusal then.
    await writeFile(file, encodeSignedPolicy(v(1)));
    const fileOlder = await NodePolicy.open(file, ca.ca, dir);
    assert.ok(fileOlder !== null && fileOlder.version === 2 && fileOlder.delivered);
    assert.equal(await fileOlder.reload(), false, 'an older file while the relay\'s newer version is in force is stale, not a rollback');
    assert.equal(fileOlder.version, 2);
    await writeFile(file, encodeSignedPolicy(v(3)));
    assert.equal(await fileOlder.reload(), true);
    assert.equal(fileOlder.version as number, 3);
    assert.equal(fileOlder.delivered as boolean, false);
    // Now the file's version is in force: an older file is a rollback again.
    await writeFile(file, encodeSignedPolicy(v(2)));
    await assert.rejects(fileOlder.reload(), { code: 'SM_ERR_POLICY_ROLLBACK' });
    await writeFile(file, encodeSignedPolicy(v(3)));
    const fileNewer = await NodePolicy.open(file, ca.ca, dir);
    assert.ok(fileNewer !== null && fileNewer.version === 3 && !fileNewer.delivered);

    // The same version in both with different bytes: refused, as only a CA key compromise makes one.
    await writeFile(file, encodeSignedPolicy(v(2, ca, 'other')));
    await writeFile(stored, encodeSignedPolicy(v(3, ca, 'other')));
    await writeFile(file, encodeSignedPolicy(v(3)));
    await assert.rejects(NodePolicy.open(file, ca.ca, dir), { code: 'SM_ERR_POLICY_ROLLBACK' });
  } finally {
    await cleanup();
  }
});
