/**
 * A validated policy (policy-file.ts) ready to answer questions
 * (docs/architecture.md "Network policy"): decide(flow) for a packet's
 * 5-tuple plus what the certificates say about both ends, decideChat(from,
 * to) for a chat message.
 *
 * Semantics, as the docs state them:
 *  - rules are tried in file order and the first whose from, to, proto and
 *    ports all match decides (allow or deny); when none matches the answer
 *    is deny under the name `default-deny`: once a policy exists, nothing
 *    passes that a rule does not allow;
 *  - a selector matches an end by group (any of the certificate's groups),
 *    by member name, or by the packet's address for that end being inside a
 *    CIDR; `any` matches everything, including ends with no certificate;
 *  - ports are the destination port; a rule with ports matches only tcp and
 *    udp flows whose destination port is in one of its ranges;
 *  - an outbound flow (this node sending) is decided only when the policy
 *    says `outbound: true`; otherwise it is allowed under the name
 *    `outbound-not-enforced`;
 *  - chat: no chat section, every member may chat (`chat-not-governed`);
 *    with one, first match wins and no match is denied;
 *  - pairRule(a, b) answers whether two members may exchange any flow at
 *    all, for direct-path control traffic (docs/architecture.md "Network
 *    policy"): the name of the first allow
 *    rule that could match some packet from a to b or from b to a,
 *    whatever its protocol and ports, or null when none can (the pair is
 *    kept apart). Deny rules are not consulted: an allow rule behind a
 *    deny may still match flows the deny does not cover, so the answer
 *    errs towards "may talk". The sender end of a rule must match the
 *    member (name, groups, or one of its host addresses inside the CIDR,
 *    the data plane's source rule holds members to those); a CIDR on the
 *    receiver end counts as a match, because the destination of a packet
 *    is whatever its sender wrote (a broadcast, multicast, a routed
 *    subnet).
 *
 * decide() never throws on a well-typed flow: an address that does not
 * parse simply matches no CIDR selector.
 */
import { parseIpAddress } from '../wire/ip-address.js';
import { DEFAULT_DENY_RULE, parsePolicyText, type Action, type ChatRule, type NetworkRule, type PolicySpec, type Protocol, type Selector } from './policy-file.js';

/** The rule name of an outbound flow the policy does not check. */
export const OUTBOUND_NOT_ENFORCED = 'outbound-not-enforced';
/** The rule name of a chat decision when the policy has no chat section. */
export const CHAT_NOT_GOVERNED = 'chat-not-governed';

/** One end of a flow: its address in the packet, and what its certificate says (absent for a non-member address). */
export interface FlowEnd {
  ip: string;
  name?: string;
  groups?: readonly string[];
}

export interface Flow {
  /** inbound: `to` is this node; outbound: `from` is this node. */
  direction: 'inbound' | 'outbound';
  /** tcp, udp, icmp, or another IP protocol number (matched only by proto any). */
  protocol: Protocol | number;
  from: FlowEnd;
  to: FlowEnd;
  /** Source and destination ports (0 for protocols without ports). */
  srcPort: number;
  dstPort: number;
}

export interface Decision {
  allowed: boolean;
  /** The deciding rule's name, or default-deny / outbound-not-enforced / chat-not-governed. */
  rule: string;
}

export interface ChatEnd { name: string; groups?: readonly string[] }

/** A member as pairRule sees it: its certificate's name, groups and host addresses ("10.10.20.3", no prefix). */
export interface PairEnd { name: string; groups: readonly string[]; addresses: readonly string[] }

interface ParsedAddress { family: number; bytes: Uint8Array }

function parseAddress(ip: string): ParsedAddress | null {
  try {
    return parseIpAddress(ip, 'flow address');
  } catch {
    return null;
  }
}

function inCidr(a: ParsedAddress | null, s: Extract<Selector, { kind: 'cidr' }>): boolean {
  if (a === null || a.family !== s.family) return false;
  const full = s.prefix >> 3;
  for (let i = 0; i < full; i++) if (a.bytes[i] !== s.bytes[i]) return false;
  const rest = s.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((a.bytes[full] as number) & mask) === ((s.bytes[full] as number) & mask);
}

function selectorMatches(s: Selector, name: string | undefined, groups: readonly string[] | undefined, addr: ParsedAddress | null): boolean {
  switch (s.kind) {
    case 'any': return true;
    case 'group': return groups !== undefined && groups.includes(s.group);
    case 'member': return name !== undefined && name === s.name;
    case 'cidr': return inCidr(addr, s);
  }
}

function anyMatches(list: readonly Selector[], name: string | undefined, groups: readonly string[] | undefined, addr: ParsedAddress | null): boolean {
  for (const s of list) if (selectorMatches(s, name, groups, addr)) return true;
  return false;
}

/** Whether the sender-end selectors may match member `m` (its name, groups, or any of its host addresses). */
function senderMayMatch(list: readonly Selector[], m: PairEnd, addrs: readonly (ParsedAddress | null)[]): boolean {
  for (const s of list) {
    if (s.kind === 'cidr') {
      for (const a of addrs) if (inCidr(a, s)) return true;
    } else if (selectorMatches(s, m.name, m.groups, null)) {
      return true;
    }
  }
  return false;
}

/** Whether the receiver-end selectors may match member `m`: a CIDR always may (see the header). */
function receiverMayMatch(list: readonly Selector[], m: PairEnd): boolean {
  for (const s of list) if (s.kind === 'cidr' || selectorMatches(s, m.name, m.groups, null)) return true;
  return false;
}

function protoMatches(rule: NetworkRule, protocol: Protocol | number, dstPort: number): boolean {
  if (rule.protocols.length > 0 && (typeof protocol !== 'string' || !rule.protocols.includes(protocol))) return false;
  if (rule.ports.length === 0) return true;
  if (protocol !== 'tcp' && protocol !== 'udp') return false;
  for (const r of rule.ports) if (dstPort >= r.from && dstPort <= r.to) return true;
  return false;
}

export class CompiledPolicy {
  readonly spec: PolicySpec;

  constructor(spec: PolicySpec) {
    this.spec = spec;
  }

  /** Parses, validates and compiles policy text (SM_ERR_POLICY_INVALID). */
  static fromText(text: string, name?: string): CompiledPolicy {
    return new CompiledPolicy(parsePolicyText(text, name));
  }

  /** Every rule name in file order (network rules, then chat rules). */
  get ruleNames(): string[] {
    return [...this.spec.rules.map((r) => r.name), ...(this.spec.chat ?? []).map((r) => r.name)];
  }

  /** The decision for one flow, by the first matching rule. */
  decide(flow: Flow): Decision {
    if (flow.direction === 'outbound' && !this.spec.outbound) return { allowed: true, rule: OUTBOUND_NOT_ENFORCED };
    const fromAddr = parseAddress(flow.from.ip);
    const toAddr = parseAddress(flow.to.ip);
    for (const rule of this.spec.rules) {
      if (!protoMatches(rule, flow.protocol, flow.dstPort)) continue;
      if (!anyMatches(rule.from, flow.from.name, flow.from.groups, fromAddr)) continue;
      if (!anyMatches(rule.to, flow.to.name, flow.to.groups, toAddr)) continue;
      return decision(rule.action, rule.name);
    }
    return { allowed: false, rule: DEFAULT_DENY_RULE };
  }

  /**
   * The first allow rule that could match some flow between members `a`
   * and `b`, either way, whatever protocol and port; null: no rule can, the
   * policy keeps them apart (see the header). The direction of enforcement
   * does not matter: every member enforces the same rules inbound.
   */
  pairRule(a: PairEnd, b: PairEnd): string | null {
    const aAddrs = a.addresses.map(parseAddress);
    const bAddrs = b.addresses.map(parseAddress);
    for (const rule of this.spec.rules) {
      if (rule.action !== 'allow') continue;
      if (senderMayMatch(rule.from, a, aAddrs) && receiverMayMatch(rule.to, b)) return rule.name;
      if (senderMayMatch(rule.from, b, bAddrs) && receiverMayMatch(rule.to, a)) return rule.name;
    }
    return null;
  }

  /** Whether `from` may send a chat message to `to`. */
  decideChat(from: ChatEnd, to: ChatEnd): Decision {
    const rules: readonly ChatRule[] | null = this.spec.chat;
    if (rules === null) return { allowed: true, rule: CHAT_NOT_GOVERNED };
    for (const rule of rules) {
      if (!anyMatches(rule.from, from.name, from.groups, null)) continue;
      if (!anyMatches(rule.to, to.name, to.groups, null)) continue;
      return decision(rule.action, rule.name);
    }
    return { allowed: false, rule: DEFAULT_DENY_RULE };
  }
}

function decision(action: Action, rule: string): Decision {
  return { allowed: action === 'allow', rule };
}
