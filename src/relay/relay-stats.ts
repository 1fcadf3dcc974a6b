/**
 * Relay counters, served as JSON on GET /stats (docs/architecture.md
 * "Operations"; docs/conventions.md §13: every drop reason has its own counter).
 *
 * `drops` counts frames not delivered; `disconnects` counts admitted
 * connections the relay cut. Counters only grow, except `activeClients`/`pendingClients`, which the
 * server sets from its tables. Reasons are short kebab-case strings fixed in
 * code (never taken from the network), so the maps stay small.
 * `snapshot()` returns a fresh plain object; callers may keep or mutate it.
 */
import type { ClusterSnapshot } from './cluster/relay-cluster.js';
import type { CertExpiry } from '../identity/cert-expiry.js';

/** Why an admission was refused; one counter each. */
export type RefusalReason =
  | 'not-member'
  | 'cert-validity'
  | 'revoked'
  | 'bad-signature'
  | 'protocol'
  | 'handshake-timeout'
  | 'relay-full'
  | 'pending-full'
  /** One source (IPv4 address or IPv6 /64) already held maxPendingPerAddress unadmitted connections: cut at TCP accept. */
  | 'pending-per-address'
  | 'shutting-down';

/** Why a frame was dropped (or a connection cut for bad traffic); one counter each. */
export type DropReason =
  | 'malformed'
  | 'unexpected'
  | 'frame-too-large'
  | 'rate-limited'
  | 'queue-full'
  | 'unreachable'
  /** A PEER_UP / PEER_DOWN change towards a member whose send queue was full (presence.ts). */
  | 'presence-queue-full'
  /** CERT_REQUEST over the member's cert-request rate (client-connection.ts). */
  | 'cert-rate-limited'
  /** CERT_REQUEST for a peer this relay does not list (relay-server.ts). */
  | 'cert-unknown'
  /** CERT_REQUEST while the requester's own send queue was full: no answer, it asks again. */
  | 'cert-queue-full';

/** Why the relay cut an admitted connection; one counter each. */
export type DisconnectReason = 'replaced' | 'revoked' | 'idle-timeout' | 'cert-expired' | 'bad-frames-limit';

export interface RelayStatsSnapshot {
  activeClients: number;
  pendingClients: number;
  totalConnections: number;
  admissionAttempts: number;
  admissions: number;
  framesRouted: number;
  bytesRouted: number;
  peerUpSent: number;
  peerDownSent: number;
  /** PRESENCE frames and their bytes sent, CERT_REQUESTs received and CERTs sent (docs/protocol.md §1 "Presence"). */
  presence?: { framesSent: number; bytesSent: number; certRequests: number; certsSent: number };
  admissionsRefused: Record<string, number>;
  drops: Record<string, number>;
  disconnects: Record<string, number>;
  /** The cache of verified member certificates (certificate-cache.ts): HELLOs answered without a CA signature check. */
  certificateCache?: { hits: number; verifications: number; size: number };
  /** STUN responder counters (src/stun/stun-responder.ts); absent when the relay runs without STUN. */
  stun?: { requests: number; answered: number; dropped: Record<string, number> };
  /** The relay cluster (cluster/relay-cluster.ts): NATS state, peer relays and their members, forwarding; absent on a single relay. */
  cluster?: ClusterSnapshot;
  /** Expiry of the network CA certificate and of the TLS certificate served (RelayServer.certificates). */
  certificates?: { ca?: CertExpiry; tls: CertExpiry & { selfSigned: boolean } };
  /** The signed network policy carried (policy-carrier.ts): its version as the daemon verified it, POLICY frames sent and skipped on a full queue; absent without one. */
  policy?: { version: number; sent: number; skipped: number };
}

export class RelayStats {
  activeClients = 0;
  pendingClients = 0;
  /** WebSocket connections accepted since start. */
  totalConnections = 0;
  /** HELLO frames received. */
  admissionAttempts = 0;
  /** Connections that reached ESTABLISHED. */
  admissions = 0;
  /** DELIVER frames handed to a destination socket. */
  framesRouted = 0;
  /** Payload bytes in those frames. */
  bytesRouted = 0;
  /** Up entries queued to members in PRESENCE frames (presence.ts). */
  peerUpSent = 0;
  /** Down entries queued to members in PRESENCE frames. */
  peerDownSent = 0;
  /** PRESENCE frames queued to members. */
  presenceFramesSent = 0;
  /** Bytes of those frames. */
  presenceBytesSent = 0;
  /** CERT_REQUEST frames received from admitted members. */
  certRequests = 0;
  /** CERT frames queued in answer. */
  certsSent = 0;
  readonly #refused = new Map<RefusalReason, number>();
  readonly #drops = new Map<DropReason, number>();
  readonly #disconnects = new Map<DisconnectReason, number>();

  refused(reason: RefusalReason): void {
    this.#refused.set(reason, (this.#refused.get(reason) ?? 0) + 1);
  }

  drop(reason: DropReason, n = 1): void {
    this.#drops.set(reason, (this.#drops.get(reason) ?? 0) + n);
  }

  disconnect(reason: DisconnectReason): void {
    this.#disconnects.set(reason, (this.#disconnects.get(reason) ?? 0) + 1);
  }

  snapshot(): RelayStatsSnapshot {
    return {
      activeClients: this.activeClients,
      pendingClients: this.pendingClients,
      totalConnections: this.totalConnections,
      admissionAttempts: this.admissionAttempts,
      admissions: this.admissions,
      framesRouted: this.framesRouted,
      bytesRouted: this.bytesRouted,
      peerUpSent: this.peerUpSent,
      peerDownSent: this.peerDownSent,
      presence: { framesSent: this.presenceFramesSent, bytesSent: this.presenceBytesSent, certRequests: this.certRequests, certsSent: this.certsSent },
      admissionsRefused: Object.fromEntries(this.#refused),
      drops: Object.fromEntries(this.#drops),
      disconnects: Object.fromEntries(this.#disconnects),
    };
  }
}
