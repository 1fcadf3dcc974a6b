/**
 * Where chat events go for the user (docs/architecture.md "Chat"): to every live
 * subscriber (an interactive `shadowmesh chat`, a `recv --follow`), or, while
 * nobody is subscribed, into a bounded backlog that the next subscriber
 * takes (`recv` without --follow prints and drains it).
 *
 * Exactly once: a message handed to `offer` is either taken (delivered to
 * the subscribers present, or stored) and then acknowledged to its sender
 * by the conversation, or refused (`offer` returns false: the backlog is
 * full and nobody listens), in which case it is not acknowledged and the
 * sender's retry brings it again later. Draining the backlog hands each
 * stored event to exactly one subscriber.
 *
 * Acks are live-only (a sender's delivery ticks are for whoever watches
 * now); requests, answers, messages and terminations are kept.
 * Subscribers are called synchronously and must not throw; one that throws
 * is removed (counted in `drops.subscriber_error`).
 */
import type { ChatEvent } from './chat-service.js';

/** Events kept while nobody listens: hours of a busy chat, a few MiB at most (8 KiB texts would be 80 MiB only if every one were maximal). */
export const MAX_CHAT_BACKLOG = 10_000;
/** Live subscribers at once: a few terminals and scripts (the control API allows 16 connections in all). */
export const MAX_CHAT_SUBSCRIBERS = 8;

export type ChatSubscriber = (e: ChatEvent) => void;

export class ChatInbox {
  readonly #subscribers = new Set<ChatSubscriber>();
  #backlog: ChatEvent[] = [];
  readonly #max: number;
  readonly drops = { backlog_full: 0, subscriber_error: 0 };

  constructor(maxBacklog = MAX_CHAT_BACKLOG) {
    this.#max = maxBacklog;
  }

  get backlogSize(): number {
    return this.#backlog.length;
  }

  get subscriberCount(): number {
    return this.#subscribers.size;
  }

  /** Take an event; false only for a message that cannot be taken now (do not ack it). */
  offer(e: ChatEvent): boolean {
    if (this.#subscribers.size > 0) {
      for (const s of [...this.#subscribers]) {
        try {
          s(e);
        } catch {
          this.drops.subscriber_error++;
          this.#subscribers.delete(s);
        }
      }
      return true;
    }
    if (e.type === 'ack') return true;
    if (this.#backlog.length >= this.#max) {
      this.drops.backlog_full++;
      return e.type !== 'message';
    }
    this.#backlog.push(e);
    return true;
  }

  /**
   * Add a subscriber. With `backlog`, the stored events are handed to it first
   * (and leave the backlog). Returns the unsubscribe function, or null when
   * MAX_CHAT_SUBSCRIBERS are already listening.
   */
  subscribe(fn: ChatSubscriber, backlog: boolean): (() => void) | null {
    if (this.#subscribers.size >= MAX_CHAT_SUBSCRIBERS) return null;
    if (backlog) this.drain(fn);
    this.#subscribers.add(fn);
    return () => { this.#subscribers.delete(fn); };
  }

  /** Hand every stored event to `fn`, emptying the backlog. */
  drain(fn: ChatSubscriber): number {
    const events = this.#backlog;
    this.#backlog = [];
    for (const e of events) fn(e);
    return events.length;
  }
}
