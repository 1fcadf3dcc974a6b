/**
 * The node's control API handlers (docs/architecture.md "Components": the
 * control API on a unix socket): what `status`, `peers`, `ping`, `whois`, `shutdown` and the chat
 * methods (`users`, `chat_*`, the inbox behind `recv`) and `netcheck` answer. The
 * ControlServer (control-server.ts) frames requests and responses; this
 * module turns a request into its result, reading the node through
 * `NodeControlSource`, the narrow interface it declares
 * (docs/conventions.md §11). The daemon (src/node/daemon.ts) builds the
 * source from its parts; a test hands a small fake.
 *
 * What a caller must know:
 *  - Everything is read at request time: the source's getters and methods
 *    are called on each request, never cached, so a device opened later, a
 *    reloaded revocation list or a new relay admission shows at once. The
 *    one exception is `netcheck`, whose runner reuses a recent report
 *    (src/node/path/netcheck-runner.ts) because each run sends packets.
 *  - Peer selectors (ping, chat): a 64-hex peer id (any, known or not), a
 *    mesh address with or without /prefix, a member name, or a unique peer
 *    id prefix of 4 to 63 hex digits, among the members in the directory.
 *    No match, or an ambiguous prefix, is ControlCode.UNKNOWN_PEER; for chat
 *    that becomes ChatCode.OFFLINE (no store-and-forward).
 *  - A revoked member's session state is not listed by `peers`, whatever the
 *    peer list still holds.
 *  - Results are fresh objects; nothing handed out is a view of the
 *    source's state. Handlers throw coded errors (ControlError, ChatError),
 *    which the server sends back as the error body.
 */
import { fromHex, sha256, toHex } from '../../crypto/bytes.js';
import { formatPeerId } from '../../identity/peer-id.js';
import type { CertExpiry } from '../../identity/cert-expiry.js';
import { ChatError, encodeChatText } from '../../messaging/chat-envelope.js';
import { ChatCode } from '../../messaging/messaging-errors.js';
import type { ChatEvent, ConversationInfo } from '../../messaging/chat-service.js';
import type { Clock } from '../../util/clock.js';
import { formatHostPort, parseIpAddress } from '../../wire/ip-address.js';
import { ControlError, errorBody, type ForwardParams, type ForwardProgress, type NetcheckParams, type PeerStatus, type PeersResult, type PingParams, type PingProgress, type PingResult, type RelayStatus, type ShutdownResult, type StatusResult, type UserInfo, type WebResult, type WhoisParams, type WhoisResult } from './control-protocol.js';
import { ControlCode } from './control-errors.js';
import type { ChatControlHandler, ControlHandler } from './control-server.js';
import type { NetcheckRun } from '../path/netcheck-runner.js';

/** Pings of one `ping` request waiting for their pong at once; the schedule waits beyond this (the pinger's own bound is larger). */
export const PING_IN_FLIGHT = 64;

type Counts = Readonly<Record<string, number>>;

/** A member of the verified directory as the handlers read it (the node's DirectoryEntry fits). */
export interface ControlMember {
  readonly peerId: Uint8Array;
  /** Lowercase hex of peerId. */
  readonly hex: string;
  readonly name: string;
  /** Mesh addresses; `text` is the CIDR as in the certificate. */
  readonly addresses: readonly { readonly text: string }[];
  /** When the relay saw the member come online (relay clock, Unix ms). */
  readonly onlineSinceMs: number;
  readonly cert: { readonly publicKey: Uint8Array; readonly groups: readonly string[]; readonly notAfterMs: number; readonly routes?: readonly string[] };
}

/** The member directory (the node's Directory fits). */
export interface ControlDirectory {
  get(peerId: Uint8Array | string): ControlMember | undefined;
  /** Listed by the relay as online now (hex peer id). */
  isOnline(peerHex: string): boolean;
  list(): readonly ControlMember[];
  /** The member holding this mesh address (4 or 16 bytes). */
  byAddress(addr: Uint8Array): ControlMember | undefined;
  /** The member whose certified subnet route holds this address, longest prefix first (docs/architecture.md "Subnet routes"). */
  byRoute?(addr: Uint8Array): ControlMember | undefined;
}

/** One entry of the session table (the PeerManager's PeerInfo fits). */
export interface ControlPeerInfo {
  /** Hex peer id. */
  readonly peerId: string;
  readonly name: string | null;
  readonly established: boolean;
  readonly stats: {
    readonly sessionStartedAtMs: number | null;
    readonly lastHandshakeAtMs: number | null;
    readonly framesIn: number;
    readonly framesOut: number;
    readonly bytesIn: number;
    readonly bytesOut: number;
  };
  readonly drops: Counts;
}

/** Where a peer's frames go (the PathManager's PathInfo fits). */
export interface ControlPathInfo {
  readonly path: PeerStatus['path'];
  readonly carrier: PeerStatus['carrier'];
  readonly remote: string;
  readonly rttMs: number | null;
  readonly migrations: { readonly to_direct: number; readonly to_relay: number };
  readonly fallbacks: number;
  readonly migrationMs: number | null;
  readonly mirroring: boolean;
  /** Live direct paths, selected or not; absent means none. */
  readonly directs?: ReadonlyArray<{ readonly carrier: PeerStatus['directs'][number]['carrier']; readonly remote: string; readonly rttMs: number | null; readonly selected: boolean }>;
}

/** The chat service's user operations (the ChatService fits). */
export interface ControlChatService {
  readonly drops: Counts;
  request(peerHex: string): ConversationInfo;
  openWith(peerHex: string): ConversationInfo | undefined;
  respond(conversationId: string, accept: boolean, reason?: string): ConversationInfo;
  send(conversationId: string, text: string): { seq: number };
  terminate(conversationId: string, reason?: string): ConversationInfo;
  conversation(conversationId: string): ConversationInfo;
  list(): ConversationInfo[];
  waitAccepted(conversationId: string, timeoutMs: number, signal?: AbortSignal): Promise<void>;
  waitDelivered(conversationId: string, seq: number, timeoutMs: number, signal?: AbortSignal): Promise<void>;
}

/** The chat events kept for users who are not listening (the ChatInbox fits). */
export interface ControlChatInbox {
  readonly drops: Counts;
  drain(fn: (e: ChatEvent) => void): number;
  /** null when the subscriber bound is reached. */
  subscribe(fn: (e: ChatEvent) => void, backlog: boolean): (() => void) | null;
}

/** What the control handlers read of the node. */
export interface NodeControlSource {
  /** This node: its peer id, and its certificate's name, mesh addresses, groups and end of validity. */
  readonly self: { readonly peerId: Uint8Array; readonly name: string; readonly addresses: readonly string[]; readonly groups: readonly string[]; readonly notAfterMs: number };
  /** wss://HOST:PORT of the relay, as configured (the first one when there are several). */
  readonly relayUrl: string;
  /** Every known relay with its state (ShadowNode.relayList); absent: only the configured one. */
  relays?(): readonly { url: string; state: RelayStatus['state']; rttMs: number | null; failures: number; lastError: string | null }[];
  readonly clock: Clock;
  /** When the daemon started (clock ms); uptime counts from here. */
  startedAtMs(): number;
  /** The open TAP/TUN device; null before it is open and with device 'none'. */
  device(): { readonly kind: 'tap' | 'tun'; readonly name: string; readonly mtu: number } | null;
  /** The relay link: admission (null while not admitted) and its counters. */
  readonly link: {
    readonly established: { readonly observedAddress: string; readonly observedPort: number } | null;
    readonly stats: { readonly connects: number; readonly reconnects: number; readonly switches?: number; readonly drops: Counts };
    /** The relay of the current or last attempt; absent: the configured one. */
    readonly relayUrl?: string;
  };
  /** The UDP transport; null without UDP direct paths. */
  readonly udp: {
    readonly port: number;
    readonly natMapping: NonNullable<StatusResult['udp']>['nat'];
    readonly reflexive: readonly { readonly address: string; readonly port: number }[];
    readonly stats: { readonly drops: Counts };
  } | null;
  /** The session table's node-wide drops. */
  readonly sessions: { readonly drops: Counts };
  /** Every peer the session table holds (a session or a handshake). */
  peerList(): readonly ControlPeerInfo[];
  readonly directory: ControlDirectory;
  readonly paths: {
    readonly stats: { readonly drops: Counts };
    pathInfo(peerId: Uint8Array): ControlPathInfo | null;
  };
  /** Refused PATH_OFFERs by reason (policy, stale, ...); null or absent when relay-only. */
  readonly offers?: { drops(): Counts } | null;
  /** The certificate fetcher (src/node/cert-fetcher.ts): CERT answers and announcements dropped, by reason; absent in sources without one. */
  readonly certs?: { readonly drops: Counts };
  /** Mesh ping; the pinger's own timeout applies. */
  readonly pinger: { readonly drops: Counts; ping(peerId: Uint8Array): Promise<{ rttMs: number }> };
  readonly chatService: ControlChatService;
  readonly chatInbox: ControlChatInbox;
  /** The data plane; null without a device. */
  dataplane(): { readonly stats: { readonly drops: Counts }; policyDrops?(): Counts } | null;
  /** Subnet routes of this node (src/node/subnet-routes.ts); absent or null: neither --accept-routes nor --advertise-routes. */
  subnetRoutes?(): {
    readonly advertised: readonly string[];
    readonly options: { readonly accept: boolean; readonly snat: boolean };
    accepted(): Array<{ route: string; peer: string; name: string }>;
    readonly installFailures: number;
  } | null;
  /** The stream layer's drops and refusals by reason (src/node/stream/node-streams.ts); absent: none. */
  streamDrops?(): Counts;
  /** Open a port forward through the stream layer (src/node/stream/node-streams.ts); absent: `forward` is unknown. */
  forward?(params: ForwardParams): Promise<{ address: { host: string; port: number } | null; close(): Promise<void> }>;
  /** Exit nodes of this node (src/node/exit-node.ts); absent or null: neither --exit-node nor --advertise-exit-node. */
  exitNode?(): { status(): NonNullable<StatusResult['exitNode']> } | null;
  /** Version of the signed policy in force; null or absent: none. */
  policyVersion?(): number | null;
  /** Signed policies from the relay refused, by code; absent: none counted. */
  policyRefused?(): Counts;
  /** On the revocation list in force (hex peer id). */
  isRevoked(peerHex: string): boolean;
  /** Our certificates' expiry decisions now (member, ca); absent: none reported. */
  certificates?(): readonly CertExpiry[];
  /** The web console's base URL and this start's token; null or absent: no console. */
  web?(): { readonly url: string; readonly token: string } | null;
  /** The network check towards this node's relays and STUN servers (NetcheckRunner fits); absent: no `netcheck`. */
  readonly netcheck?: { run(options: { fresh?: boolean }): Promise<NetcheckRun> };
  /** Stop the daemon as SIGTERM does (control `shutdown`, once its answer is written); a second call changes nothing. */
  requestStop(): void;
}

/** A member as the control API shows it. */
interface KnownMember {
  peerId: Uint8Array;
  hex: string;
  name: string;
  cidrs: string[];
  routes: string[];
}

function known(e: ControlMember | undefined): KnownMember | undefined {
  return e === undefined ? undefined : { peerId: e.peerId, hex: e.hex, name: e.name, cidrs: e.addresses.map((a) => a.text), routes: [...(e.cert.routes ?? [])] };
}

function prefixed(into: Record<string, number>, prefix: string, from: Counts): void {
  for (const [k, v] of Object.entries(from)) if (v > 0) into[`${prefix}.${k}`] = (into[`${prefix}.${k}`] ?? 0) + v;
}

export class NodeControlHandlers implements ControlHandler {
  readonly chat: ChatControlHandler;
  readonly #s: NodeControlSource;

  constructor(source: NodeControlSource) {
    this.#s = source;
    this.chat = this.#chatHandler();
  }

  /** Who is stopping; the stop itself starts in shutdownAnswered, after the server wrote this answer. */
  shutdown(): ShutdownResult {
    return { name: this.#s.self.name, peerId: formatPeerId(this.#s.self.peerId), pid: process.pid };
  }

  shutdownAnswered(): void {
    this.#s.requestStop();
  }

  /** `web`: the console's URL and its login link (the token goes to the caller, who may open the socket, never to a log). */
  web(): WebResult {
    const w = this.#s.web?.() ?? null;
    if (w === null) throw new ControlError(ControlCode.NO_WEB, 'this daemon runs without a web console; start it with --web 127.0.0.1:PORT (node.web.listen)');
    return { url: w.url, link: `${w.url}?token=${encodeURIComponent(w.token)}` };
  }

  /** `netcheck`: the runner's report (recent, in progress or new; it bounds how often the network is asked). */
  netcheck(params: NetcheckParams): Promise<NetcheckRun> {
    const runner = this.#s.netcheck;
    if (runner === undefined) throw new ControlError(ControlCode.METHOD, 'unknown method "netcheck": this daemon does not run network checks');
    return runner.run(params.fresh === true ? { fresh: true } : {});
  }

  status(): StatusResult {
    const s = this.#s;
    const link = s.link;
    const est = link.established;
    const drops: Record<string, number> = {};
    prefixed(drops, 'link', link.stats.drops);
    prefixed(drops, 'peers', s.sessions.drops);
    prefixed(drops, 'ping', s.pinger.drops);
    prefixed(drops, 'paths', s.paths.stats.drops);
    if (s.certs !== undefined) prefixed(drops, 'certs', s.certs.drops);
    if (s.offers !== undefined && s.offers !== null) prefixed(drops, 'offers', s.offers.drops());
    if (s.udp !== null) prefixed(drops, 'udp', s.udp.stats.drops);
    prefixed(drops, 'chat', s.chatService.drops);
    prefixed(drops, 'chat', s.chatInbox.drops);
    if (s.streamDrops !== undefined) prefixed(drops, 'streams', s.streamDrops());
    const dataplane = s.dataplane();
    if (dataplane !== null) prefixed(drops, 'dataplane', dataplane.stats.drops);
    if (dataplane?.policyDrops !== undefined) prefixed(drops, 'policy', dataplane.policyDrops());
    const device = s.device();
    const relays = this.#relays();
    return {
      peerId: formatPeerId(s.self.peerId),
      name: s.self.name,
      addresses: [...s.self.addresses],
      device: device === null ? null : { kind: device.kind, name: device.name, mtu: device.mtu },
      relay: {
        // With several relays, the one in use (or being tried); with one, as configured.
        url: relays.length > 1 ? (link.relayUrl ?? s.relayUrl) : s.relayUrl,
        connected: est !== null,
        observedAddress: est?.observedAddress ?? null,
        observedPort: est?.observedPort ?? null,
        connects: link.stats.connects,
        reconnects: link.stats.reconnects,
        switches: link.stats.switches ?? 0,
        relays,
      },
      udp: s.udp === null ? null : { port: s.udp.port, nat: s.udp.natMapping, reflexive: s.udp.reflexive.map((r) => formatHostPort(r.address, r.port)) },
      uptimeMs: Math.max(0, s.clock.now() - s.startedAtMs()),
      peers: s.peerList().length,
      drops,
      certificates: Object.fromEntries((s.certificates?.() ?? []).map((e) => [e.cert, e])),
      policyVersion: s.policyVersion?.() ?? null,
      policyRefused: { ...(s.policyRefused?.() ?? {}) },
      ...this.#routesStatus(),
      ...this.#exitNodeStatus(),
    };
  }

  /** Asks the source once: without a device its answer is worked out from the directory on each call. */
  #exitNodeStatus(): Pick<StatusResult, 'exitNode'> {
    const exit = this.#s.exitNode?.() ?? null;
    return exit === null ? {} : { exitNode: exit.status() };
  }

  #routesStatus(): Pick<StatusResult, 'routes'> {
    const r = this.#s.subnetRoutes?.() ?? null;
    if (r === null) return {};
    return { routes: { advertised: [...r.advertised], accepting: r.options.accept, snat: r.options.snat, accepted: r.accepted(), installFailures: r.installFailures } };
  }

  peers(): PeersResult {
    const s = this.#s;
    const now = s.clock.now();
    const out: PeerStatus[] = [];
    const seen = new Set<string>();
    for (const p of s.peerList()) {
      seen.add(p.peerId);
      // A revoked member's session is forgotten on the reload; no state that may reappear for it is listed.
      if (s.isRevoked(p.peerId)) continue;
      const m = known(s.directory.get(p.peerId));
      const drops: Record<string, number> = {};
      for (const [k, v] of Object.entries(p.drops)) if (v > 0) drops[k] = v;
      out.push({
        peerId: p.peerId,
        name: p.name ?? m?.name ?? null,
        addresses: m?.cidrs ?? [],
        ...(m !== undefined && m.routes.length > 0 ? { routes: m.routes } : {}),
        online: m !== undefined && s.directory.isOnline(p.peerId),
        ...this.#pathFields(p.peerId),
        session: {
          established: p.established,
          ageMs: p.stats.sessionStartedAtMs === null ? null : Math.max(0, now - p.stats.sessionStartedAtMs),
          lastHandshakeAgoMs: p.stats.lastHandshakeAtMs === null ? null : Math.max(0, now - p.stats.lastHandshakeAtMs),
        },
        stats: { framesIn: p.stats.framesIn, framesOut: p.stats.framesOut, bytesIn: p.stats.bytesIn, bytesOut: p.stats.bytesOut },
        drops,
      });
    }
    for (const m of s.directory.list().map((e) => known(e)!)) {
      if (seen.has(m.hex)) continue;
      out.push({
        peerId: m.hex, name: m.name, addresses: m.cidrs, ...(m.routes.length > 0 ? { routes: m.routes } : {}), online: s.directory.isOnline(m.hex), ...this.#pathFields(m.hex),
        session: { established: false, ageMs: null, lastHandshakeAgoMs: null },
        stats: { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0 },
        drops: {},
      });
    }
    out.sort((a, b) => (a.name ?? '\uffff').localeCompare(b.name ?? '\uffff') || a.peerId.localeCompare(b.peerId));
    const relays = this.#relays();
    const inUse = s.link.established === null ? null : relays.length > 1 ? (s.link.relayUrl ?? s.relayUrl) : s.relayUrl;
    return { peers: out, relay: { url: inUse, relays } };
  }

  #relays(): RelayStatus[] {
    const s = this.#s;
    if (s.relays === undefined) return [{ url: s.relayUrl, state: s.link.established !== null ? 'current' : 'unknown', rttMs: null, failures: 0, lastError: null }];
    return s.relays().map((r) => ({ url: r.url, state: r.state, rttMs: r.rttMs, failures: r.failures, lastError: r.lastError }));
  }

  /** The path part of a peer's status: where its frames go now, and how they got there. */
  #pathFields(peerHex: string): Pick<PeerStatus, 'path' | 'carrier' | 'remote' | 'rttMs' | 'migrations' | 'fallbacks' | 'migrationMs' | 'mirroring' | 'directs'> {
    const pi = this.#s.paths.pathInfo(fromHex(peerHex));
    return {
      path: pi?.path ?? 'relay',
      carrier: pi?.carrier ?? 'relay',
      remote: pi?.remote ?? 'relay',
      rttMs: pi?.rttMs ?? null,
      migrations: { to_direct: pi?.migrations.to_direct ?? 0, to_relay: pi?.migrations.to_relay ?? 0 },
      fallbacks: pi?.fallbacks ?? 0,
      migrationMs: pi?.migrationMs ?? null,
      mirroring: pi?.mirroring ?? false,
      directs: (pi?.directs ?? []).map((x) => ({ carrier: x.carrier, remote: x.remote, rttMs: x.rttMs, selected: x.selected })),
    };
  }

  /** `whois`: this node or a member, by mesh address, name or full peer id; UNKNOWN_ADDRESS / UNKNOWN_NAME otherwise. */
  whois(params: WhoisParams): WhoisResult {
    const s = this.#s;
    const target = params.target.trim();
    const selfHex = formatPeerId(s.self.peerId);
    const selfResult = (): WhoisResult => ({
      self: true, name: s.self.name, peerId: selfHex, addresses: [...s.self.addresses], groups: [...s.self.groups],
      certExpires: new Date(s.self.notAfterMs).toISOString(), certExpiresMs: s.self.notAfterMs, online: true, path: null, carrier: null, remote: null,
    });
    const memberResult = (m: ControlMember): WhoisResult => {
      const p = this.#pathFields(m.hex);
      return {
        self: false, name: m.name, peerId: m.hex, addresses: m.addresses.map((a) => a.text), groups: [...m.cert.groups],
        ...(m.cert.routes !== undefined && m.cert.routes.length > 0 ? { routes: [...m.cert.routes] } : {}),
        certExpires: new Date(m.cert.notAfterMs).toISOString(), certExpiresMs: m.cert.notAfterMs, online: s.directory.isOnline(m.hex),
        path: p.path, carrier: p.carrier, remote: p.remote,
      };
    };
    let addr: Uint8Array | null = null;
    try {
      addr = parseIpAddress(target.replace(/\/\d{1,3}$/, '')).bytes;
    } catch {
      addr = null;
    }
    if (addr !== null) {
      const key = toHex(addr);
      const mine = s.self.addresses.some((cidr) => {
        try {
          return toHex(parseIpAddress(cidr.replace(/\/\d{1,3}$/, '')).bytes) === key;
        } catch {
          return false;
        }
      });
      if (mine) return selfResult();
      // An address in a member's certified route names the member serving it.
      const m = s.directory.byAddress(addr) ?? s.directory.byRoute?.(addr);
      if (m !== undefined && !s.isRevoked(m.hex)) return memberResult(m);
      throw new ControlError(ControlCode.UNKNOWN_ADDRESS, `no member holds the mesh address ${target} (\`shadowmesh peers\` lists who is known)`);
    }
    const lower = target.toLowerCase();
    if (target === s.self.name || lower === selfHex) return selfResult();
    const m = /^[0-9a-f]{64}$/.test(lower) ? s.directory.get(lower) : s.directory.list().find((e) => e.name === target);
    if (m !== undefined && !s.isRevoked(m.hex)) return memberResult(m);
    throw new ControlError(ControlCode.UNKNOWN_NAME, `no member is called ${JSON.stringify(target)} (\`shadowmesh peers\` lists who is known)`);
  }

  /** Finds the member a ping names: a 64-hex peer id, a mesh address (with or without /prefix), a name, or a unique id prefix. */
  #resolvePeer(selector: string): { peerId: Uint8Array; name: string | null; addresses: string[] } {
    const directory = this.#s.directory;
    const s = selector.trim();
    const lower = s.toLowerCase();
    if (/^[0-9a-f]{64}$/.test(lower)) {
      const m = known(directory.get(lower));
      return { peerId: fromHex(lower), name: m?.name ?? null, addresses: m?.cidrs ?? [] };
    }
    const found = (m: KnownMember | undefined) => (m === undefined ? undefined : { peerId: m.peerId, name: m.name, addresses: m.cidrs });
    let addr: Uint8Array | null = null;
    try {
      addr = parseIpAddress(s.replace(/\/\d{1,3}$/, '')).bytes;
    } catch {
      addr = null;
    }
    if (addr !== null) {
      const r = found(known(directory.byAddress(addr)));
      if (r) return r;
    } else {
      const members = directory.list().map((e) => known(e)!);
      const byName = members.filter((m) => m.name === s);
      if (byName.length === 1) return found(byName[0])!;
      if (/^[0-9a-f]{4,63}$/.test(lower)) {
        const byPrefix = members.filter((m) => m.hex.startsWith(lower));
        if (byPrefix.length === 1) return found(byPrefix[0])!;
        if (byPrefix.length > 1) throw new ControlError(ControlCode.UNKNOWN_PEER, `peer id prefix ${s} is ambiguous (${byPrefix.length} members); give more digits`);
      }
    }
    throw new ControlError(ControlCode.UNKNOWN_PEER, `no known member matches ${JSON.stringify(s)}: is it online? (\`shadowmesh peers\` lists who is)`);
  }

  /** `forward`: listen, report the address, carry connections until the client hangs up, then close the listener. */
  async forward(params: ForwardParams, onProgress: (p: ForwardProgress) => void, signal: AbortSignal): Promise<void> {
    const open = this.#s.forward;
    if (open === undefined) throw new ControlError(ControlCode.METHOD, 'unknown method "forward": this daemon carries no streams');
    const f = await open(params);
    try {
      onProgress({ listening: f.address ?? { host: params.host, port: params.port } });
      if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    } finally {
      await f.close();
    }
  }

  async ping(params: PingParams, onProgress: (p: PingProgress) => void, signal: AbortSignal): Promise<PingResult> {
    const s = this.#s;
    const target = this.#resolvePeer(params.peer);
    if (formatPeerId(target.peerId) === formatPeerId(s.self.peerId)) {
      throw new ControlError(ControlCode.PARAMS, 'ping: that is this node itself');
    }
    const replies: PingResult['replies'] = [];
    const lost: PingResult['lost'] = [];
    // Like ping(8): one request every intervalMs whether or not the last was answered, so a lost
    // ping costs its own slot and not its whole timeout; at most PING_IN_FLIGHT wait at once.
    const inFlight = new Set<Promise<void>>();
    const t0 = s.clock.now();
    for (let seq = 1; seq <= params.count && !signal.aborted; seq++) {
      const one: Promise<void> = s.pinger.ping(target.peerId).then(
        (r) => {
          const reply = { seq, rttMs: Math.round(r.rttMs * 1000) / 1000, path: s.paths.pathInfo(target.peerId)?.path ?? 'relay' };
          replies.push(reply);
          onProgress(reply);
        },
        (err: unknown) => {
          const e = { seq, error: errorBody(err) };
          lost.push(e);
          onProgress(e);
        },
      ).finally(() => inFlight.delete(one));
      inFlight.add(one);
      if (inFlight.size >= PING_IN_FLIGHT) await Promise.race(inFlight);
      if (seq < params.count) await this.#sleepUntil(t0 + seq * params.intervalMs, signal);
    }
    await Promise.all(inFlight);
    replies.sort((a, b) => a.seq - b.seq);
    lost.sort((a, b) => a.seq - b.seq);
    const rtts = replies.map((r) => r.rttMs);
    const sent = replies.length + lost.length;
    const round = (x: number): number => Math.round(x * 1000) / 1000;
    return {
      peer: { peerId: formatPeerId(target.peerId), name: target.name ?? known(s.directory.get(target.peerId))?.name ?? null, addresses: target.addresses.length > 0 ? target.addresses : (known(s.directory.get(target.peerId))?.cidrs ?? []) },
      replies,
      lost,
      summary: {
        sent,
        received: replies.length,
        lossPercent: sent === 0 ? 0 : round((100 * lost.length) / sent),
        minMs: rtts.length ? Math.min(...rtts) : null,
        avgMs: rtts.length ? round(rtts.reduce((a, b) => a + b, 0) / rtts.length) : null,
        maxMs: rtts.length ? Math.max(...rtts) : null,
      },
    };
  }

  #sleepUntil(atMs: number, signal: AbortSignal): Promise<void> {
    const clock = this.#s.clock;
    const delay = atMs - clock.now();
    if (delay <= 0 || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const t = clock.schedule(delay, () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
      const onAbort = (): void => {
        t.cancel();
        resolve();
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  // ------------------------------------------------------------ chat

  /** A member for a chat: like ping's selector, but a member that is not online is OFFLINE (no store-and-forward). */
  #chatPeer(selector: string): string {
    let hex: string;
    try {
      hex = formatPeerId(this.#resolvePeer(selector).peerId);
    } catch (err) {
      if ((err as { code?: string }).code !== ControlCode.UNKNOWN_PEER) throw err;
      throw new ChatError(ChatCode.OFFLINE, `no member matching ${JSON.stringify(selector)} is online at the relay; messages are not stored for later (\`shadowmesh users\` lists who is online)`);
    }
    return hex;
  }

  #chatHandler(): ChatControlHandler {
    const s = this.#s;
    const chat = s.chatService;
    const user = (e: ControlMember, keys: boolean): UserInfo => ({
      peerId: e.hex,
      name: e.name,
      addresses: e.addresses.map((a) => a.text),
      groups: [...e.cert.groups],
      onlineSinceMs: e.onlineSinceMs,
      publicKeySha256: toHex(sha256(e.cert.publicKey)),
      ...(keys ? { publicKey: Buffer.from(e.cert.publicKey).toString('base64') } : {}),
    });
    const conversationOf = (p: { peer?: string; conversationId?: string }): string => {
      if (p.conversationId !== undefined) return p.conversationId;
      const hex = this.#chatPeer(p.peer!);
      const open = chat.openWith(hex);
      if (open === undefined) throw new ChatError(ChatCode.UNKNOWN_CONVERSATION, `no open conversation with ${p.peer}`);
      return open.conversationId;
    };
    return {
      users: (p) => ({
        self: { peerId: formatPeerId(s.self.peerId), name: s.self.name },
        users: s.directory.list().map((e) => user(e, p.keys)).sort((a, b) => a.name.localeCompare(b.name) || a.peerId.localeCompare(b.peerId)),
      }),
      request: async (p, signal) => {
        const info = chat.request(this.#chatPeer(p.peer));
        if (p.wait) await chat.waitAccepted(info.conversationId, p.timeoutMs, signal);
        return chat.conversation(info.conversationId);
      },
      respond: (p) => chat.respond(p.conversationId, p.accept, p.reason),
      send: async (p, signal) => {
        encodeChatText(p.text); // TOO_LARGE before any conversation is opened for it
        let id: string;
        if (p.conversationId !== undefined) {
          id = p.conversationId;
        } else {
          const hex = this.#chatPeer(p.peer!);
          id = (chat.openWith(hex) ?? chat.request(hex)).conversationId;
        }
        const { seq } = chat.send(id, p.text);
        let delivered = false;
        if (p.wait) {
          await chat.waitDelivered(id, seq, p.timeoutMs, signal);
          delivered = true;
        }
        return { conversationId: id, seq, delivered, conversation: chat.conversation(id) };
      },
      terminate: (p) => chat.terminate(conversationOf(p), p.reason),
      list: () => ({ conversations: chat.list() }),
      events: (p, onEvent, signal) => {
        if (!p.follow) {
          const events: Parameters<typeof onEvent>[0][] = [];
          s.chatInbox.drain((e) => events.push(e));
          return Promise.resolve({ events });
        }
        const unsubscribe = s.chatInbox.subscribe(onEvent, true);
        if (unsubscribe === null) return Promise.reject(new ChatError(ChatCode.BUSY, 'too many chat subscribers on this daemon'));
        return new Promise((resolve) => {
          const done = (): void => { unsubscribe(); resolve({ events: [] }); };
          if (signal.aborted) done();
          else signal.addEventListener('abort', done, { once: true });
        });
      },
    };
  }
}
