/**
 * From the effective configuration (resolve-config.ts) to the components'
 * options: NodeDaemon's DaemonOptions (with the path timers and the direct
 * transport's options, so the node.p2p.* and node.tls.* keys take effect)
 * and RelayServer's RelayOptions. The components validate these again
 * (their own resolve*Options); config-checks.ts runs the same mappings
 * first so `config check` catches what the components would refuse.
 */
import type { DaemonDeviceKind, DaemonNamesOptions, DaemonOptions } from '../node/daemon.js';
import { PATH_TICK_MS, type PathTimerOptions } from '../node/path/path-timers.js';
import { DEFAULT_PATH_TIMERS } from '../node/path/path-timers.js';
import { RELAY_DEFAULTS, type RelayOptions } from '../relay/relay-options.js';
import type { RelayDaemonOptions } from '../relay-daemon/relay-daemon.js';
import { parseClusterServers, resolveClusterOptions, type ClusterOptions } from '../relay/cluster/cluster-options.js';
import { hostname } from 'node:os';
import { resolvePassphrase } from '../identity/passphrase.js';
import type { LogFormat, LogLevel } from '../util/logger.js';
import { parseListenList, parseListenText, parseRelayList } from './config-schema.js';
import { parseUpstreamList } from '../names/upstreams.js';
import type { EffectiveConfig } from './effective-config.js';
import { ConfigError } from '../errors.js';

const SOURCE_RANK = { flag: 0, env: 1, file: 2, default: 3 } as const;

function req<T>(v: T | undefined, path: string): T {
  if (v === undefined) throw new TypeError(`config ${path}: no value (resolveConfig checks required keys)`);
  return v;
}

export function logLevelOf(cfg: EffectiveConfig): LogLevel {
  return (cfg.string('log.level') ?? 'info') as LogLevel;
}

/** log.format as set: 'auto' is decided against stderr by the command (src/cli/log-format.ts). */
export function logFormatOf(cfg: EffectiveConfig): 'auto' | LogFormat {
  return (cfg.string('log.format') ?? 'auto') as 'auto' | LogFormat;
}

/** node.p2p.* as PathManager timers. A probe interval below the tick makes the tick finer. */
export function pathTimersOf(cfg: EffectiveConfig): Partial<PathTimerOptions> {
  const probeIntervalMs = req(cfg.ms('node.p2p.healthCheckInterval'), 'node.p2p.healthCheckInterval');
  const connectTimeoutMs = req(cfg.ms('node.p2p.connectTimeout'), 'node.p2p.connectTimeout');
  return {
    tickMs: Math.min(PATH_TICK_MS, probeIntervalMs),
    probeIntervalMs,
    directTrustMs: req(cfg.ms('node.p2p.trustWindow'), 'node.p2p.trustWindow'),
    directDeadMs: req(cfg.ms('node.p2p.deadTime'), 'node.p2p.deadTime'),
    retryBaseMs: req(cfg.ms('node.p2p.retryInterval'), 'node.p2p.retryInterval'),
    retryMaxMs: req(cfg.ms('node.p2p.retryMax'), 'node.p2p.retryMax'),
    quietAfterMs: req(cfg.ms('node.p2p.quietAfter'), 'node.p2p.quietAfter'),
    quietProbeIntervalMs: req(cfg.ms('node.p2p.quietHealthCheckInterval'), 'node.p2p.quietHealthCheckInterval'),
    // An attempt may try several candidates, each with the connect budget: never give it less than one.
    attemptTimeoutMs: Math.max(DEFAULT_PATH_TIMERS.attemptTimeoutMs, connectTimeoutMs),
  };
}

/** node.p2p.enabled/wss/port/listen, node.p2p.connectTimeout/handshakeTimeout/maxHandshakesPerAddress and node.tls.certLifetime as the daemon's `direct` option. */
export function directOptionsOf(cfg: EffectiveConfig): DaemonOptions['direct'] {
  if (cfg.boolean('node.p2p.enabled') === false) return false;
  return {
    port: cfg.number('node.p2p.port') ?? 0,
    ...(cfg.boolean('node.p2p.wss') === false ? { wss: false } : {}),
    ...(cfg.isSet('node.p2p.listen') ? { host: req(cfg.string('node.p2p.listen'), 'node.p2p.listen') } : {}),
    connectTimeoutMs: req(cfg.ms('node.p2p.connectTimeout'), 'node.p2p.connectTimeout'),
    tlsHandshakeTimeoutMs: req(cfg.ms('node.p2p.handshakeTimeout'), 'node.p2p.handshakeTimeout'),
    maxHandshakesPerAddress: req(cfg.number('node.p2p.maxHandshakesPerAddress'), 'node.p2p.maxHandshakesPerAddress'),
    certLifetimeMs: req(cfg.ms('node.tls.certLifetime'), 'node.tls.certLifetime'),
    udp: cfg.boolean('node.p2p.udp') === false ? false : {
      port: cfg.number('node.p2p.udpPort') ?? 0,
      ...stunOf(cfg.string('node.p2p.stun') ?? 'relay'),
      stunIntervalMs: req(cfg.ms('node.p2p.stunInterval'), 'node.p2p.stunInterval'),
      punchTimeoutMs: req(cfg.ms('node.p2p.punchTimeout'), 'node.p2p.punchTimeout'),
    },
  };
}

/** node.p2p.stun: 'relay' (the default: no list, the node asks its relay), 'none', or HOST:PORT[,HOST:PORT...]. */
export function stunOf(text: string): { stun?: { host: string; port: number }[] } {
  const t = text.trim();
  if (t === 'relay') return {};
  if (t === 'none') return { stun: [] };
  const out: { host: string; port: number }[] = [];
  for (const item of t.split(',')) {
    // The same HOST:PORT / [IPv6]:PORT syntax as the listen keys; port 0 names no server.
    const hp = parseListenText(item.trim());
    if (hp === null || hp.port === 0) {
      throw new ConfigError('SM_ERR_CONFIG_VALUE', `node.p2p.stun: ${JSON.stringify(item.trim())} is not HOST:PORT (expected 'relay', 'none', or HOST:PORT[,HOST:PORT...], IPv6 in brackets)`);
    }
    out.push(hp);
  }
  return { stun: out };
}

/**
 * The identity passphrase: node.passphraseFile or node.passphrase, whichever
 * was set by the stronger layer (flags > env > file); the file on a tie.
 */
export async function passphraseOf(cfg: EffectiveConfig): Promise<string | undefined> {
  const file = cfg.get('node.passphraseFile');
  const text = cfg.get('node.passphrase');
  if (file !== undefined && (text === undefined || SOURCE_RANK[file.source] <= SOURCE_RANK[text.source])) {
    // envVar: a name no one sets, so only the file is read here.
    return resolvePassphrase({ file: String(file.value), envVar: '\0' });
  }
  return text === undefined ? undefined : String(text.value);
}

/**
 * The relays the node chooses between: node.relay with node.pin first when
 * set, then the node.relays entries in their order (docs/configuration.md
 * "Several relays"). node.relays alone is enough. At least one relay: the
 * required check (resolve-config.ts) refuses a configuration with none.
 */
export function relayListOf(cfg: EffectiveConfig): { url: string; pins: string[] }[] {
  const text = cfg.string('node.relays');
  const more = text === undefined ? null : parseRelayList(text);
  const url = cfg.string('node.relay');
  const first = url === undefined ? [] : [{ url, pins: req(cfg.string('node.pin'), 'node.pin').split(',') }];
  const all = [...first, ...(more ?? [])];
  if (all.length === 0) throw new TypeError('config node.relay: neither node.relay nor node.relays is set (the required check refuses that)');
  return all;
}

/** The relay options of DaemonOptions: relayUrl/pin name the first relay; `relays` lists them all when there are two or more. */
export function relaysOf(cfg: EffectiveConfig): Pick<DaemonOptions, 'relayUrl' | 'pin' | 'relays'> {
  const all = relayListOf(cfg);
  const first = all[0] as { url: string; pins: string[] };
  return { relayUrl: first.url, pin: first.pins, ...(all.length > 1 ? { relays: all } : {}) };
}

/** Everything `shadowmesh up` hands NodeDaemon.load. */
export async function daemonOptionsOf(cfg: EffectiveConfig): Promise<DaemonOptions> {
  const passphrase = await passphraseOf(cfg);
  const device = req(cfg.string('node.dev'), 'node.dev') as DaemonDeviceKind;
  const crl = cfg.string('node.crl');
  const policy = cfg.string('node.policy');
  const name = cfg.string('node.name');
  const controlGroup = cfg.string('node.controlGroup');
  return {
    ...relaysOf(cfg),
    caFile: req(cfg.string('node.ca'), 'node.ca'),
    certFile: req(cfg.string('node.cert'), 'node.cert'),
    ...(crl !== undefined ? { crlFile: crl } : {}),
    ...(policy !== undefined ? { policyFile: policy } : {}),
    identityDir: req(cfg.string('node.dir'), 'node.dir'),
    ...(passphrase !== undefined ? { passphrase } : {}),
    device,
    ...(name !== undefined ? { deviceName: name } : {}),
    ...(device !== 'none' ? { mtu: req(cfg.number('node.mtu'), 'node.mtu') } : {}),
    controlPath: req(cfg.string('node.control'), 'node.control'),
    ...(controlGroup !== undefined ? { controlGroup } : {}),
    startupTimeoutMs: req(cfg.ms('node.startupTimeout'), 'node.startupTimeout'),
    direct: directOptionsOf(cfg),
    pathTimers: pathTimersOf(cfg),
    ...metricsOf(cfg, 'node.metrics.listen'),
    ...webOf(cfg),
    ...namesOf(cfg),
    ...routesOf(cfg),
    ...streamsOf(cfg),
    ...exitNodeOf(cfg),
  };
}

/** node.socks5.*, node.httpProxy.* and node.streams.*: the stream layer's local side; {} when none is set. */
export function streamsOf(cfg: EffectiveConfig): { streams?: NonNullable<DaemonOptions['streams']> } {
  const text = cfg.string('node.socks5.listen');
  const authFile = cfg.string('node.socks5.authFile');
  const serveLoopback = cfg.boolean('node.streams.serveLoopback') === true;
  const httpText = cfg.string('node.httpProxy.listen');
  const httpProxy = httpText === undefined ? undefined : parseListenText(httpText);
  if (httpProxy === null) throw new TypeError('config node.httpProxy.listen: not HOST:PORT (the schema checks it)');
  if (text === undefined && authFile !== undefined) throw new ConfigError('SM_ERR_CONFIG_VALUE', 'node.socks5.authFile (--socks5-auth) needs node.socks5.listen (--socks5)');
  let socks5: { host: string; port: number; authFile?: string } | undefined;
  if (text !== undefined) {
    const listen = parseListenText(text);
    if (listen === null) throw new TypeError('config node.socks5.listen: not HOST:PORT (the schema checks it)');
    socks5 = { ...listen, ...(authFile !== undefined ? { authFile } : {}) };
  }
  if (socks5 === undefined && httpProxy === undefined && !serveLoopback) return {};
  return { streams: { ...(socks5 !== undefined ? { socks5 } : {}), ...(httpProxy !== undefined ? { httpProxy } : {}), ...(serveLoopback ? { serveLoopback } : {}) } };
}

/** node.exitNode.*: exit nodes of the daemon; {} when neither using nor serving one. */
export function exitNodeOf(cfg: EffectiveConfig): { exitNode?: { use?: string; allowLan: boolean; fallback: boolean; advertise: boolean } } {
  const use = cfg.string('node.exitNode.use');
  const allowLan = cfg.boolean('node.exitNode.allowLan') === true;
  const fallback = cfg.boolean('node.exitNode.fallback') === true;
  const advertise = cfg.boolean('node.exitNode.advertise') === true;
  if (use === undefined && !advertise && !allowLan && !fallback) return {};
  return { exitNode: { ...(use !== undefined ? { use } : {}), allowLan, fallback, advertise } };
}

/** node.routes.*: subnet routes of the daemon; {} when neither accepting nor advertising. */
export function routesOf(cfg: EffectiveConfig): { routes?: { accept: boolean; advertise: boolean; snat: boolean } } {
  const accept = cfg.boolean('node.routes.accept') === true;
  const advertise = cfg.boolean('node.routes.advertise') === true;
  if (!accept && !advertise) return {};
  return { routes: { accept, advertise, snat: cfg.boolean('node.routes.snat') !== false } };
}

/** node.dns.*: the DNS responder's options; {} when node.dns.listen is unset (no responder). */
export function namesOf(cfg: EffectiveConfig): { names?: DaemonNamesOptions } {
  const text = cfg.string('node.dns.listen');
  if (text === undefined) return {};
  const listen = parseListenList(text);
  if (listen === null) throw new TypeError('config node.dns.listen: not HOST:PORT[,HOST:PORT...] (the schema checks it)');
  const upstream = cfg.string('node.dns.upstream');
  const resolved = cfg.boolean('node.dns.resolved');
  const domain = cfg.string('node.dns.domain');
  return { names: { listen, ...(domain !== undefined ? { domain } : {}), ...(resolved === false ? { resolved: false } : {}), ...(upstream !== undefined ? { upstreams: parseUpstreamList(upstream) } : {}) } };
}

/** node.metrics.listen / relay.metrics.listen as the metrics listener's address; {} when unset (no listener). */
export function metricsOf(cfg: EffectiveConfig, path: 'node.metrics.listen' | 'relay.metrics.listen'): { metrics?: { host: string; port: number } } {
  const text = cfg.string(path);
  if (text === undefined) return {};
  const listen = parseListenText(text);
  if (listen === null) throw new TypeError(`config ${path}: not HOST:PORT (the schema checks it)`);
  return { metrics: listen };
}

/** node.web.listen as the web console's address; {} when unset (no console). */
export function webOf(cfg: EffectiveConfig): { web?: { host: string; port: number } } {
  const text = cfg.string('node.web.listen');
  if (text === undefined) return {};
  const listen = parseListenText(text);
  if (listen === null) throw new TypeError('config node.web.listen: not HOST:PORT (the schema checks it)');
  return { web: listen };
}

/** The relay daemon's options from an effective configuration: files, TLS identity, server limits, metrics. */
export function relayDaemonOptionsOf(cfg: EffectiveConfig): RelayDaemonOptions {
  const crlFile = cfg.string('relay.crl');
  const policyFile = cfg.string('relay.policy');
  const certFile = cfg.string('relay.cert');
  const keyFile = cfg.string('relay.key');
  return {
    caFile: req(cfg.string('relay.ca'), 'relay.ca'),
    ...(crlFile !== undefined ? { crlFile } : {}),
    ...(policyFile !== undefined ? { policyFile } : {}),
    dataDir: req(cfg.string('relay.data'), 'relay.data'),
    ...(certFile !== undefined ? { certFile } : {}),
    ...(keyFile !== undefined ? { keyFile } : { certLifetimeMs: req(cfg.ms('relay.tls.certLifetime'), 'relay.tls.certLifetime') }),
    server: relayServerOptionsOf(cfg),
    ...metricsOf(cfg, 'relay.metrics.listen'),
    ...relayWebOf(cfg),
    ...clusterOf(cfg),
  };
}

/** relay.web.*: the operator page's address and admin token file; {} when relay.web.listen is unset. The file is read by the relay daemon. */
export function relayWebOf(cfg: EffectiveConfig): { web?: { host: string; port: number; tokenFile: string } } {
  const text = cfg.string('relay.web.listen');
  if (text === undefined) return {};
  const listen = parseListenText(text);
  if (listen === null) throw new TypeError('config relay.web.listen: not HOST:PORT (the schema checks it)');
  const tokenFile = cfg.string('relay.web.tokenFile');
  if (tokenFile === undefined) throw new ConfigError('SM_ERR_CONFIG_VALUE', 'relay.web.listen (--web) needs relay.web.tokenFile (--web-token-file): the operator page has no other credential');
  return { web: { ...listen, tokenFile } };
}

/**
 * relay.cluster.* as the relay cluster's options; {} without relay.cluster.url
 * (a single relay). Validated here (resolveClusterOptions: URLs, one
 * authentication method, user with password) so `config check` refuses
 * what the relay would.
 */
export function clusterOf(cfg: EffectiveConfig): { cluster?: Partial<ClusterOptions> } {
  const url = cfg.string('relay.cluster.url');
  if (url === undefined) return {};
  const listen = parseListenText(req(cfg.string('relay.listen'), 'relay.listen'));
  const opt = (path: string): string | null => cfg.string(path) ?? null;
  const cluster: Partial<ClusterOptions> = {
    servers: parseClusterServers(url),
    name: cfg.string('relay.cluster.name') ?? `${hostname()}:${listen?.port ?? 0}`.slice(0, 64),
    credsFile: opt('relay.cluster.creds'),
    user: opt('relay.cluster.user'),
    password: opt('relay.cluster.password'),
    token: opt('relay.cluster.token'),
    tlsCaFile: opt('relay.cluster.tlsCa'),
    heartbeatMs: req(cfg.ms('relay.cluster.heartbeat'), 'relay.cluster.heartbeat'),
  };
  resolveClusterOptions(cluster);
  return { cluster };
}

/** relay.* as RelayServer options. A rate brings a burst of half a second (the defaults' ratio), never below one full frame for bytes. */
export function relayServerOptionsOf(cfg: EffectiveConfig): Partial<RelayOptions> {
  const listen = parseListenText(req(cfg.string('relay.listen'), 'relay.listen'));
  if (listen === null) throw new TypeError('config relay.listen: not HOST:PORT (the schema checks it)');
  const maxFrameBytes = req(cfg.number('relay.maxFrameBytes'), 'relay.maxFrameBytes');
  const out: Partial<RelayOptions> = {
    host: listen.host,
    port: listen.port,
    maxClients: cfg.number('relay.maxClients'),
    maxPending: cfg.number('relay.maxPending'),
    // Unset, the per-address share follows a small maxPending down (relay-options.ts).
    ...(cfg.isSet('relay.maxPendingPerAddress') ? { maxPendingPerAddress: cfg.number('relay.maxPendingPerAddress') } : {}),
    certCacheEntries: cfg.number('relay.certCacheEntries'),
    maxFrameBytes,
    heartbeatMs: cfg.ms('relay.heartbeat'),
    idleTimeoutMs: cfg.ms('relay.idleTimeout'),
    handshakeTimeoutMs: cfg.ms('relay.handshakeTimeout'),
  };
  if (cfg.boolean('relay.stun.enabled') === false) out.stun = false;
  const stunListen = cfg.string('relay.stun.listen');
  if (stunListen !== undefined) {
    const parsed = parseListenText(stunListen);
    if (parsed === null) throw new TypeError('config relay.stun.listen: not HOST:PORT (the schema checks it)');
    out.stunListen = parsed;
  }
  if (cfg.isSet('relay.rateFrames')) {
    const rate = req(cfg.number('relay.rateFrames'), 'relay.rateFrames');
    Object.assign(out, { rateFramesPerSec: rate, rateFrameBurst: Math.max(1, Math.ceil(rate / 2)) });
  }
  if (cfg.isSet('relay.rateBytes')) {
    const rate = req(cfg.number('relay.rateBytes'), 'relay.rateBytes');
    Object.assign(out, { rateBytesPerSec: rate, rateByteBurst: Math.max(maxFrameBytes ?? RELAY_DEFAULTS.maxFrameBytes, Math.ceil(rate / 2)) });
  }
  return out;
}
