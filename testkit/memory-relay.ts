/**
 * An in-memory stand-in for the relay, for deterministic lab tests of peer
 * logic: frames are queued and delivered in order only when the test calls
 * pump(), so there is no reentrancy and no real time. A test can watch,
 * drop, rewrite or replay frames in flight through `intercept`.
 */
import type { FrameTransport } from '../src/node/path/path.js';
import { toHex } from '../src/crypto/bytes.js';

export interface InFlight {
  src: Uint8Array;
  dst: Uint8Array;
  frame: Uint8Array;
}

type Receiver = (src: Uint8Array, frame: Uint8Array) => void;

export class MemoryRelay {
  readonly #receivers = new Map<string, Receiver>();
  readonly #queue: InFlight[] = [];
  /** Every frame that crossed, in order (what a relay would see). */
  readonly seen: InFlight[] = [];
  /** Return a frame to deliver instead (rewrite), or null to drop it. */
  intercept: ((f: InFlight) => Uint8Array | null) | null = null;

  /** The transport a node at `self` uses to send. */
  transportFor(self: Uint8Array): FrameTransport {
    return {
      send: (dst, frame) => {
        this.#queue.push({ src: new Uint8Array(self), dst: new Uint8Array(dst), frame: new Uint8Array(frame) });
        return true;
      },
    };
  }

  attach(peerId: Uint8Array, receive: Receiver): void {
    this.#receivers.set(toHex(peerId), receive);
  }

  detach(peerId: Uint8Array): void {
    this.#receivers.delete(toHex(peerId));
  }

  /** Inject a frame as if `src` had sent it (a forging relay). */
  inject(src: Uint8Array, dst: Uint8Array, frame: Uint8Array): void {
    this.#queue.push({ src, dst, frame });
  }

  /** Deliver queued frames (and those sent meanwhile) until none is left; returns how many were delivered. */
  pump(maxFrames = 10_000): number {
    let n = 0;
    while (this.#queue.length > 0 && n < maxFrames) {
      const f = this.#queue.shift()!;
      this.seen.push(f);
      const frame = this.intercept ? this.intercept(f) : f.frame;
      if (frame === null) continue;
      const r = this.#receivers.get(toHex(f.dst));
      n++;
      r?.(f.src, frame);
    }
    return n;
  }
}
