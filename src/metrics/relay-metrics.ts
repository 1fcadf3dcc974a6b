/**
 * The relay's Prometheus metrics (issue 7 "Metrics"), read from
 * RelayServer.snapshot() — the same counters GET /stats serves — at scrape
 * time:
 *
 *   shadowmesh_relay_connections_active                 gauge    admitted members now
 *   shadowmesh_relay_connections_pending                gauge    connections still in admission
 *   shadowmesh_relay_connections_total                  counter  WebSocket connections accepted
 *   shadowmesh_relay_admissions_total                   counter  connections admitted
 *   shadowmesh_relay_admissions_refused_total{reason}   counter  refusals (relay-stats.ts RefusalReason)
 *   shadowmesh_relay_frames_routed_total                counter  DELIVER frames handed to a member
 *   shadowmesh_relay_bytes_routed_total                 counter  payload bytes in them
 *   shadowmesh_relay_drops_total{reason}                counter  frames not delivered (DropReason)
 *   shadowmesh_relay_disconnects_total{reason}          counter  members the relay cut (DisconnectReason)
 *   shadowmesh_relay_cert_verifications_total{result}   counter  HELLO certificates: CA signature checked ('verified') or found in the cache ('cached')
 *   shadowmesh_relay_admission_duration_seconds         histogram WebSocket accepted -> admitted
 *   shadowmesh_stun_requests_total                      counter  UDP datagrams to the STUN responder (junk included)
 *   shadowmesh_stun_answered_total                      counter  Binding requests answered
 *   shadowmesh_stun_drops_total{reason}                 counter  datagrams not answered (stun-responder.ts StunDropReason)
 * (the stun metrics are absent when the relay runs with --no-stun)
 *   shadowmesh_relay_cluster_nats_connected             gauge    1 while connected to NATS, else 0
 *   shadowmesh_relay_cluster_nats_error{code}           gauge    1 with the SM_ERR_CLUSTER_NATS_* code of the last failed connection attempt while not connected (cluster-errors.ts); no sample while connected
 *   shadowmesh_relay_cluster_peer_relays                gauge    other relays heard within the down bound
 *   shadowmesh_relay_cluster_remote_members             gauge    members attached to other relays
 *   shadowmesh_relay_cluster_frames_forwarded_total{peer_relay,direction}  counter  sealed frames sent to (out) / received from (in) a peer relay over NATS
 *   shadowmesh_relay_cluster_bytes_forwarded_total{peer_relay,direction}   counter  their bytes (DELIVER frames)
 *   shadowmesh_relay_cluster_drops_total{reason}        counter  NATS messages and frames dropped (cluster-stats.ts ClusterDropReason)
 * (the cluster metrics are absent on a single relay; src/relay/cluster/)
 *   shadowmesh_certificate_expiry_timestamp_seconds{cert}  gauge  notAfter of the CA ('ca') and TLS ('tls') certificates (cert-metrics.ts)
 *
 * The histogram is the one metric fed by an event, once per admission (never
 * per frame): `admission` is the RelayServer's `metrics` dependency.
 */
import { Histogram, type Registry } from 'prom-client';
import type { RelayStatsSnapshot } from '../relay/relay-stats.js';
import type { Logger } from '../util/logger.js';
import { registerCertExpiryMetrics } from './cert-metrics.js';
import { byLabel, counterFrom, createMetricsRegistry, gaugeFrom } from './metrics-registry.js';
import { MetricsServer, parseMetricsAddress, type MetricsAddress } from './metrics-server.js';

/** What these metrics read: RelayServer fits. */
export interface RelayMetricsSource {
  snapshot(): RelayStatsSnapshot;
}

/** Admission is a round trip plus two hybrid signature checks: milliseconds on a LAN, up to the handshake timeout (10 s default) on a bad link. */
export const ADMISSION_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Register the relay metrics on `registry`; returns the admission observer to pass to RelayServer as `deps.metrics`. */
export function registerRelayMetrics(registry: Registry, source: () => RelayMetricsSource | null): { admission(seconds: number): void } {
  // One snapshot per scrape would need a scrape hook; a snapshot is a dozen field copies, so each metric takes its own.
  const snap = (): RelayStatsSnapshot | null => source()?.snapshot() ?? null;
  const one = (read: (s: RelayStatsSnapshot) => number) => function* () {
    const s = snap();
    if (s !== null) yield [{}, read(s)] as const;
  };
  const many = (label: string, read: (s: RelayStatsSnapshot) => Record<string, number>) => function* () {
    const s = snap();
    if (s !== null) yield* byLabel(label, read(s));
  };
  gaugeFrom(registry, 'shadowmesh_relay_connections_active', 'Members admitted and connected now.', [], one((s) => s.activeClients));
  gaugeFrom(registry, 'shadowmesh_relay_connections_pending', 'Connections accepted and still in admission.', [], one((s) => s.pendingClients));
  counterFrom(registry, 'shadowmesh_relay_connections_total', 'WebSocket connections accepted since start.', [], one((s) => s.totalConnections));
  counterFrom(registry, 'shadowmesh_relay_admissions_total', 'Connections admitted as members since start.', [], one((s) => s.admissions));
  counterFrom(registry, 'shadowmesh_relay_admissions_refused_total', 'Admissions refused, by reason.', ['reason'], many('reason', (s) => s.admissionsRefused));
  counterFrom(registry, 'shadowmesh_relay_frames_routed_total', 'Sealed frames delivered to a member.', [], one((s) => s.framesRouted));
  counterFrom(registry, 'shadowmesh_relay_bytes_routed_total', 'Payload bytes in the frames delivered.', [], one((s) => s.bytesRouted));
  counterFrom(registry, 'shadowmesh_relay_drops_total', 'Frames not delivered, by reason.', ['reason'], many('reason', (s) => s.drops));
  const stun = (read: (s: NonNullable<RelayStatsSnapshot['stun']>) => number) => function* () {
    const s = snap()?.stun;
    if (s !== undefined) yield [{}, read(s)] as const;
  };
  counterFrom(registry, 'shadowmesh_stun_requests_total', 'UDP datagrams received by the STUN responder, junk included.', [], stun((s) => s.requests));
  counterFrom(registry, 'shadowmesh_stun_answered_total', 'STUN Binding requests answered.', [], stun((s) => s.answered));
  counterFrom(registry, 'shadowmesh_stun_drops_total', 'Datagrams the STUN responder did not answer, by reason.', ['reason'], function* () {
    const s = snap()?.stun;
    if (s !== undefined) yield* byLabel('reason', s.dropped);
  });
  counterFrom(registry, 'shadowmesh_relay_disconnects_total', 'Admitted members the relay disconnected, by reason.', ['reason'], many('reason', (s) => s.disconnects));
  counterFrom(registry, 'shadowmesh_relay_cert_verifications_total', 'HELLO certificates whose CA signature was checked (verified) or already known (cached); validity and revocation are judged for both.', ['result'], function* () {
    const c = snap()?.certificateCache;
    if (c !== undefined) yield* byLabel('result', { verified: c.verifications, cached: c.hits });
  });
  const cluster = (read: (c: NonNullable<RelayStatsSnapshot['cluster']>) => number) => function* () {
    const c = snap()?.cluster;
    if (c !== undefined) yield [{}, read(c)] as const;
  };
  gaugeFrom(registry, 'shadowmesh_relay_cluster_nats_connected', 'Relay cluster: 1 while connected to NATS, else 0.', [], cluster((c) => (c.natsConnected ? 1 : 0)));
  gaugeFrom(registry, 'shadowmesh_relay_cluster_nats_error', 'Relay cluster: 1 with the code of the last failed NATS connection attempt, while not connected.', ['code'], function* () {
    const e = snap()?.cluster?.natsError;
    if (e !== undefined && e !== null) yield [{ code: e.code }, 1] as const;
  });
  gaugeFrom(registry, 'shadowmesh_relay_cluster_peer_relays', 'Relay cluster: other relays heard within the down bound.', [], cluster((c) => c.peerRelays.length));
  gaugeFrom(registry, 'shadowmesh_relay_cluster_remote_members', 'Relay cluster: members attached to other relays.', [], cluster((c) => c.remoteMembers));
  const forwarded = (frames: boolean) => function* () {
    const c = snap()?.cluster;
    if (c === undefined) return;
    for (const [peer, v] of Object.entries(c.forwarding)) {
      yield [{ peer_relay: peer, direction: 'out' }, frames ? v.framesOut : v.bytesOut] as const;
      yield [{ peer_relay: peer, direction: 'in' }, frames ? v.framesIn : v.bytesIn] as const;
    }
  };
  counterFrom(registry, 'shadowmesh_relay_cluster_frames_forwarded_total', 'Relay cluster: sealed frames sent to (out) or received from (in) a peer relay over NATS.', ['peer_relay', 'direction'], forwarded(true));
  counterFrom(registry, 'shadowmesh_relay_cluster_bytes_forwarded_total', 'Relay cluster: bytes of those frames.', ['peer_relay', 'direction'], forwarded(false));
  counterFrom(registry, 'shadowmesh_relay_cluster_drops_total', 'Relay cluster: NATS messages and frames dropped, by reason.', ['reason'], function* () {
    const c = snap()?.cluster;
    if (c !== undefined) yield* byLabel('reason', c.drops);
  });
  registerCertExpiryMetrics(registry, () => {
    const c = snap()?.certificates;
    return c === undefined ? [] : [...(c.ca !== undefined ? [c.ca] : []), c.tls];
  });
  const admission = new Histogram({
    name: 'shadowmesh_relay_admission_duration_seconds',
    help: 'Time from an accepted WebSocket connection to the member admitted (HELLO, challenge, AUTH).',
    buckets: ADMISSION_BUCKETS_SECONDS,
    registers: [registry],
  });
  return { admission: (seconds) => admission.observe(seconds) };
}

/** What `shadowmesh relay --metrics` runs: null when the flag is absent. */
export interface RelayMetricsEndpoint {
  /** Pass as RelayServer deps.metrics. */
  readonly observer: { admission(seconds: number): void };
  /** Bind the listener once the relay listens; /ready follows `server.listening`. */
  start(server: RelayMetricsSource & { readonly listening: boolean }): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Prepare the endpoint for relay.metrics.listen (--metrics, SHADOWMESH_METRICS_LISTEN): an address
 * already resolved by src/config, or the flag's text (a ConfigError names it); nothing is bound until start().
 */
export function startRelayMetrics(listen: MetricsAddress | string | undefined, logger: Logger): RelayMetricsEndpoint | null {
  if (listen === undefined) return null;
  const address = typeof listen === 'string' ? parseMetricsAddress(listen) : listen;
  const registry = createMetricsRegistry();
  let server: (RelayMetricsSource & { readonly listening: boolean }) | null = null;
  const observer = registerRelayMetrics(registry, () => server);
  const http = new MetricsServer({ registry, ready: () => (server?.listening === true ? { ok: true } : { ok: false, reason: 'relay not listening' }) }, address);
  return {
    observer,
    async start(s) {
      server = s;
      await http.start();
      logger.info('metrics listening', { url: `${http.url}/metrics` });
    },
    stop: () => http.stop(),
  };
}
