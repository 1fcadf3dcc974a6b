/**
 * Reassembly of peer frames split into UDP_FRAGMENTs (docs/protocol.md
 * §3.5.3), one per UDP path. A 64 KiB segment of the data plane crosses a
 * UDP path as up to ~50 datagrams; this puts them back together.
 *
 * Bounded by construction: at most `maxPartial` frames in progress (the
 * oldest is evicted first), each no larger than `maxFrameBytes`, each
 * forgotten `timeoutMs` after its first fragment. Fragments are kept as
 * views of their datagrams (each datagram is its own buffer), so the only
 * copy is the final concatenation. A lost fragment loses its whole frame:
 * the end-to-end transport above (TCP inside the tunnel) retransmits, and
 * the drop is counted.
 *
 * What callers must know: add() never throws for network input; it returns
 * the whole frame when a fragment completes one, else null, and counts
 * every discarded fragment or frame in `drops` by reason.
 */
import type { UdpFragment } from '../../wire/udp-frames.js';

/** A frame whose fragments do not all arrive within this is dropped: far above any path RTT worth using. */
export const UDP_REASSEMBLY_TIMEOUT_MS = 1_000;
/** Frames in progress per path: a window of 32 x 64 KiB = 2 MiB, several RTTs of a fast path. */
export const UDP_MAX_PARTIAL_FRAMES = 32;

export type ReassemblyDropReason = 'frag_timeout' | 'frag_evicted' | 'frag_duplicate' | 'frag_mismatch' | 'frag_oversize';

interface Partial {
  count: number;
  parts: (Uint8Array | undefined)[];
  received: number;
  bytes: number;
  firstMs: number;
}

export class UdpReassembler {
  readonly drops: Record<ReassemblyDropReason, number> = { frag_timeout: 0, frag_evicted: 0, frag_duplicate: 0, frag_mismatch: 0, frag_oversize: 0 };
  readonly #partial = new Map<number, Partial>();

  constructor(
    private readonly maxFrameBytes: number,
    private readonly timeoutMs: number = UDP_REASSEMBLY_TIMEOUT_MS,
    private readonly maxPartial: number = UDP_MAX_PARTIAL_FRAMES,
  ) {}

  /** Frames in progress now. */
  get pending(): number {
    return this.#partial.size;
  }

  add(f: UdpFragment, nowMs: number): Uint8Array | null {
    this.#expire(nowMs);
    let p = this.#partial.get(f.frameId);
    if (p !== undefined && p.count !== f.count) {
      this.#partial.delete(f.frameId);
      this.drops.frag_mismatch++;
      return null;
    }
    if (p === undefined) {
      if (this.#partial.size >= this.maxPartial) {
        const oldest = this.#partial.keys().next();
        if (oldest.done !== true) this.#partial.delete(oldest.value);
        this.drops.frag_evicted++;
      }
      p = { count: f.count, parts: new Array<Uint8Array | undefined>(f.count), received: 0, bytes: 0, firstMs: nowMs };
      this.#partial.set(f.frameId, p);
    }
    if (p.parts[f.index] !== undefined) {
      this.drops.frag_duplicate++;
      return null;
    }
    p.bytes += f.data.length;
    if (p.bytes > this.maxFrameBytes) {
      this.#partial.delete(f.frameId);
      this.drops.frag_oversize++;
      return null;
    }
    p.parts[f.index] = f.data;
    p.received++;
    if (p.received < p.count) return null;
    this.#partial.delete(f.frameId);
    return Buffer.concat(p.parts as Uint8Array[], p.bytes);
  }

  #expire(nowMs: number): void {
    for (const [id, p] of this.#partial) {
      if (nowMs - p.firstMs <= this.timeoutMs) break; // insertion order = age order
      this.#partial.delete(id);
      this.drops.frag_timeout++;
    }
  }

  clear(): void {
    this.#partial.clear();
  }
}
