/**
 * The relay's connection to NATS (docs/architecture.md "Relay cluster";
 * docs/configuration.md "Relay cluster"): connect with the configured
 * credentials (a credentials file holding a JWT and an nkey seed,
 * user/password, or a token; TLS when the URL is tls://, checked against
 * the given CA file), subscribe, publish, and report when the connection is
 * up or lost.
 *
 * Callers must know:
 *  - `start()` returns at once: the first connection is made in the
 *    background and retried every second until `stop()`, as are
 *    reconnects, so a relay whose NATS is down serves its local members
 *    meanwhile.
 *  - `publish` drops (returns false) while disconnected instead of letting
 *    the client buffer: frames and presence queued across an outage would
 *    arrive stale; the re-sync on reconnect replaces them.
 *  - `onUp` runs on the first connection and on every reconnect (the
 *    subscriptions are restored by the client); `onDown` when it is lost.
 *    Both run on the event loop, never re-entered.
 *  - The message handler gets NATS's own buffer; it must not keep a view
 *    past the call without copying (what it hands a WebSocket is fine:
 *    nothing reuses it).
 *  - A failed attempt gets a code (cluster-errors.ts: SM_ERR_CLUSTER_NATS_AUTH
 *    for refused credentials, SM_ERR_CLUSTER_NATS_TLS for a server
 *    certificate the CA does not sign, SM_ERR_CLUSTER_NATS_UNREACHABLE
 *    otherwise), logged as a warning when it differs from the previous
 *    attempt's and kept in `lastError` (GET /stats `cluster.natsError`)
 *    until a connection succeeds. The relay keeps running and retrying.
 *  - The password and token never reach a log.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from '../../util/logger.js';
import type { ClusterOptions } from './cluster-options.js';
import { classifyNatsError, type ClusterCode } from './cluster-errors.js';

/** Why the last NATS connection attempt failed (null once connected). */
export interface NatsLinkError {
  code: ClusterCode;
  message: string;
  /** Failed attempts in a row with this code. */
  attempts: number;
}

/** Longest error message kept (it comes from the NATS client or TLS, not from us). */
const MAX_ERROR_MESSAGE_CHARS = 200;

/** How the link reports; RelayCluster fits. */
export interface NatsLinkHandlers {
  onMessage(subject: string, data: Uint8Array): void;
  onUp(): void;
  onDown(): void;
}

/** Client-side liveness of the NATS connection: a PING every 5 s, two unanswered close it,
 *  so a silently dead server is noticed within ~15 s even without a TCP reset. */
const NATS_PING_INTERVAL_MS = 5_000;
const NATS_MAX_PINGS_OUT = 2;
/** Between reconnect attempts: short, an outage of NATS is the case the cluster must ride out. */
const NATS_RECONNECT_WAIT_MS = 1_000;

interface NatsSubscription {
  unsubscribe(): void;
}
interface NatsConnectionLike {
  publish(subject: string, data: Uint8Array): void;
  subscribe(subject: string, opts: { callback: (err: Error | null, msg: { subject: string; data: Uint8Array }) => void }): NatsSubscription;
  status(): AsyncIterable<{ type: string; error?: unknown }>;
  close(): Promise<void>;
  isClosed(): boolean;
}

export class NatsLink {
  readonly #options: Readonly<ClusterOptions>;
  readonly #logger: Logger;
  readonly #handlers: NatsLinkHandlers;
  readonly #subjects: string[] = [];
  #nc: NatsConnectionLike | null = null;
  #connected = false;
  #stopped = false;
  #connecting: Promise<void> | null = null;
  /** Between first-connection attempts: the timer, and a way to end the wait at stop(). */
  #retry: NodeJS.Timeout | null = null;
  #wake: (() => void) | null = null;
  #lastError: NatsLinkError | null = null;

  constructor(deps: { logger: Logger; handlers: NatsLinkHandlers }, options: Readonly<ClusterOptions>) {
    this.#options = options;
    this.#logger = deps.logger;
    this.#handlers = deps.handlers;
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** Why the last connection attempt failed; null while connected or before the first failure. */
  get lastError(): NatsLinkError | null {
    return this.#lastError === null ? null : { ...this.#lastError };
  }

  /** Subscribe to `subject` (before or after start; kept across reconnects). */
  subscribe(subject: string): void {
    this.#subjects.push(subject);
    if (this.#nc !== null) this.#sub(this.#nc, subject);
  }

  start(): void {
    this.#connecting ??= this.#connect();
  }

  publish(subject: string, data: Uint8Array): boolean {
    if (!this.#connected || this.#nc === null) return false;
    try {
      this.#nc.publish(subject, data);
      return true;
    } catch (err) {
      this.#logger.debug('NATS publish failed', { error: (err as Error).message });
      return false;
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#connected = false;
    if (this.#retry !== null) clearTimeout(this.#retry);
    this.#wake?.();
    const nc = this.#nc;
    this.#nc = null;
    if (nc !== null && !nc.isClosed()) await nc.close().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    const o = this.#options;
    // Loaded here, never at import: a relay without --cluster loads nothing of NATS.
    const nats = await import('@nats-io/transport-node');
    const auth: Record<string, unknown> = {};
    if (o.credsFile !== null) auth['authenticator'] = nats.credsAuthenticator(new Uint8Array(readFileSync(o.credsFile)));
    if (o.user !== null) Object.assign(auth, { user: o.user, pass: o.password });
    if (o.token !== null) auth['token'] = o.token;
    const tls = o.servers.some((s) => s.startsWith('tls://')) ? { tls: o.tlsCaFile !== null ? { caFile: o.tlsCaFile } : {} } : {};
    let nc: NatsConnectionLike | null = null;
    // The first connection is retried here, not by the client (waitOnFirstConnect), so that
    // stop() can end the attempts: a pending client connect has no handle to cancel it.
    while (nc === null && !this.#stopped) {
      try {
        nc = (await nats.connect({
          servers: o.servers,
          name: `shadowmesh-relay ${o.name}`,
          // Our own presence and frames never come back to us.
          noEcho: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait: NATS_RECONNECT_WAIT_MS,
          // The client otherwise gives up after the same auth error twice: a token or password
          // the operator restores on the server must bring the relay back by itself.
          ignoreAuthErrorAbort: true,
          pingInterval: NATS_PING_INTERVAL_MS,
          maxPingOut: NATS_MAX_PINGS_OUT,
          ...auth,
          ...tls,
        })) as unknown as NatsConnectionLike;
      } catch (err) {
        this.#failed(err);
        await new Promise<void>((resolve) => {
          this.#retry = setTimeout(resolve, NATS_RECONNECT_WAIT_MS);
          this.#wake = resolve;
        });
        this.#retry = null;
        this.#wake = null;
      }
    }
    if (nc === null) return;
    if (this.#stopped) {
      await nc.close().catch(() => undefined);
      return;
    }
    this.#nc = nc;
    for (const s of this.#subjects) this.#sub(nc, s);
    void this.#watch(nc);
    this.#up();
  }

  #sub(nc: NatsConnectionLike, subject: string): void {
    nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err !== null) return;
        try {
          this.#handlers.onMessage(msg.subject, msg.data);
        } catch (e) {
          // docs/conventions.md §10: a handler bug loses this message, not the subscription.
          this.#logger.error('cluster message handler failed', { error: (e as Error).message });
        }
      },
    });
  }

  async #watch(nc: NatsConnectionLike): Promise<void> {
    for await (const s of nc.status()) {
      if (this.#stopped) return;
      if (s.type === 'disconnect' && this.#connected) {
        this.#connected = false;
        this.#logger.warn('NATS connection lost; serving local members, reconnecting');
        this.#handlers.onDown();
      } else if (s.type === 'reconnect') {
        this.#up();
      } else if (s.type === 'error' && s.error !== undefined) {
        // e.g. credentials revoked or changed while reconnecting: the client keeps trying.
        this.#failed(s.error);
      }
    }
    // The status stream ended: the client closed for good. Start over as at the first connect.
    if (this.#stopped || this.#nc !== nc) return;
    this.#nc = null;
    if (this.#connected) {
      this.#connected = false;
      this.#handlers.onDown();
    }
    this.#logger.warn('NATS client closed; connecting again');
    void this.#connect();
  }

  /** Record a failed attempt; warn when its code differs from the previous one. */
  #failed(err: unknown): void {
    const code = classifyNatsError(err);
    const message = String((err as Error)?.message ?? err).slice(0, MAX_ERROR_MESSAGE_CHARS);
    if (this.#lastError?.code === code) {
      this.#lastError.attempts++;
      this.#lastError.message = message;
      return;
    }
    this.#lastError = { code, message, attempts: 1 };
    this.#logger.warn('NATS connection failed; serving local members, retrying every second', { code, error: message, servers: this.#options.servers.join(',') });
  }

  #up(): void {
    this.#lastError = null;
    this.#connected = true;
    this.#logger.info('NATS connected', { servers: this.#options.servers.join(',') });
    this.#handlers.onUp();
  }
}
