/**
 * The network policy file (docs/configuration.md "Network policy file";
 * docs/architecture.md "Network policy"): YAML text in, a validated
 * PolicySpec out, or one ConfigError SM_ERR_POLICY_INVALID listing every
 * problem at once, each as `FILE:LINE:COLUMN: message`.
 *
 *     outbound: false          # optional: also check what this node sends
 *     rules:                   # first match wins; no match: denied
 *       - name: web-to-db      # unique, A-Z a-z 0-9 . _ -, 1..64
 *         action: allow        # allow (default) or deny
 *         from: group:web      # one selector or a list
 *         to: group:db
 *         proto: tcp           # tcp, udp, icmp or any (one or a list)
 *         ports: [5432, 8000-8100]   # tcp/udp only; omitted: every port
 *     chat:                    # optional; when present, first match wins, no match: denied
 *       - name: no-web-db-chat
 *         action: deny
 *         from: group:web
 *         to: group:db
 *
 * Selectors: `any`, `group:NAME` (a group signed into the certificate),
 * `member:NAME` (a certificate's name), or an address: `10.1.0.0/16`,
 * `fd00::/64`, or a single host `10.1.0.5` (= /32, /128). Chat rules take
 * no addresses (chat is between members, not addresses).
 *
 * Parsing is YAML 1.2 core schema with duplicate keys refused, as the
 * configuration file (src/config/config-file.ts); aliases are bounded.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode, type Pair, type YAMLMap } from 'yaml';
import { ConfigError } from '../errors.js';
import { parseIpAddress } from '../wire/ip-address.js';
import { PolicyCode } from './policy-errors.js';

/** A policy file larger than this is refused before parsing. */
export const MAX_POLICY_TEXT_BYTES = 256 * 1024;
/** Most rules one list (rules or chat) may hold. */
export const MAX_POLICY_RULES = 10_000;
/** Most selectors, protocols or port ranges one rule field may hold. */
export const MAX_RULE_ITEMS = 256;
/** The name decisions and counters carry when no rule matched. */
export const DEFAULT_DENY_RULE = 'default-deny';
const MAX_ALIAS_COUNT = 100;
const NAME_SHAPE = /^[A-Za-z0-9._-]{1,64}$/;

export type Protocol = 'tcp' | 'udp' | 'icmp';
export type Action = 'allow' | 'deny';

export type Selector =
  | { kind: 'any'; text: string }
  | { kind: 'group'; group: string; text: string }
  | { kind: 'member'; name: string; text: string }
  | { kind: 'cidr'; family: 4 | 6; bytes: Uint8Array; prefix: number; text: string };

export interface PortRange { from: number; to: number }

export interface NetworkRule {
  name: string;
  action: Action;
  from: Selector[];
  to: Selector[];
  /** Empty = any protocol. */
  protocols: Protocol[];
  /** Empty = every port (and every packet of a protocol without ports). */
  ports: PortRange[];
  /** 1-based line of the rule in the file, for messages. */
  line: number;
}

export interface ChatRule {
  name: string;
  action: Action;
  from: Selector[];
  to: Selector[];
  line: number;
}

export interface PolicySpec {
  /** Whether the sending node checks its outbound flows too (inbound is always checked). */
  outbound: boolean;
  rules: NetworkRule[];
  /** null: the file has no chat section and chat is not governed. */
  chat: ChatRule[] | null;
}

class Problems {
  readonly list: string[] = [];
  constructor(private readonly name: string, private readonly lines: LineCounter) {}
  at(node: YamlNode | Pair | null | undefined, message: string): void {
    const offset = node !== null && node !== undefined ? rangeStart(node) : undefined;
    if (offset === undefined) { this.list.push(`${this.name}: ${message}`); return; }
    const { line, col } = this.lines.linePos(offset);
    this.list.push(`${this.name}:${line}:${col}: ${message}`);
  }
  line(node: YamlNode | Pair): number {
    const offset = rangeStart(node);
    return offset === undefined ? 0 : this.lines.linePos(offset).line;
  }
}

function rangeStart(node: YamlNode | Pair): number | undefined {
  if ('range' in node && Array.isArray(node.range)) return node.range[0];
  if ('key' in node) {
    const k = node.key as YamlNode | null;
    if (k !== null && typeof k === 'object' && 'range' in k && Array.isArray(k.range)) return k.range[0];
  }
  return undefined;
}

/** The entries of a YAML map by key text; unknown keys and non-string keys are reported. */
function entries(map: YAMLMap, allowed: readonly string[], what: string, p: Problems): Map<string, { pair: Pair; value: YamlNode | null }> {
  const out = new Map<string, { pair: Pair; value: YamlNode | null }>();
  for (const pair of map.items) {
    const key = pair.key as YamlNode | null;
    const text = isScalar(key) ? String(key.value) : undefined;
    if (text === undefined || !allowed.includes(text)) {
      p.at(key ?? pair, `${what}: unknown key ${JSON.stringify(text ?? '?')} (expected one of ${allowed.join(', ')})`);
      continue;
    }
    out.set(text, { pair, value: (pair.value as YamlNode | null) ?? null });
  }
  return out;
}

/** One scalar or a sequence of scalars, as strings; reports anything else. */
function scalarList(node: YamlNode | null, what: string, p: Problems): Array<{ text: string; node: YamlNode }> {
  if (node === null) { p.at(node, `${what}: missing value`); return []; }
  const items = isSeq(node) ? (node.items as Array<YamlNode | null>) : [node];
  if (isSeq(node) && items.length === 0) p.at(node, `${what}: empty list`);
  if (items.length > MAX_RULE_ITEMS) { p.at(node, `${what}: ${items.length} items, limit ${MAX_RULE_ITEMS}`); return []; }
  const out: Array<{ text: string; node: YamlNode }> = [];
  for (const item of items) {
    if (!isScalar(item) || item.value === null || typeof item.value === 'object') { p.at(item ?? node, `${what}: expected a text or number`); continue; }
    out.push({ text: String(item.value), node: item });
  }
  return out;
}

function parseSelector(text: string, allowCidr: boolean): Selector | string {
  if (text === 'any' || text === '*') return { kind: 'any', text: 'any' };
  if (text.startsWith('group:')) {
    const group = text.slice(6);
    return /^[A-Za-z0-9._-]{1,32}$/.test(group) ? { kind: 'group', group, text } : `group name ${JSON.stringify(group)}: expected 1..32 of A-Z a-z 0-9 . _ -`;
  }
  if (text.startsWith('member:')) {
    const name = text.slice(7);
    return name.length >= 1 && Buffer.byteLength(name) <= 64 ? { kind: 'member', name, text } : `member name ${JSON.stringify(name)}: expected 1..64 bytes`;
  }
  if (!allowCidr) return `${JSON.stringify(text)}: expected any, group:NAME or member:NAME (chat rules take no addresses)`;
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  let parsed;
  try {
    parsed = parseIpAddress(addrText, 'address');
  } catch {
    return `${JSON.stringify(text)}: expected any, group:NAME, member:NAME or an address (10.1.0.0/16, fd00::/64, 10.1.0.5)`;
  }
  const max = parsed.family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const pt = text.slice(slash + 1);
    if (!/^(0|[1-9]\d{0,2})$/.test(pt) || Number(pt) > max) return `${JSON.stringify(text)}: prefix must be 0..${max}`;
    prefix = Number(pt);
  }
  for (let bit = prefix; bit < max; bit++) {
    if ((((parsed.bytes[bit >> 3] as number) >> (7 - (bit & 7))) & 1) === 1) return `${JSON.stringify(text)}: address has bits set beyond the /${prefix} prefix`;
  }
  return { kind: 'cidr', family: parsed.family as 4 | 6, bytes: parsed.bytes, prefix, text };
}

function parseSelectors(node: YamlNode | null, what: string, allowCidr: boolean, p: Problems): Selector[] {
  const out: Selector[] = [];
  for (const { text, node: n } of scalarList(node, what, p)) {
    const s = parseSelector(text, allowCidr);
    if (typeof s === 'string') p.at(n, `${what}: ${s}`);
    else out.push(s);
  }
  return out;
}

function parsePorts(node: YamlNode | null, what: string, p: Problems): PortRange[] {
  const out: PortRange[] = [];
  for (const { text, node: n } of scalarList(node, what, p)) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text.trim());
    const from = m !== null ? Number(m[1]) : NaN;
    const to = m !== null ? Number(m[2] ?? m[1]) : NaN;
    if (m === null || from < 1 || to > 65535 || from > to) { p.at(n, `${what}: ${JSON.stringify(text)} is not a port 1..65535 or a range LOW-HIGH`); continue; }
    out.push({ from, to });
  }
  return out;
}

function parseName(value: YamlNode | null, what: string, seen: Set<string>, p: Problems): string | undefined {
  if (!isScalar(value) || typeof value.value !== 'string' || !NAME_SHAPE.test(value.value)) {
    p.at(value, `${what}: name must be 1..64 of A-Z a-z 0-9 . _ -`);
    return undefined;
  }
  if (value.value === DEFAULT_DENY_RULE) { p.at(value, `${what}: the name ${DEFAULT_DENY_RULE} is reserved for "no rule matched"`); return undefined; }
  if (seen.has(value.value)) { p.at(value, `${what}: name ${JSON.stringify(value.value)} is used by an earlier rule`); return undefined; }
  seen.add(value.value);
  return value.value;
}

function parseAction(value: YamlNode | null | undefined, what: string, p: Problems): Action {
  if (value === undefined) return 'allow';
  if (isScalar(value) && (value.value === 'allow' || value.value === 'deny')) return value.value;
  p.at(value, `${what}: action must be allow or deny`);
  return 'allow';
}

function ruleList(value: YamlNode | null, pair: Pair, what: string, p: Problems): YamlNode[] {
  if (!isSeq(value)) { p.at(value ?? pair, `${what}: expected a list of rules`); return []; }
  if (value.items.length > MAX_POLICY_RULES) { p.at(value, `${what}: ${value.items.length} rules, limit ${MAX_POLICY_RULES}`); return []; }
  return value.items as YamlNode[];
}

function parseNetworkRule(node: YamlNode, index: number, seen: Set<string>, p: Problems): NetworkRule | undefined {
  const what = `rules[${index}]`;
  if (!isMap(node)) { p.at(node, `${what}: expected a map with name, from, to, proto`); return undefined; }
  const before = p.list.length;
  const e = entries(node, ['name', 'action', 'from', 'to', 'proto', 'ports'], what, p);
  for (const k of ['name', 'from', 'to', 'proto']) if (!e.has(k)) p.at(node, `${what}: missing ${k}`);
  const name = e.has('name') ? parseName(e.get('name')!.value, what, seen, p) : undefined;
  const label = name !== undefined ? `rule ${name}` : what;
  const action = parseAction(e.get('action')?.value, label, p);
  const from = e.has('from') ? parseSelectors(e.get('from')!.value, `${label} from`, true, p) : [];
  const to = e.has('to') ? parseSelectors(e.get('to')!.value, `${label} to`, true, p) : [];
  const protocols: Protocol[] = [];
  let anyProto = false;
  let badProto = false;
  if (e.has('proto')) {
    for (const { text, node: n } of scalarList(e.get('proto')!.value, `${label} proto`, p)) {
      if (text === 'any') anyProto = true;
      else if (text === 'tcp' || text === 'udp' || text === 'icmp') { if (!protocols.includes(text)) protocols.push(text); }
      else { badProto = true; p.at(n, `${label} proto: ${JSON.stringify(text)} is not tcp, udp, icmp or any`); }
    }
  }
  let ports: PortRange[] = [];
  if (e.has('ports')) {
    const portsNode = e.get('ports')!.value;
    if (!badProto && e.has('proto') && (anyProto || protocols.length === 0 || protocols.includes('icmp'))) p.at(portsNode ?? e.get('ports')!.pair, `${label} ports: ports apply to proto tcp or udp only`);
    ports = parsePorts(portsNode, `${label} ports`, p);
  }
  if (p.list.length > before || name === undefined) return undefined;
  return { name, action, from, to, protocols: anyProto ? [] : protocols, ports, line: p.line(node) };
}

function parseChatRule(node: YamlNode, index: number, seen: Set<string>, p: Problems): ChatRule | undefined {
  const what = `chat[${index}]`;
  if (!isMap(node)) { p.at(node, `${what}: expected a map with name, from, to`); return undefined; }
  const before = p.list.length;
  const e = entries(node, ['name', 'action', 'from', 'to'], what, p);
  for (const k of ['name', 'from', 'to']) if (!e.has(k)) p.at(node, `${what}: missing ${k}`);
  const name = e.has('name') ? parseName(e.get('name')!.value, what, seen, p) : undefined;
  const label = name !== undefined ? `chat rule ${name}` : what;
  const action = parseAction(e.get('action')?.value, label, p);
  const from = e.has('from') ? parseSelectors(e.get('from')!.value, `${label} from`, false, p) : [];
  const to = e.has('to') ? parseSelectors(e.get('to')!.value, `${label} to`, false, p) : [];
  if (p.list.length > before || name === undefined) return undefined;
  return { name, action, from, to, line: p.line(node) };
}

function invalid(name: string, problems: string[]): ConfigError {
  const head = problems.length === 1 ? `invalid policy: ${problems[0]}` : `invalid policy (${problems.length} problems):\n  ${problems.join('\n  ')}`;
  return Object.assign(new ConfigError(PolicyCode.INVALID, head), { problems, file: name });
}

/** Parses and validates policy text; `name` prefixes every message (usually the file's path). */
export function parsePolicyText(text: string, name = 'policy'): PolicySpec {
  if (typeof text !== 'string') throw new ConfigError(PolicyCode.INVALID, `${name}: expected text`);
  if (Buffer.byteLength(text) > MAX_POLICY_TEXT_BYTES) throw invalid(name, [`${name}: more than ${MAX_POLICY_TEXT_BYTES} bytes`]);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true, lineCounter });
  const p = new Problems(name, lineCounter);
  if (doc.errors.length > 0) {
    for (const err of doc.errors) {
      const pos = err.linePos?.[0];
      const first = (err.message.split('\n')[0] ?? err.code).replace(/ at line \d+, column \d+:?$/, '');
      p.list.push(pos !== undefined ? `${name}:${pos.line}:${pos.col}: not valid YAML: ${first}` : `${name}: not valid YAML: ${first}`);
    }
    throw invalid(name, p.list);
  }
  try {
    doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    throw invalid(name, [`${name}: ${(err as Error).message}`]);
  }
  const root = doc.contents as YamlNode | null;
  if (!isMap(root)) throw invalid(name, [`${name}:1:1: expected a map with a rules list (and optionally outbound, chat)`]);
  const e = entries(root, ['rules', 'chat', 'outbound'], 'policy', p);
  if (!e.has('rules')) p.at(root, 'policy: missing rules (an empty list denies everything)');
  let outbound = false;
  const ob = e.get('outbound');
  if (ob !== undefined) {
    if (isScalar(ob.value) && typeof ob.value.value === 'boolean') outbound = ob.value.value;
    else p.at(ob.value ?? ob.pair, 'outbound: expected true or false');
  }
  const seen = new Set<string>();
  const rules: NetworkRule[] = [];
  if (e.has('rules')) {
    const { value: v, pair } = e.get('rules')!;
    const items = ruleList(v, pair, 'rules', p);
    items.forEach((node, i) => { const r = parseNetworkRule(node, i, seen, p); if (r !== undefined) rules.push(r); });
  }
  let chat: ChatRule[] | null = null;
  if (e.has('chat')) {
    chat = [];
    const { value: v, pair } = e.get('chat')!;
    const items = ruleList(v, pair, 'chat', p);
    items.forEach((node, i) => { const r = parseChatRule(node, i, seen, p); if (r !== undefined) chat!.push(r); });
  }
  if (p.list.length > 0) throw invalid(name, p.list);
  return { outbound, rules, chat };
}
