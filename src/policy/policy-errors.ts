/**
 * Stable error codes of network policy (docs/architecture.md "Network
 * policy"; docs/conventions.md §9): a policy file that does not validate, a
 * signed policy that is malformed, from another CA, badly signed or older
 * than the one already held, and `policy test` naming what it cannot find.
 * A code, once shipped, keeps its meaning.
 */

export const PolicyCode = Object.freeze({
  /** The policy file is not valid YAML or breaks the format: every problem is listed, each with line:column. */
  INVALID: 'SM_ERR_POLICY_INVALID',
  /** A signed policy blob does not decode (structure, size, embedded text). */
  MALFORMED: 'SM_ERR_POLICY_MALFORMED',
  /** A signed policy was issued by another CA than the one trusted. */
  OTHER_CA: 'SM_ERR_POLICY_OTHER_CA',
  /** A signed policy's CA signature does not verify (tampered or forged). */
  SIGNATURE: 'SM_ERR_POLICY_SIGNATURE',
  /** A signed policy is older than (or differs at the same version from) the one already verified: rollback refused. */
  ROLLBACK: 'SM_ERR_POLICY_ROLLBACK',
  /** `policy test`: FROM or TO is neither a member name known from the certificates nor an IP address. */
  UNKNOWN_ENDPOINT: 'SM_ERR_POLICY_UNKNOWN_ENDPOINT',
  /** `policy test`: PROTO/PORT does not parse (e.g. tcp/5432, udp/53, icmp). */
  FLOW: 'SM_ERR_POLICY_FLOW',
} as const);
export type PolicyCode = (typeof PolicyCode)[keyof typeof PolicyCode];
