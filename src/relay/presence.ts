/**
 * Member presence: the relay tells every admitted member who else is online
 * (docs/protocol.md §1, PEER_UP / PEER_DOWN), so nodes can route L3 packets,
 * flood L2 broadcasts and list chat users.
 *
 * What the relay announces is only a hint. PEER_UP carries the member
 * certificate exactly as the relay admitted it; nodes verify it against the
 * network CA themselves (src/node/directory.ts), so this file vouches for
 * nobody and a relay can withhold members but not invent one.
 *
 * Rules (protocol.md §1, "Presence"):
 *  - joined(conn), right after ESTABLISHED: every other admitted member gets
 *    PEER_UP(conn), and conn gets one PEER_UP per other admitted member.
 *  - left(conn), when conn's socket is gone AND it still owned its table
 *    entry: every other admitted member gets PEER_DOWN. A connection replaced
 *    by a newer one of the same peer has lost its entry already, so it
 *    causes no PEER_DOWN; the newer one's joined() sends a fresh PEER_UP.
 *
 * Costs: O(members) frames per join and per leave, and no per-send encoding:
 * each member's PEER_UP is encoded once, at admission, and the same buffer is
 * queued to every receiver (ws never modifies what it sends).
 *
 * Backpressure: a single change (one PEER_UP or PEER_DOWN) towards a member
 * whose send queue is over the limit is dropped and counted
 * ('presence-queue-full'), like any frame. The newcomer's initial list is
 * different: with thousands of members it is several MiB of certificates,
 * more than one send queue holds, so it is kept as a list of peer keys and
 * paced by the queue: sent while the queue has room, resumed when a write
 * completes and on every sweep (`pump`). Keys are looked up when sent, so a
 * member that left meanwhile is skipped and one that was replaced is
 * announced with its current certificate. Nothing of the list is dropped.
 *
 * In a relay cluster (src/relay/cluster/relay-cluster.ts) members attached
 * to other relays are announced too: `remoteUp` / `remoteDown` send their
 * PEER_UP / PEER_DOWN to every local member, and a newcomer's initial list
 * holds them next to the local ones. A key is local or remote, never both:
 * the server drops the remote entry when the member is admitted here
 * (`dropRemote`) and closes the local connection before `remoteUp` when the
 * member was admitted elsewhere later.
 */
import { FrameType } from '../wire/constants.js';
import { encodeRelayFrame } from '../wire/relay-frames.js';
import type { DropReason, RelayStats } from './relay-stats.js';

/** What presence needs of one client connection (ClientConnection fits). */
export interface PresenceMember {
  readonly peerKey: string;
  readonly peerId: Uint8Array | null;
  readonly state: string;
  readonly congested: boolean;
  sendFrame(bytes: Uint8Array, dropReason?: DropReason, onWritten?: () => void): boolean;
}

/** What presence needs of the routing table (PeerTable fits). */
export interface PresenceTable<M> {
  get(key: string): M | undefined;
  connections(): M[];
}

interface Backlog {
  keys: string[];
  next: number;
  /** Created once per backlog, so resuming allocates nothing per frame. */
  resume: () => void;
}

export class RelayPresence<M extends PresenceMember> {
  readonly #table: PresenceTable<M>;
  readonly #stats: RelayStats;
  /** peer key -> PEER_UP of the connection that currently owns the key. */
  readonly #upFrames = new Map<string, Uint8Array>();
  /** Initial lists still being sent, by receiving connection. */
  readonly #backlogs = new Map<M, Backlog>();
  /** peer key -> PEER_UP of a member attached to another relay of the cluster. */
  readonly #remote = new Map<string, Uint8Array>();

  constructor(deps: { table: PresenceTable<M>; stats: RelayStats }) {
    this.#table = deps.table;
    this.#stats = deps.stats;
  }

  /** Initial lists not yet fully sent (for tests and /stats). */
  get pendingLists(): number {
    return this.#backlogs.size;
  }

  /**
   * `conn` was admitted and has been sent ESTABLISHED. `cert` is its encoded
   * member certificate, `onlineSinceMs` the admission time.
   */
  joined(conn: M, cert: Uint8Array, onlineSinceMs: number): void {
    const up = encodeRelayFrame({ type: FrameType.PeerUp, onlineSinceMs, cert });
    this.#upFrames.set(conn.peerKey, up);
    const keys: string[] = [];
    for (const other of this.#table.connections()) {
      if (other === conn || other.state !== 'admitted') continue;
      keys.push(other.peerKey);
      if (this.#sendChange(other, up)) this.#stats.peerUpSent++;
    }
    for (const key of this.#remote.keys()) keys.push(key);
    if (keys.length === 0) return;
    const backlog: Backlog = { keys, next: 0, resume: () => this.#flush(conn) };
    this.#backlogs.set(conn, backlog);
    this.#flush(conn);
  }

  /** `conn` is gone and was removed from the table (it was not replaced): tell the others. */
  left(conn: M): void {
    this.forget(conn);
    this.#upFrames.delete(conn.peerKey);
    const peerId = conn.peerId;
    if (peerId === null) return;
    let down: Uint8Array | null = null;
    for (const other of this.#table.connections()) {
      if (other === conn || other.state !== 'admitted') continue;
      down ??= encodeRelayFrame({ type: FrameType.PeerDown, peerId });
      if (this.#sendChange(other, down)) this.#stats.peerDownSent++;
    }
  }

  /** A member attached to another relay of the cluster is up (again, or with a newer admission). */
  remoteUp(key: string, cert: Uint8Array, onlineSinceMs: number): void {
    const up = encodeRelayFrame({ type: FrameType.PeerUp, onlineSinceMs, cert });
    this.#remote.set(key, up);
    for (const other of this.#table.connections()) {
      if (other.state !== 'admitted') continue;
      if (this.#sendChange(other, up)) this.#stats.peerUpSent++;
    }
  }

  /** A member attached to another relay is gone: PEER_DOWN to every local member. */
  remoteDown(key: string, peerId: Uint8Array): void {
    if (!this.#remote.delete(key)) return;
    let down: Uint8Array | null = null;
    for (const other of this.#table.connections()) {
      if (other.state !== 'admitted') continue;
      down ??= encodeRelayFrame({ type: FrameType.PeerDown, peerId });
      if (this.#sendChange(other, down)) this.#stats.peerDownSent++;
    }
  }

  /** `key` was admitted here: its remote entry is superseded (the local PEER_UP announces it). */
  dropRemote(key: string): void {
    this.#remote.delete(key);
  }

  /** `conn` lost its key to a newer admission on another relay: forget it without PEER_DOWN. */
  replaced(conn: M): void {
    this.forget(conn);
    this.#upFrames.delete(conn.peerKey);
  }

  /** Members of other relays announced to local members now. */
  get remoteCount(): number {
    return this.#remote.size;
  }

  /** `conn` closed: stop sending it its initial list. */
  forget(conn: M): void {
    this.#backlogs.delete(conn);
  }

  /** Resume every paced list; the server's sweep calls this. */
  pump(): void {
    for (const conn of [...this.#backlogs.keys()]) this.#flush(conn);
  }

  #sendChange(to: M, frame: Uint8Array): boolean {
    return to.sendFrame(frame, 'presence-queue-full');
  }

  /** Send as much of conn's initial list as its queue takes. */
  #flush(conn: M): void {
    const backlog = this.#backlogs.get(conn);
    if (backlog === undefined) return;
    if (conn.state !== 'admitted') {
      this.#backlogs.delete(conn);
      return;
    }
    while (backlog.next < backlog.keys.length) {
      if (conn.congested) return; // resumed by a completed write or by the sweep
      const key = backlog.keys[backlog.next++] as string;
      const member = this.#table.get(key);
      // A local member, or else one on another relay of the cluster.
      const up = member !== undefined ? this.#upFrames.get(key) : this.#remote.get(key);
      // Left meanwhile (its PEER_DOWN may already have gone out): nothing to announce.
      if (member === conn || (member !== undefined && member.state !== 'admitted') || up === undefined) continue;
      if (!conn.sendFrame(up, 'presence-queue-full', backlog.resume)) {
        // Not open any more; the connection's close will forget the list.
        return;
      }
      this.#stats.peerUpSent++;
    }
    this.#backlogs.delete(conn);
  }
}
