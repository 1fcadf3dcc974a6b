/**
 * Relay cluster options (docs/architecture.md "Relay cluster"): the one
 * place that holds their defaults, the reasons for them, and their
 * validation (docs/conventions.md §12: defaults in one exported frozen
 * object, merged with spread, validated once, unknown keys rejected, frozen).
 *
 * `resolveClusterOptions` throws a ConfigError (SM_ERR_CONFIG_UNKNOWN_OPTION /
 * SM_ERR_CONFIG_VALUE) naming the option and the value received; secrets
 * (password, token) are never echoed in that message.
 */
import { ConfigError } from '../../errors.js';

/** A relay publishes a heartbeat this often: small against the failover a member
 *  sees (a few seconds), large against NATS round trips (sub-millisecond on a LAN). */
export const DEFAULT_CLUSTER_HEARTBEAT_MS = 2_000;
/** A peer relay silent for this many heartbeats is down and its members with it:
 *  three, so two lost or late heartbeats (a GC pause, a NATS hiccup) do not flap presence. */
export const CLUSTER_DOWN_AFTER_HEARTBEATS = 3;
/** Peer relays remembered at once: a cluster is a handful of relays; the bound keeps a
 *  NATS account holder inventing relay ids from growing the table (and the metric labels). */
export const DEFAULT_CLUSTER_MAX_RELAYS = 64;
/** Remote members remembered at once: ten relays of DEFAULT_MAX_CLIENTS (relay-options.ts).
 *  Each holds a certificate of at most ~8 KiB, so the table stays under ~1 GiB at worst. */
export const DEFAULT_CLUSTER_MAX_MEMBERS = 100_000;
/** Largest NATS message accepted or built: nats-server's default max_payload (1 MiB).
 *  A forwarded frame (≤ MAX_FRAME_BYTES plus 50 bytes) fits; member lists are split below it. */
export const MAX_CLUSTER_MESSAGE_BYTES = 1024 * 1024;

export interface ClusterOptions {
  /** NATS server URLs (nats:// or tls://), tried in turn; the client reconnects forever. */
  servers: string[];
  /** This relay's name in /stats and metric labels of the other relays (not an identity). */
  name: string;
  /** NATS credentials file (JWT + nkey seed, as `nsc` writes it). */
  credsFile: string | null;
  user: string | null;
  password: string | null;
  token: string | null;
  /** CA bundle (PEM) that signs the NATS server's TLS certificate (tls:// URLs). */
  tlsCaFile: string | null;
  heartbeatMs: number;
  maxRelays: number;
  maxMembers: number;
}

export const CLUSTER_DEFAULTS: Readonly<ClusterOptions> = Object.freeze({
  servers: [] as string[],
  name: 'relay',
  credsFile: null,
  user: null,
  password: null,
  token: null,
  tlsCaFile: null,
  heartbeatMs: DEFAULT_CLUSTER_HEARTBEAT_MS,
  maxRelays: DEFAULT_CLUSTER_MAX_RELAYS,
  maxMembers: DEFAULT_CLUSTER_MAX_MEMBERS,
});

/** Longest relay name carried in a heartbeat (one length byte). */
export const MAX_RELAY_NAME_BYTES = 64;

const NATS_URL = /^(nats|tls):\/\/[^\s/]+(:\d{1,5})?\/?$/;

function bad(name: string, shown: string, expected: string): ConfigError {
  return new ConfigError('SM_ERR_CONFIG_VALUE', `cluster option ${name}: expected ${expected}, got ${shown}`);
}

function optionalString(o: ClusterOptions, name: 'credsFile' | 'user' | 'password' | 'token' | 'tlsCaFile', secret: boolean): void {
  const v: unknown = o[name];
  if (v !== null && (typeof v !== 'string' || v.length === 0)) throw bad(name, secret ? '(redacted)' : JSON.stringify(v) ?? String(v), 'null or a non-empty string');
}

/** "nats://a:4222,nats://b:4222" -> the list; what --cluster and relay.cluster.url take. */
export function parseClusterServers(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

/** Merge `given` over CLUSTER_DEFAULTS, validate every field, freeze. */
export function resolveClusterOptions(given: Partial<ClusterOptions>): Readonly<ClusterOptions> {
  for (const key of Object.keys(given)) {
    if (!Object.prototype.hasOwnProperty.call(CLUSTER_DEFAULTS, key)) throw new ConfigError('SM_ERR_CONFIG_UNKNOWN_OPTION', `cluster option ${key}: unknown option`);
  }
  const defined = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as Partial<ClusterOptions>;
  const o: ClusterOptions = { ...CLUSTER_DEFAULTS, ...defined };
  if (!Array.isArray(o.servers) || o.servers.length === 0 || o.servers.some((s) => typeof s !== 'string' || !NATS_URL.test(s))) {
    throw bad('servers', JSON.stringify(o.servers), 'one or more nats://HOST:PORT or tls://HOST:PORT URLs');
  }
  if (typeof o.name !== 'string' || o.name.length === 0 || Buffer.byteLength(o.name) > MAX_RELAY_NAME_BYTES) throw bad('name', JSON.stringify(o.name), `a name of 1 to ${MAX_RELAY_NAME_BYTES} bytes`);
  optionalString(o, 'credsFile', false);
  optionalString(o, 'user', false);
  optionalString(o, 'password', true);
  optionalString(o, 'token', true);
  optionalString(o, 'tlsCaFile', false);
  if ((o.user === null) !== (o.password === null)) throw bad('user', o.user === null ? 'no user' : 'no password', 'user and password together');
  const methods = [o.credsFile !== null, o.user !== null, o.token !== null].filter(Boolean).length;
  if (methods > 1) throw bad('credsFile', `${methods} methods`, 'at most one of credentials file, user/password, token');
  for (const [name, min, max] of [['heartbeatMs', 50, 600_000], ['maxRelays', 1, 10_000], ['maxMembers', 1, 10_000_000]] as const) {
    const v: unknown = o[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(name, JSON.stringify(v) ?? String(v), `an integer in [${min}, ${max}]`);
  }
  return Object.freeze({ ...o, servers: Object.freeze([...o.servers]) as string[] });
}

/** A peer relay not heard from this long is down (and its members). */
export function clusterDownAfterMs(o: Readonly<ClusterOptions>): number {
  return o.heartbeatMs * CLUSTER_DOWN_AFTER_HEARTBEATS;
}
