/**
 * A ShadowMesh node, wiring only (docs/conventions.md §1): the member
 * directory, the relay link, the peer manager, the path manager and the
 * direct transports (WSS and UDP), built from the identity and the
 * membership verifier, started and stopped in order. Policy lives in the parts; this file only connects them.
 *
 * Payloads given to `send` travel end to end inside the peer session; the
 * relay link carries the sealed frames. After every re-admission to the relay
 * the node re-runs its peer handshakes, so a relay restart or failover leaves
 * no stale state behind, and reconciles its member directory with the list
 * the relay re-sends (every certificate verified here, never trusted from the
 * relay). `attachDevice` adds the TAP/TUN data plane: device frames from
 * members go to the Dataplane, which routes device packets to members.
 *
 * Presence and sessions (docs/threat-model.md "Malicious relay"): the
 * relay's presence decides who may be introduced, not who may keep an
 * authenticated session. On re-admission (after a relay restart or outage)
 * and on PEER_DOWN, members we hold a live session with on a direct path stay in
 * the directory as offline (still routed by the data plane, their direct
 * paths kept) until that path or session ends; only the others leave (their
 * session keys stay for when the relay lists them again). A session ends by
 * its own timers, or by revocation or
 * expiry: `recheckMembership` (after a revocation list is loaded, and every
 * DIRECTORY_RECHECK_INTERVAL_MS) forgets every peer that is revoked or whose
 * handshake-verified certificate expired, whatever the relay said before:
 * keys wiped, paths closed, the data plane told.
 *
 * Paths (docs/architecture.md "Path choice"): the PeerManager sends
 * through the PathManager, which picks the relay or a direct path per peer.
 * When a session is established each side sends its PATH_OFFER (its
 * ephemeral TLS certificate's fingerprint and listener candidates, signed by
 * its identity) inside the session; the rendezvous (path/rendezvous/) holds
 * both sides' candidates and its OfferExchange signs and checks the offers;
 * an accepted offer starts a direct attempt, and the PathManager asks for
 * retries with backoff. Frames from
 * every path reach the PeerManager the same way, so migration needs no new
 * handshake. `direct: false` keeps a node on the relay only.
 *
 * UDP (issue 5): a UdpTransport beside the WSS one. Its candidates (interface
 * addresses and the reflexive ones STUN reports, by default from the relay's
 * own host and port) go into the same signed PATH_OFFER; the peer's UDP
 * candidates come out of it. Both transports form one direct-path source for
 * the PathManager, which prefers UDP at equal RTT. The offer doubles as the
 * "call me maybe": every direct attempt re-sends ours, and receiving one
 * makes the peer attempt too, so both punch at the same time. `udp: false`
 * leaves only WSS direct paths; `direct.wss: false` only UDP ones (the WSS
 * transport then holds just the certificate whose pin the offer carries).
 *
 * Network policy (docs/architecture.md "Network policy"): setDirectPolicy
 * hands in the gate of path/direct-policy.ts. A peer it refuses gets no
 * offer from us, its offers are refused (OfferCode.POLICY) and no direct
 * path to it is attempted or kept. Each new gate is applied to every
 * established peer at once: a refused one loses its direct paths and
 * stored candidates (it goes on over the relay), an allowed one gets our
 * offer, so it may go direct again.
 */
import { CertFetcher } from './cert-fetcher.js';
import { EventEmitter } from 'node:events';
import type { HybridSigner } from '../crypto/hybrid-sign.js';
import type { MemberCertificate } from '../identity/certificate.js';
import { parseCidr } from '../identity/cidr.js';
import { maskPrefix, parseRoute } from '../identity/cert-routes.js';
import { parseIpAddress } from '../wire/ip-address.js';
import { CERT_CLOCK_SKEW_MS, type MembershipVerifier } from '../identity/membership.js';
import { shortId } from '../identity/peer-id.js';
import { fromHex, toHex } from '../crypto/bytes.js';
import { ConfigError } from '../errors.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import { InnerType } from '../wire/constants.js';
import { Dataplane, type DataplaneDevice } from './dataplane/dataplane.js';
import { DIRECTORY_RECHECK_INTERVAL_MS, Directory, type DirectoryEntry } from './directory.js';
import { PeerManager, type PeerInfo, type PeerManagerOptions } from './session/peer-manager.js';
import { RelayLink, type RelayEstablished, type RelayLinkOptions } from './path/relay-link.js';
import { RelayFailover, type RelayFailoverOptions } from './path/relay-failover.js';
import { probeRelay } from './path/relay-probe.js';
import { RelaySet, type RelayInfo, type RelaySetOptions, type RelayTarget } from './path/relay-set.js';
import { PathManager, type PathManagerOptions } from './path/path-manager.js';
import { DirectTransport, type DirectTransportOptions } from './path/direct-transport.js';
import type { PathCandidate } from './path/rendezvous/path-offer.js';
import { OfferExchange } from './path/rendezvous/offer-exchange.js';
import { Rendezvous } from './path/rendezvous/rendezvous.js';
import { combineDirectSources, wireDirectPaths, type DirectPathSource } from './path/path-wiring.js';
import { UdpTransport, type UdpTransportOptions } from './path/udp-transport.js';
import { PathCode } from './path/path-errors.js';

export interface NodeDeps {
  signer: HybridSigner;
  peerId: Uint8Array;
  /** Our member certificate (decoded; `raw` is sent on the wire). */
  certificate: MemberCertificate;
  verifier: MembershipVerifier;
  logger?: Logger;
  clock?: Clock;
}

export interface NodeOptions {
  relay: RelayLinkOptions;
  /**
   * Every relay the node may use, each with its pin set (docs/architecture.md
   * "Several relays"). Two or more: the link picks and moves between them;
   * `relay` then gives only the link's timing options (its url/pin should
   * name the first). Absent or one: the single relay of `relay`, as before.
   */
  relays?: readonly RelayTarget[];
  /** Choice and probing between several relays. */
  relaySet?: RelaySetOptions & RelayFailoverOptions;
  peers?: PeerManagerOptions;
  paths?: PathManagerOptions;
  /** Direct paths (TLS 1.3 + WebSocket listener and dialer); false: relay only. Default: on, any free port. */
  direct?: DirectTransportOptions | false;
  /** UDP direct paths with hole punching (needs `direct`). Default: on, any free port, STUN at the relay's host and port. */
  udp?: UdpTransportOptions | false;
}

/** STUN at the relay: the relay answers on UDP at its WSS port number (docs/protocol.md §5). */
function relayStunServer(url: string): { host: string; port: number } | null {
  try {
    const u = new URL(url);
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    return { host, port: u.port === '' ? 443 : Number(u.port) };
  } catch {
    return null;
  }
}

/**
 * Events: 'payload' (peerId, body), 'inner' (peerId, innerType, body) for data
 * inner types the node does not consume itself, 'established' (peerId, cert),
 * 'relay' (info: RelayEstablished), 'relay_down' (reason), 'member_up' /
 * 'member_down' (entry: DirectoryEntry), 'member_cut' (peerId) when a peer
 * stopped being a member (revoked, expired) and its session was forgotten.
 */
export class ShadowNode extends EventEmitter {
  readonly link: RelayLink;
  /** The relay choice; null with a single relay. */
  readonly relays: RelaySet | null;
  readonly #failover: RelayFailover | null;
  /** The relay of the previous admission: a re-admission elsewhere is a move, not a restart. */
  #lastRelayUrl: string | null = null;
  readonly peers: PeerManager<MemberCertificate>;
  readonly directory: Directory;
  readonly paths: PathManager;
  /** Null when the node runs relay-only (`direct: false`). */
  readonly direct: DirectTransport | null;
  /** Our and peers' candidates for both carriers; null when relay-only. */
  readonly rendezvous: Rendezvous | null;
  /** Our PATH_OFFER out, peers' in; null when relay-only. */
  readonly offers: OfferExchange | null;
  /** Null without UDP direct paths. */
  readonly udp: UdpTransport | null;
  /** WSS and UDP as one source for the PathManager (null when relay-only). */
  readonly #source: (DirectPathSource & { detach(): void }) | null;
  #unwireDirect: (() => void) | null = null;
  #dataplane: Dataplane | null = null;
  readonly #logger: Logger;
  readonly #clock: Clock;
  #admissions = 0;
  #certificate: MemberCertificate;
  #running = false;
  #recheck: TimerHandle | null = null;
  readonly #verifier: MembershipVerifier;
  /** The network policy's direct-path gate (setDirectPolicy); null: every peer may go direct. */
  #directGate: ((peerId: Uint8Array) => boolean) | null = null;
  /** Member certificates fetched from the relay for its presence digests (docs/architecture.md "Presence at scale"). */
  readonly certs: CertFetcher;

  constructor(deps: NodeDeps, options: NodeOptions) {
    super();
    const clock = deps.clock ?? systemClock;
    this.#clock = clock;
    this.#logger = deps.logger ?? silentLogger;
    this.#verifier = deps.verifier;
    this.#certificate = deps.certificate;
    this.directory = new Directory({
      verifier: deps.verifier,
      selfPeerId: deps.peerId,
      // A live session on a direct path keeps its member listed (offline) when the relay stops listing it;
      // one that only the relay carries cannot reach a member the relay does not list.
      sessionLive: (peerId) => this.#hasSessionKey(peerId) && this.paths.pathInfo(peerId)?.path === 'direct',
      clock,
      logger: this.#logger.child('directory'),
    });
    this.certs = new CertFetcher({
      request: (peerId) => this.link.requestCertificate(peerId),
      accept: (cert, onlineSinceMs, peerId) => this.directory.onPeerUp(cert, onlineSinceMs, peerId),
      down: (peerId) => this.directory.onPeerDown(peerId),
      clock,
      logger: this.#logger.child('certs'),
    }, { maxMembers: this.directory.maxMembers });
    const many = options.relays !== undefined && options.relays.length > 1;
    const { probeIntervalMs, probeTimeoutMs, ...setOptions } = options.relaySet ?? {};
    this.relays = many ? new RelaySet({ clock }, options.relays!, {
      reconnectBaseMs: options.relay.reconnectBaseMs,
      reconnectMaxMs: options.relay.reconnectMaxMs,
      ...setOptions,
    }) : null;
    this.link = new RelayLink(
      { signer: deps.signer, certificate: deps.certificate.raw, logger: this.#logger.child('link'), clock, ...(this.relays !== null ? { relays: this.relays } : {}) },
      options.relay,
    );
    this.#failover = this.relays === null ? null : new RelayFailover(
      { set: this.relays, link: this.link, probe: (t, timeoutMs) => probeRelay({ clock }, t, timeoutMs), clock, logger: this.#logger.child('relays') },
      { probeIntervalMs, probeTimeoutMs },
    );
    // Only members the directory lists (CA-verified) get new peer or path state (docs/handshake.md §4).
    const listed = (peerId: Uint8Array): boolean => this.directory.get(peerId) !== undefined;
    this.paths = new PathManager(
      {
        relay: this.link, clock, logger: this.#logger.child('paths'), isMember: listed, udpPossible: (peerId) => this.#udpPossible(peerId), localPeerId: deps.peerId,
        // Probe RTTs at sub-millisecond resolution on the real clock; a fake clock times them itself.
        ...(clock === systemClock ? { hrtimeMs: () => performance.now() } : {}),
      },
      options.paths,
    );
    this.peers = new PeerManager<MemberCertificate>(
      {
        identity: { signer: deps.signer, certificate: deps.certificate.raw, verifier: deps.verifier },
        localPeerId: deps.peerId,
        transport: this.paths,
        isMember: listed,
        clock,
        logger: this.#logger.child('peers'),
      },
      options.peers,
    );
    this.paths.onFrame = (src, bytes) => this.peers.onFrame(src, bytes);
    this.link.on('deliver', (src: Uint8Array, payload: Uint8Array) => this.paths.onRelayFrame(src, payload));
    if (options.direct !== false && options.direct?.wss === false && options.udp === false) {
      throw new ConfigError(PathCode.OPTION, 'direct paths with neither WSS (direct.wss false) nor UDP (udp false) have no carrier; use direct: false to stay on the relay');
    }
    const rendezvous = options.direct === false ? null : new Rendezvous();
    this.rendezvous = rendezvous;
    this.direct = rendezvous === null ? null : new DirectTransport(
      {
        pathAuthKey: (peerId) => this.peers.pathAuthKey(peerId),
        rendezvous,
        clock,
        logger: this.#logger.child('direct'),
      },
      options.direct === false ? {} : options.direct,
    );
    const direct = this.direct;
    this.offers = direct === null || rendezvous === null ? null : new OfferExchange({
      signer: deps.signer,
      localPeerId: deps.peerId,
      rendezvous,
      currentPin: () => direct.currentPin(),
      peerPublicKey: (peerId) => this.peers.peerCertificate(peerId)?.publicKey ?? this.directory.get(peerId)?.cert.publicKey ?? null,
      sendOffer: (peerId, body) => { if (this.#running) this.peers.sendInner(peerId, InnerType.PathOffer, body); },
      establishedPeers: () => this.peers.establishedPeers(),
      mayExchange: (peerId) => this.#directAllowed(peerId),
      clock,
      logger: this.#logger.child('offers'),
    });
    this.udp = direct === null || rendezvous === null || options.udp === false ? null : new UdpTransport(
      {
        localPeerId: deps.peerId,
        pathAuthKeys: (peerId) => this.peers.pathAuthKeys(peerId),
        rendezvous,
        clock,
        logger: this.#logger.child('udp'),
      },
      {
        ...(options.udp ?? {}),
        // One listen address for both direct transports unless UDP is given its own.
        listenHost: options.udp?.listenHost ?? (options.direct === undefined || options.direct === false ? undefined : options.direct.listenHost),
        stunServers: options.udp?.stunServers ?? (relayStunServer(options.relay.url) === null ? [] : [relayStunServer(options.relay.url)!]),
      },
    );
    // Without WSS (`wss: false`) the WSS transport only holds the certificate our offers pin; UDP is the one source.
    const wss = options.direct !== false && options.direct?.wss === false ? null : direct;
    this.#source = direct === null ? null : combineDirectSources([...(wss === null ? [] : [wss]), ...(this.udp === null ? [] : [this.udp])]);
    const offers = this.offers;
    if (direct !== null && rendezvous !== null && offers !== null && this.#source !== null) {
      rendezvous.setMeshPrefixes(deps.certificate.addresses);
      this.#unwireDirect = wireDirectPaths(this.paths, this.#source, (peerId) => this.#directAllowed(peerId));
      this.udp?.on('candidates', (c: PathCandidate[]) => rendezvous.setUdpCandidates(c));
      direct.on('pin_changed', () => offers.offerChanged());
      // Offers are not acknowledged: one sent over a dying path is lost, and the peer would keep refusing our
      // rotated certificate. Re-send ours with every retry and after every fallback (a duplicate is harmless),
      // within a keyed session only: sending into an expired one would start a handshake for the offer alone, and
      // an idle pair whose UDP path died with its keys would re-key every few minutes, forever. The next session
      // sends our offer when it is established.
      const resend = (peerId: Uint8Array): void => { if (this.#hasSessionKey(peerId)) offers.send(peerId); };
      this.paths.on('want_direct', resend);
      this.paths.on('fallback', resend);
      // On WSS without a UDP path (path-timers.ts, the better-carrier retry): punch from here, and send our offer
      // (harmless if it is a duplicate; if ours changed, the peer accepts it and punches too).
      this.paths.on('want_upgrade', (peerId: Uint8Array) => {
        offers.send(peerId);
        this.udp?.connect(peerId);
      });
      this.peers.on('established', (peerId: Uint8Array) => offers.send(peerId));
      // A new offer from a peer is answered with ours: a peer whose offers we refused (the network policy kept
      // us apart) learns that we want its candidates now. The answer to the answer is a duplicate, so it ends there.
      offers.on('accepted', (peerId: Uint8Array) => offers.send(peerId));
    }
    this.link.on('established', (info: RelayEstablished) => {
      this.#admissions++;
      // The relay's view of our address is a candidate too (behind NAT, the only reachable one).
      try { this.rendezvous?.setAdvertise([info.observedAddress]); } catch { /* not an IP: nothing to advertise */ }
      // The relay re-sends the full member list after every admission: reconcile with it, keeping live sessions.
      this.directory.resetPresence();
      this.certs.reset();
      // The same relay again (it restarted, or the link was cut): re-run the peer handshakes, as ever. Another
      // relay (docs/architecture.md "Several relays"): the sessions are end to end and owe the relay nothing,
      // so they carry on over the new relay unchanged, with no handshake to wait for.
      const moved = this.#lastRelayUrl !== null && this.#lastRelayUrl !== info.relayUrl;
      this.#lastRelayUrl = info.relayUrl;
      // A re-admission only to present a renewed certificate is no restart either: nothing was lost.
      if (this.#admissions > 1 && !moved && !info.renewal) this.peers.rehandshakeAll();
      this.emit('relay', info);
    });
    // An older relay announces certificates (PEER_UP); a current one digests, fetched on demand (cert-fetcher.ts).
    this.link.on('peer_up', (cert: Uint8Array, onlineSinceMs: number) => { this.directory.onPeerUp(cert, onlineSinceMs); });
    this.link.on('peer_down', (peerId: Uint8Array) => { this.directory.onPeerDown(peerId); });
    this.link.on('presence_up', (peerId: Uint8Array, digest: Uint8Array, onlineSinceMs: number) => this.certs.up(peerId, digest, onlineSinceMs));
    this.link.on('presence_down', (peerId: Uint8Array) => this.certs.down(peerId));
    this.link.on('cert', (peerId: Uint8Array, cert: Uint8Array) => this.certs.cert(peerId, cert));
    this.directory.on('up', (e: DirectoryEntry) => {
      // A handshake it began before we held its certificate goes on now (presence announces before the certificate).
      this.peers.memberArrived(e.peerId);
      this.emit('member_up', e);
    });
    // A member kept offline for its direct session leaves when that path is lost (its traffic would go to the relay).
    // Deferred: the PathManager is still inside its path change, and leaving forgets the peer's paths.
    this.paths.on('fallback', (peerId: Uint8Array) => queueMicrotask(() => this.directory.sessionChanged(peerId)));
    this.directory.on('down', (e: DirectoryEntry) => {
      // It left for good (no live session, or no member any more). A revoked or expired one also loses its session (keys wiped).
      if (!this.#isMember(e.peerId, this.#clock.now())) this.peers.forgetPeer(e.peerId);
      this.#forgetPaths(e.peerId);
      this.emit('member_down', e);
    });
    // While the link is down the list stays as it was (nothing can be introduced meanwhile); the next admission reconciles.
    this.link.on('down', (reason: unknown) => this.emit('relay_down', reason));
    this.peers.on('payload', (peerId: Uint8Array, body: Uint8Array) => this.emit('payload', peerId, body));
    // Device frames, the per-packet case, go straight to the data plane rather than through an event.
    this.peers.onDeviceFrame = (peerId: Uint8Array, hex: string, body: Uint8Array) => { this.#dataplane?.fromPeer(peerId, body, hex); };
    this.peers.on('inner', (peerId: Uint8Array, innerType: number, body: Uint8Array) => {
      if (innerType === InnerType.PathOffer) this.#onOffer(peerId, body);
      else this.emit('inner', peerId, innerType, body);
    });
    this.peers.on('established', (peerId: Uint8Array, cert: MemberCertificate) => {
      // The handshake verified the certificate; a list loaded while it ran is applied here. After this
      // event's other listeners, so none of them recreates the forgotten peer.
      queueMicrotask(() => { if (!this.#isMember(peerId, this.#clock.now())) this.#cut(peerId); });
      this.emit('established', peerId, cert);
    });
  }

  /**
   * Apply the membership rules now (after loading a revocation list into the
   * verifier, and periodically for expiry): every peer that is revoked, or
   * whose handshake-verified certificate (or the CA) expired at `nowMs`, is
   * forgotten at once — session keys wiped, half-done handshakes dropped,
   * paths closed, the data plane told — whether or not the relay still lists
   * it or ever said it left; then the directory drops revoked and expired
   * members and offline ones whose session ended. Returns how many left the
   * directory and which peers (hex) lost their session state.
   */
  recheckMembership(nowMs: number = this.#clock.now()): { left: number; cut: string[] } {
    const cut: string[] = [];
    for (const p of this.peers.peers()) {
      const id = fromHex(p.peerId);
      if (this.#isMember(id, nowMs)) continue;
      this.#cut(id);
      cut.push(p.peerId);
    }
    return { left: this.directory.recheck(nowMs), cut };
  }

  /** Not revoked, and neither the certificate it proved in its last handshake nor the CA expired (MembershipVerifier's skew). */
  #isMember(peerId: Uint8Array, nowMs: number): boolean {
    if (this.#verifier.isRevoked(peerId)) return false;
    if (nowMs - CERT_CLOCK_SKEW_MS > this.#verifier.ca.notAfterMs) return false;
    const cert = this.peers.peerCertificate(peerId);
    return cert === null || nowMs - CERT_CLOCK_SKEW_MS <= cert.notAfterMs;
  }

  /**
   * Whether a UDP path to `peerId` may be had now (the path manager's better-carrier tries): the UDP transport
   * runs and holds the peer's UDP candidates, the policy allows direct paths, and the session has a key. Without a
   * key a punch cannot authenticate its probes, and the offer sent with a try would start a handshake: an idle
   * session whose keys expired is left to expire (the next packet starts a fresh one, and its offers punch).
   */
  #udpPossible(peerId: Uint8Array): boolean {
    return this.udp !== null && this.udp.canReach(peerId) && this.#directAllowed(peerId) && this.#hasSessionKey(peerId);
  }

  /** Whether the session with `peerId` has a key now: something sent into it goes out without a handshake. */
  #hasSessionKey(peerId: Uint8Array): boolean {
    return this.peers.pathAuthKey(peerId) !== null;
  }

  #directAllowed(peerId: Uint8Array): boolean {
    return this.#directGate === null || this.#directGate(peerId);
  }

  /**
   * The network policy's direct-path gate from now on (null: none, every
   * peer may go direct), applied at once to every established peer (see
   * the header).
   */
  setDirectPolicy(gate: ((peerId: Uint8Array) => boolean) | null): void {
    this.#directGate = gate;
    if (this.offers === null) return;
    for (const id of this.peers.establishedPeers()) {
      if (this.#directAllowed(id)) {
        this.offers.send(id);
        continue;
      }
      const closed = this.paths.closeDirectPaths(id, 'policy');
      this.rendezvous?.forgetPeer(id);
      this.udp?.forgetPeer(id);
      if (closed > 0) this.#logger.info(`${shortId(id)} direct paths closed: the network policy keeps us apart`, { closed });
    }
  }

  /** Forget everything about a peer that is no member any more: session (keys wiped), paths, data plane state. */
  #cut(peerId: Uint8Array): void {
    this.#logger.info(`${shortId(peerId)} is no member any more; session forgotten`, { revoked: this.#verifier.isRevoked(peerId) });
    this.peers.forgetPeer(peerId);
    this.#forgetPaths(peerId);
    // Whatever else holds state for the peer (the daemon's streams) lets go too.
    this.emit('member_cut', peerId);
  }

  #forgetPaths(peerId: Uint8Array): void {
    this.#dataplane?.forgetPeer(toHex(peerId));
    this.paths.forgetPeer(peerId);
    this.rendezvous?.forgetPeer(peerId);
    this.udp?.forgetPeer(peerId);
  }

  /** Our member certificate in force (the one given at construction, or the last replaceCertificate). */
  get certificate(): MemberCertificate {
    return this.#certificate;
  }

  /**
   * Present a renewed member certificate from now on (docs/architecture.md
   * "Certificate renewal"). The caller has checked it (same key, name and
   * addresses; verified against our CA: src/identity/cert-replacement.ts).
   * The relay link re-admits with it at once (RelayLink.renewCertificate),
   * so the relay holds it before the old one ends; that admission runs no
   * peer handshakes (nothing was lost, as on a move to another relay). Live
   * sessions and direct paths are untouched: they are end to end. Every
   * handshake from now on, new sessions and the rekeys of live ones (at
   * least every REKEY_AFTER_TIME while traffic flows, well inside the
   * verifiers' clock skew past the old notAfter), presents the new
   * certificate, so peers learn it without a forced handshake.
   */
  replaceCertificate(cert: MemberCertificate): void {
    this.#certificate = cert;
    this.peers.setCertificate(cert.raw);
    this.link.renewCertificate(cert.raw);
  }

  /**
   * Add the TAP/TUN data plane (before or after start). One device per node.
   * `acceptRoutes`: send to and accept from members' certified subnet routes
   * (docs/architecture.md "Subnet routes"; TUN only). `serveRoutes`: this
   * node forwards to its own certified routes, so members' packets may only
   * be for our mesh subnets, those routes, multicast or link-local.
   * `serveExit`: this node is an exit node (docs/architecture.md "Exit
   * nodes"), members' packets may be for any destination.
   */
  attachDevice(device: DataplaneDevice, options: { acceptRoutes?: boolean; serveRoutes?: boolean; serveExit?: boolean } = {}): Dataplane {
    if (this.#dataplane) throw new ConfigError('SM_ERR_CONFIG_DEVICE', 'attachDevice: this node already has a device');
    this.#dataplane = new Dataplane({
      device, peers: this.peers, members: this.directory, clock: this.#clock, logger: this.#logger.child('dataplane'),
      ...(options.acceptRoutes === true ? { acceptRoutes: true } : {}),
      // An exit node checks destinations too once it stops serving as one (Dataplane.setServeExit).
      ...(options.serveRoutes === true || options.serveExit === true ? { inboundDestinations: servedDestinations(this.#certificate) } : {}),
      ...(options.serveExit === true ? { serveExit: true } : {}),
    });
    if (this.#dataplane.acceptRoutes && this.rendezvous !== null) {
      // Routes we accept lead into the mesh: no direct path may run to an address inside one (rendezvous.ts).
      const rendezvous = this.rendezvous;
      // Only members with routes change the set: a relay announcing members costs no pass over the directory.
      const sync = (e?: DirectoryEntry, previous?: DirectoryEntry): void => {
        if (e !== undefined && e.routes.length === 0 && (previous?.routes.length ?? 0) === 0) return;
        rendezvous.setRoutedPrefixes([...new Set(this.directory.list().flatMap((x) => x.cert.routes))]);
      };
      this.directory.on('up', sync);
      this.directory.on('down', sync);
      sync();
    }
    if (this.#running) this.#dataplane.start();
    return this.#dataplane;
  }

  get dataplane(): Dataplane | null {
    return this.#dataplane;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.peers.start();
    this.paths.start();
    this.#dataplane?.start();
    if (this.#failover !== null) this.#failover.start();
    else this.link.start();
    this.#scheduleRecheck();
    this.direct?.start().then(
      async () => {
        if (!this.#running) return;
        if (this.udp !== null) {
          try {
            await this.udp.start();
            this.#logger.info('UDP direct paths up', { port: this.udp.port, nat: this.udp.natMapping });
          } catch (err) {
            this.#logger.error('UDP socket failed; direct paths over WSS only', { error: (err as Error).message });
          }
          if (!this.#running) return;
        }
        this.offers!.ready = true;
        this.#logger.info('direct-path listener up', { port: this.direct!.port });
        for (const id of this.peers.establishedPeers()) this.offers!.send(id);
      },
      (err: unknown) => this.#logger.error('direct-path listener failed; staying on the relay', { error: (err as Error).message }),
    );
  }

  #onOffer(peerId: Uint8Array, offer: Uint8Array): void {
    // An accepted offer starts a direct attempt at once; retries come from the PathManager's backoff.
    if (this.offers === null || !this.offers.receive(peerId, offer)) return;
    this.udp?.setPeerCandidates(peerId, this.rendezvous?.peerCandidates(peerId, 'udp') ?? []);
    if (this.paths.pathInfo(peerId)?.path !== 'direct') {
      this.#source?.connect(peerId);
    } else if (this.paths.wantsUdp(peerId)) {
      // On a WSS path with no UDP path: UDP is the better carrier (path-rank.ts), so punch for it. This is how a
      // pair comes back to UDP after an idle session expired: its UDP path died with the keys (it cannot
      // authenticate probes without them), the WSS path did not, and the next session's offers land here.
      this.udp?.connect(peerId);
    }
  }

  /** Peers whose certificates expired or were revoked lose their sessions and leave the directory (and with it, routing). */
  #scheduleRecheck(): void {
    this.#recheck = this.#clock.schedule(DIRECTORY_RECHECK_INTERVAL_MS, () => {
      if (!this.#running) return;
      this.recheckMembership();
      this.#scheduleRecheck();
    });
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#recheck?.cancel();
    this.certs.stop();
    this.#recheck = null;
    this.#unwireDirect?.();
    this.#unwireDirect = null;
    this.#source?.detach();
    if (this.offers !== null) this.offers.ready = false;
    await this.udp?.stop();
    await this.direct?.stop();
    this.#failover?.stop();
    await this.link.stop();
    this.paths.stop();
    this.#dataplane?.stop();
    this.peers.stop();
  }

  send(peerId: Uint8Array, payload: Uint8Array): 'sent' | 'queued' | 'dropped' {
    return this.peers.sendPayload(peerId, payload);
  }

  /** Every known relay with its state and RTT; with a single relay, that one. */
  relayList(): RelayInfo[] {
    if (this.relays !== null) return this.relays.snapshot();
    const url = this.link.relayUrl;
    const up = this.link.established !== null;
    return [{ url, pins: [], state: up ? 'current' : 'unknown', rttMs: null, failures: 0, lastError: null }];
  }

  peerList(): PeerInfo[] {
    return this.peers.peers();
  }
}

/** Destinations a member's packet may have on a node serving routes: our mesh subnets and routes, multicast, link-local, broadcast. */
function servedDestinations(cert: MemberCertificate): Array<{ bytes: Uint8Array; prefix: number }> {
  const out = [...cert.addresses.map((t) => parseCidr(t)), ...cert.routes.map((t) => parseRoute(t))].map((c) => ({ bytes: maskPrefix(c.address, c.prefix), prefix: c.prefix }));
  for (const [text, prefix] of [['224.0.0.0', 4], ['255.255.255.255', 32], ['ff00::', 8], ['fe80::', 10]] as const) out.push({ bytes: parseIpAddress(text).bytes, prefix });
  return out;
}
