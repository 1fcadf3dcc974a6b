/**
 * The JSON schema of the configuration file, built from the key table
 * (config-keys.ts), and its validator (ajv, allErrors: every problem of a
 * file in one pass, docs/conventions.md §12).
 *
 * Problems come back as `{ path, message }` where path is the dotted key
 * (`node.p2p.retryInterval`) and message says what was expected and what was
 * found: `expected a duration like 30s, 5m, 24h, got "soon"`. At most one
 * problem per key (ajv may report several keywords for one value). Unknown
 * keys are problems too, named with the keys that are known there, so a typo
 * is never silently ignored.
 */
import { isIP } from 'node:net';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { parseDuration } from '../util/duration.js';
import { CONFIG_KEYS, KEYS_BY_PATH, type ConfigKey } from './config-keys.js';
import { isNetworkDomain } from '../names/network-domain.js';
import { parseUpstreamList } from '../names/upstreams.js';

export interface ConfigProblem {
  /** Dotted key path, '' for the document itself. */
  path: string;
  message: string;
}

type JsonSchema = Record<string, unknown>;

const PIN_RE = /^sha256:[0-9a-f]{64}$/;

/** A pin or a pin set: pins separated by commas. */
export function isPinSet(text: string): boolean {
  return text.split(',').every((p) => PIN_RE.test(p));
}

/**
 * One node.relays entry, `wss://HOST:PORT#PIN[,PIN...]`, as url and pins; null
 * when malformed. The fragment never goes on the wire: it only carries the
 * relay's pin set next to its address.
 */
export function parseRelayEntry(text: string): { url: string; pins: string[] } | null {
  const hash = text.indexOf('#');
  if (hash < 0) return null;
  const url = text.slice(0, hash);
  const pins = text.slice(hash + 1);
  return isWssUrl(url) && isPinSet(pins) ? { url, pins: pins.split(',') } : null;
}

/** node.relays as text: entries separated by white space; null when empty or any entry is malformed. */
export function parseRelayList(text: string): { url: string; pins: string[] }[] | null {
  const entries = text.trim().split(/\s+/).filter((e) => e !== '').map(parseRelayEntry);
  return entries.length === 0 || entries.some((e) => e === null) ? null : (entries as { url: string; pins: string[] }[]);
}
const LISTEN_RE = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/;

/** `wss://HOST[:PORT]` and nothing else (no path, query or fragment). */
export function isWssUrl(text: string): boolean {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return false;
  }
  return u.protocol === 'wss:' && u.hostname !== '' && (u.pathname === '/' || u.pathname === '') && u.search === '' && u.hash === '';
}

/** `HOST:PORT` or `[IPV6]:PORT`, port at most 65535; null otherwise. */
export function parseListenText(text: string): { host: string; port: number } | null {
  const m = LISTEN_RE.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (m === null || port > 65_535) return null;
  return { host: (m[1] ?? m[2]) as string, port };
}

/** HOST:PORT[,HOST:PORT...] (node.dns.listen); null when any entry is not HOST:PORT or the list is empty. */
export function parseListenList(text: string): { host: string; port: number }[] | null {
  const items = text.split(',').map((t) => t.trim()).filter((t) => t !== '');
  const out = items.map((t) => parseListenText(t));
  return out.length === 0 || out.some((x) => x === null) ? null : (out as { host: string; port: number }[]);
}

function isUpstreamList(text: string): boolean {
  try {
    return parseUpstreamList(text).length > 0;
  } catch {
    return false;
  }
}

function durationWithin(text: string, minMs: number, maxMs: number): boolean {
  try {
    const ms = parseDuration(text);
    return ms >= minMs && ms <= maxMs;
  } catch {
    return false;
  }
}

function leafSchema(k: ConfigKey): JsonSchema {
  const kind = k.kind;
  switch (kind.type) {
    case 'string':
    case 'path':
    case 'secret':
      return { type: 'string', minLength: 1 };
    case 'duration':
      return { type: 'string', 'x-duration': [kind.minMs, kind.maxMs] };
    case 'integer':
      return { type: 'integer', minimum: kind.min, maximum: kind.max };
    case 'boolean':
      return { type: 'boolean' };
    case 'enum':
      return { type: 'string', enum: [...kind.values] };
    case 'format':
      // node.relays: a YAML list of entries, or one string of entries separated by spaces.
      if (kind.format === 'relay-list') return { anyOf: [{ type: 'string', format: 'relay-list' }, { type: 'array', minItems: 1, items: { type: 'string', format: 'relay-list' } }] };
      return { type: 'string', format: kind.format };
  }
}

/** The schema of the file: nested mappings, no unknown keys, no key required (required-ness depends on the role). */
export function buildConfigSchema(): JsonSchema {
  const root: JsonSchema = { type: 'object', properties: {}, additionalProperties: false };
  for (const k of CONFIG_KEYS) {
    const parts = k.path.split('.');
    let node = root;
    for (const part of parts.slice(0, -1)) {
      const props = node['properties'] as Record<string, JsonSchema>;
      props[part] ??= { type: 'object', properties: {}, additionalProperties: false };
      node = props[part] as JsonSchema;
    }
    (node['properties'] as Record<string, JsonSchema>)[parts[parts.length - 1] as string] = { ...leafSchema(k), description: k.description };
  }
  return root;
}

let compiled: ValidateFunction | null = null;

function validator(): ValidateFunction {
  if (compiled !== null) return compiled;
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false });
  ajv.addFormat('wss-url', { type: 'string', validate: isWssUrl });
  ajv.addFormat('pin', { type: 'string', validate: isPinSet });
  ajv.addFormat('relay-list', { type: 'string', validate: (s: string) => parseRelayList(s) !== null });
  ajv.addFormat('listen', { type: 'string', validate: (s: string) => parseListenText(s) !== null });
  ajv.addFormat('ip', { type: 'string', validate: (s: string) => isIP(s) !== 0 });
  ajv.addFormat('listen-list', { type: 'string', validate: (s: string) => parseListenList(s) !== null });
  ajv.addFormat('dns-domain', { type: 'string', validate: isNetworkDomain });
  ajv.addFormat('dns-upstreams', { type: 'string', validate: isUpstreamList });
  ajv.addKeyword({
    keyword: 'x-duration',
    type: 'string',
    schemaType: 'array',
    validate: (bounds: [number, number], data: string) => durationWithin(data, bounds[0], bounds[1]),
  });
  compiled = ajv.compile(buildConfigSchema());
  return compiled;
}

/** '/node/p2p/retryInterval' -> 'node.p2p.retryInterval' (JSON pointer unescaped). */
function dotted(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return JSON.stringify(value) ?? String(value);
}

function valueAt(doc: unknown, path: string): unknown {
  let v = doc;
  for (const p of path === '' ? [] : path.split('.')) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
  return v;
}

function knownChildren(prefix: string): string[] {
  const depth = prefix === '' ? 0 : prefix.split('.').length;
  const names = new Set<string>();
  for (const k of CONFIG_KEYS) {
    if (prefix !== '' && !k.path.startsWith(prefix + '.')) continue;
    const name = k.path.split('.')[depth];
    if (name !== undefined) names.add(name);
  }
  return [...names];
}

function problemOf(e: ErrorObject, doc: unknown): ConfigProblem {
  const at = dotted(e.instancePath);
  if (e.keyword === 'additionalProperties') {
    const extra = String((e.params as { additionalProperty: string }).additionalProperty);
    const path = at === '' ? extra : `${at}.${extra}`;
    return { path, message: `unknown key (known here: ${knownChildren(at).join(', ')})` };
  }
  const key = KEYS_BY_PATH.get(at);
  const got = describe(valueAt(doc, at));
  if (key !== undefined) return { path: at, message: `expected ${key.expected}, got ${got}` };
  return { path: at, message: `expected a mapping of ${knownChildren(at).join(', ')}, got ${got}` };
}

/** Every problem of `doc` against the schema, one per key, in document order of ajv's report. */
export function validateConfigDocument(doc: unknown): ConfigProblem[] {
  const validate = validator();
  if (validate(doc)) return [];
  const seen = new Set<string>();
  const out: ConfigProblem[] = [];
  for (const e of validate.errors ?? []) {
    const p = problemOf(e, doc);
    if (seen.has(p.path)) continue;
    seen.add(p.path);
    out.push(p);
  }
  return out;
}
