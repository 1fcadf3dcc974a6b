/**
 * Every configuration key of the relay and the node, in one table
 * (docs/configuration.md documents each; a test checks that it does).
 *
 * A key has one dotted path in the YAML file (`node.p2p.retryInterval`), at
 * most one command-line flag (`--startup-timeout`, meaningful only on the
 * command of its section: `up` for node.*, `relay` for relay.*; `--relay`
 * alone feeds two keys, node.relay and node.relays, split by
 * relay-flags.ts), at most one
 * SHADOWMESH_* environment variable (the same variable may feed node.ca and
 * relay.ca: they mean the same file), and a default in file form (durations
 * as text, so `config show` prints what a user would write). Defaults come
 * from the components' own default constants, never restated here.
 *
 * The JSON schema (config-schema.ts) is built from this table, and so are
 * the flag and environment layers (resolve-config.ts).
 */
import { join } from 'node:path';
import { DEFAULT_DEVICE_MTU, MAX_DEVICE_MTU, MIN_DEVICE_MTU } from '../node/device/open-device.js';
import { DEFAULT_STARTUP_TIMEOUT_MS } from '../node/daemon.js';
import { DEFAULT_DIRECT_MAX_HANDSHAKES, DEFAULT_DIRECT_MAX_HANDSHAKES_PER_ADDRESS } from '../node/path/direct-transport.js';
import { DEFAULT_DIRECT_CONNECT_TIMEOUT_MS, DEFAULT_DIRECT_TLS_HANDSHAKE_TIMEOUT_MS, MIN_CERT_LIFETIME_MS } from '../node/path/direct-timers.js';
import { DEFAULT_PATH_TIMERS } from '../node/path/path-timers.js';
import { DEFAULT_PUNCH_TIMEOUT_MS, DEFAULT_STUN_INTERVAL_MS } from '../node/path/udp-timers.js';
import { EPHEMERAL_CERT_LIFETIME_MS } from '../node/path/tls-ephemeral.js';
import { RELAY_DEFAULTS } from '../relay/relay-options.js';
import { CLUSTER_DOWN_AFTER_HEARTBEATS, DEFAULT_CLUSTER_HEARTBEAT_MS } from '../relay/cluster/cluster-options.js';
import { MAX_SELF_SIGNED_LIFETIME_MS, MIN_SELF_SIGNED_LIFETIME_MS, SELF_SIGNED_VALIDITY_MS } from '../relay/tls-identity.js';
import { MAX_FRAME_BYTES } from '../wire/constants.js';
import { DEFAULT_NETWORK_DOMAIN } from '../names/network-domain.js';
import { formatDuration } from '../util/duration.js';

export type Role = 'node' | 'relay';
export const ROLES: readonly Role[] = ['node', 'relay'];

/** How a value is written and checked. */
export type KeyKind =
  | { type: 'string' }
  | { type: 'path' }
  | { type: 'secret' }
  | { type: 'duration'; minMs: number; maxMs: number }
  | { type: 'integer'; min: number; max: number }
  | { type: 'boolean' }
  | { type: 'enum'; values: readonly string[] }
  /** A string checked by a named format of config-schema.ts. */
  | { type: 'format'; format: 'wss-url' | 'pin' | 'listen' | 'ip' | 'relay-list' | 'listen-list' | 'dns-domain' | 'dns-upstreams' };

/** Default values that depend on the effective SHADOWMESH_HOME are computed from it. */
export type KeyDefault = string | number | boolean | ((home: string) => string);

export interface ConfigKey {
  /** Dotted path in the file, e.g. 'node.p2p.retryInterval'. */
  readonly path: string;
  readonly kind: KeyKind;
  /** Long flag of the section's command, e.g. '--relay'; '--no-direct' sets a boolean to false. */
  readonly flag?: string;
  readonly env?: string;
  readonly default?: KeyDefault;
  /** The role that cannot run without it. */
  readonly requiredFor?: Role;
  /** Not required after all when this key is set (node.relays lists every relay with its pins, node.relay and node.pin are then optional). */
  readonly unlessSet?: string;
  /** What the value must look like, for error messages: "expected <expected>". */
  readonly expected: string;
  readonly description: string;
}

/** The home directory variable: not a file key (the file is found inside it). */
export const HOME_ENV = 'SHADOWMESH_HOME';
/** Names the config file when --config is not given. */
export const CONFIG_ENV = 'SHADOWMESH_CONFIG';
/** The file looked for in the home directory when neither --config nor SHADOWMESH_CONFIG names one. */
export const DEFAULT_CONFIG_FILE_NAME = 'config.yaml';
/** One metrics listener per process: node.metrics.listen and relay.metrics.listen share the variable, as --metrics is the flag of both commands. */
export const METRICS_ENV = 'SHADOWMESH_METRICS_LISTEN';

/** Durations above a year are a unit mistake for every key here. */
const MAX_CONFIG_DURATION_MS = 366 * 24 * 3_600_000;
/** The path timers refuse anything above a day (path-timers.ts). */
const MAX_PATH_TIMER_MS = 86_400_000;
/** ESTABLISHED carries the relay's timers as u32 milliseconds. */
const U32_MAX = 0xffff_ffff;

const DURATION_EXPECTED = 'a duration like 30s, 5m, 24h';
const d = (ms: number): string => formatDuration(ms);
const duration = (minMs: number, maxMs: number): KeyKind => ({ type: 'duration', minMs, maxMs });
const integer = (min: number, max: number): KeyKind => ({ type: 'integer', min, max });
const PATH: KeyKind = { type: 'path' };
const T = DEFAULT_PATH_TIMERS;

export const CONFIG_KEYS: readonly ConfigKey[] = Object.freeze([
  // ---- both roles
  { path: 'log.level', kind: { type: 'enum', values: ['debug', 'info', 'warn', 'error', 'silent'] }, env: 'SHADOWMESH_LOG_LEVEL', default: 'info', expected: 'one of debug, info, warn, error, silent', description: 'lowest level written to the log on stderr' },
  { path: 'log.format', kind: { type: 'enum', values: ['auto', 'json', 'pretty'] }, env: 'SHADOWMESH_LOG_FORMAT', default: 'auto', expected: 'auto, json or pretty', description: 'log lines on stderr: auto is one readable line per record when stderr is a terminal and JSON lines otherwise (a file, a pipe, journald); json or pretty force one' },

  // ---- node (`shadowmesh up`)
  { path: 'node.relay', kind: { type: 'format', format: 'wss-url' }, flag: '--relay', env: 'SHADOWMESH_RELAY', requiredFor: 'node', unlessSet: 'node.relays', expected: 'wss://HOST:PORT', description: 'relay to join' },
  { path: 'node.pin', kind: { type: 'format', format: 'pin' }, flag: '--pin', env: 'SHADOWMESH_PIN', requiredFor: 'node', unlessSet: 'node.relays', expected: 'sha256:<64 lowercase hex digits> as the relay prints it, or several separated by commas', description: "the relay's TLS key pin, or a pin set (any one matches: list the new pin before a key rotation)" },
  { path: 'node.relays', kind: { type: 'format', format: 'relay-list' }, flag: '--relay', env: 'SHADOWMESH_RELAYS', expected: 'wss://HOST:PORT#PIN[,PIN...] entries (a YAML list, or separated by spaces)', description: 'relays to choose between and fail over to, each with its pin set, after node.relay if that is set; enough on its own; the node uses the fastest, ties in this order (docs/configuration.md "Several relays")' },
  { path: 'node.ca', kind: PATH, flag: '--ca', env: 'SHADOWMESH_CA', requiredFor: 'node', expected: 'a file path', description: 'network CA certificate' },
  { path: 'node.cert', kind: PATH, flag: '--cert', env: 'SHADOWMESH_CERT', requiredFor: 'node', expected: 'a file path', description: "this node's member certificate, re-read on SIGHUP (a renewal of the same key, name and addresses applies live)" },
  { path: 'node.crl', kind: PATH, flag: '--crl', env: 'SHADOWMESH_CRL', expected: 'a file path', description: 'revocation list of the CA, reloaded on SIGHUP' },
  { path: 'node.policy', kind: PATH, flag: '--policy', env: 'SHADOWMESH_POLICY', expected: 'a file path', description: 'signed network policy of the CA (policy.signed); absent = everything allowed; reloaded on SIGHUP, older versions refused' },
  { path: 'node.dir', kind: PATH, flag: '--dir', default: (home) => home, expected: 'a directory path', description: 'identity directory (identity.key)' },
  { path: 'node.passphraseFile', kind: PATH, flag: '--passphrase-file', env: 'SHADOWMESH_PASSPHRASE_FILE', expected: 'a file path', description: "file whose first line is the identity key's passphrase" },
  { path: 'node.passphrase', kind: { type: 'secret' }, env: 'SHADOWMESH_PASSPHRASE', expected: 'a non-empty string', description: "the identity key's passphrase (redacted by config show)" },
  { path: 'node.dev', kind: { type: 'enum', values: ['tap', 'tun', 'none'] }, flag: '--dev', env: 'SHADOWMESH_DEV', default: 'tun', expected: 'tap, tun or none', description: 'device kind' },
  { path: 'node.name', kind: { type: 'string' }, flag: '--name', env: 'SHADOWMESH_DEV_NAME', expected: 'an interface name', description: 'interface name, %d for the first free number' },
  { path: 'node.mtu', kind: integer(MIN_DEVICE_MTU, MAX_DEVICE_MTU), flag: '--mtu', env: 'SHADOWMESH_MTU', default: DEFAULT_DEVICE_MTU, expected: `a whole number in [${MIN_DEVICE_MTU}, ${MAX_DEVICE_MTU}]`, description: 'device MTU in bytes' },
  { path: 'node.control', kind: PATH, flag: '--control', env: 'SHADOWMESH_CONTROL', default: (home) => join(home, 'control.sock'), expected: 'a socket path', description: 'control socket' },
  { path: 'node.controlGroup', kind: { type: 'string' }, flag: '--control-group', env: 'SHADOWMESH_CONTROL_GROUP', expected: 'a group name or id', description: 'group whose members may use the control socket (mode 0660, e.g. status without sudo); absent: the daemon\'s user only (0600)' },
  { path: 'node.startupTimeout', kind: duration(1, MAX_CONFIG_DURATION_MS), flag: '--startup-timeout', env: 'SHADOWMESH_STARTUP_TIMEOUT', default: d(DEFAULT_STARTUP_TIMEOUT_MS), expected: DURATION_EXPECTED, description: 'give up if the relay has not admitted the node within this time' },
  { path: 'node.routes.accept', kind: { type: 'boolean' }, flag: '--accept-routes', env: 'SHADOWMESH_ACCEPT_ROUTES', default: false, expected: 'true or false', description: "install kernel routes on the TUN device for the subnet routes members' certificates carry, while they are listed, and take return traffic from those subnets (docs/architecture.md \"Subnet routes\"); TUN only" },
  { path: 'node.routes.advertise', kind: { type: 'boolean' }, flag: '--advertise-routes', env: 'SHADOWMESH_ADVERTISE_ROUTES', default: false, expected: 'true or false', description: "serve the subnet routes our certificate carries (ca sign --route): IP forwarding on, and a masquerade rule unless node.routes.snat is false, both undone at stop; TUN only" },
  { path: 'node.routes.snat', kind: { type: 'boolean' }, flag: '--no-snat-routes', env: 'SHADOWMESH_SNAT_ROUTES', default: true, expected: 'true or false', description: 'with node.routes.advertise, masquerade mesh sources towards the served subnets (iptables/ip6tables nat POSTROUTING); false: no NAT, the LAN routes the mesh subnets back via this member' },
  { path: 'node.exitNode.use', kind: { type: 'string' }, flag: '--exit-node', env: 'SHADOWMESH_EXIT_NODE', expected: 'a member name or mesh address', description: "send all traffic through this member (its certificate must carry the exit mark, ca sign --exit): policy routing keeps our relay, UDP and P2P traffic on the underlay; fail closed while it is away (docs/architecture.md \"Exit nodes\"); with dev none, only the streams of the SOCKS5/HTTP proxy and port forwards (docs/architecture.md \"Streams\"); applied on SIGHUP" },
  { path: 'node.exitNode.allowLan', kind: { type: 'boolean' }, flag: '--exit-node-allow-lan', env: 'SHADOWMESH_EXIT_NODE_ALLOW_LAN', default: false, expected: 'true or false', description: 'with node.exitNode.use, every route of the main table but its default route (the directly connected subnets, among others) stays outside the tunnel' },
  { path: 'node.exitNode.fallback', kind: { type: 'boolean' }, flag: '--exit-node-fallback', env: 'SHADOWMESH_EXIT_NODE_FALLBACK', default: false, expected: 'true or false', description: 'with node.exitNode.use, while the exit node is away traffic goes out directly instead of being dropped' },
  { path: 'node.exitNode.advertise', kind: { type: 'boolean' }, flag: '--advertise-exit-node', env: 'SHADOWMESH_ADVERTISE_EXIT_NODE', default: false, expected: 'true or false', description: 'serve as an exit node (our certificate must carry the exit mark): IP forwarding on and a masquerade rule from our mesh subnets to everything, both undone at stop; with dev none, serves the streams of members only (never to our loopback, link-local or mesh addresses unless serveLoopback allows the first two)' },
  { path: 'node.p2p.enabled', kind: { type: 'boolean' }, flag: '--no-direct', env: 'SHADOWMESH_P2P_ENABLED', default: true, expected: 'true or false', description: 'direct paths; false stays on the relay' },
  { path: 'node.p2p.port', kind: integer(0, 65_535), flag: '--p2p-port', env: 'SHADOWMESH_P2P_PORT', default: 0, expected: 'a port number 0..65535', description: 'TCP port of the direct-path listener (0: any free port)' },
  { path: 'node.p2p.listen', kind: { type: 'format', format: 'ip' }, flag: '--p2p-listen', env: 'SHADOWMESH_P2P_LISTEN', default: '::', expected: 'an IP address', description: 'address of the direct-path listener' },
  { path: 'node.p2p.udp', kind: { type: 'boolean' }, flag: '--no-udp', env: 'SHADOWMESH_P2P_UDP', default: true, expected: 'true or false', description: 'UDP direct paths with hole punching (through NAT); false: direct paths over WSS only' },
  { path: 'node.p2p.wss', kind: { type: 'boolean' }, flag: '--no-wss', env: 'SHADOWMESH_P2P_WSS', default: true, expected: 'true or false', description: 'direct paths over TLS 1.3 + WebSocket; false: UDP direct paths only (no TCP listener, no WSS dials)' },
  { path: 'node.p2p.udpPort', kind: integer(0, 65_535), flag: '--udp-port', env: 'SHADOWMESH_P2P_UDP_PORT', default: 0, expected: 'a port number 0..65535', description: 'UDP port of direct paths (0: any free port); listens on node.p2p.listen' },
  { path: 'node.p2p.stun', kind: { type: 'string' }, flag: '--stun', env: 'SHADOWMESH_P2P_STUN', default: 'relay', expected: "'relay', 'none', or HOST:PORT[,HOST:PORT...]", description: "STUN servers for the reflexive UDP address; 'relay' asks the relay on its own port; two or more also classify the NAT" },
  { path: 'node.p2p.stunInterval', kind: duration(1_000, 3_600_000), env: 'SHADOWMESH_P2P_STUN_INTERVAL', default: d(DEFAULT_STUN_INTERVAL_MS), expected: DURATION_EXPECTED, description: 'how often the reflexive UDP address is asked again (it also keeps the NAT mapping towards the STUN server open: stay under the NAT\'s UDP timeout, often 30s)' },
  { path: 'node.p2p.punchTimeout', kind: duration(100, 600_000), env: 'SHADOWMESH_P2P_PUNCH_TIMEOUT', default: d(DEFAULT_PUNCH_TIMEOUT_MS), expected: DURATION_EXPECTED, description: 'one hole punching attempt probes the peer\'s UDP candidates this long before it counts as failed' },
  { path: 'node.p2p.healthCheckInterval', kind: duration(1, MAX_PATH_TIMER_MS), env: 'SHADOWMESH_P2P_HEALTH_CHECK_INTERVAL', default: d(T.probeIntervalMs), expected: DURATION_EXPECTED, description: 'probe cadence on each direct path' },
  { path: 'node.p2p.trustWindow', kind: duration(1, MAX_PATH_TIMER_MS), env: 'SHADOWMESH_P2P_TRUST_WINDOW', default: d(T.directTrustMs), expected: DURATION_EXPECTED, description: 'a direct path is trusted this long after its last answered probe (more than healthCheckInterval)' },
  { path: 'node.p2p.deadTime', kind: duration(1, MAX_PATH_TIMER_MS), env: 'SHADOWMESH_P2P_DEAD_TIME', default: d(T.directDeadMs), expected: DURATION_EXPECTED, description: 'a direct path silent this long is closed (at least trustWindow)' },
  { path: 'node.p2p.quietAfter', kind: duration(1, MAX_PATH_TIMER_MS), env: 'SHADOWMESH_P2P_QUIET_AFTER', default: d(T.quietAfterMs), expected: DURATION_EXPECTED, description: 'a peer that carried no traffic either way this long (keepalives and probes do not count) is quiet: its direct paths are probed every quietHealthCheckInterval' },
  { path: 'node.p2p.quietHealthCheckInterval', kind: duration(1, MAX_PATH_TIMER_MS), env: 'SHADOWMESH_P2P_QUIET_HEALTH_CHECK_INTERVAL', default: d(T.quietProbeIntervalMs), expected: DURATION_EXPECTED, description: 'probe cadence on the direct paths of a quiet peer (never below healthCheckInterval); keeps NAT mappings open, so stay under the NAT\'s UDP timeout (often 30s)' },
  { path: 'node.p2p.retryInterval', kind: duration(1, MAX_PATH_TIMER_MS), env: 'SHADOWMESH_P2P_RETRY_INTERVAL', default: d(T.retryBaseMs), expected: DURATION_EXPECTED, description: 'first retry of a direct path after a fallback; doubles each failure' },
  { path: 'node.p2p.retryMax', kind: duration(1, MAX_PATH_TIMER_MS), env: 'SHADOWMESH_P2P_RETRY_MAX', default: d(T.retryMaxMs), expected: DURATION_EXPECTED, description: 'cap of the retry backoff (at least retryInterval)' },
  { path: 'node.p2p.connectTimeout', kind: duration(1, MAX_PATH_TIMER_MS), env: 'SHADOWMESH_P2P_CONNECT_TIMEOUT', default: d(DEFAULT_DIRECT_CONNECT_TIMEOUT_MS), expected: DURATION_EXPECTED, description: 'budget of one direct connection (TCP, TLS, WebSocket, re-handshake); a direct attempt gets at least this long' },
  { path: 'node.p2p.handshakeTimeout', kind: duration(1, 3_600_000), env: 'SHADOWMESH_P2P_HANDSHAKE_TIMEOUT', default: d(DEFAULT_DIRECT_TLS_HANDSHAKE_TIMEOUT_MS), expected: `${DURATION_EXPECTED}, at most 1h`, description: 'a TLS handshake on the direct-path listener must finish within this, or the connection is closed' },
  { path: 'node.p2p.maxHandshakesPerAddress', kind: integer(1, DEFAULT_DIRECT_MAX_HANDSHAKES), env: 'SHADOWMESH_P2P_MAX_HANDSHAKES_PER_ADDRESS', default: DEFAULT_DIRECT_MAX_HANDSHAKES_PER_ADDRESS, expected: `a whole number in [1, ${DEFAULT_DIRECT_MAX_HANDSHAKES}]`, description: `unfinished TLS handshakes one source address (IPv6: one /64) may hold on the direct-path listener (${DEFAULT_DIRECT_MAX_HANDSHAKES} from all sources); more are cut at accept` },
  { path: 'node.tls.certLifetime', kind: duration(MIN_CERT_LIFETIME_MS, MAX_CONFIG_DURATION_MS), env: 'SHADOWMESH_TLS_CERT_LIFETIME', default: d(EPHEMERAL_CERT_LIFETIME_MS), expected: `${DURATION_EXPECTED}, at least 1s`, description: "lifetime of the direct-path listener's ephemeral TLS certificate; rotated at three quarters of it" },
  { path: 'node.metrics.listen', kind: { type: 'format', format: 'listen' }, flag: '--metrics', env: METRICS_ENV, expected: 'HOST:PORT or [IPV6]:PORT, e.g. 127.0.0.1:9469', description: 'serve Prometheus /metrics, /health and /ready over plain HTTP here (absent: off); keep it on localhost or a private network' },
  { path: 'node.web.listen', kind: { type: 'format', format: 'listen' }, flag: '--web', env: 'SHADOWMESH_WEB_LISTEN', expected: 'HOST:PORT or [IPV6]:PORT, e.g. 127.0.0.1:9470', description: 'serve the web console here over plain HTTP, behind a token `shadowmesh web` prints (absent: off); keep it on 127.0.0.1 or [::1]: anything that reaches the port and holds the token acts as this node' },
  { path: 'node.socks5.listen', kind: { type: 'format', format: 'listen' }, flag: '--socks5', env: 'SHADOWMESH_SOCKS5_LISTEN', expected: 'HOST:PORT or [IPV6]:PORT, e.g. 127.0.0.1:1080', description: 'offer a SOCKS5 proxy (CONNECT) here whose connections run as streams inside the sessions to the member that owns the destination (absent: off); needs no root, works with --dev none; keep it on 127.0.0.1 or [::1] unless node.socks5.authFile is set' },
  { path: 'node.socks5.authFile', kind: PATH, flag: '--socks5-auth', env: 'SHADOWMESH_SOCKS5_AUTH_FILE', expected: 'a file path', description: 'require SOCKS5 username/password (RFC 1929) from this file: one USER:PASSWORD per line, # comments (absent: no authentication)' },
  { path: 'node.httpProxy.listen', kind: { type: 'format', format: 'listen' }, flag: '--http-proxy', env: 'SHADOWMESH_HTTP_PROXY_LISTEN', expected: 'HOST:PORT or [IPV6]:PORT, e.g. 127.0.0.1:3128', description: 'offer an HTTP CONNECT proxy here, carried like the SOCKS5 proxy (absent: off); no authentication: keep it on 127.0.0.1 or [::1]' },
  { path: 'node.streams.serveLoopback', kind: { type: 'boolean' }, flag: '--serve-loopback', env: 'SHADOWMESH_SERVE_LOOPBACK', default: false, expected: 'true or false', description: 'without a device (--dev none), accept streams other members open to our mesh address and connect them to the same port on loopback: our local services become reachable from the mesh (within the network policy). With a device, streams to our mesh address are always accepted' },
  { path: 'node.dns.listen', kind: { type: 'format', format: 'listen-list' }, flag: '--dns', env: 'SHADOWMESH_DNS_LISTEN', expected: 'HOST:PORT[,HOST:PORT...], e.g. 127.0.0.153:53', description: 'answer DNS for NAME.<node.dns.domain> (members from CA-verified certificates) over UDP and TCP on these addresses, other names forwarded upstream (absent: off); the first is registered with systemd-resolved for the domain' },
  { path: 'node.dns.domain', kind: { type: 'format', format: 'dns-domain' }, flag: '--dns-domain', env: 'SHADOWMESH_DNS_DOMAIN', expected: 'a DNS domain, e.g. mesh or corp.example', description: `network domain of member names (NAME.<domain>); absent: the one the CA certificate carries (ca init --domain), else ${DEFAULT_NETWORK_DOMAIN}` },
  { path: 'node.dns.upstream', kind: { type: 'format', format: 'dns-upstreams' }, flag: '--dns-upstream', env: 'SHADOWMESH_DNS_UPSTREAM', expected: 'IP[:PORT][,IP[:PORT]...], [IPV6]:PORT for a port on IPv6', description: 'resolvers for names outside the network domain (absent: the nameservers of /etc/resolv.conf at start, minus node.dns.listen)' },
  { path: 'node.dns.resolved', kind: { type: 'boolean' }, flag: '--no-dns-resolved', env: 'SHADOWMESH_DNS_RESOLVED', default: true, expected: 'true or false', description: 'with a device and resolvectl, register the first node.dns.listen address and ~<domain> with systemd-resolved for the device (reverted at stop); false leaves resolved alone' },

  // ---- relay (`shadowmesh relay`)
  { path: 'relay.listen', kind: { type: 'format', format: 'listen' }, flag: '--listen', env: 'SHADOWMESH_RELAY_LISTEN', default: `${RELAY_DEFAULTS.host}:${RELAY_DEFAULTS.port}`, expected: 'HOST:PORT or [IPV6]:PORT', description: 'address and port to listen on' },
  { path: 'relay.ca', kind: PATH, flag: '--ca', env: 'SHADOWMESH_CA', requiredFor: 'relay', expected: 'a file path', description: 'network CA certificate' },
  { path: 'relay.crl', kind: PATH, flag: '--crl', env: 'SHADOWMESH_CRL', expected: 'a file path', description: 'revocation list of the CA, reloaded on SIGHUP' },
  { path: 'relay.policy', kind: PATH, flag: '--policy', env: 'SHADOWMESH_POLICY', expected: 'a file path', description: 'signed network policy of the CA (policy.signed) to send to every member; verified at start, reloaded on SIGHUP (a newer version goes to every member, older versions refused)' },
  { path: 'relay.cert', kind: PATH, flag: '--cert', env: 'SHADOWMESH_RELAY_CERT', expected: 'a file path', description: 'TLS certificate chain (PEM) instead of the self-signed one; needs relay.key' },
  { path: 'relay.key', kind: PATH, flag: '--key', env: 'SHADOWMESH_RELAY_KEY', expected: 'a file path', description: 'private key (PEM) for relay.cert' },
  { path: 'relay.data', kind: PATH, flag: '--data', env: 'SHADOWMESH_RELAY_DATA', default: (home) => join(home, 'relay'), expected: 'a directory path', description: 'directory of the persisted TLS key (the pin)' },
  { path: 'relay.maxClients', kind: integer(1, 1_000_000), flag: '--max-clients', env: 'SHADOWMESH_RELAY_MAX_CLIENTS', default: RELAY_DEFAULTS.maxClients, expected: 'a whole number in [1, 1000000]', description: 'admitted members at once' },
  { path: 'relay.maxPending', kind: integer(1, 1_000_000), flag: '--max-pending', env: 'SHADOWMESH_RELAY_MAX_PENDING', default: RELAY_DEFAULTS.maxPending, expected: 'a whole number in [1, 1000000]', description: 'connections still in admission at once' },
  { path: 'relay.maxPendingPerAddress', kind: integer(1, 1_000_000), flag: '--max-pending-per-address', env: 'SHADOWMESH_RELAY_MAX_PENDING_PER_ADDRESS', default: RELAY_DEFAULTS.maxPendingPerAddress, expected: 'a whole number in [1, 1000000], at most relay.maxPending', description: 'connections one source (IPv4 address or IPv6 /64) may hold between TCP accept and admission; more are cut at accept, so one host cannot lock the others out' },
  { path: 'relay.certCacheEntries', kind: integer(0, 1_000_000), flag: '--cert-cache-entries', env: 'SHADOWMESH_RELAY_CERT_CACHE_ENTRIES', default: RELAY_DEFAULTS.certCacheEntries, expected: 'a whole number in [0, 1000000]', description: 'verified member certificates remembered, so a repeated HELLO costs no CA signature check (validity and revocation are still judged every time); 0 turns the cache off' },
  { path: 'relay.maxFrameBytes', kind: integer(1, MAX_FRAME_BYTES), flag: '--max-frame-bytes', env: 'SHADOWMESH_RELAY_MAX_FRAME_BYTES', default: RELAY_DEFAULTS.maxFrameBytes, expected: `a whole number of bytes up to ${MAX_FRAME_BYTES}`, description: 'largest frame accepted' },
  { path: 'relay.rateFrames', kind: integer(1, Number.MAX_SAFE_INTEGER), flag: '--rate-frames', env: 'SHADOWMESH_RELAY_RATE_FRAMES', default: RELAY_DEFAULTS.rateFramesPerSec, expected: 'a whole number above zero', description: 'frames per second one member may send (burst: half a second)' },
  { path: 'relay.rateBytes', kind: integer(1, Number.MAX_SAFE_INTEGER), flag: '--rate-bytes', env: 'SHADOWMESH_RELAY_RATE_BYTES', default: RELAY_DEFAULTS.rateBytesPerSec, expected: 'a whole number above zero', description: 'bytes per second one member may send (burst: half a second)' },
  { path: 'relay.heartbeat', kind: duration(1, U32_MAX), flag: '--heartbeat', env: 'SHADOWMESH_RELAY_HEARTBEAT', default: d(RELAY_DEFAULTS.heartbeatMs), expected: DURATION_EXPECTED, description: 'PING interval to each member' },
  { path: 'relay.idleTimeout', kind: duration(1, U32_MAX), flag: '--idle-timeout', env: 'SHADOWMESH_RELAY_IDLE_TIMEOUT', default: d(RELAY_DEFAULTS.idleTimeoutMs), expected: DURATION_EXPECTED, description: 'disconnect a member silent this long (more than heartbeat)' },
  { path: 'relay.handshakeTimeout', kind: duration(1, U32_MAX), flag: '--handshake-timeout', env: 'SHADOWMESH_RELAY_HANDSHAKE_TIMEOUT', default: d(RELAY_DEFAULTS.handshakeTimeoutMs), expected: DURATION_EXPECTED, description: 'time allowed for TLS and admission' },
  { path: 'relay.web.listen', kind: { type: 'format', format: 'listen' }, flag: '--web', env: 'SHADOWMESH_RELAY_WEB_LISTEN', expected: 'HOST:PORT or [IPV6]:PORT, e.g. 127.0.0.1:9471', description: 'serve the operator page (live counters) here over plain HTTP, behind the admin token of relay.web.tokenFile (absent: off); keep it on 127.0.0.1 or [::1]' },
  { path: 'relay.web.tokenFile', kind: PATH, flag: '--web-token-file', env: 'SHADOWMESH_RELAY_WEB_TOKEN_FILE', expected: 'a file path', description: 'file holding the operator page\'s admin token: one line of 32 to 128 base64url characters; required with relay.web.listen' },
  { path: 'relay.metrics.listen', kind: { type: 'format', format: 'listen' }, flag: '--metrics', env: METRICS_ENV, expected: 'HOST:PORT or [IPV6]:PORT, e.g. 127.0.0.1:9469', description: 'serve Prometheus /metrics, /health and /ready over plain HTTP here (absent: off); keep it on localhost or a private network' },
  { path: 'relay.stun.enabled', kind: { type: 'boolean' }, flag: '--no-stun', env: 'SHADOWMESH_RELAY_STUN_ENABLED', default: RELAY_DEFAULTS.stun, expected: 'true or false', description: 'answer STUN Binding requests (RFC 8489) over UDP so nodes learn their public address; false turns the UDP listener off' },
  { path: 'relay.stun.listen', kind: { type: 'format', format: 'listen' }, flag: '--stun-listen', env: 'SHADOWMESH_RELAY_STUN_LISTEN', expected: 'HOST:PORT or [IPV6]:PORT', description: 'UDP address and port of the STUN responder (absent: the host and port number of relay.listen)' },
  { path: 'relay.tls.certLifetime', kind: duration(MIN_SELF_SIGNED_LIFETIME_MS, MAX_SELF_SIGNED_LIFETIME_MS), flag: '--tls-cert-lifetime', env: 'SHADOWMESH_RELAY_TLS_CERT_LIFETIME', default: d(SELF_SIGNED_VALIDITY_MS), expected: `${DURATION_EXPECTED}, at least 10s`, description: "lifetime of the relay's self-signed TLS certificate, re-issued with the same key (same pin) when a quarter of it is left; not with relay.cert" },
  // ---- relay cluster over NATS (src/relay/cluster/; docs/configuration.md "Relay cluster")
  { path: 'relay.cluster.url', kind: { type: 'string' }, flag: '--cluster', env: 'SHADOWMESH_RELAY_CLUSTER', expected: 'nats://HOST:PORT or tls://HOST:PORT, several separated by commas', description: 'join the relay cluster on this NATS server (absent: a single relay, nothing of NATS is loaded)' },
  { path: 'relay.cluster.name', kind: { type: 'string' }, flag: '--cluster-name', env: 'SHADOWMESH_RELAY_CLUSTER_NAME', expected: 'a name of 1 to 64 printable characters', description: "this relay's name in the other relays' /stats and metrics (absent: the host name and relay.listen port)" },
  { path: 'relay.cluster.creds', kind: PATH, flag: '--cluster-creds', env: 'SHADOWMESH_RELAY_CLUSTER_CREDS', expected: 'a file path', description: 'NATS credentials file (user JWT and nkey seed); not with relay.cluster.user or relay.cluster.token' },
  { path: 'relay.cluster.user', kind: { type: 'string' }, flag: '--cluster-user', env: 'SHADOWMESH_RELAY_CLUSTER_USER', expected: 'a NATS user name', description: 'NATS user; needs relay.cluster.password' },
  { path: 'relay.cluster.password', kind: { type: 'secret' }, env: 'SHADOWMESH_RELAY_CLUSTER_PASSWORD', expected: 'a non-empty string', description: 'password of relay.cluster.user (redacted by config show)' },
  { path: 'relay.cluster.token', kind: { type: 'secret' }, env: 'SHADOWMESH_RELAY_CLUSTER_TOKEN', expected: 'a non-empty string', description: 'NATS authentication token (redacted by config show)' },
  { path: 'relay.cluster.tlsCa', kind: PATH, flag: '--cluster-ca', env: 'SHADOWMESH_RELAY_CLUSTER_CA', expected: 'a file path', description: 'CA bundle (PEM) that signed the NATS server certificate, for tls:// URLs' },
  { path: 'relay.cluster.heartbeat', kind: duration(50, 600_000), flag: '--cluster-heartbeat', env: 'SHADOWMESH_RELAY_CLUSTER_HEARTBEAT', default: d(DEFAULT_CLUSTER_HEARTBEAT_MS), expected: `${DURATION_EXPECTED}, 50ms to 10m`, description: `heartbeat to the other relays; a relay silent for ${CLUSTER_DOWN_AFTER_HEARTBEATS} heartbeats is down and its members with it` },
] satisfies ConfigKey[]);

export const KEYS_BY_PATH: ReadonlyMap<string, ConfigKey> = new Map(CONFIG_KEYS.map((k) => [k.path, k]));

/** " (default X; SHADOWMESH_Y; a.b in the config file)": where a flag's value can also come from, for its --help; '' for a path not in the table. */
export function keySourcesHelp(path: string): string {
  const k = KEYS_BY_PATH.get(path);
  if (k === undefined) return '';
  const parts = [typeof k.default === 'string' || typeof k.default === 'number' ? `default ${String(k.default)}` : undefined, k.env, `${path} in the config file`];
  return ` (${parts.filter((p) => p !== undefined).join('; ')})`;
}

/** The keys a command of `role` reads: its own section and the shared ones. */
export function keysForRole(role: Role | undefined): ConfigKey[] {
  return CONFIG_KEYS.filter((k) => role === undefined || !ROLES.some((r) => r !== role && k.path.startsWith(`${r}.`)));
}

/** The attribute commander stores a flag under: '--p2p-port' -> 'p2pPort', '--no-direct' -> 'direct'. */
export function flagAttribute(flag: string): string {
  return flag.replace(/^--(no-)?/, '').replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
