/**
 * End-to-end chat between members (docs/architecture.md "Chat";
 * docs/protocol.md §4): the conversations of one node, the CHAT envelopes they exchange
 * inside the post-quantum sessions, retries, and delivery to the user.
 *
 * Security, and what it does not do:
 *  - Content travels only inside the peer session (inner type CHAT 0x07):
 *    sealed with the session's AEAD under keys from the hybrid X25519 +
 *    ML-KEM-1024 handshake that both identities signed. The relay forwards
 *    ciphertext and never sees sender names, text or conversation ids.
 *  - Binding (chat-envelope.ts): an envelope names sender, recipient,
 *    conversation id, kind and seq, all under the session AEAD; on receipt
 *    the sender must be the session's authenticated peer, the recipient
 *    must be us, and the conversation must be one with that peer. Anything
 *    else is dropped and counted.
 *  - Forward secrecy is the session's: message keys are the session keys,
 *    replaced by a fresh hybrid handshake at least every 120 s (and on every
 *    reconnect) and wiped, so someone who later steals an identity key
 *    cannot decrypt recorded traffic: identity keys only sign. There is no
 *    per-message ratchet: within one session epoch (≤ 120 s, plus a 10 s
 *    grace for the previous key) a stolen session key opens that epoch's
 *    messages. Texts live in this daemon's memory (outbox, backlog) until
 *    acknowledged or read; they are not written to disk.
 *  - No store-and-forward: the relay keeps nothing. A recipient who is not
 *    online at the relay (not in our directory) gets SM_ERR_CHAT_OFFLINE at
 *    request / send time; queued messages are retried (conversation.ts)
 *    while the peer reconnects, and given up after DELIVERY_GIVE_UP_MS.
 *  - State is in memory: a daemon restart forgets its conversations; the
 *    peer's next message is answered with TERMINATE ('unknown conversation').
 *
 * What callers must know: `onEnvelope` is the network entry point and never
 * throws (drops by reason in `drops`); the user operations throw ChatError
 * with a code. Events go to the ChatSink (chat-inbox.ts) and to waiters.
 * One periodic tick (CHAT_TICK_MS) drives every conversation's retries,
 * armed only while a conversation is live: a daemon nobody chats with wakes
 * for nothing.
 */
import { equalBytes, fromHex, randomBytes, toHex } from '../crypto/bytes.js';
import { ConfigError } from '../errors.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { InnerType } from '../wire/constants.js';
import {
  CHAT_KIND_NAMES,
  ChatError,
  ChatKind,
  CONVERSATION_ID_BYTES,
  decodeChatEnvelope,
  encodeChatEnvelope,
  encodeChatText,
  MAX_CHAT_REASON_BYTES,
  type ChatEnvelope,
} from './chat-envelope.js';
import { ChatCode } from './messaging-errors.js';
import { Conversation, type ConversationEvent, type ConversationRole, type ConversationState, type Step } from './conversation.js';

/** Retry cadence: a quarter of RETRY_INITIAL_MS, so retries are late by at most that. */
export const CHAT_TICK_MS = 250;
/** Conversations open (requested or active) at once: a bound on memory and on what a peer can make us hold. */
export const MAX_LIVE_CONVERSATIONS = 1_024;
/** Open conversations with one member past which its REQUESTs are declined ('busy'): a person
 *  chats in one or two at a time, 32 leaves scripts room, and a single member can take at most
 *  1/32 of MAX_LIVE_CONVERSATIONS, so it cannot use up chat for everyone else. */
export const MAX_LIVE_CONVERSATIONS_PER_PEER = 32;
/** Ended conversations remembered, so a late message on one is refused with TERMINATED instead of looking unknown. */
export const MAX_TERMINATED_CONVERSATIONS = 4_096;
/** Waiters (send --wait, request --wait) per conversation. */
export const MAX_WAITERS_PER_CONVERSATION = 256;

/** The session layer as the chat needs it (PeerManager fits). */
export interface ChatSessions {
  sendInner(peerId: Uint8Array, innerType: number, body: Uint8Array): 'sent' | 'queued' | 'dropped';
}

/** The verified member directory as the chat needs it (Directory fits). */
export interface ChatMembers {
  get(peerIdHex: string): { name: string } | undefined;
}

/** Where events go for the user (ChatInbox fits). */
export interface ChatSink {
  /** false only for a message that cannot be taken now: it is then not acknowledged. */
  offer(e: ChatEvent): boolean;
}

export interface ChatServiceDeps {
  /** The network policy's chat section (docs/architecture.md "Network policy"): false refuses every envelope from that member (hex peer id), counted as policy_denied. Absent: chat is not governed. */
  allowChat?: (peerHex: string) => boolean;
  localPeerId: Uint8Array;
  sessions: ChatSessions;
  members: ChatMembers;
  sink: ChatSink;
  clock?: Clock;
  logger?: Logger;
  rng?: (n: number) => Uint8Array;
}

/** A chat event as the user sees it (control API `chat_events`). */
export type ChatEvent = ConversationEvent & { conversationId: string; peerId: string; name: string | null; atMs: number };

export interface ConversationInfo {
  conversationId: string;
  peerId: string;
  name: string | null;
  state: ConversationState;
  role: ConversationRole;
  /** Messages sent and not yet acknowledged (or waiting to be sent). */
  unacked: number;
  ackedThrough: number;
  deliveredThrough: number;
  reason: string | null;
}

export type ChatDropReason =
  | 'malformed' | 'version' | 'kind' | 'too_large' | 'sender_mismatch' | 'recipient_mismatch'
  | 'unknown_conversation' | 'wrong_peer' | 'too_many_conversations' | 'peer_conversation_limit' | 'not_member'
  | 'duplicate' | 'out_of_order' | 'not_active' | 'bad_ack' | 'inbox_full' | 'unexpected' | 'session_dropped' | 'policy_denied';

interface Entry {
  id: Uint8Array;
  hex: string;
  peer: Uint8Array;
  peerHex: string;
  conv: Conversation;
  waiters: Set<(e: ChatEvent) => void>;
}

function newDrops(): Record<ChatDropReason, number> {
  return {
    malformed: 0, version: 0, kind: 0, too_large: 0, sender_mismatch: 0, recipient_mismatch: 0,
    unknown_conversation: 0, wrong_peer: 0, too_many_conversations: 0, peer_conversation_limit: 0, not_member: 0,
    duplicate: 0, out_of_order: 0, not_active: 0, bad_ack: 0, inbox_full: 0, unexpected: 0, session_dropped: 0, policy_denied: 0,
  };
}

export class ChatService {
  readonly stats = { envelopesIn: 0, envelopesOut: 0, delivered: 0, acked: 0, retries: 0 };
  readonly #drops = newDrops();
  readonly #local: Uint8Array;
  readonly #localHex: string;
  readonly #sessions: ChatSessions;
  readonly #members: ChatMembers;
  readonly #sink: ChatSink;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #rng: (n: number) => Uint8Array;
  readonly #allowChat: ((peerHex: string) => boolean) | undefined;
  /** Every known conversation by id hex: live ones and the tombstones of ended ones. */
  readonly #byId = new Map<string, Entry>();
  /** Ended conversation ids, oldest first (eviction order). */
  readonly #ended = new Set<string>();
  #live = 0;
  /** Live conversations per member (hex peer id); members with none have no entry, so the map is bounded by #live. */
  readonly #liveByPeer = new Map<string, number>();
  #tick: TimerHandle | null = null;
  #running = false;

  constructor(deps: ChatServiceDeps) {
    if (!(deps.localPeerId instanceof Uint8Array) || deps.localPeerId.length !== 32) {
      throw new ConfigError('SM_ERR_CONFIG_VALUE', 'ChatService deps.localPeerId: expected 32 bytes');
    }
    this.#local = Uint8Array.from(deps.localPeerId);
    this.#localHex = toHex(this.#local);
    this.#sessions = deps.sessions;
    this.#members = deps.members;
    this.#sink = deps.sink;
    this.#clock = deps.clock ?? systemClock;
    this.#logger = deps.logger ?? silentLogger;
    this.#rng = deps.rng ?? randomBytes;
    this.#allowChat = deps.allowChat;
  }

  get drops(): Readonly<Record<ChatDropReason, number>> {
    return this.#drops;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#armTick();
  }

  stop(): void {
    if (!this.#running) return;
    this.#running = false;
    this.#tick?.cancel();
    this.#tick = null;
    const stopped = new ChatError(ChatCode.STOPPED, 'the chat service stopped');
    for (const e of this.#byId.values()) for (const w of e.waiters) w({ type: 'terminated', by: 'local', reason: stopped.message, undelivered: [], conversationId: e.hex, peerId: e.peerHex, name: null, atMs: this.#clock.now() });
  }

  // ------------------------------------------------------------ user operations

  /** Open a conversation with a member: sends REQUEST. OFFLINE when the member is not online; SELF for ourselves. */
  request(peerHex: string): ConversationInfo {
    const peer = this.#checkPeer(peerHex);
    if (this.#live >= MAX_LIVE_CONVERSATIONS) throw new ChatError(ChatCode.BUSY, `${MAX_LIVE_CONVERSATIONS} conversations are open; terminate some first`);
    const now = this.#clock.now();
    const { conversation, step } = Conversation.open(now);
    const entry = this.#add(this.#rng(CONVERSATION_ID_BYTES), peer, conversation);
    this.#apply(entry, step);
    this.#logger.info(`${peerHex.slice(0, 8)} chat requested`, { conversation: entry.hex.slice(0, 8) });
    return this.#info(entry);
  }

  /** The open (requested or active) conversation with a member, newest first; undefined if none. */
  openWith(peerHex: string): ConversationInfo | undefined {
    let found: Entry | undefined;
    for (const e of this.#byId.values()) if (e.peerHex === peerHex && e.conv.state !== 'terminated') found = e;
    return found === undefined ? undefined : this.#info(found);
  }

  /** Accept or decline an incoming request. */
  respond(conversationId: string, accept: boolean, reason = ''): ConversationInfo {
    const entry = this.#entry(conversationId);
    encodeChatText(reason, MAX_CHAT_REASON_BYTES);
    const step = accept ? entry.conv.accept(this.#clock.now()) : entry.conv.decline(reason);
    if (!accept) this.#markEnded(entry);
    this.#apply(entry, step);
    return this.#info(entry);
  }

  /** Queue a message; returns its seq. TOO_LARGE, TERMINATED, STATE, BUSY, OFFLINE (peer not online). */
  send(conversationId: string, text: string): { seq: number; conversation: ConversationInfo } {
    const entry = this.#entry(conversationId);
    if (typeof text !== 'string') throw new ChatError(ChatCode.MALFORMED, 'message: expected a string');
    encodeChatText(text);
    if (entry.conv.state !== 'terminated' && this.#members.get(entry.peerHex) === undefined) {
      throw new ChatError(ChatCode.OFFLINE, `${this.#nameOf(entry.peerHex) ?? entry.peerHex.slice(0, 16)} is offline (not connected to the relay); messages are not stored for later`);
    }
    const step = entry.conv.send(text, this.#clock.now());
    this.#apply(entry, step);
    return { seq: step.seq, conversation: this.#info(entry) };
  }

  /** End a conversation (either side); idempotent on an ended one. */
  terminate(conversationId: string, reason = 'terminated by the peer'): ConversationInfo {
    const entry = this.#entry(conversationId);
    encodeChatText(reason, MAX_CHAT_REASON_BYTES);
    const wasLive = entry.conv.state !== 'terminated';
    const step = entry.conv.terminate(reason);
    if (wasLive) this.#markEnded(entry);
    this.#apply(entry, step);
    return this.#info(entry);
  }

  conversation(conversationId: string): ConversationInfo {
    return this.#info(this.#entry(conversationId));
  }

  list(): ConversationInfo[] {
    return [...this.#byId.values()].filter((e) => e.conv.state !== 'terminated').map((e) => this.#info(e));
  }

  /**
   * Wait for an event of one conversation that `decide` settles: return
   * true to resolve, throw to reject, undefined to keep waiting. A
   * termination rejects with TERMINATED (or DECLINED) unless `decide` settled
   * it first. TIMEOUT after `timeoutMs`; `signal` aborts quietly (TIMEOUT).
   */
  waitFor(conversationId: string, decide: (e: ChatEvent) => true | undefined, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const entry = this.#entry(conversationId);
    if (entry.waiters.size >= MAX_WAITERS_PER_CONVERSATION) return Promise.reject(new ChatError(ChatCode.BUSY, 'too many waiters on this conversation'));
    return new Promise<void>((resolve, reject) => {
      const done = (err: unknown): void => {
        entry.waiters.delete(waiter);
        timer.cancel();
        signal?.removeEventListener('abort', onAbort);
        if (err === null) resolve();
        else reject(err);
      };
      const waiter = (e: ChatEvent): void => {
        try {
          if (decide(e) === true) return done(null);
        } catch (err) {
          return done(err);
        }
        if (e.type === 'terminated') {
          const declined = e.reason.startsWith('declined: ');
          done(new ChatError(declined ? ChatCode.DECLINED : ChatCode.TERMINATED, declined ? `the chat request was declined (${e.reason.slice(10) || 'no reason given'})` : `the conversation was terminated (${e.by === 'remote' ? 'by the peer' : 'here'}: ${e.reason})`));
        }
      };
      const timer = this.#clock.schedule(timeoutMs, () => done(new ChatError(ChatCode.TIMEOUT, `no answer within ${timeoutMs} ms (queued messages are still retried)`)));
      const onAbort = (): void => done(new ChatError(ChatCode.TIMEOUT, 'wait aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      entry.waiters.add(waiter);
    });
  }

  /** Resolves once the conversation's messages up to `seq` are acknowledged. */
  waitDelivered(conversationId: string, seq: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const info = this.conversation(conversationId);
    if (info.ackedThrough >= seq) return Promise.resolve();
    if (info.state === 'terminated') return Promise.reject(new ChatError(ChatCode.TERMINATED, `the conversation was terminated (${info.reason ?? ''})`));
    return this.waitFor(conversationId, (e) => (e.type === 'ack' && e.seq >= seq ? true : undefined), timeoutMs, signal);
  }

  /** Resolves once an outgoing request is accepted (or the conversation is already active). */
  waitAccepted(conversationId: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const info = this.conversation(conversationId);
    if (info.state === 'active') return Promise.resolve();
    if (info.state === 'terminated') return Promise.reject(new ChatError(info.reason?.startsWith('declined: ') ? ChatCode.DECLINED : ChatCode.TERMINATED, `the conversation ended: ${info.reason ?? ''}`));
    return this.waitFor(conversationId, (e) => (e.type === 'accepted' ? true : undefined), timeoutMs, signal);
  }

  // ------------------------------------------------------------ network side

  /** The peer's session came back or it reappeared at the relay: retry its conversations now. */
  onPeerReachable(peerId: Uint8Array): void {
    const hex = toHex(peerId);
    const now = this.#clock.now();
    for (const e of this.#byId.values()) if (e.peerHex === hex && e.conv.state !== 'terminated') e.conv.kick(now);
  }

  /** A CHAT body from `peerId`'s authenticated session. Never throws. */
  onEnvelope(peerId: Uint8Array, body: Uint8Array): void {
    this.stats.envelopesIn++;
    const peerHex = toHex(peerId);
    let env: ChatEnvelope;
    try {
      env = decodeChatEnvelope(body);
    } catch (err) {
      const code = (err as { code?: string }).code;
      this.#drop(code === ChatCode.VERSION ? 'version' : code === ChatCode.KIND ? 'kind' : code === ChatCode.TOO_LARGE ? 'too_large' : 'malformed', peerHex, (err as Error).message);
      return;
    }
    if (!equalBytes(env.sender, peerId)) return this.#drop('sender_mismatch', peerHex, 'sender field is not the session peer');
    if (!equalBytes(env.recipient, this.#local)) return this.#drop('recipient_mismatch', peerHex, 'recipient field is not us');
    if (this.#allowChat !== undefined && !this.#allowChat(peerHex)) return this.#drop('policy_denied', peerHex, 'chat from this member is forbidden by the network policy');
    const idHex = toHex(env.conversationId);
    const now = this.#clock.now();
    let entry = this.#byId.get(idHex);
    if (entry !== undefined && entry.peerHex !== peerHex) return this.#drop('wrong_peer', peerHex, `conversation ${idHex.slice(0, 8)} is not with this peer`);
    if (entry === undefined) {
      if (env.kind !== ChatKind.Request) {
        this.#drop('unknown_conversation', peerHex, `${CHAT_KIND_NAMES[env.kind]} for unknown conversation ${idHex.slice(0, 8)}`);
        // Tell the sender (e.g. after our restart) so it stops retrying; never answer a TERMINATE.
        if (env.kind === ChatKind.Message) this.#emitEnvelope(peerId, env.conversationId, { kind: ChatKind.Terminate, seq: 0, text: 'unknown conversation' });
        return;
      }
      if (this.#members.get(peerHex) === undefined) return this.#drop('not_member', peerHex, 'chat request from a member not in the directory');
      if (this.#live >= MAX_LIVE_CONVERSATIONS) {
        this.#drop('too_many_conversations', peerHex, 'chat request refused: too many open conversations');
        this.#emitEnvelope(peerId, env.conversationId, { kind: ChatKind.Decline, seq: 0, text: 'busy' });
        return;
      }
      // One member's share: its requests cannot fill the table the others need.
      if ((this.#liveByPeer.get(peerHex) ?? 0) >= MAX_LIVE_CONVERSATIONS_PER_PEER) {
        this.#drop('peer_conversation_limit', peerHex, `chat request refused: ${MAX_LIVE_CONVERSATIONS_PER_PEER} conversations with this member are open`);
        this.#emitEnvelope(peerId, env.conversationId, { kind: ChatKind.Decline, seq: 0, text: 'busy' });
        return;
      }
      const { conversation, step } = Conversation.incoming(now);
      entry = this.#add(env.conversationId, Uint8Array.from(peerId), conversation);
      this.#apply(entry, step);
      return;
    }
    const e = entry;
    const wasLive = e.conv.state !== 'terminated';
    // The user can take a message now unless the sink refuses it: ask only for the one in-order message.
    let offered: ChatEvent | null = null;
    let canDeliver = true;
    if (env.kind === ChatKind.Message && e.conv.state === 'active' && env.seq === e.conv.deliveredThrough + 1) {
      offered = this.#event(e, { type: 'message', seq: env.seq, text: env.text }, now);
      canDeliver = this.#sink.offer(offered);
    }
    const step = e.conv.receive(env.kind, env.seq, env.text, now, canDeliver);
    if (step.drop !== undefined) this.#drop(step.drop, peerHex, `${CHAT_KIND_NAMES[env.kind]} seq ${env.seq} in ${e.hex.slice(0, 8)}`);
    if (wasLive && e.conv.state === 'terminated') this.#markEnded(e);
    if (offered !== null && canDeliver) {
      this.stats.delivered++;
      for (const w of [...e.waiters]) w(offered);
    }
    this.#apply(e, step, offered !== null && canDeliver ? 'message' : null);
  }

  // ------------------------------------------------------------ internals

  #checkPeer(peerHex: string): Uint8Array {
    if (!/^[0-9a-f]{64}$/.test(peerHex)) throw new ChatError(ChatCode.MALFORMED, `peer id: expected 64 hex digits, got ${JSON.stringify(peerHex)}`);
    if (peerHex === this.#localHex) throw new ChatError(ChatCode.SELF, 'that is this node itself');
    if (this.#members.get(peerHex) === undefined) throw new ChatError(ChatCode.OFFLINE, `member ${peerHex.slice(0, 16)} is offline (not connected to the relay); messages are not stored for later`);
    return fromHex(peerHex);
  }

  #entry(conversationId: string): Entry {
    const e = typeof conversationId === 'string' ? this.#byId.get(conversationId.toLowerCase()) : undefined;
    if (e === undefined) throw new ChatError(ChatCode.UNKNOWN_CONVERSATION, `no conversation ${JSON.stringify(conversationId)} here`);
    return e;
  }

  #add(id: Uint8Array, peer: Uint8Array, conv: Conversation): Entry {
    const entry: Entry = { id: Uint8Array.from(id), hex: toHex(id), peer, peerHex: toHex(peer), conv, waiters: new Set() };
    this.#byId.set(entry.hex, entry);
    this.#live++;
    this.#liveByPeer.set(entry.peerHex, (this.#liveByPeer.get(entry.peerHex) ?? 0) + 1);
    this.#armTick();
    return entry;
  }

  /** A conversation just ended: count it out of the live ones and keep a bounded tombstone. */
  #markEnded(entry: Entry): void {
    this.#live--;
    const withPeer = (this.#liveByPeer.get(entry.peerHex) ?? 1) - 1;
    if (withPeer > 0) this.#liveByPeer.set(entry.peerHex, withPeer);
    else this.#liveByPeer.delete(entry.peerHex);
    this.#ended.add(entry.hex);
    while (this.#ended.size > MAX_TERMINATED_CONVERSATIONS) {
      const oldest = this.#ended.values().next().value as string;
      this.#ended.delete(oldest);
      this.#byId.delete(oldest);
    }
  }

  /** Send what a step says, then hand its events to the sink and the waiters (`skip`: a message event already delivered). */
  #apply(entry: Entry, step: Step, skip: 'message' | null = null): void {
    for (const o of step.send) this.#emitEnvelope(entry.peer, entry.id, o);
    const now = this.#clock.now();
    for (const ce of step.events) {
      if (ce.type === 'message' && skip === 'message') continue;
      if (ce.type === 'ack') this.stats.acked++;
      if (ce.type === 'terminated' && entry.conv.state === 'terminated' && !this.#ended.has(entry.hex)) this.#markEnded(entry);
      const e = this.#event(entry, ce, now);
      this.#sink.offer(e);
      for (const w of [...entry.waiters]) w(e);
    }
  }

  #emitEnvelope(peer: Uint8Array, id: Uint8Array, o: { kind: ChatKind; seq: number; text: string }): void {
    const bytes = encodeChatEnvelope({ kind: o.kind, sender: this.#local, recipient: peer, conversationId: id, seq: o.seq, text: o.text });
    this.stats.envelopesOut++;
    // 'queued' rides the handshake; 'dropped' (no session room, transport full) is what retries are for.
    if (this.#sessions.sendInner(peer, InnerType.Chat, bytes) === 'dropped') this.#drops.session_dropped++;
  }

  #event(entry: Entry, ce: ConversationEvent, now: number): ChatEvent {
    return { ...ce, conversationId: entry.hex, peerId: entry.peerHex, name: this.#nameOf(entry.peerHex), atMs: now };
  }

  #nameOf(peerHex: string): string | null {
    return this.#members.get(peerHex)?.name ?? null;
  }

  #info(e: Entry): ConversationInfo {
    return {
      conversationId: e.hex,
      peerId: e.peerHex,
      name: this.#nameOf(e.peerHex),
      state: e.conv.state,
      role: e.conv.role,
      unacked: e.conv.unacked,
      ackedThrough: e.conv.ackedThrough,
      deliveredThrough: e.conv.deliveredThrough,
      reason: e.conv.state === 'terminated' ? e.conv.terminatedReason : null,
    };
  }

  #drop(reason: ChatDropReason, peerHex: string, msg: string): void {
    this.#drops[reason]++;
    this.#logger.debug(`${peerHex.slice(0, 8)} chat envelope dropped: ${reason}`, { detail: msg });
  }

  /** Arm the retry tick if it is not armed, the service runs and a conversation is live. */
  #armTick(): void {
    if (this.#tick !== null || !this.#running || this.#live === 0) return;
    this.#tick = this.#clock.schedule(CHAT_TICK_MS, () => {
      this.#tick = null;
      if (!this.#running) return;
      const now = this.#clock.now();
      for (const e of [...this.#byId.values()]) {
        if (e.conv.state === 'terminated') continue;
        const step = e.conv.tick(now);
        this.stats.retries += step.send.length;
        this.#apply(e, step);
      }
      this.#armTick();
    });
  }
}
