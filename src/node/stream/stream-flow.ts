/**
 * Per-stream flow control and reliability of the stream layer
 * (docs/protocol.md §6 "Flow control" and "Loss"): the two halves of one
 * direction of a stream, pure bookkeeping with no sockets and no timers.
 *
 *  - SendWindow: the bytes a local writer handed us, from the first byte
 *    the peer has not acknowledged (`acked`) on. It hands out DATA chunks
 *    only below the peer's credit `limit` (the receiver grants it, the
 *    sender never exceeds it), resends from `acked` when the caller calls
 *    `rewind()` (go-back-N: a lost frame is resent with everything after
 *    it), and forgets bytes once acknowledged. What it holds is bounded by
 *    the caller: it stops reading its local source once `buffered` reaches
 *    the window (stream-mux.ts).
 *  - ReceiveWindow: takes DATA only at the next expected offset (a frame
 *    after a gap is dropped and answered with an ACK, so the sender resends
 *    it), and refuses a frame past the credit it granted: a peer that
 *    ignores our credit is breaking the protocol and its stream is reset.
 *    Credit is `consumed + window`: bytes count against the window from
 *    the moment they arrive until the local reader has taken them, so a
 *    reader that stops reading stops the sender at one window, never more.
 *
 * Offsets are byte counts from the start of the stream (JavaScript numbers,
 * exact below 2^53; the codec refuses larger ones). Returned chunks are
 * views of the buffers given to `write`; the caller must not change those.
 */

/** What ReceiveWindow.onData made of a DATA frame. */
export type ReceiveResult =
  /** `bytes` (a view of the frame, possibly its tail) are new, in order. */
  | { kind: 'accept'; bytes: Uint8Array }
  /** Everything in it was received before (a resend): acknowledge again. */
  | { kind: 'duplicate' }
  /** It starts after a gap: dropped; acknowledge so the sender goes back. */
  | { kind: 'gap' }
  /** It goes past the credit we granted, or past the FIN: the sender broke the rules. */
  | { kind: 'violation' };

export class SendWindow {
  /** First byte the peer has not acknowledged. */
  #acked = 0;
  /** Next byte to send (≥ acked; moves back to acked on rewind). */
  #next = 0;
  /** Bytes written so far (the end of the stream so far). */
  #written = 0;
  /** Highest offset ever sent (a rewind moves `next` back, not this): an ACK past it acknowledges bytes never sent. */
  #sentMax = 0;
  /** The peer's credit: we may send bytes below this offset. */
  #limit: number;
  /** Written buffers not yet fully acknowledged; the first starts at #headOffset. */
  readonly #chunks: Uint8Array[] = [];
  #headOffset = 0;
  #finQueued = false;
  #finAcked = false;
  #finSent = false;
  /** A FIN went out at least once (a rewind clears #finSent, not this). */
  #finEverSent = false;

  constructor(initialLimit: number) {
    this.#limit = initialLimit;
  }

  get acked(): number { return this.#acked; }
  get next(): number { return this.#next; }
  get written(): number { return this.#written; }
  get limit(): number { return this.#limit; }
  /** Bytes held: written and not acknowledged. */
  get buffered(): number { return this.#written - this.#acked; }
  get finQueued(): boolean { return this.#finQueued; }
  get finAcked(): boolean { return this.#finAcked; }
  /** Bytes or a FIN were sent and are not acknowledged yet. */
  get outstanding(): boolean { return this.#next > this.#acked || (this.#finSent && !this.#finAcked); }
  /** Everything (bytes and FIN) is acknowledged. */
  get done(): boolean { return this.#finAcked && this.#acked === this.#written; }

  /** Append bytes from the local writer (kept by reference). */
  write(bytes: Uint8Array): void {
    if (this.#finQueued) throw new Error('stream send window: write after finish');
    if (bytes.length === 0) return;
    this.#chunks.push(bytes);
    this.#written += bytes.length;
  }

  /** The local writer ended: a FIN follows the last byte. */
  finish(): void {
    this.#finQueued = true;
  }

  /** The next chunk to send (at most maxBytes, within the credit), advancing `next`; null when none may go now. */
  take(maxBytes: number): { offset: number; bytes: Uint8Array } | null {
    const end = Math.min(this.#written, this.#limit, this.#next + maxBytes);
    if (end <= this.#next) return null;
    let at = this.#headOffset;
    for (const c of this.#chunks) {
      if (this.#next < at + c.length) {
        const from = this.#next - at;
        const bytes = c.subarray(from, Math.min(c.length, from + (end - this.#next)));
        const offset = this.#next;
        this.#next += bytes.length;
        if (this.#next > this.#sentMax) this.#sentMax = this.#next;
        return { offset, bytes };
      }
      at += c.length;
    }
    return null;
  }

  /** True when the FIN should be sent now: queued, every byte sent, not acknowledged. */
  get finDue(): boolean {
    return this.#finQueued && !this.#finAcked && !this.#finSent && this.#next === this.#written;
  }

  /** The FIN went out; it is outstanding until acknowledged (or a rewind sends it again). */
  markFinSent(): void {
    this.#finSent = true;
    this.#finEverSent = true;
  }

  /**
   * The peer acknowledged bytes below `received` (and the FIN when `fin`)
   * and grants credit below `limit`. Returns false for an ACK that cannot be
   * true (more received than we ever sent, which the peer's credit may have
   * kept below what was written; a FIN before it was sent): a protocol
   * violation. An older ACK (lower received or limit) moves nothing back.
   */
  onAck(received: number, limit: number, fin: boolean): boolean {
    if (received > this.#sentMax) return false;
    if (fin && (!this.#finEverSent || received !== this.#written)) return false;
    if (received > this.#acked) {
      this.#acked = received;
      while (this.#chunks.length > 0 && this.#headOffset + this.#chunks[0]!.length <= this.#acked) {
        this.#headOffset += this.#chunks.shift()!.length;
      }
      if (this.#next < this.#acked) this.#next = this.#acked;
    }
    if (limit > this.#limit) this.#limit = limit;
    if (fin) this.#finAcked = true;
    return true;
  }

  /** Go back to the first unacknowledged byte: everything after it is sent again (a timeout or duplicate ACKs). */
  rewind(): void {
    this.#next = this.#acked;
    this.#finSent = false;
  }

  /** Drop every buffer (the stream ended or was reset). */
  clear(): void {
    this.#chunks.length = 0;
    this.#headOffset = this.#written;
    this.#acked = this.#written;
    this.#next = this.#written;
    this.#sentMax = this.#written;
  }
}

export class ReceiveWindow {
  readonly window: number;
  /** Bytes received in order. */
  #received = 0;
  /** Bytes the local reader has taken. */
  #consumed = 0;
  /** Highest credit granted (received + what we let the sender send). */
  #granted: number;
  /** Final length from the peer's FIN, or null. */
  #finAt: number | null = null;

  constructor(window: number) {
    this.window = window;
    this.#granted = window;
  }

  get received(): number { return this.#received; }
  get consumed(): number { return this.#consumed; }
  get granted(): number { return this.#granted; }
  /** Received but not yet taken by the local reader: never more than `window`. */
  get held(): number { return this.#received - this.#consumed; }
  /** The peer's FIN arrived and every byte before it too. */
  get finished(): boolean { return this.#finAt !== null && this.#received === this.#finAt; }

  onData(offset: number, bytes: Uint8Array): ReceiveResult {
    const end = offset + bytes.length;
    if (end > this.#granted) return { kind: 'violation' };
    if (this.#finAt !== null && end > this.#finAt) return { kind: 'violation' };
    if (offset > this.#received) return { kind: 'gap' };
    if (end <= this.#received) return { kind: 'duplicate' };
    const fresh = bytes.subarray(this.#received - offset);
    this.#received = end;
    return { kind: 'accept', bytes: fresh };
  }

  /** The peer's FIN at `offset`: false when it contradicts what we have (bytes past it, another FIN). */
  onFin(offset: number): boolean {
    if (offset < this.#received || offset > this.#granted) return false;
    if (this.#finAt !== null && this.#finAt !== offset) return false;
    this.#finAt = offset;
    return true;
  }

  /**
   * The local reader took `n` more bytes. Returns true when the credit
   * moved far enough (a quarter window) that an ACK is worth sending now;
   * smaller steps ride on the next ACK.
   */
  onConsumed(n: number): boolean {
    this.#consumed = Math.min(this.#received, this.#consumed + n);
    const next = this.#consumed + this.window;
    if (next - this.#granted >= this.window / 4) {
      this.#granted = next;
      return true;
    }
    return false;
  }

  /** The credit to advertise now (and remember as granted). */
  grant(): number {
    const next = this.#consumed + this.window;
    if (next > this.#granted) this.#granted = next;
    return this.#granted;
  }
}
