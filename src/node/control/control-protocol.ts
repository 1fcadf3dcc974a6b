/**
 * The local control API's contract (docs/architecture.md
 * "Control API and CLI"): the socket's default place, the
 * message framing, the methods and their result shapes, and the error codes.
 * Shared by control-server.ts (in the daemon) and control-client.ts (in the
 * CLI); the CLI sees only this file's types, never the daemon's objects.
 *
 * Framing: newline-delimited JSON, one object per line, UTF-8.
 *
 *     request   {"id": 7, "method": "status" | "peers" | "ping" | "whois" | "shutdown" | "users" | "chat_…", "params": {...}}
 *     progress  {"id": 7, "progress": {...}}        zero or more, before the answer (ping replies, chat events)
 *     answer    {"id": 7, "result": {...}}   or   {"id": 7, "error": {"code": "SM_ERR_...", "message": "..."}}
 *
 * `id` is a non-negative safe integer chosen by the client and echoed back;
 * a line that is not a request gets an answer with `"id": null`. A request
 * line longer than MAX_CONTROL_REQUEST_BYTES is answered with
 * SM_ERR_CONTROL_TOO_LARGE and the connection is closed (the rest of the line
 * cannot be resynchronised cheaply).
 *
 * `whois` ({target}: a mesh address, a member name or a 64-hex peer id)
 * answers the member (or this node) with its groups, certificate expiry,
 * online state and path; an address no one holds is
 * SM_ERR_CONTROL_UNKNOWN_ADDRESS, anything else unmatched
 * SM_ERR_CONTROL_UNKNOWN_NAME.
 *
 * The same methods are served as HTTP/1.1 on the same socket
 * (control-http.ts), for tools other than the CLI.
 *
 * `shutdown` (no params) answers `{ name, peerId, pid }` and then stops the
 * daemon cleanly, as SIGTERM does; whoever may open the socket (its mode,
 * control-server.ts) may stop the daemon, as they may signal it.
 *
 * Chat (docs/architecture.md "Chat", src/messaging/): `users` lists the members
 * online at the relay (each certificate verified by the daemon against the
 * CA); `chat_request`, `chat_respond`, `chat_send`, `chat_terminate` and
 * `chat_list` drive conversations; `chat_events` with `follow: true` is a
 * subscription: the daemon streams one progress message per chat event
 * (request, accepted, declined, message, ack, terminated) until the client
 * hangs up, and never answers. A subscriber that stops reading is cut off
 * once MAX_CONTROL_PENDING_BYTES wait for it (SM_ERR_CONTROL_SLOW_CONSUMER).
 *
 * `forward` ({host, port, target, targetPort}) opens a local listener whose
 * connections run as streams to target:targetPort (docs/architecture.md
 * "Streams"); it sends one progress message with the bound address and,
 * like a chat subscription, never answers: the listener closes when the
 * client hangs up.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { SmError } from '../../errors.js';
import type { CertExpiry } from '../../identity/cert-expiry.js';
import type { ChatEvent, ConversationInfo } from '../../messaging/chat-service.js';
import { ControlCode } from './control-errors.js';

export type { ChatEvent, ConversationInfo };

/** Requests are a method name and a few small params; 16 KiB is generous and bounds what one client can make us buffer. */
export const MAX_CONTROL_REQUEST_BYTES = 16 * 1024;
/** Answers can list thousands of peers; the client refuses a line beyond this (a daemon bug, not a reason to eat memory). */
export const MAX_CONTROL_RESPONSE_BYTES = 64 * 1024 * 1024;
/** Unix socket paths are limited by sockaddr_un.sun_path (108 bytes on Linux, with the terminating NUL). */
export const MAX_SOCKET_PATH_BYTES = 107;
/** The socket file's name in the ShadowMesh home directory. */
export const CONTROL_SOCKET_FILE = 'control.sock';
/** The ShadowMesh home: the same variable as the identity directory (src/cli/keygen.ts). */
export const CONTROL_HOME_ENV = 'SHADOWMESH_HOME';

/** Pings per request: enough for a minute of once-a-second probing or a quick burst, bounded so one request cannot run for hours. */
export const MAX_PING_COUNT = 1_000;
/** Fastest interval a ping request may ask for: 10 ms keeps a burst from turning into a flood. */
export const MIN_PING_INTERVAL_MS = 10;
/** Slowest interval: a minute. */
export const MAX_PING_INTERVAL_MS = 60_000;
/** Default ping cadence, as ping(8). */
export const DEFAULT_PING_INTERVAL_MS = 1_000;
/** Default number of pings when the CLI is not told. */
export const DEFAULT_PING_COUNT = 4;
/** Longest peer selector (hex id, name, or address). */
export const MAX_PEER_SELECTOR_CHARS = 128;
/** Bytes of progress lines a subscriber may leave unread before it is cut off: thousands of chat events, bounded. */
export const MAX_CONTROL_PENDING_BYTES = 4 * 1024 * 1024;
/** Longest a chat request may wait for an answer, or a send for its ack (the message itself keeps being retried). */
export const MAX_CHAT_WAIT_MS = 600_000;
/** Default wait of chat_request / chat_send with `wait`: a person answering a request needs a while; an ack through a relay needs milliseconds. */
export const DEFAULT_CHAT_WAIT_MS = 60_000;


export class ControlError extends SmError {
  override name = 'ControlError';
}

export type ControlMethod =
  | 'status' | 'peers' | 'ping' | 'whois' | 'shutdown' | 'web' | 'netcheck' | 'forward' | 'users'
  | 'chat_request' | 'chat_respond' | 'chat_send' | 'chat_terminate' | 'chat_list' | 'chat_events';
export const CONTROL_METHODS: readonly ControlMethod[] = Object.freeze([
  'status', 'peers', 'ping', 'whois', 'shutdown', 'web', 'netcheck', 'forward', 'users', 'chat_request', 'chat_respond', 'chat_send', 'chat_terminate', 'chat_list', 'chat_events',
] as ControlMethod[]);

export interface ControlRequest {
  id: number;
  method: ControlMethod;
  params: Record<string, unknown>;
}

export interface ControlErrorBody {
  code: string;
  message: string;
}

/** One line from the daemon. */
export type ControlMessage =
  | { id: number | null; result: unknown }
  | { id: number | null; error: ControlErrorBody }
  | { id: number; progress: unknown };

// ------------------------------------------------------------------ results

export type PathKind = 'relay' | 'direct';

/** One relay as status and peers show it. */
export interface RelayStatus {
  url: string;
  /** current: in use; up: its last probe answered; down: backing off after a failure; unreachable: its last probe failed; unknown: not probed yet. */
  state: 'current' | 'up' | 'down' | 'unreachable' | 'unknown';
  /** Smoothed TLS-handshake RTT of the light probes; null before one answered (and with a single relay, never probed). */
  rttMs: number | null;
  /** Connection failures in a row. */
  failures: number;
  lastError: string | null;
}

export interface StatusResult {
  peerId: string;
  name: string;
  addresses: string[];
  device: { kind: 'tap' | 'tun'; name: string; mtu: number } | null;
  relay: {
    url: string;
    connected: boolean;
    observedAddress: string | null;
    observedPort: number | null;
    connects: number;
    reconnects: number;
    /** Admissions at another relay than the previous one (docs/architecture.md "Several relays"). */
    switches: number;
    /** Every relay this node knows, in configuration order, with its state and probed RTT. */
    relays: RelayStatus[];
  };
  /** UDP direct paths: our socket's port, the NAT mapping STUN showed, our reflexive addresses; null without UDP. */
  udp: { port: number; nat: 'none' | 'endpoint-independent' | 'endpoint-dependent' | 'unknown'; reflexive: string[] } | null;
  uptimeMs: number;
  /** Members we hold a session (or a handshake) with. */
  peers: number;
  /** Node-wide drops by reason, prefixed by the component that counted them (link., peers., ping., paths., certs., udp., chat., dataplane., streams.; policy.<rule> for packets the network policy dropped). */
  drops: Record<string, number>;
  /** Our member certificate ('member') and the CA's ('ca'): notAfter, time left, and 'expiring' within 30 days (src/identity/cert-expiry.ts). */
  certificates: Record<string, CertExpiry>;
  /** Version of the signed network policy in force (docs/architecture.md "Network policy"); null: no policy, everything allowed. */
  policyVersion?: number | null;
  /** Signed policies the relay sent that were refused (older, tampered, another CA, malformed), by SM_ERR_POLICY_* code. */
  policyRefused?: Record<string, number>;
  /**
   * Subnet routes (docs/architecture.md "Subnet routes"): the routes this node serves (--advertise-routes), the kernel
   * routes installed for members' certified routes (--accept-routes) and how many of those failed to install; absent: neither option.
   */
  routes?: { advertised: string[]; accepting: boolean; snat: boolean; accepted: Array<{ route: string; peer: string; name: string }>; installFailures: number };
  /**
   * Exit nodes (docs/architecture.md "Exit nodes"): the member chosen (`use`, as given) and where it stands (active: listed with the
   * exit mark; not_exit: listed without it; offline: not listed; none: no exit node), the table route per family (tunnel, unreachable,
   * direct), whether we serve as one; absent: neither --exit-node nor --advertise-exit-node. Without a device (`streamsOnly`)
   * only the proxy's streams use it: no table routes (null), no fallback (streams are refused while it is not active).
   */
  exitNode?: { use: string | null; state: 'active' | 'not_exit' | 'offline' | 'none'; peer: string | null; name: string | null; allowLan: boolean; fallback: boolean; advertising: boolean; route4: string | null; route6: string | null; updateFailures: number; streamsOnly?: boolean };
}

export interface PeerStatus {
  peerId: string;
  name: string | null;
  addresses: string[];
  /** Subnet routes its certificate carries (docs/architecture.md "Subnet routes"); absent or empty: none. */
  routes?: string[];
  /** Announced by the relay as connected (true when a session is established and no directory says otherwise). */
  online: boolean;
  /** The path our frames to this peer take now (docs/architecture.md "Path choice"). */
  path: PathKind;
  /** 'relay', 'wss' or 'udp': what carries the path. */
  carrier: 'relay' | 'wss' | 'udp';
  /** 'relay', or IP:PORT of the direct path's other end. */
  remote: string;
  /** Last probe round trip on the direct path; null on the relay. */
  rttMs: number | null;
  migrations: { to_direct: number; to_relay: number };
  /** Times a dead direct path sent traffic back to the relay. */
  fallbacks: number;
  /** The last relay -> direct switch: from the direct path being usable to the first frame sent on it; null before any. */
  migrationMs: number | null;
  /** True while frames go over both direct and relay (the direct path's trust window lapsed). */
  mirroring: boolean;
  /** Every live direct path to this peer, selected or not (e.g. a UDP and a WSS path both up): what traffic could move to. */
  directs: Array<{ carrier: 'relay' | 'wss' | 'udp'; remote: string; rttMs: number | null; selected: boolean }>;
  session: {
    established: boolean;
    /** Since the first handshake of the current session; null without one. */
    ageMs: number | null;
    lastHandshakeAgoMs: number | null;
  };
  stats: { framesIn: number; framesOut: number; bytesIn: number; bytesOut: number };
  /** Drops by reason for this peer's session. */
  drops: Record<string, number>;
}

export interface PeersResult {
  peers: PeerStatus[];
  /** The relay in use (null while none admits us) and every known relay. */
  relay?: { url: string | null; relays: RelayStatus[] };
}

export interface PingParams {
  /** A 64-hex peer id, a member name, or a mesh address. */
  peer: string;
  count: number;
  intervalMs: number;
}

export interface PingReply {
  seq: number;
  rttMs: number;
  path: PathKind;
}

/** A progress message of a ping request: one per ping, answered or not. */
export type PingProgress = PingReply | { seq: number; error: ControlErrorBody };

export interface PingResult {
  peer: { peerId: string; name: string | null; addresses: string[] };
  replies: PingReply[];
  /** Sequence numbers that got no reply, with why. */
  lost: Array<{ seq: number; error: ControlErrorBody }>;
  summary: { sent: number; received: number; lossPercent: number; minMs: number | null; avgMs: number | null; maxMs: number | null };
}

// ------------------------------------------------------------------ chat

/** A member online at the relay, as the daemon verified it. */
export interface UserInfo {
  peerId: string;
  name: string;
  addresses: string[];
  /** Groups of its CA-verified certificate. */
  groups: string[];
  /** When the relay saw the member come online (relay clock, Unix ms). */
  onlineSinceMs: number;
  /** SHA-256 of the member's hybrid identity public key (from its CA-verified certificate), hex. */
  publicKeySha256: string;
  /** The identity public key itself, base64; only with `keys: true`. */
  publicKey?: string;
}

export interface UsersResult {
  self: { peerId: string; name: string };
  users: UserInfo[];
}

export interface UsersParams {
  /** Include each member's full public key. */
  keys: boolean;
}

export interface ChatRequestParams {
  peer: string;
  /** Wait for accept / decline (answer: the conversation, or SM_ERR_CHAT_DECLINED). */
  wait: boolean;
  timeoutMs: number;
}

export interface ChatRespondParams {
  conversationId: string;
  accept: boolean;
  reason: string;
}

export interface ChatSendParams {
  /** One of peer (opens or reuses the conversation with that member) and conversationId. */
  peer?: string;
  conversationId?: string;
  text: string;
  /** Wait for the end-to-end ack (and, for a new conversation, the accept). */
  wait: boolean;
  timeoutMs: number;
}

export interface ChatSendResult {
  conversationId: string;
  seq: number;
  /** True when the ack arrived (only waited for with `wait`). */
  delivered: boolean;
  conversation: ConversationInfo;
}

export interface ChatTerminateParams {
  /** One of peer (its open conversation) and conversationId. */
  peer?: string;
  conversationId?: string;
  reason: string;
}

export interface ChatEventsParams {
  /** false: answer with the stored events (and drain them); true: stream them, then every new one. */
  follow: boolean;
}

export interface ChatEventsResult {
  events: ChatEvent[];
}

/** The answer to `shutdown`, sent before the daemon starts stopping: who stops, and its process (a caller may wait for it). */
export interface ShutdownResult {
  name: string;
  peerId: string;
  pid: number;
}

/**
 * The answer to `web`: where the web console listens (docs/architecture.md
 * "Web console"). `link` carries this daemon start's token and opens a
 * browser session; it is for the caller's eyes, never for a log.
 */
export interface WebResult {
  /** http://HOST:PORT/ without the token. */
  url: string;
  /** http://HOST:PORT/?token=TOKEN: the console's login link. */
  link: string;
}

/** `netcheck` params: `fresh` asks for a new measurement rather than a recent one (src/node/path/netcheck-runner.ts bounds how often). */
export interface NetcheckParams {
  fresh?: boolean;
}

export function parseNetcheckParams(params: Record<string, unknown>): NetcheckParams {
  const bad = chatParams('netcheck', params, ['fresh']);
  const fresh = params['fresh'];
  if (fresh !== undefined && typeof fresh !== 'boolean') throw bad('fresh: expected true or false');
  return fresh === undefined ? {} : { fresh };
}

/** `forward` params (`shadowmesh forward`, docs/architecture.md "Streams"): listen on host:port (port 0: any free one)
 *  and carry each connection as a stream to target:targetPort (a member name or mesh address). */
export interface ForwardParams {
  host: string;
  port: number;
  target: string;
  targetPort: number;
}

/** The one progress message of `forward`: the address it listens on. The method never answers; it runs until the client hangs up. */
export interface ForwardProgress {
  listening: { host: string; port: number };
}

export function parseForwardParams(params: Record<string, unknown>): ForwardParams {
  const bad = chatParams('forward', params, ['host', 'port', 'target', 'targetPort']);
  const host = params['host'] ?? '127.0.0.1';
  if (typeof host !== 'string' || host.length === 0 || host.length > 64) throw bad('host: expected a listen address');
  const port = params['port'];
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) throw bad(`port: expected an integer in [0, 65535], got ${JSON.stringify(port)}`);
  const target = params['target'];
  if (typeof target !== 'string' || target.trim().length === 0 || target.length > MAX_PEER_SELECTOR_CHARS) throw bad(`target: expected a member name or mesh address (1..${MAX_PEER_SELECTOR_CHARS} characters)`);
  const targetPort = params['targetPort'];
  if (typeof targetPort !== 'number' || !Number.isInteger(targetPort) || targetPort < 1 || targetPort > 65535) throw bad(`targetPort: expected an integer in [1, 65535], got ${JSON.stringify(targetPort)}`);
  return { host, port, target: target.trim(), targetPort };
}

/** `whois` params: a mesh address (with or without /prefix), a member name, or a 64-hex peer id. */
export interface WhoisParams {
  target: string;
}

/** A member (or this node) as `whois` describes it. */
export interface WhoisResult {
  /** True when the target is this node itself. */
  self: boolean;
  name: string;
  peerId: string;
  /** Mesh addresses as CIDRs, as in the certificate. */
  addresses: string[];
  groups: string[];
  /** Subnet routes its certificate carries; absent or empty: none. */
  routes?: string[];
  /** The member certificate's end of validity (ISO 8601) and Unix ms. */
  certExpires: string;
  certExpiresMs: number;
  /** Listed by the relay as online (this node: true). */
  online: boolean;
  /** The path our frames to it take now; null for this node itself. */
  path: PathKind | null;
  /** What carries the path ('relay', 'wss', 'udp'); null for this node itself. */
  carrier: PeerStatus['carrier'] | null;
  /** 'relay', or IP:PORT of the direct path's other end; null for this node itself. */
  remote: string | null;
}

export function parseWhoisParams(params: Record<string, unknown>): WhoisParams {
  const bad = chatParams('whois', params, ['target']);
  const target = optString(params, 'target', bad, MAX_PEER_SELECTOR_CHARS);
  if (target === undefined || target.trim().length === 0) throw bad('target: expected a mesh address, a member name or a peer id');
  return { target: target.trim() };
}

export interface ChatListResult {
  conversations: ConversationInfo[];
}

function chatParams(method: string, params: Record<string, unknown>, allowed: readonly string[]): (what: string) => ControlError {
  const bad = (what: string): ControlError => new ControlError(ControlCode.PARAMS, `${method}: ${what}`);
  for (const key of Object.keys(params)) if (!allowed.includes(key)) throw bad(`unknown parameter ${JSON.stringify(key)}`);
  return bad;
}

function optString(params: Record<string, unknown>, key: string, bad: (w: string) => ControlError, max: number, def?: string): string | undefined {
  const v = params[key];
  if (v === undefined) return def;
  if (typeof v !== 'string' || v.length > max) throw bad(`${key}: expected a string of at most ${max} characters`);
  return v;
}

function optBool(params: Record<string, unknown>, key: string, bad: (w: string) => ControlError, def: boolean): boolean {
  const v = params[key] ?? def;
  if (typeof v !== 'boolean') throw bad(`${key}: expected true or false`);
  return v;
}

function waitMs(params: Record<string, unknown>, bad: (w: string) => ControlError): number {
  const v = params['timeoutMs'] ?? DEFAULT_CHAT_WAIT_MS;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_CHAT_WAIT_MS) throw bad(`timeoutMs: expected an integer in [1, ${MAX_CHAT_WAIT_MS}]`);
  return v;
}

function peerOrConversation(params: Record<string, unknown>, bad: (w: string) => ControlError): { peer?: string; conversationId?: string } {
  const peer = optString(params, 'peer', bad, MAX_PEER_SELECTOR_CHARS);
  const conversationId = optString(params, 'conversationId', bad, 32);
  if ((peer === undefined) === (conversationId === undefined)) throw bad('give exactly one of peer and conversationId');
  if (conversationId !== undefined && !/^[0-9a-f]{32}$/i.test(conversationId)) throw bad('conversationId: expected 32 hex digits');
  if (peer !== undefined && peer.trim().length === 0) throw bad('peer: expected a peer id, member name or mesh address');
  return { ...(peer !== undefined ? { peer: peer.trim() } : {}), ...(conversationId !== undefined ? { conversationId: conversationId.toLowerCase() } : {}) };
}

export function parseUsersParams(params: Record<string, unknown>): UsersParams {
  const bad = chatParams('users', params, ['keys']);
  return { keys: optBool(params, 'keys', bad, false) };
}

export function parseChatRequestParams(params: Record<string, unknown>): ChatRequestParams {
  const bad = chatParams('chat_request', params, ['peer', 'wait', 'timeoutMs']);
  const peer = optString(params, 'peer', bad, MAX_PEER_SELECTOR_CHARS);
  if (peer === undefined || peer.trim().length === 0) throw bad('peer: expected a peer id, member name or mesh address');
  return { peer: peer.trim(), wait: optBool(params, 'wait', bad, false), timeoutMs: waitMs(params, bad) };
}

export function parseChatRespondParams(params: Record<string, unknown>): ChatRespondParams {
  const bad = chatParams('chat_respond', params, ['conversationId', 'accept', 'reason']);
  const conversationId = optString(params, 'conversationId', bad, 32);
  if (conversationId === undefined || !/^[0-9a-f]{32}$/i.test(conversationId)) throw bad('conversationId: expected 32 hex digits');
  if (typeof params['accept'] !== 'boolean') throw bad('accept: expected true or false');
  return { conversationId: conversationId.toLowerCase(), accept: params['accept'], reason: optString(params, 'reason', bad, 512, '')! };
}

/** `text` is checked against the chat size limit by the daemon (SM_ERR_CHAT_TOO_LARGE names it); here only its type. */
export function parseChatSendParams(params: Record<string, unknown>): ChatSendParams {
  const bad = chatParams('chat_send', params, ['peer', 'conversationId', 'text', 'wait', 'timeoutMs']);
  const text = params['text'];
  if (typeof text !== 'string') throw bad('text: expected a string');
  return { ...peerOrConversation(params, bad), text, wait: optBool(params, 'wait', bad, false), timeoutMs: waitMs(params, bad) };
}

export function parseChatTerminateParams(params: Record<string, unknown>): ChatTerminateParams {
  const bad = chatParams('chat_terminate', params, ['peer', 'conversationId', 'reason']);
  return { ...peerOrConversation(params, bad), reason: optString(params, 'reason', bad, 512, 'terminated by the peer')! };
}

export function parseChatEventsParams(params: Record<string, unknown>): ChatEventsParams {
  const bad = chatParams('chat_events', params, ['follow']);
  return { follow: optBool(params, 'follow', bad, false) };
}

// ------------------------------------------------------------------ helpers

/** $SHADOWMESH_HOME/control.sock, else ~/.shadowmesh/control.sock. */
export function defaultControlPath(env: NodeJS.ProcessEnv = process.env): string {
  const home = env[CONTROL_HOME_ENV];
  return join(home !== undefined && home.length > 0 ? home : join(homedir(), '.shadowmesh'), CONTROL_SOCKET_FILE);
}

/** Throws ControlError PATH when a unix socket cannot live at `path`. */
export function checkSocketPath(path: string): void {
  if (typeof path !== 'string' || path.length === 0) throw new ControlError(ControlCode.PATH, 'control socket path: expected a non-empty path');
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new ControlError(ControlCode.PATH, `control socket path ${path} is ${bytes} bytes; unix sockets allow at most ${MAX_SOCKET_PATH_BYTES}: choose a shorter --control`);
  }
}

/** Validates ping params (from any client) into their canonical form; ControlError PARAMS otherwise. */
export function parsePingParams(params: Record<string, unknown>): PingParams {
  const bad = (what: string): ControlError => new ControlError(ControlCode.PARAMS, `ping: ${what}`);
  for (const key of Object.keys(params)) if (!['peer', 'count', 'intervalMs'].includes(key)) throw bad(`unknown parameter ${JSON.stringify(key)}`);
  const peer = params['peer'];
  if (typeof peer !== 'string' || peer.trim().length === 0 || peer.length > MAX_PEER_SELECTOR_CHARS) {
    throw bad(`peer: expected a peer id, member name or mesh address (1..${MAX_PEER_SELECTOR_CHARS} characters)`);
  }
  const count = params['count'] ?? DEFAULT_PING_COUNT;
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > MAX_PING_COUNT) {
    throw bad(`count: expected an integer in [1, ${MAX_PING_COUNT}], got ${JSON.stringify(count)}`);
  }
  const intervalMs = params['intervalMs'] ?? DEFAULT_PING_INTERVAL_MS;
  if (typeof intervalMs !== 'number' || !Number.isInteger(intervalMs) || intervalMs < MIN_PING_INTERVAL_MS || intervalMs > MAX_PING_INTERVAL_MS) {
    throw bad(`intervalMs: expected an integer in [${MIN_PING_INTERVAL_MS}, ${MAX_PING_INTERVAL_MS}], got ${JSON.stringify(intervalMs)}`);
  }
  return { peer: peer.trim(), count, intervalMs };
}

/** An error as it crosses the socket: SmErrors keep their code; anything else is INTERNAL with its message. */
export function errorBody(err: unknown): ControlErrorBody {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === 'string' && code.startsWith('SM_ERR_')) return { code, message };
  return { code: ControlCode.INTERNAL, message: `internal error: ${message}` };
}
