/**
 * One conversation between two members: a pure state machine (docs/conventions.md §5).
 * No I/O, no timers, no logging: every method takes `now` and returns what
 * to send and what happened; chat-service.ts does the sending, the timing
 * and the delivery to the user (docs/architecture.md "Chat"; docs/protocol.md §4).
 *
 *                 request()/REQUEST in
 *     idle ─────────────────────────────▶ requested
 *                                          │  ACCEPT in / accept()
 *                                          ▼
 *                                        active
 *                                          │  TERMINATE either way, DECLINE,
 *                                          ▼  undeliverable, no answer
 *                                       terminated   (kept as a tombstone so a
 *                                                     late message is refused)
 *
 * `idle` is the absence of a Conversation object: construction moves to
 * `requested` with a role (initiator: we asked; responder: they asked).
 *
 * Delivery (sender side): messages get seq 1, 2, 3 … and wait in `outbox`
 * until acknowledged. At most SEND_WINDOW of them are in flight; acks are
 * cumulative (ACK n: everything up to n was delivered in order), and a
 * retry re-sends the whole window (go-back-N) after a backoff that starts at
 * RETRY_INITIAL_MS and doubles to RETRY_MAX_MS, or at once (at most every
 * FAST_RETRY_INTERVAL_MS) when a repeated ack shows a gap. `kick()` (the peer's session
 * came back, or it reappeared at the relay) retries at once. A message not
 * acknowledged DELIVERY_GIVE_UP_MS after it was first sent terminates the
 * conversation ('undeliverable'): skipping it would break the order, and the
 * user learns of it instead of waiting forever.
 *
 * Delivery (receiver side): only seq == recvNext is delivered (exactly once,
 * in order); an older seq is a duplicate of a retry (re-acked, not
 * delivered), a newer one arrived out of order (dropped, re-acked so the
 * sender retries from the gap). The caller says whether the user can take
 * the message now (`canDeliver`); if not, it is neither delivered nor acked,
 * and the sender's retry brings it again later.
 *
 * Errors: user operations in the wrong state throw ChatError (STATE,
 * TERMINATED, BUSY); network input in the wrong state returns a drop reason
 * and leaves the machine unchanged.
 */
import { backoffCeilingMs } from '../util/backoff.js';
import { ChatError, ChatKind, MAX_CHAT_SEQ } from './chat-envelope.js';
import { ChatCode } from './messaging-errors.js';

/** Messages in flight (sent, not yet acked) per conversation: far below the
 *  session's 128-packet handshake queue, so a rekey or reconnect never
 *  overflows it with our retries. */
export const SEND_WINDOW = 64;
/** Unacknowledged messages one conversation may hold (in flight + waiting):
 *  a bound on memory; send() past it is BUSY until acks arrive. */
export const MAX_OUTBOX = 4_096;
/** First retry delay: a relay round trip is a few ms, a handshake tens of ms;
 *  1 s leaves room for both without waiting long after a real loss. */
export const RETRY_INITIAL_MS = 1_000;
/** Backoff ceiling: while a relay restarts (seconds), retries stay a few
 *  seconds apart; `kick()` retries at once when the peer comes back. */
export const RETRY_MAX_MS = 8_000;
/** A repeated ack (the receiver saw a gap) re-sends the window at once, but
 *  at most this often, so a burst of repeated acks costs one retry. */
export const FAST_RETRY_INTERVAL_MS = 200;
/** A message (or request) unanswered this long ends the conversation: two
 *  minutes outlasts a relay restart or failover by far. */
export const DELIVERY_GIVE_UP_MS = 120_000;

export type ConversationState = 'requested' | 'active' | 'terminated';
export type ConversationRole = 'initiator' | 'responder';

/** Something to put on the wire (chat-service.ts adds sender and recipient). */
export interface Outgoing {
  kind: ChatKind;
  seq: number;
  text: string;
}

/** What happened, for the user (chat-service.ts adds the peer and the id). */
export type ConversationEvent =
  | { type: 'request' }
  | { type: 'accepted' }
  | { type: 'declined'; reason: string }
  | { type: 'message'; seq: number; text: string }
  | { type: 'ack'; seq: number }
  | { type: 'terminated'; by: 'local' | 'remote'; reason: string; undelivered: number[] };

export type ConversationDrop = 'duplicate' | 'out_of_order' | 'not_active' | 'bad_ack' | 'inbox_full' | 'unexpected';

export interface Step {
  send: Outgoing[];
  events: ConversationEvent[];
  drop?: ConversationDrop;
}

interface Pending {
  seq: number;
  text: string;
  /** First transmission, or null while waiting outside the window / before accept. */
  firstSentAtMs: number | null;
}

export class Conversation {
  readonly role: ConversationRole;
  #state: ConversationState = 'requested';
  readonly #outbox: Pending[] = [];
  #nextSeq = 1;
  #ackedThrough = 0;
  #recvNext = 1;
  #retryAtMs: number;
  /** Retries since the last progress: the next waits backoffCeilingMs(RETRY_INITIAL_MS, RETRY_MAX_MS, #backoffs). */
  #backoffs = 0;
  #lastFastRetryMs = -Infinity;
  /** When our REQUEST was first sent (initiator) or when theirs arrived. */
  readonly #openedAtMs: number;
  #reason = '';

  constructor(role: ConversationRole, nowMs: number) {
    this.role = role;
    this.#openedAtMs = nowMs;
    this.#retryAtMs = nowMs + RETRY_INITIAL_MS;
  }

  /** The REQUEST an initiator sends first. */
  static open(nowMs: number): { conversation: Conversation; step: Step } {
    const c = new Conversation('initiator', nowMs);
    return { conversation: c, step: { send: [{ kind: ChatKind.Request, seq: 0, text: '' }], events: [] } };
  }

  /** A REQUEST arrived for a new conversation id: the user decides. */
  static incoming(nowMs: number): { conversation: Conversation; step: Step } {
    return { conversation: new Conversation('responder', nowMs), step: { send: [], events: [{ type: 'request' }] } };
  }

  get state(): ConversationState {
    return this.#state;
  }

  get terminatedReason(): string {
    return this.#reason;
  }

  /** Highest seq the peer acknowledged. */
  get ackedThrough(): number {
    return this.#ackedThrough;
  }

  /** Highest seq we delivered to the user. */
  get deliveredThrough(): number {
    return this.#recvNext - 1;
  }

  /** Messages queued, not yet acknowledged. */
  get unacked(): number {
    return this.#outbox.length;
  }

  get nextSeq(): number {
    return this.#nextSeq;
  }

  // ------------------------------------------------------------ user side

  /** The user accepts an incoming request. */
  accept(nowMs: number): Step {
    if (this.#state !== 'requested' || this.role !== 'responder') throw new ChatError(ChatCode.STATE, `accept: the conversation is ${this.#describe()}, not a pending request`);
    this.#state = 'active';
    return { send: [{ kind: ChatKind.Accept, seq: 0, text: '' }, ...this.#fill(nowMs)], events: [] };
  }

  /** The user declines an incoming request. */
  decline(reason: string): Step {
    if (this.#state !== 'requested' || this.role !== 'responder') throw new ChatError(ChatCode.STATE, `decline: the conversation is ${this.#describe()}, not a pending request`);
    this.#state = 'terminated';
    this.#reason = `declined: ${reason}`;
    return { send: [{ kind: ChatKind.Decline, seq: 0, text: reason }], events: [] };
  }

  /** Queue a message; sent now if the conversation is active and the window has room. Returns its seq in `seq`. */
  send(text: string, nowMs: number): Step & { seq: number } {
    if (this.#state === 'terminated') throw new ChatError(ChatCode.TERMINATED, `the conversation was terminated (${this.#reason}); open a new one`);
    if (this.#state === 'requested' && this.role === 'responder') throw new ChatError(ChatCode.STATE, 'accept the chat request before sending');
    if (this.#outbox.length >= MAX_OUTBOX) throw new ChatError(ChatCode.BUSY, `${MAX_OUTBOX} messages are waiting for acknowledgement; try again when some are delivered`);
    if (this.#nextSeq > MAX_CHAT_SEQ) throw new ChatError(ChatCode.STATE, 'this conversation used up its sequence numbers; open a new one');
    const seq = this.#nextSeq++;
    this.#outbox.push({ seq, text, firstSentAtMs: null });
    return { seq, send: this.#state === 'active' ? this.#fill(nowMs) : [], events: [] };
  }

  /** Either side may end it; returns the TERMINATE to send (none if already over). */
  terminate(reason: string): Step {
    if (this.#state === 'terminated') return { send: [], events: [] };
    return { send: [{ kind: ChatKind.Terminate, seq: 0, text: reason }], events: [this.#end('local', reason)] };
  }

  // ------------------------------------------------------------ network side

  /** An envelope from the conversation's peer (already bound to it by the caller). */
  receive(kind: ChatKind, seq: number, text: string, nowMs: number, canDeliver: boolean): Step {
    const none: Step = { send: [], events: [] };
    switch (kind) {
      case ChatKind.Request:
        // A retried request: answer again with what we decided (lost ACCEPT / DECLINE).
        if (this.role !== 'responder') return { ...none, drop: 'unexpected' };
        if (this.#state === 'active') return { send: [{ kind: ChatKind.Accept, seq: 0, text: '' }], events: [] };
        if (this.#state === 'terminated') return { send: [{ kind: ChatKind.Terminate, seq: 0, text: this.#reason }], events: [] };
        return { ...none, drop: 'duplicate' };
      case ChatKind.Accept:
        if (this.role !== 'initiator') return { ...none, drop: 'unexpected' };
        if (this.#state !== 'requested') return { ...none, drop: 'duplicate' };
        this.#state = 'active';
        this.#backoffs = 0;
        return { send: this.#fill(nowMs), events: [{ type: 'accepted' }] };
      case ChatKind.Decline:
        if (this.role !== 'initiator' || this.#state !== 'requested') return { ...none, drop: 'unexpected' };
        this.#reason = `declined: ${text}`;
        return { send: [], events: [{ type: 'declined', reason: text }, this.#end('remote', `declined: ${text}`)] };
      case ChatKind.Terminate:
        if (this.#state === 'terminated') return { ...none, drop: 'duplicate' };
        return { send: [], events: [this.#end('remote', text.length > 0 ? text : 'terminated by the peer')] };
      case ChatKind.Ack:
        return this.#onAck(seq, nowMs);
      case ChatKind.Message:
        return this.#onMessage(seq, text, canDeliver);
      default:
        return { ...none, drop: 'unexpected' };
    }
  }

  #onMessage(seq: number, text: string, canDeliver: boolean): Step {
    if (this.#state !== 'active') {
      // After termination the peer learns it again (its TERMINATE may have been lost).
      if (this.#state === 'terminated') return { send: [{ kind: ChatKind.Terminate, seq: 0, text: this.#reason }], events: [], drop: 'not_active' };
      return { send: [], events: [], drop: 'not_active' };
    }
    const ack = (): Outgoing => ({ kind: ChatKind.Ack, seq: this.#recvNext - 1, text: '' });
    if (seq < this.#recvNext) return { send: [ack()], events: [], drop: 'duplicate' };
    if (seq > this.#recvNext) return { send: [ack()], events: [], drop: 'out_of_order' };
    if (!canDeliver) return { send: [], events: [], drop: 'inbox_full' };
    this.#recvNext++;
    return { send: [ack()], events: [{ type: 'message', seq, text }] };
  }

  #onAck(seq: number, nowMs: number): Step {
    if (this.#state !== 'active') return { send: [], events: [], drop: 'not_active' };
    if (seq >= this.#nextSeq) return { send: [], events: [], drop: 'bad_ack' };
    if (seq < this.#ackedThrough) return { send: [], events: [], drop: 'duplicate' };
    if (seq === this.#ackedThrough) {
      // The receiver is missing the message after `seq` (lost, or overtaken): go back now.
      if (this.#outbox.length === 0 || this.#outbox[0]!.firstSentAtMs === null || nowMs - this.#lastFastRetryMs < FAST_RETRY_INTERVAL_MS) return { send: [], events: [] };
      this.#lastFastRetryMs = nowMs;
      return { send: this.#window(nowMs), events: [] };
    }
    const events: ConversationEvent[] = [];
    while (this.#outbox.length > 0 && this.#outbox[0]!.seq <= seq) {
      events.push({ type: 'ack', seq: this.#outbox.shift()!.seq });
    }
    this.#ackedThrough = seq;
    // Progress: the next retry counts from now, at the initial delay.
    this.#backoffs = 0;
    this.#retryAtMs = nowMs + RETRY_INITIAL_MS;
    return { send: this.#fill(nowMs), events };
  }

  // ------------------------------------------------------------ time

  /** The peer is reachable again (new session, back at the relay): retry on the next tick. */
  kick(nowMs: number): void {
    this.#backoffs = 0;
    this.#retryAtMs = nowMs;
  }

  /** Called periodically: retries due, and gives up past DELIVERY_GIVE_UP_MS. */
  tick(nowMs: number): Step {
    const none: Step = { send: [], events: [] };
    if (this.#state === 'terminated') return none;
    if (this.#state === 'requested') {
      if (this.role !== 'initiator') return none;
      if (nowMs - this.#openedAtMs >= DELIVERY_GIVE_UP_MS) {
        return { send: [{ kind: ChatKind.Terminate, seq: 0, text: 'no answer' }], events: [this.#end('local', `no answer to the chat request within ${DELIVERY_GIVE_UP_MS / 1000} s`)] };
      }
      if (nowMs < this.#retryAtMs) return none;
      this.#backoff(nowMs);
      return { send: [{ kind: ChatKind.Request, seq: 0, text: '' }], events: [] };
    }
    const oldest = this.#outbox[0];
    if (oldest === undefined || oldest.firstSentAtMs === null) return none;
    if (nowMs - oldest.firstSentAtMs >= DELIVERY_GIVE_UP_MS) {
      return { send: [{ kind: ChatKind.Terminate, seq: 0, text: 'undeliverable' }], events: [this.#end('local', `message ${oldest.seq} undeliverable for ${DELIVERY_GIVE_UP_MS / 1000} s`)] };
    }
    if (nowMs < this.#retryAtMs) return none;
    this.#backoff(nowMs);
    return { send: this.#window(nowMs), events: [] };
  }

  /** Every message of the window, again (go-back-N). */
  #window(nowMs: number): Outgoing[] {
    const send: Outgoing[] = [];
    for (let i = 0; i < this.#outbox.length && i < SEND_WINDOW; i++) {
      const p = this.#outbox[i]!;
      p.firstSentAtMs ??= nowMs;
      send.push({ kind: ChatKind.Message, seq: p.seq, text: p.text });
    }
    return send;
  }

  #backoff(nowMs: number): void {
    this.#retryAtMs = nowMs + this.#backoffMs();
    this.#backoffs++;
  }

  #backoffMs(): number {
    return backoffCeilingMs(RETRY_INITIAL_MS, RETRY_MAX_MS, this.#backoffs);
  }

  /** Messages that may go out now for the first time (window permitting). */
  #fill(nowMs: number): Outgoing[] {
    const out: Outgoing[] = [];
    const inFlightBefore = this.#outbox.filter((p, i) => i < SEND_WINDOW && p.firstSentAtMs !== null).length;
    if (inFlightBefore === 0) this.#retryAtMs = nowMs + this.#backoffMs();
    for (let i = 0; i < this.#outbox.length && i < SEND_WINDOW; i++) {
      const p = this.#outbox[i]!;
      if (p.firstSentAtMs !== null) continue;
      p.firstSentAtMs = nowMs;
      out.push({ kind: ChatKind.Message, seq: p.seq, text: p.text });
    }
    return out;
  }

  #end(by: 'local' | 'remote', reason: string): ConversationEvent {
    this.#state = 'terminated';
    this.#reason = reason;
    const undelivered = this.#outbox.map((p) => p.seq);
    this.#outbox.length = 0;
    return { type: 'terminated', by, reason, undelivered };
  }

  #describe(): string {
    return this.#state === 'requested' ? `requested (${this.role === 'initiator' ? 'by us' : 'by the peer'})` : this.#state;
  }
}
