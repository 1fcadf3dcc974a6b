/**
 * The in-memory path lab for PathManager tests (docs/conventions.md §15): two nodes A
 * and B, each with a PathManager, a relay with a fixed one-way latency on the
 * FakeClock, and direct paths made of memory path pairs. A "connector"
 * answers 'want_direct' like the direct transport would: after connectMs it
 * hands a fresh pair to both managers, unless the direct link is blocked.
 * Receivers record every frame number they see; frames are numbered
 * (u32 LE after a 4-byte header with a non-probe type byte).
 */
import type { Clock, TimerHandle } from '../src/util/clock.js';
import type { OnLinkTest } from '../src/node/path/path-rank.js';
import { PathManager, type PathManagerOptions } from '../src/node/path/path-manager.js';
import type { RelaySender } from '../src/node/path/relay-path.js';
import { FakeClock } from './fake-clock.js';
import { memoryPathPair, type MemoryPathPair } from './memory-path.js';

export const A = new Uint8Array(32).fill(0xaa);
export const B = new Uint8Array(32).fill(0xbb);
const DATA_TYPE = 0x24;
/** Frames numbered from here on stand for forgeries a session would refuse: delivered to onFrame like any frame, but
 *  not reported back as traffic (PathManager.trafficFrom), as the PeerManager reports only frames it opened. */
export const FORGED_FRAME_BASE = 1_000_000;
export const FRAME_BYTES = 24;

function hex(id: Uint8Array): string {
  return Buffer.from(id).toString('hex');
}

/** A relay with one FIFO and a fixed latency, on the clock; one armed timer at a time. */
export class ClockedRelay {
  latencyMs: number;
  down = false;
  readonly #clock: Clock;
  readonly #queue: { due: number; src: Uint8Array; dst: string; frame: Uint8Array }[] = [];
  #head = 0;
  #timer: TimerHandle | null = null;
  readonly #receivers = new Map<string, (src: Uint8Array, frame: Uint8Array) => void>();
  delivered = 0;
  /** Sees each frame handed to the relay, as handed (the relay queues its own copy). */
  onSend: ((frame: Uint8Array) => void) | null = null;

  constructor(clock: Clock, latencyMs: number) {
    this.#clock = clock;
    this.latencyMs = latencyMs;
  }

  senderFor(self: Uint8Array): RelaySender {
    const src = new Uint8Array(self);
    return {
      send: (dst, frame) => {
        this.onSend?.(frame);
        if (this.down) return false;
        this.#queue.push({ due: this.#clock.now() + this.latencyMs, src, dst: hex(dst), frame: new Uint8Array(frame) });
        this.#arm();
        return true;
      },
    };
  }

  attach(peerId: Uint8Array, r: (src: Uint8Array, frame: Uint8Array) => void): void {
    this.#receivers.set(hex(peerId), r);
  }

  #arm(): void {
    if (this.#timer !== null || this.#head >= this.#queue.length) return;
    const next = this.#queue[this.#head]!;
    this.#timer = this.#clock.schedule(next.due - this.#clock.now(), () => {
      this.#timer = null;
      const now = this.#clock.now();
      while (this.#head < this.#queue.length && this.#queue[this.#head]!.due <= now) {
        const f = this.#queue[this.#head++]!;
        this.delivered++;
        this.#receivers.get(f.dst)?.(f.src, f.frame);
      }
      if (this.#head > 4096) {
        this.#queue.splice(0, this.#head);
        this.#head = 0;
      }
      this.#arm();
    });
  }
}

export function dataFrame(n: number): Uint8Array {
  const f = new Uint8Array(FRAME_BYTES);
  f[0] = 1;
  f[1] = DATA_TYPE;
  new DataView(f.buffer).setUint32(4, n, true);
  return f;
}

export function frameNumber(f: Uint8Array): number {
  return new DataView(f.buffer, f.byteOffset, f.byteLength).getUint32(4, true);
}

export interface LabOptions {
  relayLatencyMs?: number;
  directLatencyMs?: number;
  /** Time the connector takes to produce a path after 'want_direct'. */
  connectMs?: number;
  manager?: PathManagerOptions;
  /** Which remote addresses both managers count as on a link of their machine (path-rank.ts); default none, so
   *  the ranks do not depend on the interfaces of the machine running the tests. */
  onLink?: OnLinkTest;
  /** What both managers' udpPossible answers (a UDP transport that could punch); default false. */
  udpPossible?: boolean;
  /** Give each manager its own peer id (A, B), so of two WSS paths each keeps the one A dialed; default false. */
  peerIds?: boolean;
  /** Both managers' probe RTT time base (PathManagerDeps.hrtimeMs); default the fake clock. */
  hrtimeMs?: () => number;
}

export class Lab {
  readonly clock = new FakeClock();
  readonly relay: ClockedRelay;
  readonly a: PathManager;
  readonly b: PathManager;
  /** Frame numbers each side's onFrame saw, in arrival order. */
  readonly atA: number[] = [];
  readonly atB: number[] = [];
  readonly pairs: MemoryPathPair[] = [];
  /** When set, the connector fails (the direct link is unreachable). */
  directBlocked = false;
  connectorEnabled = true;
  directLatencyMs: number;
  readonly wantDirectAt: number[] = [];
  readonly #connectMs: number;
  #connecting = false;
  readonly t0: number;

  constructor(o: LabOptions = {}) {
    this.relay = new ClockedRelay(this.clock, o.relayLatencyMs ?? 30);
    this.directLatencyMs = o.directLatencyMs ?? 2;
    this.#connectMs = o.connectMs ?? 20;
    let seed = 1;
    const random = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const onLink = o.onLink ?? ((): boolean => false);
    const udpPossible = (): boolean => o.udpPossible === true;
    const ids = (self: Uint8Array): { localPeerId?: Uint8Array } => (o.peerIds === true ? { localPeerId: self } : {});
    const hr = o.hrtimeMs === undefined ? {} : { hrtimeMs: o.hrtimeMs };
    this.a = new PathManager({ relay: this.relay.senderFor(A), clock: this.clock, random, onLink, udpPossible, ...ids(A), ...hr }, o.manager);
    this.b = new PathManager({ relay: this.relay.senderFor(B), clock: this.clock, random, onLink, udpPossible, ...ids(B), ...hr }, o.manager);
    this.relay.attach(A, (src, f) => this.a.onRelayFrame(src, f));
    this.relay.attach(B, (src, f) => this.b.onRelayFrame(src, f));
    // Like the PeerManager: every frame reaches its owner, and what a session would open counts as traffic.
    const hexA = hex(A);
    const hexB = hex(B);
    this.a.onFrame = (_src, f) => {
      const n = frameNumber(f);
      this.atA.push(n);
      if (n < FORGED_FRAME_BASE) this.a.trafficFrom(hexB);
    };
    this.b.onFrame = (_src, f) => {
      const n = frameNumber(f);
      this.atB.push(n);
      if (n < FORGED_FRAME_BASE) this.b.trafficFrom(hexA);
    };
    const want = (): void => {
      this.wantDirectAt.push(this.clock.now() - this.t0);
      if (!this.connectorEnabled || this.#connecting) return;
      this.#connecting = true;
      this.clock.schedule(this.#connectMs, () => {
        this.#connecting = false;
        if (!this.directBlocked) this.connect();
      });
    };
    this.a.on('want_direct', want);
    this.b.on('want_direct', want);
    this.t0 = this.clock.now();
    this.a.start();
    this.b.start();
  }

  /** A fresh direct path between A and B, handed to both managers. */
  connect(latencyMs = this.directLatencyMs, carrier: 'wss' | 'udp' = 'wss', dialedBy?: 'a' | 'b'): MemoryPathPair {
    const pair = memoryPathPair({ clock: this.clock, peerA: A, peerB: B }, { latencyMs, carrier, ...(dialedBy === undefined ? {} : { dialedBy }) });
    this.pairs.push(pair);
    this.a.addDirectPath(B, pair.a);
    this.b.addDirectPath(A, pair.b);
    return pair;
  }

  get now(): number {
    return this.clock.now() - this.t0;
  }

  stop(): void {
    this.a.stop();
    this.b.stop();
  }
}

/** Multiset check: every number in [0, n) exactly once; returns counts of missing and duplicated numbers. */
export function tally(seen: readonly number[], n: number): { missing: number; duplicates: number; outOfOrder: number; maxReorder: number } {
  const count = new Uint32Array(n);
  let outOfOrder = 0;
  let maxReorder = 0;
  let highest = -1;
  for (const x of seen) {
    if (x < n) count[x]!++;
    if (x < highest) {
      outOfOrder++;
      maxReorder = Math.max(maxReorder, highest - x);
    } else highest = x;
  }
  let missing = 0;
  let duplicates = 0;
  for (const c of count) {
    if (c === 0) missing++;
    else duplicates += c - 1;
  }
  return { missing, duplicates, outOfOrder, maxReorder };
}
