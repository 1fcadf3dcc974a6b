/**
 * The node's signed policy file (docs/architecture.md "Network policy";
 * docs/configuration.md "Network policy file", key node.policy): reads
 * policy.signed, verifies it against the node's CA through a PolicyHolder,
 * and records the highest version verified in DIR/policy-version (the node's
 * identity directory), so a restart with an older file is refused as a live
 * reload is. No file configured = no policy: everything is allowed.
 *
 *     DIR/policy-version   highest policy version this node verified, decimal text; absent = 0
 *
 * Errors: those of PolicyHolder.accept (SM_ERR_POLICY_MALFORMED, _OTHER_CA,
 * _SIGNATURE, _ROLLBACK) and of reading the files.
 */
import { join } from 'node:path';
import { decodeArmor, peekArmorLabel } from '../identity/armor.js';
import type { CaCertificate } from '../identity/certificate.js';
import { PUBLIC_FILE_MODE, readPublicFile, writeFileAtomic } from '../identity/secure-files.js';
import { CA_POLICY_VERSION_FILE, lastPolicyVersion } from './ca-policy.js';
import { PolicyHolder } from './policy-holder.js';
import { POLICY_ARMOR_LABEL, type SignedPolicy } from './signed-policy.js';

/** The file in the node's directory holding the highest verified policy version. */
export const NODE_POLICY_VERSION_FILE = CA_POLICY_VERSION_FILE;

/** Bytes of a signed policy file: armored text (as `ca policy sign` writes it) or the raw blob. */
export async function readSignedPolicyFile(path: string): Promise<Uint8Array> {
  const bytes = await readPublicFile(path);
  const head = bytes.subarray(0, 256).toString('latin1');
  if (peekArmorLabel(head) === POLICY_ARMOR_LABEL) return decodeArmor(bytes.toString('utf8'), POLICY_ARMOR_LABEL);
  return new Uint8Array(bytes);
}

export class NodePolicy {
  readonly #holder: PolicyHolder;
  readonly #dir: string;
  #file: string;

  private constructor(holder: PolicyHolder, dir: string, file: string) {
    this.#holder = holder;
    this.#dir = dir;
    this.#file = file;
  }

  /** Reads and verifies `file`; throws (with the code) when it is refused, an older version than DIR/policy-version included. */
  static async load(file: string, ca: CaCertificate, dir: string): Promise<NodePolicy> {
    const holder = new PolicyHolder(ca, { minVersion: await lastPolicyVersion(dir) });
    const np = new NodePolicy(holder, dir, file);
    holder.accept(await readSignedPolicyFile(file));
    await np.#persist();
    return np;
  }

  /** The policy in force (never null after load). */
  get current(): SignedPolicy {
    return this.#holder.current as SignedPolicy;
  }

  get version(): number {
    return this.#holder.version;
  }

  get file(): string {
    return this.#file;
  }

  /**
   * Re-reads `file` (default: the one in use). Returns true when a newer
   * version is now in force, false for the same one; throws with the policy
   * in force unchanged when the file is unreadable, refused or older.
   */
  async reload(file?: string): Promise<boolean> {
    const path = file ?? this.#file;
    const changed = this.#holder.accept(await readSignedPolicyFile(path));
    this.#file = path;
    if (changed) await this.#persist();
    return changed;
  }

  async #persist(): Promise<void> {
    if ((await lastPolicyVersion(this.#dir)) >= this.version) return;
    await writeFileAtomic(join(this.#dir, NODE_POLICY_VERSION_FILE), `${this.version}\n`, { mode: PUBLIC_FILE_MODE });
  }
}
