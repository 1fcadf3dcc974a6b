/**
 * SM_ERR_* codes of the offer exchange (docs/protocol.md §3.1): why a
 * peer's PATH_OFFER was refused. Stable; never reused. The values are the
 * ones the WSS transport used to report, so counters and logs keep their
 * names.
 */
export const OfferCode = Object.freeze({
  /** The offer's bytes do not decode. */
  MALFORMED: 'SM_ERR_PATH_OFFER_MALFORMED',
  /** The offer names another peer than the session it came from. */
  PEER: 'SM_ERR_PATH_OFFER_PEER',
  /** No identity key for the sender. */
  UNKNOWN_PEER: 'SM_ERR_PATH_OFFER_UNKNOWN_PEER',
  /** The hybrid signature does not verify under the sender's identity key. */
  SIGNATURE: 'SM_ERR_PATH_OFFER_SIGNATURE',
  /** Not newer than the last accepted offer from that peer. */
  STALE: 'SM_ERR_PATH_OFFER_STALE',
  /** The network policy in force allows no flow between us and the sender, so its candidates are not wanted (docs/architecture.md "Network policy"). */
  POLICY: 'SM_ERR_PATH_OFFER_POLICY',
} as const);
