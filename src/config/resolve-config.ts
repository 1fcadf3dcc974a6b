/**
 * The effective configuration: command-line flags over SHADOWMESH_*
 * environment variables over the config file over defaults, decided in ONE
 * place (mergeLayers below) and documented once (docs/configuration.md).
 *
 * Every layer is checked against the same schema (config-schema.ts) and
 * every problem of every layer is collected; then the merged values get the
 * checks that span keys (a trust window longer than the probe interval, a
 * relay idle timeout longer than its heartbeat, keys a role cannot run
 * without). Any problem at all: one ConfigError SM_ERR_CONFIG_VALUE whose
 * `problems` lists them all, each naming what the user wrote: the flag
 * (`--relay: expected wss://HOST:PORT, got "http://x"`), the variable
 * (`SHADOWMESH_P2P_RETRY_INTERVAL (node.p2p.retryInterval): …`) or the file
 * key (`node.p2p.retryInterval: expected a duration like 30s, 5m, 24h, got "soon"`).
 *
 * Flag and environment values arrive as text and are read as the key's
 * type (a whole number, true/false); an empty variable counts as unset.
 * Relative paths in the file are relative to the file's directory, so a
 * config file and the certificates next to it move together.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { HOME_ENV, keysForRole, flagAttribute, type ConfigKey, type Role } from './config-keys.js';
import type { LoadedConfigFile } from './config-file.js';
import { shadowmeshHome } from './config-file.js';
import { CROSS_CHECKS } from './config-checks.js';
import { RELAY_FLAG, relayFlagSettings } from './relay-flags.js';
import { validateConfigDocument, type ConfigProblem } from './config-schema.js';
import { EffectiveConfig, type ConfigValue, type Layer, type Setting } from './effective-config.js';

/** What the command line gave, as commander holds it. */
export interface ParsedFlags {
  opts(): Record<string, unknown>;
  /** 'cli' when the user typed the flag; anything else is ignored. */
  getOptionValueSource(key: string): string | undefined;
}

export interface ResolveInput {
  /** The command's role: its section's keys, flags and required keys. Undefined: both sections, nothing required. */
  role?: Role;
  /** false: read the role's section without requiring the keys it cannot run without (`netcheck` needs only relays and STUN servers). Default true. */
  requireRoleKeys?: boolean;
  flags?: ParsedFlags;
  env?: NodeJS.ProcessEnv;
  file?: LoadedConfigFile | null;
}

export class ConfigProblems extends ConfigError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[], context: string) {
    const message = problems.length === 1 ? (problems[0] as string) : `${problems.length} configuration problems${context}:\n  ${problems.join('\n  ')}`;
    super('SM_ERR_CONFIG_VALUE', message);
    this.problems = problems;
  }
}

/** How the user named a setting in a message. */
export function settingLabel(path: string, s: Setting | undefined): string {
  if (s === undefined) return path;
  if (s.source === 'flag') return s.origin;
  if (s.source === 'env') return `${s.origin} (${path})`;
  return path;
}

/** Read text from a flag or variable as the key's type; anything unreadable stays text for the schema to refuse. */
function fromText(key: ConfigKey, text: string): ConfigValue {
  if (key.kind.type === 'integer' && /^\d{1,16}$/.test(text)) return Number(text);
  if (key.kind.type === 'boolean') {
    if (/^(true|1|yes)$/i.test(text)) return true;
    if (/^(false|0|no)$/i.test(text)) return false;
  }
  return text;
}

function setIn(tree: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = tree;
  for (const p of parts.slice(0, -1)) node = (node[p] ??= {}) as Record<string, unknown>;
  node[parts[parts.length - 1] as string] = value;
}

function getIn(tree: unknown, path: string): unknown {
  let v = tree;
  for (const p of path.split('.')) v = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>)[p] : undefined;
  return v;
}

function flagLayer(keys: ConfigKey[], flags: ParsedFlags | undefined, problems: string[]): Layer {
  const layer = new Map<string, Setting>();
  if (flags === undefined) return layer;
  const opts = flags.opts();
  for (const k of keys) {
    if (k.flag === undefined || k.flag === RELAY_FLAG) continue;
    const attr = flagAttribute(k.flag);
    if (flags.getOptionValueSource(attr) !== 'cli') continue;
    const raw = opts[attr];
    const value = typeof raw === 'boolean' ? raw : fromText(k, String(raw));
    layer.set(k.path, { value, source: 'flag', origin: k.flag });
  }
  // `--relay` may repeat and feeds node.relay (no pin in it) and node.relays (entries with their pins).
  if (keys.some((k) => k.flag === RELAY_FLAG) && flags.getOptionValueSource(flagAttribute(RELAY_FLAG)) === 'cli') {
    const r = relayFlagSettings(opts[flagAttribute(RELAY_FLAG)]);
    problems.push(...r.problems);
    if (r.relay !== undefined) layer.set('node.relay', { value: r.relay, source: 'flag', origin: RELAY_FLAG });
    if (r.relays !== undefined) layer.set('node.relays', { value: r.relays, source: 'flag', origin: RELAY_FLAG });
  }
  return layer;
}

function envLayer(keys: ConfigKey[], env: NodeJS.ProcessEnv): Layer {
  const layer = new Map<string, Setting>();
  for (const k of keys) {
    if (k.env === undefined) continue;
    const text = env[k.env];
    if (text === undefined || text === '') continue;
    layer.set(k.path, { value: fromText(k, text), source: 'env', origin: k.env });
  }
  return layer;
}

function fileLayer(keys: ConfigKey[], file: LoadedConfigFile): Layer {
  const layer = new Map<string, Setting>();
  const base = dirname(file.path);
  for (const k of keys) {
    const raw = getIn(file.doc, k.path);
    // A list key (node.relays) is kept as its entries separated by spaces, the form its variable takes.
    if (Array.isArray(raw) && raw.length > 0 && raw.every((x) => typeof x === 'string')) {
      layer.set(k.path, { value: raw.join(' '), source: 'file', origin: file.path });
      continue;
    }
    if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'boolean') continue; // absent, or refused by the schema
    const v = k.kind.type === 'path' && typeof raw === 'string' && raw !== '' && !isAbsolute(raw) ? resolve(base, raw) : raw;
    layer.set(k.path, { value: v, source: 'file', origin: file.path });
  }
  return layer;
}

function defaultLayer(keys: ConfigKey[], home: string): Layer {
  const layer = new Map<string, Setting>();
  for (const k of keys) {
    if (k.default === undefined) continue;
    layer.set(k.path, { value: typeof k.default === 'function' ? k.default(home) : k.default, source: 'default', origin: 'default' });
  }
  return layer;
}

/**
 * THE precedence rule: for each key, the first layer that sets it wins.
 * `layers` is ordered flags, env, file, defaults.
 */
export function mergeLayers(keys: readonly ConfigKey[], layers: readonly Layer[]): Layer {
  const out = new Map<string, Setting>();
  for (const k of keys) {
    for (const layer of layers) {
      const s = layer.get(k.path);
      if (s !== undefined) {
        out.set(k.path, s);
        break;
      }
    }
  }
  return out;
}

/** A flag or environment layer as a document, so the file's schema checks it too. */
function layerDocument(layer: Layer): Record<string, unknown> {
  const doc: Record<string, unknown> = {};
  for (const [path, s] of layer) setIn(doc, path, s.value);
  return doc;
}

function labelled(problems: ConfigProblem[], layer: Layer | null): string[] {
  return problems.map((p) => `${layer === null ? p.path || '(document)' : settingLabel(p.path, layer.get(p.path))}: ${p.message}`);
}

/** Build the effective configuration; throws ConfigProblems listing every problem found. */
export function resolveConfig(input: ResolveInput): EffectiveConfig {
  const env = input.env ?? process.env;
  const keys = keysForRole(input.role);
  const file = input.file ?? null;
  const problems: string[] = [];

  const flags = flagLayer(keys, input.flags, problems);
  const envs = envLayer(keys, env);
  if (file !== null) {
    // The whole file is checked, the other role's section included: a typo there is still a typo.
    problems.push(...labelled(validateConfigDocument(file.doc), null));
  }
  problems.push(...labelled(validateConfigDocument(layerDocument(envs)), envs));
  problems.push(...labelled(validateConfigDocument(layerDocument(flags)), flags));

  const homeText = env[HOME_ENV];
  const home: Setting = homeText !== undefined && homeText !== ''
    ? { value: homeText, source: 'env', origin: HOME_ENV }
    : { value: shadowmeshHome(env), source: 'default', origin: 'default' };
  const files = file !== null ? fileLayer(keys, file) : new Map<string, Setting>();
  const merged = mergeLayers(keys, [flags, envs, files, defaultLayer(keys, home.value as string)]);
  const cfg = new EffectiveConfig(input.role, file?.path ?? null, home, merged);

  if (problems.length === 0) {
    if (input.role !== undefined && input.requireRoleKeys !== false) {
      for (const k of keys) {
        if (k.requiredFor !== input.role || merged.has(k.path)) continue;
        if (k.unlessSet !== undefined && merged.has(k.unlessSet)) continue;
        const ways = [k.flag, k.env, `${k.path} in the config file`].filter((w) => w !== undefined).join(', ');
        problems.push(`${k.path}: required; set it with ${ways}${k.unlessSet !== undefined ? ` (or set ${k.unlessSet})` : ''}`);
      }
    }
    for (const check of CROSS_CHECKS) check(cfg, (path, message) => problems.push(`${settingLabel(path, merged.get(path))}: ${message}`));
  }
  if (problems.length > 0) throw new ConfigProblems(problems, file !== null ? ` (config file ${file.path})` : '');
  return cfg;
}
