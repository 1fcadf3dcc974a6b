/**
 * A pair of linked in-memory Paths on an injected clock (docs/conventions.md §15: the
 * in-memory lab for path logic). Node A holds `a` (toward peer B), node B
 * holds `b` (toward peer A); the shared MemoryLink plays the network:
 *
 *  - latencyMs: one-way delay; frames are delivered in FIFO order per
 *    direction (a later frame never overtakes an earlier one, as on TCP);
 *  - dropRate: fraction of frames lost, drawn from the injected random();
 *  - cut() / restore(): a silent black hole (no close, no error), as when a
 *    firewall starts dropping; frames in flight at the cut are lost too,
 *    and so is a close sent across a cut link (the far end learns nothing);
 *  - capacity: frames in flight per direction beyond which send() returns
 *    false ('backpressure').
 *
 * close() is graceful, like a WebSocket close handshake: the closing side
 * refuses sends at once; frames already in flight still reach the other
 * side, whose end closes ('remote_closed') right after the last of them, and
 * what the other side had in flight toward the closer is still delivered to
 * it until the other side's own close arrives. Delivery always
 * goes through the clock (never inside send()), so handlers never re-enter
 * the sender. One timer per direction is armed at a time, so a long stream
 * costs O(1) per frame on the FakeClock.
 */
import type { Clock, TimerHandle } from '../src/util/clock.js';
import { countPathDrop, newPathId, newPathStats, type Path, type PathCarrier, type PathKind, type PathStats } from '../src/node/path/path.js';

export interface MemoryPathOptions {
  kind?: PathKind;
  /** Default 'wss' for direct pairs, 'relay' for relay pairs. */
  carrier?: PathCarrier;
  latencyMs?: number;
  dropRate?: number;
  /** Frames in flight per direction before send() refuses. */
  capacity?: number;
  /** What `a.remote` reads (B's address as A sees it). */
  remoteOfB?: string;
  /** What `b.remote` reads. */
  remoteOfA?: string;
  /** Which end dialed the pair (sets `dialed` at both ends, as a WSS path has it); default: neither is said. */
  dialedBy?: 'a' | 'b';
  random?: () => number;
}

interface Queued { dueMs: number; frame: Uint8Array | null /* null: the sender closed */ }

class Direction {
  readonly queue: Queued[] = [];
  head = 0;
  timer: TimerHandle | null = null;
  lastDueMs = -Infinity;
  get inFlight(): number {
    return this.queue.length - this.head;
  }
}

export class MemoryLink {
  latencyMs: number;
  dropRate: number;
  capacity: number;
  #cut = false;
  readonly #clock: Clock;
  readonly #random: () => number;
  /** Frames the network lost (drops, cuts). */
  lost = 0;

  constructor(clock: Clock, o: MemoryPathOptions) {
    this.#clock = clock;
    this.latencyMs = o.latencyMs ?? 0;
    this.dropRate = o.dropRate ?? 0;
    this.capacity = o.capacity ?? Number.POSITIVE_INFINITY;
    this.#random = o.random ?? Math.random;
  }

  get isCut(): boolean {
    return this.#cut;
  }

  /** Drop everything from now on, in flight included, without closing anything. */
  cut(): void {
    this.#cut = true;
  }

  restore(): void {
    this.#cut = false;
  }

  /** Internal: queue a frame (or the close marker) from `from` toward its partner. */
  enqueue(dir: Direction, frame: Uint8Array | null, deliver: (q: Queued) => void): void {
    const due = Math.max(this.#clock.now() + this.latencyMs, dir.lastDueMs);
    dir.lastDueMs = due;
    dir.queue.push({ dueMs: due, frame });
    this.#arm(dir, deliver);
  }

  #arm(dir: Direction, deliver: (q: Queued) => void): void {
    if (dir.timer !== null || dir.inFlight === 0) return;
    const next = dir.queue[dir.head] as Queued;
    dir.timer = this.#clock.schedule(next.dueMs - this.#clock.now(), () => {
      dir.timer = null;
      const now = this.#clock.now();
      while (dir.inFlight > 0 && (dir.queue[dir.head] as Queued).dueMs <= now) {
        const q = dir.queue[dir.head] as Queued;
        dir.head++;
        if (this.#cut || (q.frame !== null && this.dropRate > 0 && this.#random() < this.dropRate)) {
          this.lost++;
          continue;
        }
        deliver(q);
      }
      if (dir.head > 1024 && dir.head * 2 > dir.queue.length) {
        dir.queue.splice(0, dir.head);
        dir.head = 0;
      }
      this.#arm(dir, deliver);
    });
  }
}

export class MemoryPath implements Path {
  readonly kind: PathKind;
  readonly carrier: PathCarrier;
  readonly id: string;
  readonly remote: string;
  readonly peerId: Uint8Array;
  /** As Path.dialed: set by memoryPathPair's dialedBy, else undefined. */
  dialed: boolean | undefined = undefined;
  onFrame: ((frame: Uint8Array) => void) | null = null;
  onClose: ((reason: string) => void) | null = null;
  #closed = false;
  /** The far end's close marker arrived: nothing more can come. */
  #remoteGone = false;
  readonly #stats: PathStats = newPathStats();
  readonly #out = new Direction();
  #partner: MemoryPath | null = null;
  readonly #link: MemoryLink;

  constructor(link: MemoryLink, kind: PathKind, remote: string, peerId: Uint8Array, carrier: PathCarrier = kind === 'relay' ? 'relay' : 'wss') {
    this.#link = link;
    this.kind = kind;
    this.carrier = carrier;
    this.id = newPathId(kind);
    this.remote = remote;
    this.peerId = new Uint8Array(peerId);
  }

  /** Internal: link two ends. */
  static link(a: MemoryPath, b: MemoryPath): void {
    a.#partner = b;
    b.#partner = a;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get stats(): Readonly<PathStats> {
    return this.#stats;
  }

  /** Frames this end sent that are still in flight. */
  get inFlight(): number {
    return this.#out.inFlight;
  }

  send(frame: Uint8Array): boolean {
    if (this.#closed) {
      countPathDrop(this.#stats, 'closed');
      return false;
    }
    if (this.#out.inFlight >= this.#link.capacity) {
      countPathDrop(this.#stats, 'backpressure');
      return false;
    }
    this.#stats.framesOut++;
    this.#stats.bytesOut += frame.length;
    this.#enqueue(new Uint8Array(frame));
    return true;
  }

  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#enqueue(null);
    this.onClose?.(reason);
  }

  #enqueue(frame: Uint8Array | null): void {
    const partner = this.#partner;
    if (partner === null) return;
    this.#link.enqueue(this.#out, frame, (q) => partner.#arrive(q.frame));
  }

  #arrive(frame: Uint8Array | null): void {
    if (frame === null) return this.#remoteClosed();
    if (this.#closed && this.#remoteGone) return countPathDrop(this.#stats, 'closed');
    const h = this.onFrame;
    if (h === null) return countPathDrop(this.#stats, 'no_handler');
    this.#stats.framesIn++;
    this.#stats.bytesIn += frame.length;
    h(frame);
  }

  #remoteClosed(): void {
    this.#remoteGone = true;
    if (this.#closed) return;
    this.#closed = true;
    this.onClose?.('remote_closed');
  }
}

export interface MemoryPathPair {
  /** At node A, toward B (a.peerId = peerB). */
  a: MemoryPath;
  /** At node B, toward A (b.peerId = peerA). */
  b: MemoryPath;
  link: MemoryLink;
}

let pairSerial = 0;

/** Two linked paths between A and B sharing one MemoryLink. */
export function memoryPathPair(deps: { clock: Clock; peerA: Uint8Array; peerB: Uint8Array }, options: MemoryPathOptions = {}): MemoryPathPair {
  pairSerial++;
  const link = new MemoryLink(deps.clock, options);
  const kind = options.kind ?? 'direct';
  const a = new MemoryPath(link, kind, options.remoteOfB ?? `192.0.2.2:${40000 + (pairSerial % 20000)}`, deps.peerB, options.carrier);
  const b = new MemoryPath(link, kind, options.remoteOfA ?? `192.0.2.1:${40000 + (pairSerial % 20000)}`, deps.peerA, options.carrier);
  MemoryPath.link(a, b);
  if (options.dialedBy !== undefined) {
    a.dialed = options.dialedBy === 'a';
    b.dialed = options.dialedBy === 'b';
  }
  return { a, b, link };
}
