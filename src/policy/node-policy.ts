/**
 * The node's signed policy (docs/architecture.md "Network policy";
 * docs/configuration.md "Network policy file", key node.policy): reads
 * policy.signed, verifies it against the node's CA through a PolicyHolder,
 * and records the highest version verified in DIR/policy-version (the node's
 * identity directory), so a restart with an older file is refused as a live
 * reload is.
 *
 * A policy can also arrive from the relay (POLICY, docs/protocol.md §1):
 * `acceptDelivered` verifies it through the same holder, and a newer one is
 * written to DIR/policy.signed, so a restart without the relay keeps
 * enforcing it. At `open`, the node.policy file and DIR/policy.signed are
 * both read when present and the highest verified version wins; a reload of
 * an older file while the relay's newer version is in force keeps the
 * relay's (not a rollback: the file is merely stale). Neither = no policy:
 * everything is allowed.
 *
 *     DIR/policy-version   highest policy version this node verified, decimal text; absent = 0
 *     DIR/policy.signed    the newest policy delivered by the relay (armored, as `ca policy sign` writes)
 *
 * Not re-entrant: a caller runs one `reload` or `acceptDelivered` at a time
 * (their writes must land in version order).
 *
 * Errors: those of PolicyHolder.accept (SM_ERR_POLICY_MALFORMED, _OTHER_CA,
 * _SIGNATURE, _ROLLBACK) and of reading the files.
 */
import { join } from 'node:path';
import { decodeArmor, peekArmorLabel } from '../identity/armor.js';
import type { CaCertificate } from '../identity/certificate.js';
import { PUBLIC_FILE_MODE, pathExists, readPublicFile, writeFileAtomic } from '../identity/secure-files.js';
import { CA_POLICY_COPY_FILE, CA_POLICY_VERSION_FILE, encodeSignedPolicy, lastPolicyVersion } from './ca-policy.js';
import { PolicyHolder } from './policy-holder.js';
import { decodeSignedPolicy, POLICY_ARMOR_LABEL, type SignedPolicy } from './signed-policy.js';

/** The file in the node's directory holding the highest verified policy version. */
export const NODE_POLICY_VERSION_FILE = CA_POLICY_VERSION_FILE;
/** The file in the node's directory holding the newest policy the relay delivered. */
export const NODE_DELIVERED_POLICY_FILE = CA_POLICY_COPY_FILE;

/** Bytes of a signed policy file: armored text (as `ca policy sign` writes it) or the raw blob. */
export async function readSignedPolicyFile(path: string): Promise<Uint8Array> {
  const bytes = await readPublicFile(path);
  const head = bytes.subarray(0, 256).toString('latin1');
  if (peekArmorLabel(head) === POLICY_ARMOR_LABEL) return decodeArmor(bytes.toString('utf8'), POLICY_ARMOR_LABEL);
  return new Uint8Array(bytes);
}

export class NodePolicy {
  readonly #holder: PolicyHolder;
  readonly #ca: CaCertificate;
  readonly #dir: string;
  #file: string | undefined;
  /** True while the policy in force is the one the relay delivered (DIR/policy.signed). */
  #delivered = false;

  private constructor(holder: PolicyHolder, ca: CaCertificate, dir: string, file: string | undefined) {
    this.#holder = holder;
    this.#ca = ca;
    this.#dir = dir;
    this.#file = file;
  }

  /** Reads and verifies `file`; throws (with the code) when it is refused, an older version than DIR/policy-version included. */
  static async load(file: string, ca: CaCertificate, dir: string): Promise<NodePolicy> {
    return (await NodePolicy.open(file, ca, dir)) as NodePolicy;
  }

  /**
   * The policy a node starts with: the highest verified version of `file`
   * (node.policy) and DIR/policy.signed (delivered by a relay before), or
   * null when neither exists. Throws with the code when the winner is
   * refused (older than DIR/policy-version included) or either file is bad.
   */
  static async open(file: string | undefined, ca: CaCertificate, dir: string): Promise<NodePolicy | null> {
    const storedPath = join(dir, NODE_DELIVERED_POLICY_FILE);
    const stored = (await pathExists(storedPath)) ? await readSignedPolicyFile(storedPath) : null;
    const given = file !== undefined ? await readSignedPolicyFile(file) : null;
    if (stored === null && given === null) return null;
    const holder = new PolicyHolder(ca, { minVersion: await lastPolicyVersion(dir) });
    const np = new NodePolicy(holder, ca, dir, file);
    const storedVersion = stored !== null ? decodeSignedPolicy(stored, ca).version : -1;
    const givenVersion = given !== null ? decodeSignedPolicy(given, ca).version : -1;
    // Highest verified version wins; at the same version both are accepted, so a different blob is refused as a rollback.
    if (given !== null && givenVersion >= storedVersion) holder.accept(given);
    if (stored !== null && storedVersion >= givenVersion) {
      holder.accept(stored);
      np.#delivered = storedVersion > givenVersion;
    }
    await np.#persist();
    return np;
  }

  /** An empty holder for a node without any policy yet, waiting for one from the relay. */
  static async empty(ca: CaCertificate, dir: string): Promise<NodePolicy> {
    return new NodePolicy(new PolicyHolder(ca, { minVersion: await lastPolicyVersion(dir) }), ca, dir, undefined);
  }

  /** Whether a policy is in force (always after load/open; not for `empty` before a delivery). */
  get held(): boolean {
    return this.#holder.current !== null;
  }

  /** The policy in force (never null after load or open). */
  get current(): SignedPolicy {
    return this.#holder.current as SignedPolicy;
  }

  get version(): number {
    return this.#holder.version;
  }

  get file(): string | undefined {
    return this.#file;
  }

  /** True when the policy in force came from the relay. */
  get delivered(): boolean {
    return this.#delivered;
  }

  /**
   * A policy from the relay: verified as a file is (CA, signature, rollback,
   * same version only byte for byte). Returns true when a newer version is
   * now in force (it was written to DIR/policy.signed first, then its version
   * to DIR/policy-version), false for a re-delivery; throws with the policy
   * in force unchanged when refused.
   */
  async acceptDelivered(bytes: Uint8Array): Promise<boolean> {
    const changed = this.#holder.accept(bytes);
    if (!changed) return false;
    this.#delivered = true;
    await writeFileAtomic(join(this.#dir, NODE_DELIVERED_POLICY_FILE), encodeSignedPolicy(this.current), { mode: PUBLIC_FILE_MODE });
    await this.#persist();
    return true;
  }

  /**
   * Re-reads `file` (default: the one in use). Returns true when a newer
   * version is now in force, false for the same one; throws with the policy
   * in force unchanged when the file is unreadable, refused or older.
   */
  async reload(file?: string): Promise<boolean> {
    const path = file ?? this.#file;
    if (path === undefined) return false;
    const bytes = await readSignedPolicyFile(path);
    // Highest verified version wins: a file older than the relay's version in force is stale, not a rollback.
    if (this.#delivered && decodeSignedPolicy(bytes, this.#ca).version < this.version) {
      this.#file = path;
      return false;
    }
    const changed = this.#holder.accept(bytes);
    this.#file = path;
    if (changed) {
      this.#delivered = false;
      await this.#persist();
    }
    return changed;
  }

  async #persist(): Promise<void> {
    if ((await lastPolicyVersion(this.#dir)) >= this.version) return;
    await writeFileAtomic(join(this.#dir, NODE_POLICY_VERSION_FILE), `${this.version}\n`, { mode: PUBLIC_FILE_MODE });
  }
}
