/**
 * Direct-path control traffic under the network policy (docs/architecture.md
 * "Network policy"): the gate the node hands its OfferExchange and its
 * direct-path wiring. A peer passes when the policy in force lets us
 * exchange some flow with it, either way, whatever protocol and port
 * (CompiledPolicy.pairRule over both members' certificates); otherwise the
 * two are kept apart: neither learns the other's underlay addresses (no
 * PATH_OFFER either way) and no direct path is made or kept between them,
 * so whatever a later policy allows starts on the relay.
 *
 * A peer whose certificate we do not know (no session, not listed) does not
 * pass: offers only travel inside a CA-verified session anyway. The gate
 * reads certificates at every call (offers and attempts are rare, and a
 * renewed certificate may carry other groups) and never throws.
 */
import type { CompiledPolicy, PairEnd } from '../../policy/compiled-policy.js';

/** What the gate reads of a member certificate (MemberCertificate fits); addresses as "10.10.20.3/24". */
export interface GateCertificate {
  readonly name: string;
  readonly groups: readonly string[];
  readonly addresses: readonly string[];
}

function pairEnd(cert: GateCertificate): PairEnd {
  // The host address of "10.10.20.3/24": what the member's packets carry as their source (the data plane's source rule).
  return { name: cert.name, groups: cert.groups, addresses: cert.addresses.map((a) => (a.includes('/') ? a.slice(0, a.indexOf('/')) : a)) };
}

/** The gate for `policy`: true when we (`self`) and the peer may exchange any flow. */
export function directPolicyGate(policy: CompiledPolicy, self: () => GateCertificate, certOf: (peerId: Uint8Array) => GateCertificate | null): (peerId: Uint8Array) => boolean {
  return (peerId) => {
    const peer = certOf(peerId);
    if (peer === null) return false;
    return policy.pairRule(pairEnd(self()), pairEnd(peer)) !== null;
  };
}
