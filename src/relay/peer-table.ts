/**
 * The relay's routing table: peer id -> the one admitted connection that
 * serves it (protocol.md §1, SEND/DELIVER are routed by peer id).
 *
 * Only admitted connections are ever entered, so a connection that has not
 * proved possession of the peer's key can neither receive that peer's traffic
 * nor push out its live connection: replacement happens in `admit`, which the
 * server calls after AUTH has verified. `remove` takes the connection as well
 * as the key so a replaced connection closing late cannot evict its successor.
 *
 * Keys are the 64-character lowercase hex of the peer id (`toHex` in
 * crypto/bytes.ts), which
 * copies the id out of whatever buffer it came from: entries never alias
 * network buffers.
 */
export class PeerTable<C> {
  readonly #byPeer = new Map<string, C>();

  get size(): number {
    return this.#byPeer.size;
  }

  get(key: string): C | undefined {
    return this.#byPeer.get(key);
  }

  /** Enter `conn` for `key`; returns the connection it replaced, if any (the caller closes it). */
  admit(key: string, conn: C): C | undefined {
    const previous = this.#byPeer.get(key);
    this.#byPeer.set(key, conn);
    return previous === conn ? undefined : previous;
  }

  /** Remove `key` only if it still maps to `conn`; true when removed. */
  remove(key: string, conn: C): boolean {
    if (this.#byPeer.get(key) !== conn) return false;
    this.#byPeer.delete(key);
    return true;
  }

  /** A snapshot of the current connections; safe to iterate while the table changes. */
  connections(): C[] {
    return [...this.#byPeer.values()];
  }
}
