/**
 * The console's live stream (docs/architecture.md "Web console"): every
 * WEB_SNAPSHOT_INTERVAL_MS, one Server-Sent Event `snapshot` holding what
 * the control API's `status` and `peers` answer at that moment, to every
 * subscribed page. One timer for all subscribers, armed only while there
 * are any (docs/conventions.md §7); the snapshot is built and serialized
 * once per tick, whatever the number of pages.
 *
 * Bounded: at most MAX_WEB_SUBSCRIBERS pages at once (subscribe() answers
 * false beyond that, the caller answers 503), and a page that leaves more
 * than MAX_WEB_PENDING_BYTES unread is cut and counted. A subscriber that
 * closes is forgotten at once. Never throws on what a client does; a
 * snapshot() that throws skips that tick (counted), the stream goes on.
 */
import type { Clock, TimerHandle } from '../util/clock.js';
import type { Logger } from '../util/logger.js';

/** A page per open console tab: 8 covers a user with several tabs, and bounds what a local process can make the daemon serialize and hold. */
export const MAX_WEB_SUBSCRIBERS = 8;
/** Once a second: the table's RTT and byte counters move visibly, and a path change shows well within the 3 s a user notices. */
export const WEB_SNAPSHOT_INTERVAL_MS = 1_000;
/** A page this far behind (several snapshots of a large network) is not reading: cut it rather than buffer without bound. */
export const MAX_WEB_PENDING_BYTES = 4 * 1024 * 1024;

/** One subscribed response (node:http's ServerResponse fits). */
export interface WebStreamSink {
  write(chunk: string): boolean;
  readonly writableLength: number;
  readonly destroyed: boolean;
  destroy(): void;
  once(event: 'close', fn: () => void): unknown;
}

export interface WebSnapshotsDeps {
  clock: Clock;
  /** What one event carries; called once per tick. */
  snapshot: () => unknown;
  logger: Logger;
}

export class WebSnapshots {
  readonly stats = { subscribed: 0, refused: 0, slowConsumers: 0, snapshotErrors: 0 };
  readonly #deps: WebSnapshotsDeps;
  readonly #sinks = new Set<WebStreamSink>();
  #timer: TimerHandle | null = null;
  #stopped = false;

  constructor(deps: WebSnapshotsDeps) {
    this.#deps = deps;
  }

  get subscribers(): number {
    return this.#sinks.size;
  }

  /** Add a page: it gets a snapshot now and one every interval. False (nothing kept) at the bound or after stop(). */
  subscribe(sink: WebStreamSink): boolean {
    if (this.#stopped || this.#sinks.size >= MAX_WEB_SUBSCRIBERS) {
      this.stats.refused++;
      return false;
    }
    this.#sinks.add(sink);
    this.stats.subscribed++;
    sink.once('close', () => this.#sinks.delete(sink));
    const event = this.#event();
    if (event !== null) this.#send(sink, event);
    this.#arm();
    return true;
  }

  /** Close every stream and the timer; idempotent. */
  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = null;
    for (const sink of this.#sinks) sink.destroy();
    this.#sinks.clear();
  }

  #arm(): void {
    if (this.#timer !== null || this.#sinks.size === 0 || this.#stopped) return;
    this.#timer = this.#deps.clock.schedule(WEB_SNAPSHOT_INTERVAL_MS, () => {
      this.#timer = null;
      this.#tick();
      this.#arm();
    });
  }

  #tick(): void {
    if (this.#sinks.size === 0) return;
    const event = this.#event();
    if (event === null) return;
    for (const sink of [...this.#sinks]) this.#send(sink, event);
  }

  #event(): string | null {
    try {
      return `event: snapshot\ndata: ${JSON.stringify(this.#deps.snapshot())}\n\n`;
    } catch (err) {
      this.stats.snapshotErrors++;
      this.#deps.logger.warn('web console snapshot failed', { error: (err as Error).message });
      return null;
    }
  }

  #send(sink: WebStreamSink, event: string): void {
    if (sink.destroyed) {
      this.#sinks.delete(sink);
      return;
    }
    if (sink.writableLength > MAX_WEB_PENDING_BYTES) {
      this.stats.slowConsumers++;
      this.#deps.logger.info('web console page not reading its stream; disconnecting', { pendingBytes: sink.writableLength });
      this.#sinks.delete(sink);
      sink.destroy();
      return;
    }
    sink.write(event);
  }
}
