/**
 * The L2 forwarding table of TAP mode (docs/architecture.md
 * "Outbound: device to socket": MAC learning, broadcast/ARP to all members). Learns which peer a source MAC lives behind
 * from frames that peer sent us, and answers where a
 * destination MAC goes: one peer, or everyone (broadcast, multicast, or not
 * yet learned — a switch floods unknown unicast).
 *
 * Bounded: at most `maxEntries` MACs (oldest evicted first); entries age out
 * after `agingMs` without traffic, as on a hardware switch, so a member that
 * moved its MAC is relearned. Lookups take the 6 bytes at an offset of the
 * caller's buffer: no allocation per packet.
 *
 * Callers learn only from frames that kept the TAP source rule
 * (tap-source.ts): the source MAC is then the one derived from the sending
 * member's peer id, so no MAC is ever learned behind a member that does not
 * own it, and a MAC never moves between members.
 */

/** A bridge's default aging time (IEEE 802.1D: 300 s). */
export const MAC_AGING_MS = 300_000;
/** Far more MACs than a mesh of members plausibly shows; bounds memory against a flood of forged sources. */
export const MAX_MAC_ENTRIES = 16_384;

export interface MacEntry {
  peerHex: string;
  peerId: Uint8Array;
  seenAtMs: number;
}

/** The 48-bit MAC at `offset` as a number (exact: fits in 2^53). */
export function macKey(buf: Uint8Array, offset: number): number {
  return (
    buf[offset]! * 0x100_0000_0000 + buf[offset + 1]! * 0x1_0000_0000 + buf[offset + 2]! * 0x100_0000 +
    buf[offset + 3]! * 0x1_0000 + buf[offset + 4]! * 0x100 + buf[offset + 5]!
  );
}

/** True for broadcast and multicast destinations (the I/G bit of the first octet). */
export function isGroupMac(buf: Uint8Array, offset: number): boolean {
  return (buf[offset]! & 0x01) === 0x01;
}

export class L2Switch {
  readonly #table = new Map<number, MacEntry>();
  readonly #agingMs: number;
  readonly #max: number;

  constructor(options: { agingMs?: number; maxEntries?: number } = {}) {
    this.#agingMs = options.agingMs ?? MAC_AGING_MS;
    this.#max = options.maxEntries ?? MAX_MAC_ENTRIES;
  }

  get size(): number {
    return this.#table.size;
  }

  /** Record that the source MAC at `offset` was seen behind `peerId`. Group MACs are never learned. */
  learn(buf: Uint8Array, offset: number, peerId: Uint8Array, peerHex: string, nowMs: number): void {
    if (isGroupMac(buf, offset)) return;
    const key = macKey(buf, offset);
    const e = this.#table.get(key);
    if (e) {
      if (e.peerHex !== peerHex) {
        e.peerHex = peerHex;
        e.peerId = peerId;
      }
      e.seenAtMs = nowMs;
      return;
    }
    if (this.#table.size >= this.#max) {
      const oldest = this.#table.keys().next();
      if (!oldest.done) this.#table.delete(oldest.value);
    }
    this.#table.set(key, { peerHex, peerId, seenAtMs: nowMs });
  }

  /** The peer (id and hex) the destination MAC at `offset` lives behind, or null to flood. */
  lookup(buf: Uint8Array, offset: number, nowMs: number): Readonly<MacEntry> | null {
    if (isGroupMac(buf, offset)) return null;
    const key = macKey(buf, offset);
    const e = this.#table.get(key);
    if (!e) return null;
    if (nowMs - e.seenAtMs > this.#agingMs) {
      this.#table.delete(key);
      return null;
    }
    return e;
  }

  /** Forget every MAC learned behind a peer (it went offline). */
  forgetPeer(peerHex: string): void {
    for (const [k, e] of this.#table) if (e.peerHex === peerHex) this.#table.delete(k);
  }
}
