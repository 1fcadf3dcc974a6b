/**
 * The relay path to one peer (docs/architecture.md "Path choice": every
 * peer is reachable through the relay first; the relay is the
 * floor). send() hands the frame to the relay link addressed to the peer.
 *
 * The relay path never closes by itself while its link object lives: when
 * the link is down, send() returns false ('link_refused') until the link
 * reconnects, and the path manager keeps it as the fallback all along.
 * Only its owner closes it (peer forgotten, node stopping).
 *
 * Receiving: the link delivers frames for all peers at once; its owner
 * demultiplexes by source and calls deliver() on this peer's path.
 */
import { SmError } from '../../errors.js';
import { countPathDrop, newPathId, newPathStats, type Path, type PathKind, type PathStats } from './path.js';
import { PathCode } from './path-errors.js';

/** What the relay path needs from the relay link (RelayLink and MemoryRelay transports satisfy it). */
export interface RelaySender {
  send(peerId: Uint8Array, frame: Uint8Array): boolean;
}

export class RelayPath implements Path {
  readonly kind: PathKind = 'relay';
  readonly carrier = 'relay' as const;
  readonly id = newPathId('relay');
  readonly remote = 'relay';
  readonly peerId: Uint8Array;
  readonly #link: RelaySender;
  readonly #stats: PathStats = newPathStats();
  #closed = false;
  onFrame: ((frame: Uint8Array) => void) | null = null;
  onClose: ((reason: string) => void) | null = null;

  constructor(deps: { link: RelaySender; peerId: Uint8Array }) {
    if (!(deps.peerId instanceof Uint8Array) || deps.peerId.length === 0) {
      throw new SmError(PathCode.ARG, `RelayPath peerId: expected a non-empty Uint8Array, got ${String(deps.peerId)}`);
    }
    this.#link = deps.link;
    this.peerId = new Uint8Array(deps.peerId);
  }

  get closed(): boolean {
    return this.#closed;
  }

  get stats(): Readonly<PathStats> {
    return this.#stats;
  }

  send(frame: Uint8Array): boolean {
    if (this.#closed) {
      countPathDrop(this.#stats, 'closed');
      return false;
    }
    if (!this.#link.send(this.peerId, frame)) {
      countPathDrop(this.#stats, 'link_refused');
      return false;
    }
    this.#stats.framesOut++;
    this.#stats.bytesOut += frame.length;
    return true;
  }

  /** A frame the relay delivered from this peer. */
  deliver(frame: Uint8Array): void {
    if (this.#closed) return countPathDrop(this.#stats, 'closed');
    const h = this.onFrame;
    if (h === null) return countPathDrop(this.#stats, 'no_handler');
    this.#stats.framesIn++;
    this.#stats.bytesIn += frame.length;
    h(frame);
  }

  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.onClose?.(reason);
  }
}
