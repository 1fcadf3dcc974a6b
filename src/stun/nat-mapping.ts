/**
 * NAT mapping behaviour from STUN answers (RFC 4787 §4.1 terms; issue 5 §1,
 * docs/protocol.md §5): ask two or more STUN servers from the SAME socket
 * and compare the reflexive addresses they report.
 *
 *  - 'none': every answer equals one of the socket's local address+port
 *    pairs, so nothing rewrote the packets (public address, or a LAN server).
 *  - 'unknown': fewer than two distinct servers answered and a NAT is in
 *    the way: one answer cannot show whether the mapping depends on the
 *    destination.
 *  - 'endpoint-independent': every server saw the same address and port, so
 *    a peer can reach the mapping a server reported (hole punching works).
 *  - 'endpoint-dependent': the answers differ: each destination gets its own
 *    mapping ("symmetric" NAT), so a reported address is useless to peers
 *    unless its port can be predicted.
 *
 * Servers differing only in port cannot tell an endpoint-independent mapping
 * from an address-dependent one (RFC 4787 §4.1); give servers on different
 * IP addresses for a sure answer. Pure function; addresses are compared
 * canonically (IPv4-mapped IPv6 equals its IPv4), invalid ones match nothing.
 */

import { canonicalStunAddress, sameStunAddress } from './stun-address.js';
import type { StunAddress } from './stun-message.js';

export type NatMapping = 'none' | 'endpoint-independent' | 'endpoint-dependent' | 'unknown';

export interface NatAnswer {
  /** The STUN server asked. */
  server: StunAddress;
  /** The reflexive address it reported. */
  mapped: StunAddress;
}

/** Classify the mapping of one socket from what several servers saw (see the module header). */
export function classifyMapping(local: StunAddress[], answers: readonly NatAnswer[]): NatMapping {
  if (answers.length === 0) return 'unknown';
  if (answers.every((a) => local.some((l) => sameStunAddress(l, a.mapped)))) return 'none';
  const servers = new Set<string>();
  for (const a of answers) {
    const s = canonicalStunAddress(a.server);
    if (s !== null) servers.add(`${s.address}|${s.port}`);
  }
  if (servers.size < 2) return 'unknown';
  const first = answers[0] as NatAnswer;
  return answers.every((a) => sameStunAddress(a.mapped, first.mapped)) ? 'endpoint-independent' : 'endpoint-dependent';
}
