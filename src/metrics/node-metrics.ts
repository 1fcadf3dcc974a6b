/**
 * The node daemon's Prometheus metrics (issue 7 "Metrics"), read at scrape
 * time from the same counters `shadowmesh status` and `peers` report:
 *
 *   shadowmesh_peers                                   gauge    peers with an established end-to-end session
 *   shadowmesh_relay_connected                         gauge    1 while admitted by the relay, else 0
 *   shadowmesh_relay_current{url}                      gauge    1 for the relay in use, 0 for every other known relay
 *   shadowmesh_relay_rtt_seconds{url}                  gauge    probed RTT of each known relay (several relays only)
 *   shadowmesh_relay_switches_total                    counter  admissions at another relay than the previous one
 *   shadowmesh_frames_total{direction}                 counter  session data frames in/out, every path
 *   shadowmesh_bytes_total{direction}                  counter  bytes of those frames (header + ciphertext)
 *   shadowmesh_handshakes_total                        counter  completed peer handshakes (first and rekeys)
 *   shadowmesh_drops_total{component,reason}           counter  every drop counter of every component
 *   shadowmesh_paths{kind}                             gauge    peers whose selected path is relay / direct
 *   shadowmesh_direct_paths{carrier}                   gauge    peers on a direct path, by carrier: wss / udp
 *   shadowmesh_udp_punches_total                       counter  hole punching attempts started
 *   shadowmesh_udp_paths_established_total             counter  UDP paths opened by an authenticated answer
 *   shadowmesh_udp_roams_total                         counter  UDP paths moved to a peer's new address (NAT rebinding)
 *   shadowmesh_candidates_refused_total{transport,reason} counter candidates never dialed or probed (docs/protocol.md §3.5.6)
 *   shadowmesh_nat_mapping{mapping}                    gauge    1 for the NAT mapping STUN shows (none, endpoint-independent, endpoint-dependent, unknown)
 *   shadowmesh_p2p_migrations_total{status}            counter  path changes, to_direct / to_relay
 *   shadowmesh_p2p_fallbacks_total                     counter  selected direct paths lost (traffic back on the relay)
 *   shadowmesh_p2p_retries_total{status}               counter  direct attempts, ok / failed
 *   shadowmesh_p2p_migration_duration_seconds          histogram direct path available -> first frame sent on it
 *   shadowmesh_chat_messages_total{direction}          counter  chat messages delivered to us (in) / acknowledged by the peer (out)
 *   shadowmesh_policy_drops_total{rule}                counter  packets the network policy dropped, by the deciding rule's name
 *   shadowmesh_policy_refused_total{code}              counter  signed policies from the relay refused, by error code
 *   shadowmesh_streams_open                            gauge    streams open now (both directions, docs/architecture.md "Streams")
 *
 * Drop components follow the control API's status: link, peers, session
 * (summed over peers), ping, paths, certs (the certificate fetcher), udp,
 * chat, streams (the stream layer's drops and refusals, SOCKS5 and HTTP
 * CONNECT included, as status streams.<reason>), dataplane. The histogram is fed by
 * the path manager's 'migration_complete' event, once per migration made
 * under traffic (a switch while the peer is idle is not timed).
 *
 * Session counters live as long as the PeerManager's peer entries, which are
 * never removed, so the sums only grow.
 */
import { Histogram, type Registry } from 'prom-client';
import { byLabel, counterFrom, gaugeFrom, type Sample } from './metrics-registry.js';

type Counts = Readonly<Record<string, number>>;

/** What these metrics read: NodeDaemon fits. */
export interface NodeMetricsSource {
  readonly node: {
    readonly link: { readonly established: unknown; readonly stats: { readonly drops: Counts; readonly switches?: number } };
    /** Every known relay (ShadowNode.relayList); absent in sources that know one relay only. */
    relayList?(): readonly { readonly url: string; readonly state: string; readonly rttMs: number | null }[];
    readonly peers: { readonly drops: Counts };
    /** The certificate fetcher (src/node/cert-fetcher.ts); absent in sources without one. */
    readonly certs?: { readonly drops: Counts };
    readonly paths: {
      readonly stats: {
        readonly migrations: { readonly to_direct: number; readonly to_relay: number };
        readonly fallbacks: number;
        readonly retries: { readonly ok: number; readonly failed: number };
        readonly drops: Counts;
      };
      pathInfos(): ReadonlyMap<string, { readonly path: string; readonly carrier?: string }>;
      on(event: 'migration_complete', listener: (peerId: Uint8Array, durationMs: number) => void): unknown;
    };
    readonly dataplane: { readonly stats: { readonly drops: Counts }; policyDrops?(): Counts } | null;
    /** Refused PATH_OFFERs by reason; null or absent when relay-only. */
    readonly offers?: { drops(): Counts } | null;
    /** The UDP transport; null without UDP direct paths. */
    readonly udp?: { readonly stats: { readonly punches: number; readonly established: number; readonly roams: number; readonly drops: Counts; readonly candidatesRefused?: Counts }; readonly natMapping: string } | null;
    /** The rendezvous (offered and advertised candidates); null when relay-only. */
    readonly rendezvous?: { readonly stats: { readonly candidatesRefused?: Counts } } | null;
    peerList(): readonly { readonly established: boolean; readonly stats: { readonly framesIn: number; readonly framesOut: number; readonly bytesIn: number; readonly bytesOut: number; readonly handshakes: number }; readonly drops: Counts }[];
  };
  readonly pinger: { readonly drops: Counts };
  readonly chatService: { readonly drops: Counts; readonly stats: { readonly delivered: number; readonly acked: number } };
  readonly chatInbox: { readonly drops: Counts };
  /** The stream layer (src/node/stream/node-streams.ts); absent in sources without one. */
  readonly streams?: { drops(): Counts; readonly mux: { readonly size: number } };
  /** Signed policies from the relay refused, by code (NodeDaemon.policyRefused); absent: none counted. */
  readonly policyRefused?: Counts;
}

/** From a path becoming available to the first frame on it: milliseconds when it is ready at once, seconds when it waited for a probe. */
export const MIGRATION_BUCKETS_SECONDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The path kinds always reported, so a dashboard sees 0 rather than no series. */
const PATH_KINDS = ['relay', 'direct'] as const;
/** The direct carriers always reported. */
const DIRECT_CARRIERS = ['wss', 'udp'] as const;
/** NAT mappings always reported (one of them 1). */
const NAT_MAPPINGS = ['none', 'endpoint-independent', 'endpoint-dependent', 'unknown'] as const;

function sumSessions(d: NodeMetricsSource): { framesIn: number; framesOut: number; bytesIn: number; bytesOut: number; handshakes: number; established: number; drops: Record<string, number> } {
  const t = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, handshakes: 0, established: 0, drops: {} as Record<string, number> };
  for (const p of d.node.peerList()) {
    t.framesIn += p.stats.framesIn;
    t.framesOut += p.stats.framesOut;
    t.bytesIn += p.stats.bytesIn;
    t.bytesOut += p.stats.bytesOut;
    t.handshakes += p.stats.handshakes;
    if (p.established) t.established++;
    for (const [k, v] of Object.entries(p.drops)) t.drops[k] = (t.drops[k] ?? 0) + v;
  }
  return t;
}

function* drops(d: NodeMetricsSource): Iterable<Sample> {
  const chat: Record<string, number> = { ...d.chatService.drops };
  for (const [k, v] of Object.entries(d.chatInbox.drops)) chat[k] = (chat[k] ?? 0) + v;
  yield* byLabel('reason', d.node.link.stats.drops, { component: 'link' });
  yield* byLabel('reason', d.node.peers.drops, { component: 'peers' });
  yield* byLabel('reason', sumSessions(d).drops, { component: 'session' });
  yield* byLabel('reason', d.pinger.drops, { component: 'ping' });
  yield* byLabel('reason', d.node.paths.stats.drops, { component: 'paths' });
  if (d.node.certs !== undefined) yield* byLabel('reason', d.node.certs.drops, { component: 'certs' });
  const offers = d.node.offers;
  if (offers !== undefined && offers !== null) yield* byLabel('reason', offers.drops(), { component: 'offers' });
  const udp = d.node.udp;
  if (udp !== undefined && udp !== null) yield* byLabel('reason', udp.stats.drops, { component: 'udp' });
  yield* byLabel('reason', chat, { component: 'chat' });
  if (d.streams !== undefined) yield* byLabel('reason', d.streams.drops(), { component: 'streams' });
  const dp = d.node.dataplane;
  if (dp !== null) yield* byLabel('reason', dp.stats.drops, { component: 'dataplane' });
}

/** Register the node metrics on `registry`, reading `source` at every scrape. */
export function registerNodeMetrics(registry: Registry, source: NodeMetricsSource): void {
  const paths = source.node.paths;
  gaugeFrom(registry, 'shadowmesh_peers', 'Peers with an established end-to-end session.', [], () => [[{}, sumSessions(source).established]]);
  gaugeFrom(registry, 'shadowmesh_relay_connected', '1 while the relay has admitted this node, else 0.', [], () => [[{}, source.node.link.established !== null ? 1 : 0]]);
  const relays = (): readonly { readonly url: string; readonly state: string; readonly rttMs: number | null }[] => source.node.relayList?.() ?? [];
  gaugeFrom(registry, 'shadowmesh_relay_current', '1 for the relay this node is admitted by, 0 for every other relay it knows.', ['url'], () =>
    relays().map((r) => [{ url: r.url }, r.state === 'current' ? 1 : 0]));
  gaugeFrom(registry, 'shadowmesh_relay_rtt_seconds', 'Smoothed RTT of the light probe (TLS handshake) of each known relay; only relays with an answered probe.', ['url'], () =>
    relays().filter((r) => r.rttMs !== null).map((r) => [{ url: r.url }, (r.rttMs as number) / 1_000]));
  counterFrom(registry, 'shadowmesh_relay_switches_total', 'Admissions at another relay than the one of the previous admission.', [], () => [[{}, source.node.link.stats.switches ?? 0]]);
  counterFrom(registry, 'shadowmesh_frames_total', 'Session data frames, by direction, over every path.', ['direction'], () => {
    const t = sumSessions(source);
    return [[{ direction: 'in' }, t.framesIn], [{ direction: 'out' }, t.framesOut]];
  });
  counterFrom(registry, 'shadowmesh_bytes_total', 'Bytes of session data frames (header and ciphertext), by direction.', ['direction'], () => {
    const t = sumSessions(source);
    return [[{ direction: 'in' }, t.bytesIn], [{ direction: 'out' }, t.bytesOut]];
  });
  if (source.streams !== undefined) {
    const streams = source.streams;
    gaugeFrom(registry, 'shadowmesh_streams_open', 'Streams open now, opened by us or by peers (SOCKS5, HTTP CONNECT, port forwards, accepted).', [], () => [[{}, streams.mux.size]]);
  }
  counterFrom(registry, 'shadowmesh_handshakes_total', 'Completed peer handshakes, first ones and rekeys.', [], () => [[{}, sumSessions(source).handshakes]]);
  counterFrom(registry, 'shadowmesh_policy_drops_total', 'Packets the network policy dropped, by the name of the deciding rule (default-deny when none matched).', ['rule'], () =>
    byLabel('rule', source.node.dataplane?.policyDrops?.() ?? {}, {}));
  counterFrom(registry, 'shadowmesh_policy_refused_total', 'Signed policies from the relay refused (older, tampered, another CA, malformed), by error code.', ['code'], () =>
    byLabel('code', source.policyRefused ?? {}, {}));
  counterFrom(registry, 'shadowmesh_drops_total', 'Frames, packets and events dropped, by component and reason.', ['component', 'reason'], () => drops(source));
  gaugeFrom(registry, 'shadowmesh_paths', 'Peers by the kind of their selected path.', ['kind'], () => {
    const n = new Map<string, number>(PATH_KINDS.map((k) => [k, 0]));
    for (const info of paths.pathInfos().values()) n.set(info.path, (n.get(info.path) ?? 0) + 1);
    return [...n].map(([kind, v]) => [{ kind }, v] as const);
  });
  gaugeFrom(registry, 'shadowmesh_direct_paths', 'Peers on a direct path, by what carries it (wss, udp).', ['carrier'], () => {
    const n = new Map<string, number>(DIRECT_CARRIERS.map((k) => [k, 0]));
    for (const info of paths.pathInfos().values()) if (info.path === 'direct' && info.carrier !== undefined) n.set(info.carrier, (n.get(info.carrier) ?? 0) + 1);
    return [...n].map(([carrier, v]) => [{ carrier }, v] as const);
  });
  const udp = (): NonNullable<NodeMetricsSource['node']['udp']> | null => source.node.udp ?? null;
  counterFrom(registry, 'shadowmesh_udp_punches_total', 'UDP hole punching attempts started.', [], () => [[{}, udp()?.stats.punches ?? 0]]);
  counterFrom(registry, 'shadowmesh_udp_paths_established_total', 'UDP direct paths opened by an authenticated answer.', [], () => [[{}, udp()?.stats.established ?? 0]]);
  counterFrom(registry, 'shadowmesh_candidates_refused_total', 'Candidates from offers, the relay or STUN never dialed or probed (unspecified, multicast, broadcast, loopback, port, over_cap), by transport.', ['transport', 'reason'], function* () {
    // The rendezvous filters peers' offers and the addresses we advertise; its counts keep the 'wss' label they always had.
    const wss = source.node.rendezvous?.stats.candidatesRefused;
    if (wss !== undefined) yield* byLabel('reason', wss, { transport: 'wss' });
    const u = udp()?.stats.candidatesRefused;
    if (u !== undefined) yield* byLabel('reason', u, { transport: 'udp' });
  });
  counterFrom(registry, 'shadowmesh_udp_roams_total', 'UDP paths moved to a new address of the same peer (NAT rebinding).', [], () => [[{}, udp()?.stats.roams ?? 0]]);
  gaugeFrom(registry, 'shadowmesh_nat_mapping', 'The NAT mapping STUN answers show for the UDP socket: 1 for the current one.', ['mapping'], () => {
    const current = udp()?.natMapping ?? 'unknown';
    return NAT_MAPPINGS.map((m) => [{ mapping: m }, m === current ? 1 : 0] as const);
  });
  counterFrom(registry, 'shadowmesh_p2p_migrations_total', 'Selected path changes: to_direct (relay to a direct path) and to_relay.', ['status'], () => byLabel('status', paths.stats.migrations));
  counterFrom(registry, 'shadowmesh_p2p_fallbacks_total', 'Selected direct paths lost, traffic moved back to the relay.', [], () => [[{}, paths.stats.fallbacks]]);
  counterFrom(registry, 'shadowmesh_p2p_retries_total', 'Direct-path attempts by outcome (ok, failed).', ['status'], () => byLabel('status', paths.stats.retries));
  counterFrom(registry, 'shadowmesh_chat_messages_total', 'Chat messages delivered to a user here (in) and acknowledged by the peer (out).', ['direction'], () => [
    [{ direction: 'in' }, source.chatService.stats.delivered],
    [{ direction: 'out' }, source.chatService.stats.acked],
  ]);
  const migration = new Histogram({
    name: 'shadowmesh_p2p_migration_duration_seconds',
    help: 'Relay to direct migrations: from the direct path available to the first frame sent on it.',
    buckets: MIGRATION_BUCKETS_SECONDS,
    registers: [registry],
  });
  paths.on('migration_complete', (_peerId, durationMs) => migration.observe(durationMs / 1000));
}
