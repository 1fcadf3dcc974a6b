/**
 * Member presence: the relay tells every admitted member who else is online
 * (docs/protocol.md §1 "Presence", PRESENCE frames), so nodes can route L3
 * packets, flood L2 broadcasts and list chat users.
 *
 * What the relay announces is only a hint, and small: per member its peer
 * id, the SHA-256 of the certificate the relay admitted and its admission
 * time. The certificate itself is fetched by the node on demand
 * (CERT_REQUEST / CERT, answered by relay-server.ts) and verified there
 * (src/node/cert-fetcher.ts, src/node/directory.ts), so this file vouches
 * for nobody and a relay can withhold members but not invent one.
 *
 * Rules (protocol.md §1, "Presence"):
 *  - joined(conn), right after ESTABLISHED: every other admitted member gets
 *    an up entry for conn, and conn gets one up entry per other member.
 *  - left(conn), when conn's socket is gone AND it still owned its table
 *    entry: every other admitted member gets a down entry. A connection
 *    replaced by a newer one of the same peer has lost its entry already, so
 *    it causes no down; the newer one's joined() sends a fresh up.
 *
 * Coalescing and back-pressure (docs/architecture.md "Presence at scale"):
 * changes are not sent as they happen. Each receiver has a pending set,
 * keyed by peer, holding only the LATEST entry for that peer (an up then a
 * down of one member leave one down). Every flush interval (PRESENCE_FLUSH_MS,
 * longer with many receivers: presenceFlushMs) the pending sets go out as
 * PRESENCE frames of up to PRESENCE_SEND_ENTRIES entries (the wire allows
 * MAX_PRESENCE_ENTRIES; smaller frames keep the socket's buffers small),
 * but only while the receiver's send queue is under its limit; a congested
 * receiver keeps its set, resumed when a write completes, on the next flush
 * and on every sweep (`pump`). Each receiver has at most one frame on its
 * way to the socket; the next goes when that one is written. Nothing is dropped, and what one receiver
 * can make the relay keep is one entry per member of the network (local
 * and remote): bounded by maxClients plus the cluster's members, not by
 * how many changes happened. A newcomer's initial list is the same set,
 * filled with every member at once.
 *
 * Costs: each member's up entry (73 bytes) is encoded once, at admission,
 * and a down (33 bytes) once per leave. Within one flush, receivers with the
 * same changes in the same order (all who missed nothing) share one frame
 * buffer, so a join storm allocates a frame per distinct change set, not
 * per receiver; full frames (a newcomer's initial list, in admission order)
 * are also kept across flushes (PRESENCE_FULL_FRAME_CACHE).
 *
 * In a relay cluster (src/relay/cluster/relay-cluster.ts) members attached
 * to other relays are announced too: `remoteUp` / `remoteDown` queue their
 * entries to every local member, and this file keeps their certificates
 * (`remoteCertificate`) so the relay can answer CERT_REQUEST for them
 * without asking another relay (the cluster carries each certificate once
 * per admission, docs/architecture.md "Relay cluster"). A key is local or
 * remote, never both: the server drops the remote entry when the member is
 * admitted here (`dropRemote`) and closes the local connection before
 * `remoteUp` when the member was admitted elsewhere later.
 *
 * Not re-entrant from sendFrame's callbacks other than `resume`, which only
 * schedules. Throws on nothing the network sends.
 */
import { sha256 } from '../crypto/bytes.js';
import { PresenceKind } from '../wire/constants.js';
import { encodePresenceEntry, presenceFrame } from '../wire/relay-frames.js';
import type { TimerHandle } from '../util/clock.js';
import type { RelayStats } from './relay-stats.js';

/** How long changes gather before they go out, at least: long enough that a
 *  burst of admissions reaches each member as one frame per flush instead of
 *  one per change, short against the relay's heartbeat so a node in a small
 *  network learns of a member about as soon as it could handshake. */
export const PRESENCE_FLUSH_MS = 50;
/** PRESENCE frames the relay sends per second in all, at most, while members
 *  keep changing: each flush sends up to one frame per receiver, so the
 *  interval grows with the receivers (10,000 members: one flush a second).
 *  Per-frame costs (a WebSocket message, a TLS record, a write request
 *  while the socket is busy) then stay O(members) per second instead of
 *  O(members) per change; larger, not more, frames carry a join storm. */
export const PRESENCE_FRAMES_PER_SEC = 10_000;

/** Entries in one PRESENCE frame this relay sends, at most: 100 ups are
 *  7,306 bytes, half of one 16 KiB buffer of the socket's TLS layer. Node's
 *  TLS layer sizes its per-connection buffers by the writes it is handed
 *  and keeps them while the connection lives, resident where they were
 *  written (the relay's systemd unit runs on jemalloc returning untouched
 *  pages): at the wire's limit (MAX_PRESENCE_ENTRIES, 800, ~58 KB) every
 *  newcomer, whose initial list is full frames, kept tens of KB more native
 *  memory (docs/architecture.md "Presence at scale"). 3,000 members: 552
 *  MiB RSS with 800-entry frames, 457 MiB with 200; 10,000 members on Node
 *  24: 1,059 MiB with 200, 965 MiB with 100 (BENCHMARKS.md "One relay
 *  holding many members"). Receivers accept up to MAX_PRESENCE_ENTRIES;
 *  smaller frames change no meaning, only how many frames a list takes
 *  (100 at 10,000 members). */
export const PRESENCE_SEND_ENTRIES = 100;

/** Full PRESENCE frames (PRESENCE_SEND_ENTRIES entries, ~7.3 KB each) kept
 *  across flushes: newcomers' initial lists list the members in admission
 *  order, so their full frames repeat from one newcomer to the next; 256
 *  frames (1.8 MiB) cover a 25,600-member list, and a miss only costs an
 *  allocation. */
export const PRESENCE_FULL_FRAME_CACHE = 256;

/** The flush interval for `receivers` members with pending changes. */
export function presenceFlushMs(receivers: number): number {
  return Math.max(PRESENCE_FLUSH_MS, Math.ceil((receivers * 1000) / PRESENCE_FRAMES_PER_SEC));
}

/** What presence needs of one client connection (ClientConnection fits). */
export interface PresenceMember {
  readonly peerKey: string;
  readonly peerId: Uint8Array | null;
  readonly state: string;
  readonly congested: boolean;
  sendFrame(bytes: Uint8Array, dropReason?: 'presence-queue-full', onWritten?: () => void): boolean;
}

/** What presence needs of the routing table (PeerTable fits). */
export interface PresenceTable<M> {
  get(key: string): M | undefined;
  connections(): M[];
}

/** One encoded PRESENCE entry; `id` tells entries apart cheaply when frames are shared. */
interface Entry {
  id: number;
  bytes: Uint8Array;
}

interface Remote {
  entry: Entry;
  cert: Uint8Array;
}

export class RelayPresence<M extends PresenceMember> {
  readonly #table: PresenceTable<M>;
  readonly #stats: RelayStats;
  readonly #schedule: (delayMs: number, fn: () => void) => TimerHandle;
  /** peer key -> up entry of the connection that currently owns the key. */
  readonly #entries = new Map<string, Entry>();
  /** peer key -> up entry and certificate of a member attached to another relay of the cluster. */
  readonly #remote = new Map<string, Remote>();
  /** Receiver -> its pending changes, latest entry per peer key. */
  readonly #pending = new Map<M, Map<string, Entry>>();
  #nextEntryId = 0;
  /** Full frames by their entry ids, least recently used first (PRESENCE_FULL_FRAME_CACHE). */
  readonly #fullFrames = new Map<string, Uint8Array>();
  #timer: TimerHandle | null = null;
  /** Receivers with a PRESENCE frame handed to ws but not yet written to their socket. */
  readonly #inflight = new Set<M>();

  constructor(deps: { table: PresenceTable<M>; stats: RelayStats; schedule: (delayMs: number, fn: () => void) => TimerHandle }) {
    this.#table = deps.table;
    this.#stats = deps.stats;
    this.#schedule = deps.schedule;
  }

  /** Receivers with changes not yet sent (for tests and /stats). */
  get pendingLists(): number {
    return this.#pending.size;
  }

  /** Pending entries held for `conn` (for tests: the bound is one per member). */
  pendingFor(conn: M): number {
    return this.#pending.get(conn)?.size ?? 0;
  }

  /**
   * `conn` was admitted and has been sent ESTABLISHED. `cert` is its encoded
   * member certificate, `onlineSinceMs` the admission time.
   */
  joined(conn: M, cert: Uint8Array, onlineSinceMs: number): void {
    const entry = this.#entry(upEntry(conn.peerId as Uint8Array, cert, onlineSinceMs));
    this.#entries.set(conn.peerKey, entry);
    const initial = new Map<string, Entry>();
    for (const other of this.#table.connections()) {
      if (other === conn || other.state !== 'admitted') continue;
      const theirs = this.#entries.get(other.peerKey);
      if (theirs !== undefined) initial.set(other.peerKey, theirs);
      this.#queue(other, conn.peerKey, entry);
    }
    for (const [key, remote] of this.#remote) initial.set(key, remote.entry);
    // ESTABLISHED voided what conn knew (protocol.md §1): its list starts afresh.
    if (initial.size > 0) this.#pending.set(conn, initial);
    else this.#pending.delete(conn);
    this.#scheduleFlush();
  }

  /** `conn` is gone and was removed from the table (it was not replaced): tell the others. */
  left(conn: M): void {
    this.forget(conn);
    this.#entries.delete(conn.peerKey);
    const peerId = conn.peerId;
    if (peerId === null) return;
    this.#queueAll(conn.peerKey, this.#entry(encodePresenceEntry({ kind: PresenceKind.Down, peerId })));
  }

  /** A member attached to another relay of the cluster is up (again, or with a newer admission). */
  remoteUp(key: string, peerId: Uint8Array, cert: Uint8Array, onlineSinceMs: number): void {
    const entry = this.#entry(upEntry(peerId, cert, onlineSinceMs));
    this.#remote.set(key, { entry, cert });
    this.#queueAll(key, entry);
  }

  /** A member attached to another relay is gone: a down entry to every local member. */
  remoteDown(key: string, peerId: Uint8Array): void {
    if (!this.#remote.delete(key)) return;
    this.#queueAll(key, this.#entry(encodePresenceEntry({ kind: PresenceKind.Down, peerId })));
  }

  /** `key` was admitted here: its remote entry is superseded (the local up announces it). */
  dropRemote(key: string): void {
    this.#remote.delete(key);
  }

  /** `conn` lost its key to a newer admission on another relay: forget it without a down. */
  replaced(conn: M): void {
    this.forget(conn);
    this.#entries.delete(conn.peerKey);
  }

  /** The certificate of a member of another relay, as the cluster delivered it; undefined when not listed. */
  remoteCertificate(key: string): Uint8Array | undefined {
    return this.#remote.get(key)?.cert;
  }

  /** Members of other relays announced to local members now. */
  get remoteCount(): number {
    return this.#remote.size;
  }

  /** `conn` closed: drop its pending changes. */
  forget(conn: M): void {
    this.#pending.delete(conn);
    this.#inflight.delete(conn);
  }

  /** Send what the receivers' queues take now; the server's sweep calls this. */
  pump(): void {
    this.#flush();
  }

  /** Cancel the flush timer (the server is stopping). */
  stop(): void {
    this.#timer?.cancel();
    this.#timer = null;
  }

  #entry(bytes: Uint8Array): Entry {
    return { id: this.#nextEntryId++, bytes };
  }

  #queueAll(key: string, entry: Entry): void {
    for (const other of this.#table.connections()) {
      if (other.peerKey === key || other.state !== 'admitted') continue;
      this.#queue(other, key, entry);
    }
    this.#scheduleFlush();
  }

  #queue(to: M, key: string, entry: Entry): void {
    let set = this.#pending.get(to);
    if (set === undefined) {
      set = new Map();
      this.#pending.set(to, set);
    }
    // Latest state wins; the set never holds two entries of one member.
    set.set(key, entry);
  }

  #scheduleFlush(): void {
    if (this.#timer !== null || this.#pending.size === 0) return;
    this.#timer = this.#schedule(presenceFlushMs(this.#pending.size), () => {
      this.#timer = null;
      this.#flush();
    });
  }

  #flush(): void {
    // Receivers that missed nothing get the same changes in the same order: one frame serves them all,
    // instead of one allocation per receiver (ws never modifies what it sends).
    const shared = new Map<string, Uint8Array>();
    for (const [conn, set] of this.#pending) {
      if (conn.state !== 'admitted') {
        this.#pending.delete(conn);
        continue;
      }
      this.#drain(conn, set, shared);
      if (set.size === 0) this.#pending.delete(conn);
    }
  }

  /** conn's last frame reached its socket: send it the next one, if any. */
  #written(conn: M): void {
    this.#inflight.delete(conn);
    const set = this.#pending.get(conn);
    if (set === undefined) return;
    if (conn.state !== 'admitted') {
      this.#pending.delete(conn);
      return;
    }
    this.#drain(conn, set, new Map());
    if (set.size === 0) this.#pending.delete(conn);
  }

  /**
   * Send conn the next frame of `set` (up to PRESENCE_SEND_ENTRIES entries),
   * unless one is still on its way to the socket or the queue is full. One
   * frame in flight per receiver: a newcomer's list of N members (73·N
   * bytes, 730 KB at 10,000) handed to ws at once would sit in that
   * socket's buffers, whose memory the relay then keeps per member; paced
   * by write completions it needs one frame's worth.
   */
  #drain(conn: M, set: Map<string, Entry>, shared: Map<string, Uint8Array>): void {
    const batch: Uint8Array[] = [];
    if (set.size > 0) {
      // Resumed by the write completion (#written), the next flush or the sweep.
      if (conn.congested || this.#inflight.has(conn)) return;
      batch.length = 0;
      let ups = 0;
      let ids = '';
      for (const [key, entry] of set) {
        batch.push(entry.bytes);
        ids += `${entry.id},`;
        if (entry.bytes[0] === PresenceKind.Up) ups++;
        set.delete(key);
        if (batch.length === PRESENCE_SEND_ENTRIES) break;
      }
      const full = batch.length === PRESENCE_SEND_ENTRIES;
      let frame = full ? this.#fullFrames.get(ids) : shared.get(ids);
      if (frame === undefined) {
        frame = presenceFrame(batch);
        if (!full) shared.set(ids, frame);
      }
      if (full) {
        this.#fullFrames.delete(ids);
        this.#fullFrames.set(ids, frame);
        if (this.#fullFrames.size > PRESENCE_FULL_FRAME_CACHE) this.#fullFrames.delete(this.#fullFrames.keys().next().value as string);
      }
      this.#inflight.add(conn);
      if (!conn.sendFrame(frame, 'presence-queue-full', () => this.#written(conn))) {
        // Not open any more; its close forgets the set.
        this.#inflight.delete(conn);
        return;
      }
      this.#stats.peerUpSent += ups;
      this.#stats.peerDownSent += batch.length - ups;
      this.#stats.presenceFramesSent++;
      this.#stats.presenceBytesSent += frame.length;
    }
  }
}

function upEntry(peerId: Uint8Array, cert: Uint8Array, onlineSinceMs: number): Uint8Array {
  return encodePresenceEntry({ kind: PresenceKind.Up, peerId, certDigest: sha256(cert), onlineSinceMs });
}
