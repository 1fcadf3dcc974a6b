/**
 * The node daemon behind `shadowmesh up` (docs/architecture.md
 * "Components"): wiring and lifecycle only. It loads the identity, the member
 * certificate, the CA and the revocation list, opens the TAP/TUN device with
 * the certificate's mesh addresses, builds the ShadowNode (relay link and
 * peer sessions), the Dataplane, the MeshPinger and the ControlServer, starts
 * them in order and stops them in reverse. The control API's answers are
 * the NodeControlHandlers (src/node/control/control-handlers.ts); the daemon
 * hands them a NodeControlSource built from its parts.
 *
 * Order and why:
 *   load()  files, then our own certificate checked against the CA (a node
 *           with another network's certificate stops here, before touching
 *           the network), then every component constructed (options validated)
 *   start() 1 control socket   claimed first: a second daemon on the same
 *                              socket is refused before it connects to the
 *                              relay (where it would replace the live one)
 *           2 device           (skipped with device 'none')
 *           3 node, dataplane, pinger
 *           4 first admission  waited for up to startupTimeoutMs; a refusal
 *                              or a wrong pin fails at once, an unreachable
 *                              relay when the time is up. After that, the
 *                              relay link reconnects on its own.
 *   stop()  the reverse; idempotent.
 *
 * Certificate expiry (docs/architecture.md "Certificate expiry"): from the
 * control socket on, a CertExpiryWatch logs when our certificate or the CA's
 * ends within 30 days; `status` and the metrics read the same decisions.
 *
 * Certificate renewal (docs/architecture.md "Certificate renewal"):
 * `replaceCertificate` is the one place a running daemon takes a new member
 * certificate (SIGHUP through `checkCertificateFile`/`reloadCertificate`;
 * an enrollment client later). `certificate` always reads the one in force,
 * so `status`, the metrics and the expiry warnings follow it.
 *
 * A control client may ask the daemon to stop (control `shutdown`): the
 * daemon does not stop itself then, it resolves `stopRequested`, and whoever
 * runs it (src/cli/up.ts, through src/cli/foreground.ts) stops it exactly as
 * on SIGTERM, so the process exits the same way.
 *
 * Device 'none' runs a userspace member without an interface: it holds
 * sessions, answers mesh pings and serves the control API (chat-only
 * members, tests, machines without root).
 *
 * Network policy (docs/architecture.md "Network policy"): at load the
 * higher verified version of node.policy and DIR/policy.signed
 * (NodePolicy.open); `applyPolicy` re-reads the file on SIGHUP; a POLICY
 * from the relay (untrusted bytes) goes through a one-slot inbox and is
 * verified, applied live and kept by NodePolicy.acceptDelivered. Reloads
 * and deliveries run one at a time; a refused delivery is logged with its
 * code and counted (`policyRefused`), never kept.
 *
 * Revocation reload (`reloadRevocations`, and `applyRevocations` from the
 * configuration reload on SIGHUP in `shadowmesh up`, src/config/config-reload.ts):
 * the CRL file (the one configured, or a new path from the reloaded
 * node.crl) is read again and handed to the MembershipVerifier (which refuses
 * a list of another CA or an older one; the previous list then stays), and
 * membership is rechecked at once (ShadowNode.recheckMembership): every
 * revoked peer we hold state for loses its session (keys wiped), paths and
 * data plane state, whether or not the relay still lists it or already said
 * it left, and revoked members leave the directory. Its new handshakes fail
 * verification. Other sessions are untouched.
 *
 * Members: the node's directory (src/node/directory.ts) lists the members
 * online at the relay, each certificate verified against our CA, and keeps
 * those the relay stopped listing while we hold a live session with them on
 * a direct path (`peers` shows them with online: false); it serves names and addresses
 * for `peers`, `ping NAME`, chat and the data plane's routes.
 *
 * Chat (docs/architecture.md "Chat"): a ChatService (src/messaging/) rides the
 * same sessions (inner type CHAT) and a ChatInbox keeps events for users who
 * are not listening; the control handlers serve `users` and the chat_*
 * control methods from both. A session (re)established with a member, or
 * the member reappearing at the relay, makes its conversations retry at
 * once. It runs with every device kind, `--dev none` included (no root
 * needed).
 */
import { ConfigError, SmError } from '../errors.js';
import { toHex } from '../crypto/bytes.js';
import type { MemberCertificate } from '../identity/certificate.js';
import { loadCaCertificate, loadMemberCertificate, loadRevocationList } from '../identity/files.js';
import { NodePolicy } from '../policy/node-policy.js';
import { PolicyEngine } from '../policy/policy-engine.js';
import type { CompiledPolicy } from '../policy/compiled-policy.js';
import { directPolicyGate } from './path/direct-policy.js';
import type { RevocationList } from '../identity/revocation.js';
import { loadIdentity, type Identity } from '../identity/key-file.js';
import { MembershipVerifier } from '../identity/membership.js';
import { checkReplacement, sameCertificate } from '../identity/cert-replacement.js';
import { formatPeerId, shortId } from '../identity/peer-id.js';
import { InnerType } from '../wire/constants.js';
import { ChatInbox } from '../messaging/chat-inbox.js';
import { ChatService } from '../messaging/chat-service.js';
import type { Clock } from '../util/clock.js';
import { systemClock, type TimerHandle } from '../util/clock.js';
import { TokenBucket } from '../util/token-bucket.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import { NodeControlHandlers, type NodeControlSource } from './control/control-handlers.js';
import { ControlServer } from './control/control-server.js';
import type { StatusResult } from './control/control-protocol.js';
import { parseCidr } from '../identity/cidr.js';
import { DnsForwarder } from '../names/dns-forwarder.js';
import { DnsResponder } from '../names/dns-responder.js';
import { MemberNames } from '../names/member-names.js';
import { DEFAULT_NETWORK_DOMAIN, normalizeNetworkDomain } from '../names/network-domain.js';
import { ResolvedLink } from '../names/resolved-link.js';
import { resolveUpstreams } from '../names/upstreams.js';
import { registerNamesMetrics } from '../metrics/names-metrics.js';
import { formatHostPort, formatIpAddress, parseIpAddress } from '../wire/ip-address.js';
import type { Dataplane } from './dataplane/dataplane.js';
import { macForPeer } from './dataplane/tap-source.js';
import type { DirectoryEntry } from './directory.js';
import type { Device, OpenDeviceOptions } from './device/device.js';
import { DEFAULT_DEVICE_MTU, openDevice } from './device/open-device.js';
import { MeshPinger } from './mesh-ping.js';
import { ShadowNode } from './node.js';
import { createMetricsRegistry } from '../metrics/metrics-registry.js';
import { MetricsServer, type MetricsAddress, type Readiness } from '../metrics/metrics-server.js';
import { registerNodeMetrics } from '../metrics/node-metrics.js';
import { registerCertExpiryMetrics } from '../metrics/cert-metrics.js';
import { WEB_API_ROUTES, WebConsole } from '../web/web-console.js';
import { newWebToken } from '../web/web-token.js';
import { CertExpiryWatch, type WatchedCertificate } from '../identity/cert-expiry.js';
import type { PathTimerOptions } from './path/path-timers.js';
import { relayStunServers, runNetcheck, type NetcheckRelay, type NetcheckStunServer } from './path/netcheck-probe.js';
import { NetcheckRunner } from './path/netcheck-runner.js';
import { DEFAULT_STUN_TIMEOUT_MS } from '../stun/stun-client.js';
import { DaemonCode, DaemonError } from './node-errors.js';
import { SubnetRoutes } from './subnet-routes.js';
import { recoverServingNat } from './serving-nat.js';
import { ExitNode, type ExitNodeState } from './exit-node.js';
import { equalBytes } from '../crypto/bytes.js';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { checkName } from '../identity/cert-fields.js';
import { maskPrefix, prefixContains } from '../identity/cert-routes.js';
import { LinuxRouting, type Routing } from './device/linux-routing.js';
import { NodeStreams, type NodeStreamsOptions } from './stream/node-streams.js';

/** How long `up` waits for the first admission: a relay answers in well under a second; 15 s covers a slow link and a busy relay. */
export const DEFAULT_STARTUP_TIMEOUT_MS = 15_000;
/** The relay link's codes that no retry can fix: give up at start instead of waiting for the timeout. */
const FATAL_LINK_CODES = new Set(['SM_ERR_RELAY_PIN']);
/** Relay-delivered policies verified per second at most, after a burst: a relay sends one per admission and per new version. */
export const RELAY_POLICY_VERIFY_PER_SEC = 2;
export const RELAY_POLICY_VERIFY_BURST = 8;

export type DaemonDeviceKind = 'tap' | 'tun' | 'none';


// Defined next to its codes so parts of the daemon (subnet-routes.ts) can throw it without importing the daemon.
export { DaemonError } from './node-errors.js';

export interface DaemonOptions {
  /** wss://HOST:PORT of the relay. */
  relayUrl: string;
  /** sha256:<hex> pin of the relay's TLS key, or a pin set (any one matches: a key rotation lists old and new). */
  pin: string | readonly string[];
  /**
   * Every relay the node may use, each with its pin set (docs/configuration.md
   * "Several relays"); two or more make the node choose between them and fail
   * over. relayUrl/pin then name the first.
   */
  relays?: readonly { url: string; pins: readonly string[] }[];
  caFile: string;
  certFile: string;
  crlFile?: string;
  /** Signed policy file (node.policy, docs/architecture.md "Network policy"); absent = no policy, everything allowed. */
  policyFile?: string;
  /** Directory of identity.key. */
  identityDir: string;
  passphrase?: string;
  device: DaemonDeviceKind;
  deviceName?: string;
  mtu?: number;
  controlPath: string;
  /** Group (name or id) whose members may use the control socket (0660); absent: 0600 (src/node/control/control-group.ts). */
  controlGroup?: string;
  startupTimeoutMs?: number;
  /** Serve Prometheus /metrics, /health and /ready (plain HTTP) on this address; absent: no listener. */
  metrics?: MetricsAddress;
  /** Serve the web console (docs/architecture.md "Web console") on this address; absent: no console. Port 0 picks a free one. */
  web?: { host: string; port: number };
  /** Direct paths: false = relay only; else the listener address (default '::', every address) and port (0 = any free port, the default),
   *  the per-connection budget and the ephemeral certificate's lifetime (DirectTransportOptions; their defaults when absent). */
  direct?: { host?: string; port: number; wss?: boolean; connectTimeoutMs?: number; certLifetimeMs?: number; tlsHandshakeTimeoutMs?: number; maxHandshakesPerAddress?: number; udp?: DaemonUdpOptions | false } | false;
  /** PathManager timers (probe interval, trust window, dead time, retry backoff, attempt timeout); path-timers.ts defaults for the rest. Changeable live: applyPathTimers. */
  pathTimers?: Partial<PathTimerOptions>;
  /** Answer DNS for NAME.<domain> from the member directory (src/names/); absent: no responder. */
  names?: DaemonNamesOptions;
  /** Subnet routes (docs/architecture.md "Subnet routes", src/node/subnet-routes.ts), TUN only; absent: neither. */
  routes?: { accept?: boolean; advertise?: boolean; snat?: boolean };
  /** Streams (docs/architecture.md "Streams"): the SOCKS5 proxy, and serving loopback without a device; absent: neither. */
  streams?: NodeStreamsOptions;
  /** Exit nodes (docs/architecture.md "Exit nodes", src/node/exit-node.ts), TUN only: the member to use (name or mesh address), and serving as one. */
  exitNode?: { use?: string; allowLan?: boolean; fallback?: boolean; advertise?: boolean };
}

/** The DNS responder (docs/configuration.md "Names"). */
export interface DaemonNamesOptions {
  /** UDP and TCP listen addresses; the first is registered with systemd-resolved. */
  listen: readonly { host: string; port: number }[];
  /** Network domain; absent: the CA certificate's (ca init --domain), else 'mesh'. */
  domain?: string;
  /** Resolvers for other names; absent: /etc/resolv.conf's at start. */
  upstreams?: readonly { host: string; port: number }[];
  /** Per-upstream wait, ms (dns-forwarder.ts default when absent). */
  forwardTimeoutMs?: number;
  /** Register with systemd-resolved when a device is open and resolvectl exists (default true). */
  resolved?: boolean;
}

/** UDP direct paths: the socket's port (0 = any free port) and the STUN servers (absent: the relay's host and port). */
export interface DaemonUdpOptions {
  port: number;
  stun?: { host: string; port: number }[];
  /** STUN refresh and punch budget; UdpTransport defaults when absent. */
  stunIntervalMs?: number;
  punchTimeoutMs?: number;
}

/** What a revocation reload did (also logged). */
export interface RevocationReload {
  /** 'reloaded': a newer list is in force; 'unchanged': the same list again; 'no-crl': no CRL file configured; 'failed': the file was unreadable or refused, the previous list stays. */
  outcome: 'reloaded' | 'unchanged' | 'no-crl' | 'failed';
  /** List numbers before and after (-1: none loaded). */
  previousNumber: number;
  number: number;
  /** Peer ids (hex) on the new list and not on the previous one. */
  newlyRevoked: string[];
  /** Members that left the directory on the recheck. */
  removed: number;
  /** Peer ids (hex) whose session state was forgotten on the recheck (revoked or expired). */
  sessionsCut?: string[];
  error?: string;
}

export interface DaemonDeps {
  logger?: Logger;
  clock?: Clock;
  /** Opens the TAP/TUN device; default src/node/device/open-device.ts (the native addon is loaded only when a device is opened). */
  openDevice?: (options: OpenDeviceOptions) => Promise<Device>;
  /** Runs the kernel route, forwarding and masquerade commands of subnet routes; default LinuxRouting. */
  routing?: Routing;
}

export class NodeDaemon {
  readonly identity: Identity;
  readonly node: ShadowNode;
  readonly pinger: MeshPinger;
  /** The control method `netcheck` (the CLI with --control, the console's Network check): one run at a time, a recent report reused. */
  readonly #netcheck: NetcheckRunner;
  readonly control: ControlServer;
  readonly chatService: ChatService;
  readonly chatInbox: ChatInbox;
  /** TCP streams inside the sessions: the acceptor, the dialer and the SOCKS5 proxy (src/node/stream/). */
  readonly streams: NodeStreams;
  /** What the control API answers, read from this daemon's parts (src/node/control/control-handlers.ts). */
  readonly controlHandlers: NodeControlHandlers;
  readonly #metrics: MetricsServer | null;
  /** The web console; null without --web. */
  readonly web: WebConsole | null;
  /** Drawn at each start; only the control API's `web` method hands it out. */
  readonly #webToken: string = newWebToken();
  /** The DNS responder (src/names/), when options.names is set. */
  readonly names: DnsResponder | null;
  readonly #resolved: ResolvedLink;
  /** Logs when our certificate or the CA's ends within 30 days (src/identity/cert-expiry.ts). */
  readonly #expiry: CertExpiryWatch;
  readonly #o: DaemonOptions & { startupTimeoutMs: number; mtu: number };
  readonly #deps: DaemonDeps;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #verifier: MembershipVerifier;
  /** Hex peer ids on the revocation list in force. */
  #revoked: Set<string>;
  /** The revocation list file reloads read: --crl, or the path a configuration reload named since. */
  #crlFile: string | undefined;
  /** The signed policy (node.policy, DIR/policy.signed or the relay's); null, or not `held`, while there is none. */
  #policy: NodePolicy | null = null;
  /** Runs policy reloads and deliveries one at a time: their writes must land in version order. */
  #policyQueue: Promise<unknown> = Promise.resolve();
  /** The one POLICY blob waiting its turn; a newer delivery replaces it, so a relay cannot queue more than one. */
  #policyInbox: Uint8Array | null = null;
  /** Policies from the relay refused, by code (status policyRefused, shadowmesh_policy_refused_total). */
  readonly #policyRefused: Record<string, number> = {};
  /** Verifications of relay-delivered policies; past it the inbox waits (newest kept), so a relay cannot keep us verifying. */
  #policyBudget: TokenBucket | null = null;
  /** The inbox's retry once the budget refills; null when none is pending. */
  #policyRetry: TimerHandle | null = null;
  /** The compiled policy the node's direct-path gate was built from (null: none yet). */
  #directPolicy: CompiledPolicy | null = null;
  /** The identity directory: DIR/policy-version lives there. */
  readonly #identityDir: string;
  /** The certificate file reloads read: --cert, or the path a configuration reload named since. */
  #certFile: string;
  #device: Device | null = null;
  #dataplane: Dataplane | null = null;
  /** Kernel routes, forwarding and masquerade of subnet routes, while the device is open and a routes option is on. */
  #subnetRoutes: SubnetRoutes | null = null;
  /** Exit-node routing (using one, serving as one), while the device is open and an exit-node option is on. */
  #exitNode: ExitNode | null = null;
  /** Ends the start's wait for the chosen exit node early (stop during start); null when none is waiting. */
  #endExitWait: (() => void) | null = null;
  #startedAtMs = 0;
  #starting: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;
  #requestStop!: () => void;
  /** Resolves once a control client asked this daemon to stop (control `shutdown`); never rejects. */
  readonly stopRequested: Promise<void> = new Promise<void>((resolve) => { this.#requestStop = resolve; });

  /** Read and check every file, build every component; opens nothing. */
  static async load(deps: DaemonDeps, options: DaemonOptions): Promise<NodeDaemon> {
    const ca = await loadCaCertificate(options.caFile);
    const crl = options.crlFile !== undefined ? await loadRevocationList(options.crlFile, ca) : undefined;
    const verifier = new MembershipVerifier(ca, crl);
    const cert = await loadMemberCertificate(options.certFile);
    const clock = deps.clock ?? systemClock;
    try {
      verifier.verify(cert.raw, clock.now());
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      throw new SmError(typeof code === 'string' ? code : 'SM_ERR_CERT_NOT_MEMBER', `--cert ${options.certFile} is not a valid member certificate of the network of --ca ${options.caFile}: ${(err as Error).message}`, { cause: err });
    }
    // node.policy and DIR/policy.signed (a relay's delivery before this restart): the highest verified version wins.
    const policy = await NodePolicy.open(options.policyFile, ca, options.identityDir);
    const identity = await loadIdentity(options.identityDir, options.passphrase !== undefined ? { passphrase: options.passphrase } : {});
    if (formatPeerId(identity.peerId) !== formatPeerId(cert.peerId)) {
      identity.signer.destroy();
      throw new DaemonError(DaemonCode.CERT_MISMATCH, `--cert ${options.certFile} is for peer ${formatPeerId(cert.peerId)} but the identity in ${options.identityDir} is ${formatPeerId(identity.peerId)}`);
    }
    try {
      const daemon = new NodeDaemon(deps, options, identity, cert, verifier, crl);
      daemon.#policy = policy;
      return daemon;
    } catch (err) {
      identity.signer.destroy();
      throw err;
    }
  }

  private constructor(deps: DaemonDeps, options: DaemonOptions, identity: Identity, cert: MemberCertificate, verifier: MembershipVerifier, crl: RevocationList | undefined) {
    if (!['tap', 'tun', 'none'].includes(options.device)) {
      throw new ConfigError('SM_ERR_CONFIG_VALUE', `--dev: expected tap, tun or none, got ${JSON.stringify(options.device)}`);
    }
    const startupTimeoutMs = options.startupTimeoutMs ?? DEFAULT_STARTUP_TIMEOUT_MS;
    if (!Number.isInteger(startupTimeoutMs) || startupTimeoutMs < 1) {
      throw new ConfigError('SM_ERR_CONFIG_VALUE', `startup timeout: expected a positive number of ms, got ${String(startupTimeoutMs)}`);
    }
    if (options.device !== 'none' && cert.addresses.length === 0) {
      throw new DaemonError(DaemonCode.NO_ADDRESS, `--cert ${options.certFile} holds no mesh address, so a ${options.device} device would have none; sign one with --ip, or use --dev none`);
    }
    const routes = options.routes ?? {};
    if ((routes.accept === true || routes.advertise === true) && options.device !== 'tun') {
      throw new DaemonError(DaemonCode.ROUTES_DEVICE, `--${routes.advertise === true ? 'advertise' : 'accept'}-routes needs --dev tun: subnet routes are routed at L3 (got --dev ${options.device})`);
    }
    if (routes.advertise === true && cert.routes.length === 0) {
      throw new DaemonError(DaemonCode.ROUTES_NONE, `--advertise-routes: --cert ${options.certFile} carries no route; the CA signs them (shadowmesh ca sign --route CIDR)`);
    }
    checkExitNodeOptions(options, cert);
    this.#o = Object.freeze({ ...options, startupTimeoutMs, mtu: options.mtu ?? DEFAULT_DEVICE_MTU });
    this.#deps = deps;
    this.#logger = deps.logger ?? silentLogger;
    this.#clock = deps.clock ?? systemClock;
    this.identity = identity;
    this.#verifier = verifier;
    this.#revoked = new Set((crl?.peerIds ?? []).map((id) => formatPeerId(id)));
    this.#crlFile = options.crlFile;
    this.#identityDir = options.identityDir;
    this.#certFile = options.certFile;
    this.node = new ShadowNode(
      { signer: identity.signer, peerId: identity.peerId, certificate: cert, verifier, logger: this.#logger, clock: this.#clock },
      {
        relay: { url: options.relayUrl, pin: options.pin },
        ...(options.relays !== undefined && options.relays.length > 1 ? { relays: options.relays } : {}),
        direct: options.direct === false ? false : {
          listenPort: options.direct?.port ?? 0,
          ...(options.direct?.wss === false ? { wss: false } : {}),
          ...(options.direct?.host !== undefined ? { listenHost: options.direct.host } : {}),
          ...(options.direct?.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.direct.connectTimeoutMs } : {}),
          ...(options.direct?.certLifetimeMs !== undefined ? { certLifetimeMs: options.direct.certLifetimeMs } : {}),
          ...(options.direct?.tlsHandshakeTimeoutMs !== undefined ? { tlsHandshakeTimeoutMs: options.direct.tlsHandshakeTimeoutMs } : {}),
          ...(options.direct?.maxHandshakesPerAddress !== undefined ? { maxHandshakesPerAddress: options.direct.maxHandshakesPerAddress } : {}),
        },
        udp: options.direct === false || options.direct?.udp === false ? false : {
          listenPort: options.direct?.udp?.port ?? 0,
          ...(options.direct?.udp?.stun !== undefined ? { stunServers: options.direct.udp.stun } : {}),
          ...(options.direct?.udp?.stunIntervalMs !== undefined ? { stunIntervalMs: options.direct.udp.stunIntervalMs } : {}),
          ...(options.direct?.udp?.punchTimeoutMs !== undefined ? { punchTimeoutMs: options.direct.udp.punchTimeoutMs } : {}),
        },
        ...(options.pathTimers !== undefined ? { paths: { timers: options.pathTimers } } : {}),
      },
    );
    this.pinger = new MeshPinger({ peers: this.node.peers, clock: this.#clock, logger: this.#logger.child('ping') });
    this.#netcheck = new NetcheckRunner({ clock: this.#clock, measure: () => runNetcheck(this.#netcheckTargets(), { timeoutMs: DEFAULT_STUN_TIMEOUT_MS, clock: this.#clock }) });
    this.chatInbox = new ChatInbox();
    const streamNames = new MemberNames({
      directory: this.node.directory,
      self: { name: cert.name, addresses: cert.addresses.map((text) => { const c = parseCidr(text); return { family: c.family, bytes: c.address }; }) },
      isRevoked: (hex) => this.#revoked.has(hex),
    });
    this.streams = new NodeStreams({
      sessions: this.node.peers,
      directory: this.node.directory,
      certificate: () => this.certificate,
      hasDevice: () => options.device !== 'none',
      servesRoutes: () => options.routes?.advertise === true,
      policy: (peerId, address, port) => this.#streamPolicy(peerId, address, port),
      addressesOf: (label) => streamNames.addressesOf(label),
      domain: normalizeNetworkDomain(options.names?.domain ?? verifier.ca.domain ?? DEFAULT_NETWORK_DOMAIN),
      clock: this.#clock,
      logger: this.#logger.child('streams'),
    }, {
      ...options.streams,
      // --exit-node and --advertise-exit-node carry streams too (also with --dev none).
      ...(options.exitNode?.use !== undefined ? { exitNode: options.exitNode.use } : {}),
      ...(options.exitNode?.advertise === true ? { advertiseExit: true } : {}),
    });
    this.chatService = new ChatService({
      localPeerId: identity.peerId,
      sessions: this.node.peers,
      members: { get: (hex: string) => this.node.directory.get(hex) },
      allowChat: (hex: string) => this.#chatAllowed(hex),
      sink: this.chatInbox,
      clock: this.#clock,
      logger: this.#logger.child('chat'),
    });
    this.node.on('inner', (peerId: Uint8Array, innerType: number, body: Uint8Array) => {
      if (innerType === InnerType.Chat) this.chatService.onEnvelope(peerId, body);
      else if (innerType === InnerType.Stream) this.streams.onFrame(peerId, body);
    });
    this.node.on('established', (peerId: Uint8Array) => this.chatService.onPeerReachable(peerId));
    // A revoked or expired member keeps no stream: its sockets close now, not at a timeout.
    this.node.on('member_cut', (peerId: Uint8Array) => this.streams.mux.dropPeer(toHex(peerId)));
    this.node.on('member_up', (e: DirectoryEntry) => this.chatService.onPeerReachable(e.peerId));
    this.node.link.on('policy', (blob: Uint8Array) => this.#onDeliveredPolicy(blob));
    this.#expiry = new CertExpiryWatch({ clock: this.#clock, logger: this.#logger, certs: () => this.#watchedCertificates() });
    this.names = options.names === undefined ? null : this.#namesResponder(options.names);
    this.#resolved = new ResolvedLink(this.#logger.child('names'));
    this.controlHandlers = new NodeControlHandlers(this.#controlSource());
    this.control = new ControlServer({ handler: this.controlHandlers, logger: this.#logger.child('control') }, { path: options.controlPath, ...(options.controlGroup !== undefined ? { group: options.controlGroup } : {}) });
    if (options.metrics !== undefined) {
      const registry = createMetricsRegistry();
      registerNodeMetrics(registry, this);
      registerCertExpiryMetrics(registry, () => this.#watchedCertificates());
      registerNamesMetrics(registry, () => this.names?.stats ?? null, () => this.names?.forwarder.stats ?? null);
      this.#metrics = new MetricsServer({ registry, ready: () => this.readiness() }, options.metrics);
    } else {
      this.#metrics = null;
    }
    this.web = options.web === undefined ? null : new WebConsole({
      api: this.control.httpRoutes(WEB_API_ROUTES),
      // The same handlers the control API answers with (docs/architecture.md "Web console"): one snapshot per tick for every page.
      snapshot: () => ({ status: this.controlHandlers.status(), peers: this.controlHandlers.peers(), users: this.controlHandlers.chat.users({ keys: false }) }),
      clock: this.#clock,
      logger: this.#logger.child('web'),
    }, { host: options.web.host, port: options.web.port, token: this.#webToken });
  }

  /** Our member certificate and the CA's, for the expiry warnings, `status` and the gauge. */
  #watchedCertificates(): WatchedCertificate[] {
    return [{ cert: 'member', notAfterMs: this.certificate.notAfterMs }, { cert: 'ca', notAfterMs: this.#verifier.ca.notAfterMs }];
  }

  /** The parts the control handlers read; what changes after construction (device, data plane, start time, revocations) is read through a function. */
  #controlSource(): NodeControlSource {
    const node = this.node;
    const peerId = this.identity.peerId;
    return {
      // Read on every answer: a renewal (replaceCertificate) changes groups and notAfter.
      get self() {
        const c = node.certificate;
        return { peerId, name: c.name, addresses: c.addresses, groups: c.groups, notAfterMs: c.notAfterMs };
      },
      relayUrl: this.#o.relayUrl,
      relays: () => node.relayList(),
      clock: this.#clock,
      startedAtMs: () => this.#startedAtMs,
      device: () => this.#device,
      link: node.link,
      udp: node.udp,
      sessions: node.peers,
      peerList: () => node.peerList(),
      directory: node.directory,
      paths: node.paths,
      offers: node.offers,
      certs: node.certs,
      pinger: this.pinger,
      chatService: this.chatService,
      chatInbox: this.chatInbox,
      dataplane: () => this.#dataplane,
      subnetRoutes: () => this.#subnetRoutes,
      exitNode: () => this.#exitNode ?? (this.#device === null ? this.#streamsExitNode() : null),
      isRevoked: (peerHex) => this.#revoked.has(peerHex),
      certificates: () => this.#expiry.current(),
      policyVersion: () => this.policyVersion,
      policyRefused: () => this.policyRefused,
      web: () => {
        const url = this.web?.url ?? null;
        return url === null ? null : { url, token: this.#webToken };
      },
      netcheck: this.#netcheck,
      forward: (p) => this.streams.forward(p),
      streamDrops: () => this.streams.drops(),
      requestStop: () => this.#requestStop(),
    };
  }

  /**
   * What `netcheck` measures from this node: every relay it may use, and
   * the STUN servers its UDP transport asks (node.p2p.stun), else every
   * relay's own STUN answer, as the CLI's `netcheck` does.
   */
  #netcheckTargets(): { relays: NetcheckRelay[]; stun: NetcheckStunServer[] } {
    const o = this.#o;
    const relays = o.relays !== undefined && o.relays.length > 0
      ? o.relays.map((r) => ({ url: r.url, pins: [...r.pins] }))
      : [{ url: o.relayUrl, pins: typeof o.pin === 'string' ? o.pin.split(',') : [...o.pin] }];
    const listed = o.direct === false || o.direct?.udp === false ? undefined : o.direct?.udp?.stun;
    return { relays, stun: listed !== undefined ? listed.map((s) => ({ host: s.host, port: s.port })) : relayStunServers(relays) };
  }

  /** Our member certificate in force: the one loaded at start, or the last one replaceCertificate accepted. */
  get certificate(): MemberCertificate {
    return this.node.certificate;
  }

  /**
   * Put a renewed member certificate in force without a restart
   * (docs/architecture.md "Certificate renewal"). It must be for our key,
   * verify against our CA and revocation list, not be expired, keep the
   * name and exactly the addresses, and not end sooner
   * (src/identity/cert-replacement.ts); otherwise this throws that rule's
   * SM_ERR_* code and nothing changes. Accepted: the relay re-admits us
   * with it at once, every handshake from now on presents it (peers learn
   * it at their next rekey; sessions and direct paths stay), and `status`,
   * the metrics and the expiry warnings read it. The same certificate again
   * is 'unchanged' and does nothing.
   */
  replaceCertificate(raw: Uint8Array): 'replaced' | 'unchanged' {
    const current = this.node.certificate;
    if (sameCertificate(current, raw)) return 'unchanged';
    const next = checkReplacement(current, raw, this.#verifier, this.#clock.now());
    this.node.replaceCertificate(next);
    this.#logger.info('member certificate replaced', {
      previousNotAfter: new Date(current.notAfterMs).toISOString(),
      notAfter: new Date(next.notAfterMs).toISOString(),
      groups: next.groups.join(','),
    });
    // The next expiry warning is due from the new notAfter, not the old one.
    this.#expiry.recheck();
    if (!next.exit && this.#exitNode?.status().advertising === true) {
      // The CA took the exit mark away: members' packets for foreign destinations stop at once, the NAT goes next.
      this.#dataplane?.setServeExit(false);
      this.#logger.warn('the new certificate carries no exit mark: no longer serving as an exit node');
      this.#exitNode.stopAdvertising().catch((err: unknown) => this.#logger.error('exit node: could not stop serving', { error: (err as Error).message }));
    }
    return 'replaced';
  }

  /**
   * Read the certificate file (--cert, or a new node.cert from a
   * configuration reload) and check it as a replacement of ours without
   * applying it: null when it is the certificate in force. A file that
   * cannot be read or is refused is logged with its code and THROWS, so a
   * configuration reload can refuse as a whole before it applies anything.
   */
  async checkCertificateFile(file: string = this.#certFile): Promise<Uint8Array | null> {
    try {
      const cert = await loadMemberCertificate(file);
      if (sameCertificate(this.node.certificate, cert.raw)) return null;
      checkReplacement(this.node.certificate, cert.raw, this.#verifier, this.#clock.now());
      return cert.raw;
    } catch (err) {
      const code = String((err as { code?: unknown }).code ?? 'SM_ERR_CERT_MALFORMED');
      this.#logger.error('certificate reload refused; keeping the certificate in force', { file, code, error: (err as Error).message, notAfter: new Date(this.node.certificate.notAfterMs).toISOString() });
      throw err;
    }
  }

  /** checkCertificateFile, then replaceCertificate (SIGHUP): the file becomes the one later reloads read. Throws as checkCertificateFile. */
  async reloadCertificate(file: string = this.#certFile): Promise<'replaced' | 'unchanged'> {
    const raw = await this.checkCertificateFile(file);
    this.#certFile = file;
    return raw === null ? 'unchanged' : this.replaceCertificate(raw);
  }

  /** Ready for traffic (GET /ready): admitted by the relay, and the device open unless it runs without one. */
  readiness(): Readiness {
    if (this.#stopping !== null) return { ok: false, reason: 'stopping' };
    if (this.#o.device !== 'none' && this.#device === null) return { ok: false, reason: 'device not open' };
    if (this.node.link.established === null) return { ok: false, reason: 'not admitted by the relay' };
    return { ok: true };
  }

  /** `http://host:port` of the metrics listener once started; null without one. */
  get metricsUrl(): string | null {
    return this.#metrics === null || this.#metrics.port === 0 ? null : this.#metrics.url;
  }

  get device(): Device | null {
    return this.#device;
  }

  /** The line `shadowmesh up` prints once ready. */
  readyLine(): string {
    const dev = this.#device === null ? 'none' : this.#device.name;
    const addrs = this.certificate.addresses.length > 0 ? this.certificate.addresses.join(',') : '-';
    const via = this.node.relays === null ? this.#o.relayUrl : this.node.link.relayUrl;
    return `node ${shortId(this.identity.peerId)} up: device ${dev} ${addrs} via relay ${via}`;
  }

  start(): Promise<void> {
    this.#starting ??= this.#start();
    return this.#starting;
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #start(): Promise<void> {
    this.#startedAtMs = this.#clock.now();
    await this.control.start();
    this.#expiry.start();
    // Before the device and the relay, so /ready can answer 503 while they come up.
    if (this.#metrics !== null) {
      await this.#metrics.start();
      this.#logger.info('metrics listening', { url: `${this.#metrics.url}/metrics` });
    }
    await this.web?.start();
    if (this.#o.device !== 'none') {
      const open = this.#deps.openDevice ?? openDevice;
      this.#device = await open({
        kind: this.#o.device,
        ...(this.#o.deviceName !== undefined ? { name: this.#o.deviceName } : {}),
        mtu: this.#o.mtu,
        ...(this.#o.device === 'tap' ? { mac: macForPeer(this.identity.peerId) } : {}),
        addresses: [...this.certificate.addresses],
      });
      const routes = this.#o.routes ?? {};
      // What a daemon killed while serving left (forwarding on, masquerade rules), whatever this run's options.
      await recoverServingNat(this.#identityDir, this.#deps.routing ?? new LinuxRouting(), this.#logger.child('routes'));
      this.#dataplane = this.node.attachDevice(this.#device, { acceptRoutes: routes.accept === true, serveRoutes: routes.advertise === true, serveExit: this.#o.exitNode?.advertise === true });
      this.#enforcePolicy();
      if (routes.accept === true || routes.advertise === true) {
        this.#subnetRoutes = new SubnetRoutes(
          { accept: routes.accept === true, advertise: routes.advertise === true, snat: routes.snat !== false },
          { device: this.#device.name, directory: this.node.directory, self: this.certificate, routing: this.#deps.routing ?? new LinuxRouting(), logger: this.#logger.child('routes'), stateDir: this.#identityDir },
        );
        await this.#subnetRoutes.start();
      }
    }
    // After the device (a mesh address can be a listen address), before the relay: names answer as members arrive.
    if (this.names !== null) await this.#startNames(this.names);
    this.#enforcePolicy(); // the direct-path gate, with or without a device
    const admitted = this.#firstAdmission();
    this.node.start();
    this.pinger.start();
    this.chatService.start();
    await admitted;
    // After admission: our UDP and P2P ports are bound, and the directory starts listing the exit node.
    await this.#startExitNode();
    await this.streams.start();
    this.#logger.info(`${shortId(this.identity.peerId)} up`, { device: this.#device?.name ?? 'none', relay: this.#o.relayUrl, control: this.control.path });
  }

  async #startExitNode(o = this.#o.exitNode): Promise<void> {
    if (this.#device === null || this.#dataplane === null || o === undefined || (o.use === undefined && o.advertise !== true)) return;
    this.#exitNode = new ExitNode(
      { use: o.use ?? null, allowLan: o.allowLan === true, fallback: o.fallback === true, advertise: o.advertise === true },
      { device: this.#device.name, directory: this.node.directory, self: this.certificate, dataplane: this.#dataplane, routing: this.#deps.routing ?? new LinuxRouting(), logger: this.#logger.child('exit'), acceptRoutes: this.#o.routes?.accept === true, underlay: () => this.#underlay(), onRouting: (on) => this.node.direct?.pauseDials(on), stateDir: this.#identityDir },
    );
    await this.#exitNode.start();
    if (o.use !== undefined) await this.#exitNodeListed(o.use, o.fallback === true);
  }

  /** Without a device: the exit node of the proxy's streams, in the shape `status` shows (null: none chosen or served). */
  #streamsExitNode(): { status(): NonNullable<StatusResult['exitNode']> } | null {
    const status = this.streams.exitNodeStatus();
    return status === null ? null : { status: () => status };
  }

  /** Check an exit-node selection (a configuration reload) without applying it; throws DaemonError with its code. */
  checkExitNodeSelection(use: string | null): void {
    if (use === null) return;
    checkExitNodeOptions({ ...this.#o, exitNode: { ...this.#o.exitNode, use } }, this.certificate);
  }

  /**
   * Use another exit node from now on, or none (null): a configuration
   * reload. Without exit-node routing yet (started without --exit-node),
   * it is set up now. Throws DaemonError with its code.
   */
  async selectExitNode(use: string | null): Promise<void> {
    if (use !== null) this.checkExitNodeSelection(use);
    this.streams.selectExitNode(use);
    if (this.#exitNode === null) {
      if (use === null || this.#device === null) return;
      await this.#startExitNode({ ...this.#o.exitNode, use });
      return;
    }
    await this.#exitNode.select(use);
  }

  /** Waits (bounded) for the chosen exit node to be listed; a listed member without the exit mark stops the start with its code. */
  async #exitNodeListed(use: string, fallback: boolean): Promise<void> {
    const exit = this.#exitNode!;
    const state = await new Promise<ExitNodeState>((resolve) => {
      if (exit.state !== 'offline' && exit.state !== 'none') return resolve(exit.state);
      const end = (): void => {
        timer.cancel();
        off();
        this.#endExitWait = null;
        resolve(exit.state);
      };
      const timer = this.#clock.schedule(EXIT_NODE_LISTED_WAIT_MS, end);
      const off = exit.onState((s) => { if (s !== 'offline') end(); });
      this.#endExitWait = end;
    });
    if (state === 'not_exit') throw new DaemonError(DaemonCode.EXIT_NODE_NOT_EXIT, `--exit-node ${use}: that member's certificate carries no exit mark; the CA gives it (shadowmesh ca sign --exit)`);
    if (state === 'offline') this.#logger.warn(`exit node ${use} is not listed yet; default-route traffic ${fallback ? 'goes out directly' : 'is dropped'} until it is`);
  }

  /** Our own underlay traffic, kept outside the exit node's tunnel: the UDP socket, the P2P listener, the relays' addresses. */
  async #underlay(): Promise<{ udpPort: number | null; p2pPort: number | null; relayAddresses: string[] }> {
    const urls = [this.#o.relayUrl, ...(this.#o.relays ?? []).map((r) => r.url)];
    const addresses: string[] = [];
    for (const url of new Set(urls)) {
      const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
      if (isIP(host) !== 0) {
        addresses.push(host);
        continue;
      }
      try {
        for (const a of await lookup(host, { all: true })) addresses.push(a.address);
      } catch (err) {
        this.#logger.warn('exit node: cannot resolve a relay; its traffic is not kept outside the tunnel', { relay: url, error: (err as Error).message });
      }
    }
    const port = (p: number | undefined): number | null => (p === undefined || p === 0 ? null : p);
    return { udpPort: port(this.node.udp?.port), p2pPort: port(this.node.direct?.port), relayAddresses: addresses };
  }

  #namesResponder(o: DaemonNamesOptions): DnsResponder {
    // docs/configuration.md "Names": the node setting, else the CA's signed domain, so every member agrees.
    const domain = normalizeNetworkDomain(o.domain ?? this.#verifier.ca.domain ?? DEFAULT_NETWORK_DOMAIN);
    if (!Array.isArray(o.listen) || o.listen.length === 0) throw new ConfigError('SM_ERR_CONFIG_VALUE', '--dns: expected one or more HOST:PORT');
    const names = new MemberNames({
      directory: this.node.directory,
      self: { name: this.certificate.name, addresses: this.certificate.addresses.map((text) => { const c = parseCidr(text); return { family: c.family, bytes: c.address }; }) },
      isRevoked: (hex) => this.#revoked.has(hex),
    });
    const upstreams = resolveUpstreams(o.upstreams, o.listen);
    const forwarder = new DnsForwarder({ upstreams, ...(o.forwardTimeoutMs !== undefined ? { timeoutMs: o.forwardTimeoutMs } : {}) }, this.#clock);
    return new DnsResponder({ names, forwarder, logger: this.#logger.child('names') }, { listen: o.listen, domain });
  }

  async #startNames(names: DnsResponder): Promise<void> {
    await names.start();
    const listen = names.addresses();
    this.#logger.info('names: answering DNS', { domain: names.domain, listen: listen.map((a) => formatHostPort(a.host, a.port)).join(','), upstreams: names.forwarder.upstreams.map((u) => formatHostPort(u.host, u.port)).join(',') || 'none' });
    if (this.#device !== null && this.#o.names?.resolved !== false && listen[0] !== undefined) {
      await this.#resolved.apply(this.#device.name, listen[0], names.domain);
    }
  }

  /** Resolves on the first admission; rejects on a refusal, a fatal link error, or the startup timeout. */
  #firstAdmission(): Promise<void> {
    const link = this.node.link;
    return new Promise<void>((resolve, reject) => {
      let last = 'no answer yet';
      const cleanup = (): void => {
        timer.cancel();
        this.node.off('relay', onUp);
        link.off('refused', onRefused);
        link.off('down', onDown);
      };
      const onUp = (): void => { cleanup(); resolve(); };
      const onRefused = (err: SmError): void => {
        if (this.node.relays !== null) {
          last = `${link.relayUrl} refused admission: ${err.message} (${err.code})`;
          return;
        }
        cleanup();
        reject(new SmError(err.code, `relay ${this.#o.relayUrl} refused admission: ${err.message}`, { cause: err }));
      };
      const onDown = (reason: { code: string; message: string }): void => {
        last = `${reason.message} (${reason.code})`;
        // With several relays one bad pin or refusal is no reason to give up: another relay may admit us.
        if (FATAL_LINK_CODES.has(reason.code) && this.node.relays === null) {
          cleanup();
          reject(new SmError(reason.code, `relay ${this.#o.relayUrl}: ${reason.message}`));
        }
      };
      const timer = this.#clock.schedule(this.#o.startupTimeoutMs, () => {
        cleanup();
        reject(new DaemonError(DaemonCode.RELAY_UNREACHABLE, `relay ${this.#o.relayUrl} did not admit this node within ${this.#o.startupTimeoutMs} ms; last error: ${last}`));
      });
      this.node.on('relay', onUp);
      link.on('refused', onRefused);
      link.on('down', onDown);
    });
  }

  async #stop(): Promise<void> {
    // A start waiting for its exit node to be listed ends now rather than holding the stop for up to EXIT_NODE_LISTED_WAIT_MS.
    this.#endExitWait?.();
    await this.#starting?.catch(() => undefined);
    this.#policyRetry?.cancel();
    this.#policyRetry = null;
    this.#expiry.stop();
    await this.streams.stop();
    this.chatService.stop();
    this.pinger.stop();
    if (this.names !== null) {
      await this.#resolved.revert();
      this.names.stop();
    }
    // The default route leaves the tunnel's table before the tunnel goes (fail closed stays closed: our rules go too).
    await this.#exitNode?.stop();
    await this.node.stop();
    await this.#subnetRoutes?.stop();
    if (this.#device !== null) await this.#device.close().catch((err: unknown) => this.#logger.error('device close failed', { error: (err as Error).message }));
    await this.#metrics?.stop();
    await this.web?.stop();
    await this.control.stop();
    this.identity.signer.destroy();
  }

  /**
   * Re-read the revocation list file and apply it now: a newly revoked
   * member loses its session (keys wiped), its paths and its data plane
   * state, and leaves the directory; no other session is touched. Never
   * throws: a bad file is logged and the previous list stays in force.
   */
  async reloadRevocations(): Promise<RevocationReload> {
    try {
      return await this.applyRevocations();
    } catch (err) {
      const previousNumber = this.#verifier.revocationNumber;
      return { outcome: 'failed', previousNumber, number: previousNumber, newlyRevoked: [], removed: 0, error: (err as Error).message };
    }
  }

  /**
   * Check new path timers against the ones in force (merged, validated as a whole) without applying them:
   * throws PathCode.OPTION on a bad combination. A configuration reload checks before it applies anything.
   */
  checkPathTimers(changes: Partial<PathTimerOptions>): void {
    this.node.paths.timers.check(changes);
  }

  /** Apply new path timers to the running path manager (a configuration reload); sessions and paths stay. */
  applyPathTimers(changes: Partial<PathTimerOptions>): void {
    this.node.paths.setTimerOptions(changes);
    const t = this.node.paths.timers.options;
    this.#logger.info('path timers applied', { probeIntervalMs: t.probeIntervalMs, directTrustMs: t.directTrustMs, directDeadMs: t.directDeadMs, retryBaseMs: t.retryBaseMs, retryMaxMs: t.retryMaxMs, quietAfterMs: t.quietAfterMs, quietProbeIntervalMs: t.quietProbeIntervalMs });
  }

  /**
   * Like reloadRevocations, but from `file` when given (a reloaded node.crl;
   * it becomes the file later reloads read), and a list that cannot be read
   * or is refused (another CA, an older list) THROWS after logging, with the
   * previous list still in force, so a configuration reload can refuse as a
   * whole.
   */
  async applyRevocations(file?: string): Promise<RevocationReload> {
    const previousNumber = this.#verifier.revocationNumber;
    const path = file ?? this.#crlFile;
    if (path === undefined) {
      this.#logger.info('revocation reload: no --crl configured; nothing to reload');
      return { previousNumber, number: previousNumber, newlyRevoked: [], removed: 0, outcome: 'no-crl' };
    }
    let crl: RevocationList;
    try {
      crl = await loadRevocationList(path, this.#verifier.ca);
      this.#verifier.setRevocationList(crl);
    } catch (err) {
      this.#logger.error('revocation reload failed; keeping the previous list', { file: path, number: previousNumber, error: (err as Error).message, code: String((err as { code?: unknown }).code ?? '') });
      throw err;
    }
    this.#crlFile = path;
    const now = new Set(crl.peerIds.map((id) => formatPeerId(id)));
    const newlyRevoked = [...now].filter((hex) => !this.#revoked.has(hex));
    this.#revoked = now;
    const { left: removed, cut } = this.node.recheckMembership(this.#clock.now());
    for (const hex of newlyRevoked) {
      this.#logger.info(`${hex.slice(0, 8)} revoked`, { list: crl.number, session: cut.includes(hex) ? 'forgotten' : 'none' });
    }
    const outcome = crl.number === previousNumber ? 'unchanged' : 'reloaded';
    this.#logger.info(`revocation list ${outcome}`, { file: path, previous: previousNumber, number: crl.number, revoked: crl.peerIds.length, newlyRevoked: newlyRevoked.length, leftDirectory: removed, sessionsCut: cut.length });
    return { outcome, previousNumber, number: crl.number, newlyRevoked, removed, sessionsCut: cut };
  }

  /**
   * Hands the policy in force to the node's direct paths (a pair it keeps
   * apart exchanges no offers: path/direct-policy.ts) and to the data plane
   * (a new engine, or the new rules: tracked connections must pass again).
   */
  #enforcePolicy(): void {
    if (this.#policy === null || !this.#policy.held) return;
    const compiled = this.#policy.current.policy;
    if (this.#directPolicy !== compiled) {
      this.#directPolicy = compiled;
      this.node.setDirectPolicy(directPolicyGate(compiled, () => this.certificate, (id) => this.node.peers.peerCertificate(id) ?? this.node.directory.get(id)?.cert ?? null));
    }
    const dp = this.#dataplane;
    if (dp === null) return;
    if (dp.policy === null) dp.setPolicy(new PolicyEngine(compiled, this.#clock), { name: this.certificate.name, groups: this.certificate.groups });
    else if (dp.policy.policy !== compiled) dp.policy.setPolicy(compiled);
  }

  /** Whether the policy's chat section lets member `hex` chat with us (no policy or no chat section: yes). */
  #chatAllowed(hex: string): boolean {
    const policy = this.#policy;
    if (policy === null || !policy.held) return true;
    const peer = this.node.directory.get(hex);
    const cert = this.certificate;
    return policy.current.policy.decideChat(
      { name: peer?.name ?? '', groups: peer?.cert.groups ?? [] },
      { name: cert.name, groups: cert.groups },
    ).allowed;
  }

  /** The policy's verdict on a stream a peer opened to address:port, as for a TCP SYN from its mesh address (docs/threat-model.md §3.8); null: no policy. */
  #streamPolicy(peerId: Uint8Array, address: string, port: number): { allowed: boolean; rule: string } | null {
    const policy = this.#policy;
    if (policy === null || !policy.held) return null;
    const peer = this.node.directory.get(peerId);
    const family = address.includes(':') ? 6 : 4;
    const from = peer?.addresses.find((a) => a.family === family) ?? peer?.addresses[0];
    const cert = this.certificate;
    return policy.current.policy.decide({
      direction: 'inbound',
      protocol: 'tcp',
      from: { ip: from !== undefined ? formatIpAddress(from.bytes) : (family === 6 ? '::' : '0.0.0.0'), name: peer?.name ?? '', groups: peer?.cert.groups ?? [] },
      to: { ip: address, name: cert.name, groups: cert.groups },
      srcPort: 0,
      dstPort: port,
    });
  }

  /** The version of the signed policy in force, or null when no policy is configured. */
  get policyVersion(): number | null {
    return this.#policy?.held === true ? this.#policy.version : null;
  }

  /** Policies from the relay refused so far, by code. */
  get policyRefused(): Readonly<Record<string, number>> {
    return this.#policyRefused;
  }

  #serializePolicy<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#policyQueue.then(fn, fn);
    this.#policyQueue = run.catch(() => undefined);
    return run;
  }

  /** A POLICY frame's blob (untrusted): into the one-slot inbox, processed in turn. */
  #onDeliveredPolicy(blob: Uint8Array): void {
    const queued = this.#policyInbox !== null;
    this.#policyInbox = blob;
    if (!queued) this.#drainPolicyInbox();
  }

  /**
   * Verifies what waits in the inbox once the budget allows
   * (RELAY_POLICY_VERIFY_PER_SEC, burst RELAY_POLICY_VERIFY_BURST): a relay
   * sending policy after policy gets that many hybrid signature checks, and
   * the newest blob still waits its turn, so a genuine newer policy is
   * delayed, never lost.
   */
  #drainPolicyInbox(): void {
    if (this.#policyInbox === null || this.#stopping !== null || this.#policyRetry !== null) return;
    const now = this.#clock.now();
    this.#policyBudget ??= new TokenBucket(RELAY_POLICY_VERIFY_PER_SEC, RELAY_POLICY_VERIFY_BURST, now);
    if (!this.#policyBudget.take(1, now)) {
      this.#policyRetry = this.#clock.schedule(1_000 / RELAY_POLICY_VERIFY_PER_SEC, () => {
        this.#policyRetry = null;
        this.#drainPolicyInbox();
      });
      return;
    }
    void this.#serializePolicy(() => this.#takeDeliveredPolicy());
  }

  /**
   * Verifies the relay's policy as a file is (src/policy/node-policy.ts) and
   * applies a newer one live, as a SIGHUP does; a member without any policy
   * starts enforcing it (default deny). A refused blob changes nothing, is
   * logged with its code, counted and not kept.
   */
  async #takeDeliveredPolicy(): Promise<void> {
    const blob = this.#policyInbox;
    this.#policyInbox = null;
    if (blob === null || this.#stopping !== null) return;
    const previous = this.policyVersion;
    let changed: boolean;
    try {
      this.#policy ??= await NodePolicy.empty(this.#verifier.ca, this.#identityDir);
      changed = await this.#policy.acceptDelivered(blob);
    } catch (err) {
      const code = String((err as { code?: unknown }).code ?? 'unknown');
      if (this.policyVersion !== previous) {
        // Verified and in force, but not written to DIR: enforced until a restart, which falls back to the files.
        this.#enforcePolicy();
        this.#logger.error('policy from the relay applied but not saved', { previous: previous ?? 'none', version: this.policyVersion, code, error: (err as Error).message });
        return;
      }
      this.#policyRefused[code] = (this.#policyRefused[code] ?? 0) + 1;
      this.#logger.warn('policy from the relay refused; keeping the policy in force', { version: previous ?? 'none', code, error: (err as Error).message });
      return;
    }
    if (!changed) return;
    this.#enforcePolicy();
    this.#logger.info('policy from the relay applied', { previous: previous ?? 'none', version: this.policyVersion });
  }

  /**
   * Re-reads the signed policy (a configuration reload; node.policy). A file
   * that cannot be read, is refused or is older THROWS after logging, with the
   * policy in force unchanged, so the reload is refused as a whole. A policy
   * set where none was configured takes effect too; removing node.policy
   * keeps the policy in force until a restart (a rollback by omission).
   */
  applyPolicy(file: string | undefined): Promise<void> {
    return this.#serializePolicy(() => this.#applyPolicyFile(file));
  }

  async #applyPolicyFile(file: string | undefined): Promise<void> {
    if (file === undefined) {
      // A policy the relay delivered is not node.policy's to drop.
      if (this.#policy?.held === true && this.#policy.file !== undefined) this.#logger.warn('policy reload: node.policy is unset; the policy in force stays until a restart', { version: this.#policy.version });
      return;
    }
    const previous = this.policyVersion;
    try {
      if (this.#policy === null) this.#policy = await NodePolicy.load(file, this.#verifier.ca, this.#identityDir);
      else await this.#policy.reload(file);
    } catch (err) {
      this.#logger.error('policy reload refused; keeping the policy in force', { file, version: previous ?? 'none', error: (err as Error).message, code: String((err as { code?: unknown }).code ?? '') });
      throw err;
    }
    this.#enforcePolicy();
    const version = this.#policy.version;
    if (this.#policy.delivered) this.#logger.info('policy file not newer than the version the relay delivered; keeping that', { file, version });
    else this.#logger.info(version === previous ? 'policy unchanged' : 'policy reloaded', { file, previous: previous ?? 'none', version });
  }

}

/** How long start waits for the chosen exit node to be listed: an online member is listed within a presence round and a certificate fetch after our admission. */
export const EXIT_NODE_LISTED_WAIT_MS = 10_000;

/** The exit-node options against the device and our certificate (docs/architecture.md "Exit nodes"); throws DaemonError with its code. */
function checkExitNodeOptions(options: DaemonOptions, cert: MemberCertificate): void {
  const o = options.exitNode;
  if (o === undefined) return;
  // --dev none: streams only (the SOCKS5/HTTP proxy and port forwards use or serve the exit node); tap: none of it.
  if ((o.use !== undefined || o.advertise === true) && options.device === 'tap') {
    throw new DaemonError(DaemonCode.EXIT_NODE_DEVICE, `--${o.use !== undefined ? 'exit-node' : 'advertise-exit-node'} needs --dev tun (the default route is routed at L3) or --dev none (streams only); got --dev tap`);
  }
  if ((o.allowLan === true || o.fallback === true) && options.device === 'none') {
    throw new DaemonError(DaemonCode.EXIT_NODE_DEVICE, `--exit-node-${o.allowLan === true ? 'allow-lan' : 'fallback'} needs --dev tun: with --dev none only streams use the exit node, and they never go out directly`);
  }
  if (o.advertise === true && !cert.exit) {
    throw new DaemonError(DaemonCode.EXIT_NODE_NOT_EXIT, `--advertise-exit-node: --cert ${options.certFile} carries no exit mark; the CA gives it (shadowmesh ca sign --exit)`);
  }
  if ((o.allowLan === true || o.fallback === true) && o.use === undefined) {
    throw new DaemonError(DaemonCode.EXIT_NODE_NAME, `--exit-node-${o.allowLan === true ? 'allow-lan' : 'fallback'} needs --exit-node NAME`);
  }
  if (o.use !== undefined) checkExitSelector(o.use, cert);
}

/** A member name, or a host address inside one of our mesh subnets; never ourselves. */
export function checkExitSelector(use: string, cert: MemberCertificate): void {
  const bad = (why: string): DaemonError => new DaemonError(DaemonCode.EXIT_NODE_NAME, `--exit-node ${JSON.stringify(use)}: ${why}`);
  if (typeof use !== 'string' || use.length === 0) throw bad('expected a member name or a mesh address');
  if (use === cert.name) throw bad('that is this member; choose another member as exit node');
  if (isIP(use) !== 0) {
    const own = cert.addresses.map((a) => parseCidr(a));
    let bytes: Uint8Array;
    try {
      bytes = parseIpAddress(use).bytes;
    } catch {
      throw bad('not a valid address');
    }
    if (own.some((c) => equalBytes(c.address, bytes))) throw bad('that is this member\'s own address');
    if (!own.some((c) => c.address.length === bytes.length && prefixContains(maskPrefix(c.address, c.prefix), c.prefix, bytes))) {
      throw bad(`not inside our mesh subnets (${cert.addresses.join(', ')}); name a member or its mesh address`);
    }
    return;
  }
  try {
    checkName(use);
  } catch (err) {
    throw bad(`not a member name: ${(err as Error).message}`);
  }
}
