/**
 * The member side of signed policies (docs/architecture.md "Network
 * policy"; docs/threat-model.md): holds the highest policy version it has
 * verified and refuses anything older, so a relay or a stale file cannot
 * roll a member back to a more permissive policy. The same version is
 * accepted again only byte for byte (a re-delivery); a different blob under
 * the same version is refused too, as only a CA key compromise could make one.
 *
 * Errors: those of decodeSignedPolicy, and SM_ERR_POLICY_ROLLBACK.
 */
import { IdentityError } from '../errors.js';
import { equalBytes } from '../crypto/bytes.js';
import type { CaCertificate } from '../identity/certificate.js';
import { PolicyCode } from './policy-errors.js';
import { decodeSignedPolicy, type SignedPolicy } from './signed-policy.js';

export class PolicyHolder {
  readonly #ca: CaCertificate;
  #current: SignedPolicy | null = null;

  constructor(ca: CaCertificate) {
    this.#ca = ca;
  }

  /** The verified policy in force, or null before any. */
  get current(): SignedPolicy | null {
    return this.#current;
  }

  /** The version in force, 0 before any. */
  get version(): number {
    return this.#current?.version ?? 0;
  }

  /**
   * Verifies `bytes` and makes it the policy in force when it is newer.
   * Returns true when the policy changed, false for a re-delivery of the one held.
   */
  accept(bytes: Uint8Array): boolean {
    const sp = decodeSignedPolicy(bytes, this.#ca);
    const held = this.#current;
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
