/**
 * Relay server options: the one place that holds their defaults, the reasons
 * for them, and their validation (docs/conventions.md §12: defaults in one exported frozen
 * object, merged with spread, validated once, unknown keys rejected, frozen).
 *
 * Callers pass plain data; `resolveRelayOptions` throws a ConfigError
 * (SM_ERR_CONFIG_UNKNOWN_OPTION / SM_ERR_CONFIG_VALUE) naming the option and the
 * value received. The returned object is frozen and safe to share.
 */
import { ConfigError } from '../errors.js';
import { MAX_FRAME_BYTES, SEND_HEADER_BYTES } from '../wire/constants.js';

/** Heartbeat cadence: the relay PINGs every admitted client this often. 30 s
 *  keeps NAT mappings and idle middleboxes open (most time out after 60 s+). */
export const DEFAULT_HEARTBEAT_MS = 30_000;
/** A client silent this long is dead: three heartbeats, so two lost PONGs are tolerated. */
export const DEFAULT_IDLE_TIMEOUT_MS = 90_000;
/** HELLO … AUTH must finish within this time; a slow ML-DSA-87 sign takes milliseconds, 10 s is generous. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** One relay serves thousands of members (docs/architecture.md "Limits and scale"). */
export const DEFAULT_MAX_CLIENTS = 10_000;
/** Unauthenticated connections cost a certificate check each; cap them so a
 *  connection flood cannot starve admitted members. */
export const DEFAULT_MAX_PENDING = 1_000;
/** Connections one source (an IPv4 address or an IPv6 /64) may hold between TCP accept and
 *  admission: without it one host fills maxPending and the kernel-level cap, and no member
 *  can get back in. 32 covers a NAT gateway whose members all reconnect at once after a
 *  relay restart (a refused one retries with backoff), and is ~3% of maxPending, so many
 *  addresses are needed to lock everyone out. */
export const DEFAULT_MAX_PENDING_PER_ADDRESS = 32;
/** Verified member certificates remembered so a returning member (or one certificate replayed
 *  in HELLO after HELLO) costs a SHA-256 instead of a hybrid CA signature check; only
 *  certificates the CA signed get in, so the set is bounded by the network's real members.
 *  4,096 distinct certificates of ~7 KiB are ~30 MiB at most; 0 turns the cache off. */
export const DEFAULT_CERT_CACHE_ENTRIES = 4_096;
/** Bytes a client may have queued towards it (ws.bufferedAmount) before frames
 *  for it are dropped: 4 MiB is ~64 full 64 KiB segments, enough to ride out a
 *  short stall without letting one slow reader hold unbounded memory. */
export const DEFAULT_SEND_QUEUE_BYTES = 4 * 1024 * 1024;
/** Sustained frames per second one client may send: well above a saturated
 *  gigabit link of 64 KiB segments (~2,000/s), far below what costs the relay. */
export const DEFAULT_RATE_FRAMES_PER_SEC = 20_000;
/** Burst of frames: half a second at the sustained rate. */
export const DEFAULT_RATE_FRAME_BURST = 10_000;
/** Sustained bytes per second one client may send: 128 MiB/s (~1 Gbit/s). */
export const DEFAULT_RATE_BYTES_PER_SEC = 128 * 1024 * 1024;
/** Burst of bytes: half a second at the sustained rate. */
export const DEFAULT_RATE_BYTE_BURST = 64 * 1024 * 1024;
/** Malformed or unexpected frames tolerated from an admitted client before it is
 *  disconnected: a few are a buggy peer, a stream of them is an attack. */
export const DEFAULT_MAX_BAD_FRAMES = 100;
/** After sending CLOSE/ERROR, wait this long for the WebSocket close handshake before cutting the TCP connection. */
export const DEFAULT_CLOSE_GRACE_MS = 1_000;
/** Upper bound on the steady sweep period (heartbeats, idle checks): at the defaults the period is a quarter of
 *  the 30 s heartbeat, 7.5 s; the bound keeps a long heartbeat from leaving presence held back by a full queue
 *  (normally resumed by write completions) for longer. */
export const MAX_SWEEP_INTERVAL_MS = 10_000;
/** Lower bound on the sweep period so tiny test timeouts cannot turn it into a busy loop. */
export const MIN_SWEEP_INTERVAL_MS = 20;

export interface RelayOptions {
  /** Address to listen on (IPv4, IPv6 or a host name). */
  host: string;
  /** TCP port; 0 picks a free one (read it back from RelayServer.address). */
  port: number;
  maxClients: number;
  maxPending: number;
  /** Connections one source (IPv4 address or IPv6 /64) may hold between TCP accept and admission (≤ maxPending). */
  maxPendingPerAddress: number;
  /** Verified member certificates kept so a repeated HELLO skips the CA signature check; 0: none. */
  certCacheEntries: number;
  /** Largest frame accepted and announced in ESTABLISHED (≤ MAX_FRAME_BYTES). */
  maxFrameBytes: number;
  heartbeatMs: number;
  idleTimeoutMs: number;
  handshakeTimeoutMs: number;
  sendQueueBytes: number;
  rateFramesPerSec: number;
  rateFrameBurst: number;
  rateBytesPerSec: number;
  rateByteBurst: number;
  maxBadFrames: number;
  closeGraceMs: number;
  /** Answer STUN Binding requests on UDP (docs/protocol.md §5), so nodes learn their reflexive address. */
  stun: boolean;
  /** Where STUN listens; null: the same host and port number as the WSS listener (UDP 8443 next to TCP 8443). */
  stunListen: { host: string; port: number } | null;
}

export const RELAY_DEFAULTS: Readonly<RelayOptions> = Object.freeze({
  host: '0.0.0.0',
  port: 8443,
  maxClients: DEFAULT_MAX_CLIENTS,
  maxPending: DEFAULT_MAX_PENDING,
  maxPendingPerAddress: DEFAULT_MAX_PENDING_PER_ADDRESS,
  certCacheEntries: DEFAULT_CERT_CACHE_ENTRIES,
  maxFrameBytes: MAX_FRAME_BYTES,
  heartbeatMs: DEFAULT_HEARTBEAT_MS,
  idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS,
  handshakeTimeoutMs: DEFAULT_HANDSHAKE_TIMEOUT_MS,
  sendQueueBytes: DEFAULT_SEND_QUEUE_BYTES,
  rateFramesPerSec: DEFAULT_RATE_FRAMES_PER_SEC,
  rateFrameBurst: DEFAULT_RATE_FRAME_BURST,
  rateBytesPerSec: DEFAULT_RATE_BYTES_PER_SEC,
  rateByteBurst: DEFAULT_RATE_BYTE_BURST,
  maxBadFrames: DEFAULT_MAX_BAD_FRAMES,
  closeGraceMs: DEFAULT_CLOSE_GRACE_MS,
  stun: true,
  stunListen: null,
});

/** Protocol §1: the smallest useful frame is a SEND with a 1-byte payload. */
const MIN_FRAME_BYTES = SEND_HEADER_BYTES + 1;
/** Fields that are durations carried as u32 in ESTABLISHED. */
const U32_MAX = 0xffff_ffff;

function bad(name: string, value: unknown, expected: string): ConfigError {
  return new ConfigError('SM_ERR_CONFIG_VALUE', `relay option ${name}: expected ${expected}, got ${JSON.stringify(value) ?? String(value)}`);
}

function checkInt(name: string, value: unknown, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw bad(name, value, `an integer in [${min}, ${max}]`);
  }
}

/** Merge `given` over RELAY_DEFAULTS, validate every field, freeze. */
export function resolveRelayOptions(given: Partial<RelayOptions> = {}): Readonly<RelayOptions> {
  for (const key of Object.keys(given)) {
    if (!Object.prototype.hasOwnProperty.call(RELAY_DEFAULTS, key)) {
      throw new ConfigError('SM_ERR_CONFIG_UNKNOWN_OPTION', `relay option ${key}: unknown option (value ${JSON.stringify((given as Record<string, unknown>)[key]) ?? 'undefined'})`);
    }
  }
  const defined = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as Partial<RelayOptions>;
  const o: RelayOptions = { ...RELAY_DEFAULTS, ...defined };
  if (typeof o.host !== 'string' || o.host.length === 0) throw bad('host', o.host, 'a non-empty host');
  checkInt('port', o.port, 0, 65_535);
  checkInt('maxClients', o.maxClients, 1, 1_000_000);
  checkInt('maxPending', o.maxPending, 1, 1_000_000);
  // Unset, the share follows a small maxPending down; set, it may not exceed the whole.
  if (defined.maxPendingPerAddress === undefined) o.maxPendingPerAddress = Math.min(DEFAULT_MAX_PENDING_PER_ADDRESS, o.maxPending);
  checkInt('maxPendingPerAddress', o.maxPendingPerAddress, 1, o.maxPending);
  checkInt('certCacheEntries', o.certCacheEntries, 0, 1_000_000);
  checkInt('maxFrameBytes', o.maxFrameBytes, MIN_FRAME_BYTES, MAX_FRAME_BYTES);
  checkInt('heartbeatMs', o.heartbeatMs, 1, U32_MAX);
  checkInt('idleTimeoutMs', o.idleTimeoutMs, 1, U32_MAX);
  if (o.idleTimeoutMs <= o.heartbeatMs) throw bad('idleTimeoutMs', o.idleTimeoutMs, `more than heartbeatMs (${o.heartbeatMs}), or every client would time out between two PINGs`);
  checkInt('handshakeTimeoutMs', o.handshakeTimeoutMs, 1, U32_MAX);
  checkInt('sendQueueBytes', o.sendQueueBytes, o.maxFrameBytes, Number.MAX_SAFE_INTEGER);
  checkInt('rateFramesPerSec', o.rateFramesPerSec, 1, Number.MAX_SAFE_INTEGER);
  checkInt('rateFrameBurst', o.rateFrameBurst, 1, Number.MAX_SAFE_INTEGER);
  checkInt('rateBytesPerSec', o.rateBytesPerSec, 1, Number.MAX_SAFE_INTEGER);
  // A burst below one full frame would make a legal maximum-size frame impossible to send.
  checkInt('rateByteBurst', o.rateByteBurst, o.maxFrameBytes, Number.MAX_SAFE_INTEGER);
  checkInt('maxBadFrames', o.maxBadFrames, 0, Number.MAX_SAFE_INTEGER);
  checkInt('closeGraceMs', o.closeGraceMs, 0, 60_000);
  if (typeof o.stun !== 'boolean') throw bad('stun', o.stun, 'true or false');
  if (o.stunListen !== null) {
    const l: unknown = o.stunListen;
    if (typeof l !== 'object' || l === null || Object.keys(l).some((k) => k !== 'host' && k !== 'port')) throw bad('stunListen', l, 'null or { host, port }');
    const { host, port } = l as { host: unknown; port: unknown };
    if (typeof host !== 'string' || host.length === 0) throw bad('stunListen.host', host, 'a non-empty host');
    checkInt('stunListen.port', port, 0, 65_535);
    o.stunListen = Object.freeze({ host, port: port as number });
  }
  return Object.freeze(o);
}

/**
 * The steady sweep period: a quarter of the finer of the two timers every admitted connection has (heartbeat,
 * idle timeout), so a PING goes out at most 25 % late and an idle member is cut at most 25 % late; bounded both
 * ways. Deadlines a connection holds for a while only (handshake, close grace, its certificate's expiry) are not
 * polled at this period: the server sweeps at each of them (relay-server.ts `#sweepBy`).
 */
export function sweepIntervalMs(o: Readonly<RelayOptions>): number {
  const finest = Math.min(o.heartbeatMs, o.idleTimeoutMs) / 4;
  return Math.max(MIN_SWEEP_INTERVAL_MS, Math.min(MAX_SWEEP_INTERVAL_MS, Math.floor(finest)));
}
