/**
 * The member side of signed policies (docs/architecture.md "Network
 * policy"; docs/threat-model.md): holds the highest policy version it has
 * verified and refuses anything older, so a relay or a stale file cannot
 * roll a member back to a more permissive policy. The same version is
 * accepted again only byte for byte (a re-delivery); a different blob under
 * the same version is refused too, as only a CA key compromise could make one.
 *
 * `minVersion` seeds the floor from what a member recorded before a
 * restart (the holder itself keeps nothing on disk): versions below it are
 * refused even before any policy is held.
 *
 * Errors: those of decodeSignedPolicy, and SM_ERR_POLICY_ROLLBACK.
 */
import { ConfigError, IdentityError } from '../errors.js';
import { equalBytes } from '../crypto/bytes.js';
import type { CaCertificate } from '../identity/certificate.js';
import { PolicyCode } from './policy-errors.js';
import { decodeSignedPolicy, type SignedPolicy } from './signed-policy.js';

export class PolicyHolder {
  readonly #ca: CaCertificate;
  readonly #minVersion: number;
  #current: SignedPolicy | null = null;

  constructor(ca: CaCertificate, options: { minVersion?: number } = {}) {
    const min = options.minVersion ?? 0;
    if (!Number.isSafeInteger(min) || min < 0) throw new ConfigError('SM_ERR_CONFIG_POLICY_VERSION', `PolicyHolder minVersion: expected a non-negative integer, got ${String(min)}`);
    this.#ca = ca;
    this.#minVersion = min;
  }

  /** The verified policy in force, or null before any. */
  get current(): SignedPolicy | null {
    return this.#current;
  }

  /** The version in force; before any, the floor (minVersion, default 0). */
  get version(): number {
    return this.#current?.version ?? this.#minVersion;
  }

  /**
   * Verifies `bytes` and makes it the policy in force when it is newer.
   * Returns true when the policy changed, false for a re-delivery of the one held.
   */
  accept(bytes: Uint8Array): boolean {
    const sp = decodeSignedPolicy(bytes, this.#ca);
    const held = this.#current;
    if (held === null && sp.version < this.#minVersion) throw new IdentityError(PolicyCode.ROLLBACK, `policy version ${sp.version} is older than version ${this.#minVersion} this member has verified before: refused`);
    if (held !== null) {
      if (sp.version < held.version) throw new IdentityError(PolicyCode.ROLLBACK, `policy version ${sp.version} is older than version ${held.version} already in force: refused`);
      if (sp.version === held.version) {
        if (equalBytes(sp.raw, held.raw)) return false;
        throw new IdentityError(PolicyCode.ROLLBACK, `policy version ${sp.version} differs from the version ${held.version} already in force: refused`);
      }
    }
    this.#current = sp;
    return true;
  }
}
