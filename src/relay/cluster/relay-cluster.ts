/**
 * One relay's membership in a relay cluster: several relays share one mesh
 * through NATS (docs/architecture.md "Relay cluster"; what a NATS sender
 * can do: docs/threat-model.md "Relay cluster over NATS").
 *
 * Wiring and policy of the cluster side; each idea has its own file:
 *   nats-link.ts        the NATS connection, credentials, TLS, reconnects
 *   cluster-subjects.ts subjects, per network (CA hash prefix)
 *   cluster-messages.ts the bytes on NATS; decoding never throws
 *   remote-presence.ts  which member is attached to which relay (bounded)
 *   cluster-stats.ts    counters for /stats and /metrics
 *   cluster-options.ts  defaults and validation
 *
 * What it does:
 *  - Presence out: a member admitted here is published (MEMBERS with its
 *    certificate and admission time), one that leaves is published (LEAVE).
 *    Every heartbeatMs a HEARTBEAT. On every (re)connect to NATS: HELLO,
 *    then this relay's full list (SYNC_BEGIN, MEMBERS…, SYNC_END); a HELLO
 *    from another relay (or a heartbeat from a relay not in the table)
 *    makes it publish its full list again, so the cluster re-syncs after a
 *    restart or an outage of NATS.
 *  - Presence in: every certificate is verified against the network CA
 *    (validity, revocation) before it is believed; the table resolves a
 *    member announced twice to the newest admission. A member newer on
 *    another relay than here replaces the local connection (CLOSE
 *    Replaced), exactly as a newer connection does on one relay. A relay
 *    silent for CLUSTER_DOWN_AFTER_HEARTBEATS heartbeats is down and its
 *    members get PEER_DOWN. The host turns these into PEER_UP/PEER_DOWN
 *    for the local members, so they see the whole cluster.
 *  - Frames: a DELIVER for a member attached elsewhere is published to
 *    that relay's frame subject byte for byte (FORWARD); one arriving is
 *    handed to the local member as is. The relay never parses or opens the
 *    sealed payload, and gains no key.
 *  - While NATS is down the local relay keeps serving its own members;
 *    frames for remote members are dropped ('nats-down').
 *
 * Every NATS message is network input: decoded without throwing, bounded,
 * checked, dropped and counted when bad (docs/conventions.md §10).
 * Timers: one periodic tick (heartbeat and expiry), from the injected clock.
 */
import { randomBytes, toHex } from '../../crypto/bytes.js';
import { systemClock, type Clock, type TimerHandle } from '../../util/clock.js';
import { silentLogger, type Logger } from '../../util/logger.js';
import {
  decodeClusterMessage,
  deliverSource,
  encodeForward,
  encodeHeartbeat,
  encodeHello,
  encodeLeave,
  encodeMembers,
  encodeSyncBegin,
  encodeSyncEnd,
  RELAY_ID_BYTES,
  type ClusterMessage,
} from './cluster-messages.js';
import { clusterDownAfterMs, resolveClusterOptions, type ClusterOptions } from './cluster-options.js';
import { ClusterStats, type ClusterDropReason, type PeerRelayCounters } from './cluster-stats.js';
import { clusterSubjects, type ClusterSubjects } from './cluster-subjects.js';
import { NatsLink, type NatsLinkError, type NatsLinkHandlers } from './nats-link.js';
import { newer, RemotePresence, type RemoteMember } from './remote-presence.js';

/** What the cluster needs of the relay server (RelayServer fits; docs/conventions.md §11). */
export interface ClusterHost {
  /** Members admitted here now, with their certificates and admission times. */
  localMembers(): { peerId: Uint8Array; cert: Uint8Array; admittedAtMs: number }[];
  /** Admission time of the local member `key`, if it is admitted here. */
  localAdmission(key: string): number | undefined;
  /** Verify a member certificate against the CA now; returns its peer id, throws when it is not a current member's. */
  verifyMember(cert: Uint8Array): Uint8Array;
  /** `key` is attached to another relay (newer than any local connection, which the host closes). */
  remoteUp(key: string, peerId: Uint8Array, cert: Uint8Array, onlineSinceMs: number): void;
  /** `key` is no longer attached to another relay. */
  remoteDown(key: string, peerId: Uint8Array): void;
  /** Hand a DELIVER frame to the local member `key`. */
  deliver(key: string, frame: Uint8Array): 'delivered' | 'unreachable' | 'queue-full';
}

/** What a NATS connection must offer (NatsLink fits; tests may pass an in-memory bus). */
export interface ClusterTransport {
  readonly connected: boolean;
  /** Why the last connection attempt failed (nats-link.ts); null while connected. */
  readonly lastError?: NatsLinkError | null;
  subscribe(subject: string): void;
  publish(subject: string, data: Uint8Array): boolean;
  start(): void;
  stop(): Promise<void>;
}

/** The cluster part of GET /stats. */
export interface ClusterSnapshot {
  relayId: string;
  name: string;
  subjectPrefix: string;
  natsConnected: boolean;
  /** Why the last NATS connection attempt failed (cluster-errors.ts codes); null while connected. */
  natsError: NatsLinkError | null;
  connects: number;
  disconnects: number;
  syncsSent: number;
  remoteMembers: number;
  peerRelays: { id: string; name: string; lastHeartbeatAgoMs: number; members: number; claimedMembers: number; memberIds: string[] }[];
  forwarding: Record<string, PeerRelayCounters>;
  drops: Record<string, number>;
}

/** Peer ids listed per relay in /stats; the count is always complete. */
export const STATS_MEMBER_IDS = 100;

export class RelayCluster {
  readonly options: Readonly<ClusterOptions>;
  readonly stats = new ClusterStats();
  readonly relayId: Uint8Array;
  readonly relayIdHex: string;
  readonly subjects: ClusterSubjects;
  readonly #host: ClusterHost;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #link: ClusterTransport;
  readonly #table: RemotePresence;
  #tick: TimerHandle | null = null;
  #running = false;
  #syncId = 0;
  #lastSyncMs = -Infinity;
  #syncWanted = false;
  #lastHelloMs = -Infinity;

  constructor(
    deps: { host: ClusterHost; caRaw: Uint8Array; logger?: Logger; clock?: Clock; random?: (n: number) => Uint8Array; transport?: (handlers: NatsLinkHandlers) => ClusterTransport },
    options: Partial<ClusterOptions>,
  ) {
    this.options = resolveClusterOptions(options);
    this.#host = deps.host;
    this.#logger = deps.logger ?? silentLogger;
    this.#clock = deps.clock ?? systemClock;
    this.relayId = (deps.random ?? randomBytes)(RELAY_ID_BYTES);
    this.relayIdHex = toHex(this.relayId);
    this.subjects = clusterSubjects(deps.caRaw);
    this.#table = new RemotePresence({ maxRelays: this.options.maxRelays, maxMembers: this.options.maxMembers, downAfterMs: clusterDownAfterMs(this.options) });
    const handlers: NatsLinkHandlers = {
      onMessage: (subject, data) => this.receive(subject, data),
      onUp: () => this.#onUp(),
      onDown: () => this.#onDown(),
    };
    this.#link = deps.transport?.(handlers) ?? new NatsLink({ logger: this.#logger, handlers }, this.options);
    this.#link.subscribe(this.subjects.presence);
    this.#link.subscribe(this.subjects.frames(this.relayIdHex));
  }

  get connected(): boolean {
    return this.#link.connected;
  }

  /** The remote member table (read-only use: tests, /stats). */
  get table(): RemotePresence {
    return this.#table;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#link.start();
    this.#schedule();
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#tick?.cancel();
    this.#tick = null;
    await this.#link.stop();
  }

  // ------------------------------------------------------------ from the relay server

  localJoined(peerId: Uint8Array, cert: Uint8Array, admittedAtMs: number): void {
    // Admitted here now: any remote entry is older; its relay will replace its own connection on our MEMBERS.
    this.#table.remove(toHex(peerId));
    for (const msg of encodeMembers(this.relayId, 0, [{ admittedAtMs, cert }])) this.#link.publish(this.subjects.presence, msg);
  }

  localLeft(peerId: Uint8Array, admittedAtMs: number): void {
    this.#link.publish(this.subjects.presence, encodeLeave(this.relayId, peerId, admittedAtMs));
  }

  /** Publish a DELIVER frame to the relay holding `dst`; false when none does (or NATS is down). */
  forward(dst: Uint8Array, deliverFrame: Uint8Array): boolean {
    const owner = this.#table.owner(toHex(dst));
    if (owner === undefined) return false;
    if (!this.#link.connected) {
      this.stats.drop('nats-down');
      return false;
    }
    if (!this.#link.publish(this.subjects.frames(owner.relayId), encodeForward(this.relayId, dst, deliverFrame))) {
      this.stats.drop('nats-down');
      return false;
    }
    const c = this.stats.peer(this.#table.relay(owner.relayId)?.name ?? owner.relayId);
    if (c !== null) {
      c.framesOut++;
      c.bytesOut += deliverFrame.length;
    }
    return true;
  }

  snapshot(): ClusterSnapshot {
    const now = this.#clock.now();
    return {
      relayId: this.relayIdHex,
      name: this.options.name,
      subjectPrefix: this.subjects.prefix,
      natsConnected: this.#link.connected,
      natsError: this.#link.lastError ?? null,
      connects: this.stats.connects,
      disconnects: this.stats.disconnects,
      syncsSent: this.stats.syncsSent,
      remoteMembers: this.#table.size,
      peerRelays: this.#table.relays().map((r) => ({
        id: r.id,
        name: r.name,
        lastHeartbeatAgoMs: Math.max(0, now - r.lastHeardMs),
        members: r.members.size,
        claimedMembers: r.claimedMembers,
        memberIds: [...r.members].slice(0, STATS_MEMBER_IDS),
      })),
      forwarding: this.stats.peers(),
      drops: this.stats.drops(),
    };
  }

  // ------------------------------------------------------------ from NATS

  /** One NATS message; never throws on its content. */
  receive(subject: string, data: Uint8Array): void {
    const msg = decodeClusterMessage(data);
    if (msg.type === 'invalid') {
      this.stats.drop(msg.reason);
      return;
    }
    if (msg.relayId === this.relayIdHex) return; // our own, should noEcho ever be off
    const isFrame = msg.type === 'forward';
    if (isFrame !== (subject !== this.subjects.presence)) {
      this.stats.drop('subject');
      return;
    }
    this.#apply(msg);
  }

  #apply(msg: ClusterMessage): void {
    const now = this.#clock.now();
    switch (msg.type) {
      case 'hello':
        if (this.#table.heard(msg.relayId, now, msg.name) === null) return this.stats.drop('relays-full');
        this.#wantSync(now);
        return;
      case 'heartbeat': {
        const known = this.#table.relay(msg.relayId) !== undefined;
        const r = this.#table.heard(msg.relayId, now, msg.name);
        if (r === null) return this.stats.drop('relays-full');
        r.claimedMembers = msg.members;
        // A relay we have no list of (it came while we were cut off): ask everyone for their lists.
        if (!known && now - this.#lastHelloMs >= this.options.heartbeatMs) this.#hello(now);
        return;
      }
      case 'sync-begin':
        if (!this.#table.beginSync(msg.relayId, msg.syncId, now)) this.stats.drop('relays-full');
        return;
      case 'sync-end':
        for (const m of this.#table.endSync(msg.relayId, msg.syncId, now)) this.#down(m);
        return;
      case 'members':
        for (const entry of msg.members) this.#member(msg.relayId, entry.cert, entry.admittedAtMs, now);
        return;
      case 'leave': {
        const m = this.#table.leave(msg.relayId, toHex(msg.peerId), msg.admittedAtMs, now);
        if (m !== undefined) this.#down(m);
        return;
      }
      case 'forward':
        this.#forwarded(msg.relayId, msg.dst, msg.frame);
        return;
    }
  }

  #member(relayId: string, cert: Uint8Array, admittedAtMs: number, now: number): void {
    let peerId: Uint8Array;
    try {
      peerId = this.#host.verifyMember(cert);
    } catch {
      this.stats.drop('bad-certificate');
      return;
    }
    const key = toHex(peerId);
    const local = this.#host.localAdmission(key);
    if (local !== undefined && !newer(admittedAtMs, relayId, local, this.relayIdHex)) {
      // Ours is newer: the other relay replaces its connection when it sees our MEMBERS.
      this.#table.heard(relayId, now);
      this.stats.drop('stale');
      return;
    }
    const r = this.#table.upsert(relayId, { key, peerId, admittedAtMs, cert }, now);
    switch (r.result) {
      case 'up':
        this.#host.remoteUp(key, peerId, cert, admittedAtMs);
        return;
      case 'updated':
        if (r.previous !== undefined) this.#host.remoteUp(key, peerId, cert, admittedAtMs);
        return;
      default:
        this.stats.drop(r.result as ClusterDropReason);
    }
  }

  #forwarded(relayId: string, dst: Uint8Array, frame: Uint8Array): void {
    const src = this.#table.owner(toHex(deliverSource(frame)));
    if (src === undefined || src.relayId !== relayId) {
      this.stats.drop('unknown-source');
      return;
    }
    const result = this.#host.deliver(toHex(dst), frame);
    if (result !== 'delivered') {
      this.stats.drop(result);
      return;
    }
    const c = this.stats.peer(this.#table.relay(relayId)?.name ?? relayId);
    if (c !== null) {
      c.framesIn++;
      c.bytesIn += frame.length;
    }
  }

  #down(m: RemoteMember): void {
    if (this.#host.localAdmission(m.key) !== undefined) return;
    this.#host.remoteDown(m.key, m.peerId);
  }

  // ------------------------------------------------------------ NATS up / down, the tick

  #onUp(): void {
    this.stats.connects++;
    const now = this.#clock.now();
    this.#hello(now);
    this.#heartbeat();
    this.#sync(now);
  }

  #onDown(): void {
    this.stats.disconnects++;
    // Remote members stay until their relays' heartbeats are overdue (expiry), as for a crashed relay.
  }

  #hello(now: number): void {
    this.#lastHelloMs = now;
    this.#link.publish(this.subjects.presence, encodeHello(this.relayId, this.options.name));
  }

  #heartbeat(): void {
    this.#link.publish(this.subjects.presence, encodeHeartbeat(this.relayId, this.options.name, this.#host.localMembers().length));
  }

  /** Several HELLOs at once (a cluster restarting) cost one full list per half heartbeat, not one each. */
  #wantSync(now: number): void {
    if (now - this.#lastSyncMs >= this.options.heartbeatMs / 2) this.#sync(now);
    else this.#syncWanted = true;
  }

  #sync(now: number): void {
    if (!this.#link.connected) return;
    this.#lastSyncMs = now;
    this.#syncWanted = false;
    this.#syncId = (this.#syncId + 1) >>> 0 || 1;
    const members = this.#host.localMembers();
    const p = this.subjects.presence;
    this.#link.publish(p, encodeSyncBegin(this.relayId, this.#syncId));
    for (const msg of encodeMembers(this.relayId, this.#syncId, members)) this.#link.publish(p, msg);
    this.#link.publish(p, encodeSyncEnd(this.relayId, this.#syncId, members.length));
    this.stats.syncsSent++;
  }

  #schedule(): void {
    this.#tick = this.#clock.schedule(this.options.heartbeatMs, () => {
      if (!this.#running) return;
      try {
        this.#runTick();
      } catch (err) {
        this.#logger.error('cluster tick failed', { error: (err as Error).message });
      }
      this.#schedule();
    });
  }

  #runTick(): void {
    const now = this.#clock.now();
    if (this.#link.connected) {
      this.#heartbeat();
      if (this.#syncWanted) this.#sync(now);
    }
    const expired = this.#table.expire(now);
    for (const r of expired.relays) this.#logger.warn('peer relay down: no heartbeat', { relay: r.name, members: r.members.size });
    for (const m of expired.members) this.#down(m);
  }
}
