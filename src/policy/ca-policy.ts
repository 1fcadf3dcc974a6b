/**
 * Signing a policy in the CA directory (docs/architecture.md "Network
 * policy"; `shadowmesh ca policy sign`): validates the text, signs it with
 * the next version and records that version in CADIR/policy-version, under
 * the CA lock (src/identity/ca.ts), so two signings cannot reuse a number
 * and a version, once issued, is never issued again.
 *
 *     CADIR/policy-version   the last version signed, decimal text; absent = 0
 *     CADIR/policy.signed    a copy of the last signed policy
 */
import { join } from 'node:path';
import { IdentityError } from '../errors.js';
import { encodeArmor } from '../identity/armor.js';
import { loadCa, withCaLock } from '../identity/ca.js';
import { PUBLIC_FILE_MODE, pathExists, readTextFile, writeFileAtomic } from '../identity/secure-files.js';
import { IdentityCode } from '../identity/identity-errors.js';
import { issueSignedPolicy, POLICY_ARMOR_LABEL, type SignedPolicy } from './signed-policy.js';

export const CA_POLICY_VERSION_FILE = 'policy-version';
export const CA_POLICY_COPY_FILE = 'policy.signed';

/** The last policy version signed in `caDir` (0 when none). */
export async function lastPolicyVersion(caDir: string): Promise<number> {
  const path = join(caDir, CA_POLICY_VERSION_FILE);
  if (!(await pathExists(path))) return 0;
  const text = (await readTextFile(path)).trim();
  if (!/^(0|[1-9]\d{0,15})$/.test(text) || !Number.isSafeInteger(Number(text))) throw new IdentityError(IdentityCode.CORRUPT, `${path}: expected a version number, got ${JSON.stringify(text.slice(0, 40))}`);
  return Number(text);
}

/** Signs `text` as the next policy version of the CA in `caDir`. */
export async function signPolicy(caDir: string, text: string, options: { passphrase?: string; nowMs?: number; name?: string } = {}): Promise<SignedPolicy> {
  const nowMs = options.nowMs ?? Date.now();
  return withCaLock(caDir, async () => {
    const version = (await lastPolicyVersion(caDir)) + 1;
    const { ca, signer } = await loadCa(caDir, options.passphrase);
    try {
      const sp = issueSignedPolicy(signer, ca, { version, issuedAtMs: nowMs, text, name: options.name });
      await writeFileAtomic(join(caDir, CA_POLICY_VERSION_FILE), `${version}\n`, { mode: PUBLIC_FILE_MODE });
      await writeFileAtomic(join(caDir, CA_POLICY_COPY_FILE), encodeSignedPolicy(sp), { mode: PUBLIC_FILE_MODE });
      return sp;
    } finally {
      signer.destroy();
    }
  });
}

/** The armored text of a signed policy, as written to policy.signed. */
export function encodeSignedPolicy(sp: SignedPolicy): string {
  return encodeArmor(POLICY_ARMOR_LABEL, sp.raw);
}
