/**
 * STUN Binding client over a UDP socket the CALLER owns (docs/protocol.md §5,
 * issue 5 §1): the node's UDP transport socket asks a STUN server which
 * address and port the NAT maps that very socket to.
 *
 * The caller wires it in two places:
 *  - `deps.send(bytes, port, address)` sends one datagram on its socket;
 *  - every datagram the socket receives goes to `onMessage(bytes, from)`
 *    first; it returns true when it consumed the datagram (a response to an
 *    outstanding transaction, from the server that transaction asked), false
 *    for anything else, which the caller then handles itself.
 *
 * Retransmission (RFC 8489 §6.2.1): the request is resent after an RTO that
 * starts at `initialRtoMs` and doubles, at most `retransmits` times, and the
 * whole transaction is bounded by `timeoutMs` (RFC 8489's 39.5 s default is
 * far too long for path setup). Every timer lives in this file and goes
 * through the injected clock.
 *
 * What callers must know:
 *  - `onMessage` never throws and allocates nothing for datagrams that are
 *    not STUN; a malformed response with an outstanding transaction id is
 *    consumed and counted, and the transaction keeps waiting (the real
 *    answer may still arrive).
 *  - `from.address` may be IPv4-mapped IPv6 text from a dual-stack socket;
 *    sources are compared canonically (stun-address.ts).
 *  - A response whose FINGERPRINT does not match is dropped (RFC 8489 §7.3).
 *  - Outstanding transactions are bounded (`maxOutstanding`); beyond it
 *    `binding` rejects with SM_ERR_STUN_BUSY instead of queueing.
 *  - `close()` rejects every outstanding transaction with SM_ERR_STUN_CLOSED
 *    and later `binding` calls reject at once; it does not touch the socket.
 */

import { randomBytes } from 'node:crypto';

import { ConfigError } from '../errors.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';
import { canonicalStunAddress, formatIp, formatStunAddress, sameStunAddress } from './stun-address.js';
import { StunError, StunCode } from './stun-errors.js';
import {
  STUN_METHOD_BINDING,
  STUN_TRANSACTION_ID_BYTES,
  decodeStunMessage,
  encodeBindingRequest,
  isStunMessage,
  type StunAddress,
} from './stun-message.js';

/** Whole-transaction bound: a few RTOs, short enough not to delay path setup. */
export const DEFAULT_STUN_TIMEOUT_MS = 3_000;
/** First retransmission timer: RFC 8489 §6.2.1 recommends 500 ms or more on
 *  unknown paths; 250 ms gets a second try within one typical loss burst and
 *  still leaves 4 sends (0, 250, 750, 1750 ms) inside the 3 s bound. */
export const DEFAULT_STUN_INITIAL_RTO_MS = 250;
/** RFC 8489 §6.2.1: Rc = 7 sends, i.e. 6 retransmissions; timeoutMs usually ends it earlier. */
export const DEFAULT_STUN_RETRANSMITS = 6;
/** Concurrent transactions: a node asks a handful of relays; more is a bug or a flood. */
export const DEFAULT_STUN_MAX_OUTSTANDING = 64;

export interface StunClientDeps {
  send(bytes: Uint8Array, port: number, address: string): void;
  clock?: Clock;
}

export interface StunClientOptions {
  timeoutMs?: number;
  retransmits?: number;
  initialRtoMs?: number;
  maxOutstanding?: number;
  /** SOFTWARE text in requests; omitted when undefined. */
  software?: string;
}

type ResolvedOptions = Readonly<Required<Omit<StunClientOptions, 'software'>> & { software: string | undefined }>;

export const STUN_CLIENT_DEFAULTS: ResolvedOptions = Object.freeze({
  timeoutMs: DEFAULT_STUN_TIMEOUT_MS,
  retransmits: DEFAULT_STUN_RETRANSMITS,
  initialRtoMs: DEFAULT_STUN_INITIAL_RTO_MS,
  maxOutstanding: DEFAULT_STUN_MAX_OUTSTANDING,
  software: undefined,
});

/** Drop and outcome counters; read-only snapshot semantics are up to the reader. */
export interface StunClientStats {
  requests: number;
  retransmits: number;
  succeeded: number;
  timeouts: number;
  errorResponses: number;
  /** Consumed datagrams that were dropped, by reason. */
  dropped: { malformed: number; fingerprint: number; notResponse: number };
}

interface Transaction {
  readonly key: string;
  /** Canonical (IPv4-mapped reduced), for matching sources. */
  readonly server: StunAddress;
  /** The caller's address text in RFC 5952 form, for sending. */
  readonly sendTo: string;
  readonly request: Uint8Array;
  readonly deadline: number;
  readonly resolve: (mapped: StunAddress) => void;
  readonly reject: (err: StunError) => void;
  rtoMs: number;
  retransmitsLeft: number;
  timer: TimerHandle | null;
}

function checkInt(name: string, value: unknown, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError('SM_ERR_CONFIG_VALUE', `stun client option ${name}: expected an integer in [${min}, ${max}], got ${JSON.stringify(value) ?? String(value)}`);
  }
}

function resolveOptions(given: StunClientOptions): ResolvedOptions {
  for (const key of Object.keys(given)) {
    if (!Object.prototype.hasOwnProperty.call(STUN_CLIENT_DEFAULTS, key)) {
      throw new ConfigError('SM_ERR_CONFIG_UNKNOWN_OPTION', `stun client option ${key}: unknown option`);
    }
  }
  const defined = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as StunClientOptions;
  const o = { ...STUN_CLIENT_DEFAULTS, ...defined };
  checkInt('timeoutMs', o.timeoutMs, 1, 600_000);
  checkInt('retransmits', o.retransmits, 0, 20);
  checkInt('initialRtoMs', o.initialRtoMs, 1, 60_000);
  checkInt('maxOutstanding', o.maxOutstanding, 1, 100_000);
  if (o.software !== undefined && typeof o.software !== 'string') {
    throw new ConfigError('SM_ERR_CONFIG_VALUE', 'stun client option software: expected a string');
  }
  return Object.freeze(o);
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Map key of a transaction id at bytes[8..20]. */
function transactionKey(bytes: Uint8Array, at: number): string {
  let s = '';
  for (let i = at; i < at + STUN_TRANSACTION_ID_BYTES; i++) s += HEX[bytes[i] as number] as string;
  return s;
}

export class StunClient {
  readonly #send: StunClientDeps['send'];
  readonly #clock: Clock;
  readonly #o: ResolvedOptions;
  readonly #pending = new Map<string, Transaction>();
  #closed = false;
  readonly stats: StunClientStats = {
    requests: 0,
    retransmits: 0,
    succeeded: 0,
    timeouts: 0,
    errorResponses: 0,
    dropped: { malformed: 0, fingerprint: 0, notResponse: 0 },
  };

  constructor(deps: StunClientDeps, options: StunClientOptions = {}) {
    if (typeof deps?.send !== 'function') throw new ConfigError('SM_ERR_CONFIG_VALUE', 'stun client deps.send: expected a function');
    this.#send = deps.send;
    this.#clock = deps.clock ?? systemClock;
    this.#o = resolveOptions(options);
  }

  /** Transactions currently waiting for an answer. */
  get outstanding(): number {
    return this.#pending.size;
  }

  /**
   * Ask `server` for this socket's reflexive address. Resolves with the
   * XOR-MAPPED-ADDRESS (else MAPPED-ADDRESS) of the first valid response;
   * rejects with a StunError (SM_ERR_STUN_*), never anything else.
   */
  binding(server: StunAddress): Promise<StunAddress> {
    if (this.#closed) return Promise.reject(new StunError(StunCode.Closed, 'stun: client is closed'));
    const target = canonicalStunAddress(server);
    // Sent to as the caller wrote it (RFC 5952 form): a udp6 socket reaches IPv4 only as ::ffff:a.b.c.d.
    const sendTo = target === null ? null : formatIp(server.address);
    if (target === null || sendTo === null || target.port === 0) {
      return Promise.reject(new StunError(StunCode.BadServer, `stun: server ${JSON.stringify(server)} is not an IP address and port`));
    }
    if (this.#pending.size >= this.#o.maxOutstanding) {
      return Promise.reject(new StunError(StunCode.Busy, `stun: ${this.#pending.size} transactions outstanding, limit ${this.#o.maxOutstanding}`));
    }
    let id = randomBytes(STUN_TRANSACTION_ID_BYTES);
    let key = transactionKey(id, 0);
    // 96 random bits collide essentially never; one retry keeps the map a function of ids.
    if (this.#pending.has(key)) {
      id = randomBytes(STUN_TRANSACTION_ID_BYTES);
      key = transactionKey(id, 0);
    }
    const request = encodeBindingRequest(id, this.#o.software === undefined ? { fingerprint: true } : { software: this.#o.software, fingerprint: true });
    return new Promise<StunAddress>((resolve, reject) => {
      const tx: Transaction = {
        key,
        server: target,
        sendTo,
        request,
        deadline: this.#clock.now() + this.#o.timeoutMs,
        resolve,
        reject,
        rtoMs: this.#o.initialRtoMs,
        retransmitsLeft: this.#o.retransmits,
        timer: null,
      };
      this.#pending.set(key, tx);
      this.stats.requests++;
      if (this.#transmit(tx)) this.#arm(tx);
    });
  }

  /**
   * Offer a received datagram. True when it was a response to an outstanding
   * transaction from that transaction's server (consumed, even if dropped as
   * malformed); false otherwise. Never throws.
   */
  onMessage(bytes: Uint8Array, from: StunAddress): boolean {
    if (this.#pending.size === 0 || !isStunMessage(bytes)) return false;
    const tx = this.#pending.get(transactionKey(bytes, 8));
    if (tx === undefined) return false;
    if (!sameStunAddress(tx.server, from)) return false;
    // A request or indication reusing our id is not an answer to us.
    const classBits = (((bytes[0] as number) & 0x01) << 1) | (((bytes[1] as number) >> 4) & 0x01);
    if (classBits < 2) {
      this.stats.dropped.notResponse++;
      return false;
    }
    let msg;
    try {
      msg = decodeStunMessage(bytes);
    } catch {
      this.stats.dropped.malformed++;
      return true;
    }
    if (msg.method !== STUN_METHOD_BINDING) {
      this.stats.dropped.notResponse++;
      return true;
    }
    if (msg.fingerprintOk === false) {
      this.stats.dropped.fingerprint++;
      return true;
    }
    if (msg.class === 'error') {
      this.stats.errorResponses++;
      const code = msg.errorCode;
      const reason = msg.errorReason === undefined ? '' : ` ${JSON.stringify(msg.errorReason.slice(0, 128))}`;
      this.#finish(tx, new StunError(StunCode.ErrorResponse, `stun: ${formatStunAddress(tx.server)} answered error ${code ?? 'without ERROR-CODE'}${reason}`, code === undefined ? {} : { stunErrorCode: code }));
      return true;
    }
    const mapped = msg.xorMapped ?? msg.mapped;
    if (mapped === undefined) {
      this.#finish(tx, new StunError(StunCode.BadResponse, `stun: ${formatStunAddress(tx.server)} answered without a mapped address`));
      return true;
    }
    this.stats.succeeded++;
    this.#finish(tx, mapped);
    return true;
  }

  /** Reject every outstanding transaction with SM_ERR_STUN_CLOSED; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const tx of [...this.#pending.values()]) {
      this.#finish(tx, new StunError(StunCode.Closed, `stun: client closed while asking ${formatStunAddress(tx.server)}`));
    }
  }

  #finish(tx: Transaction, outcome: StunAddress | StunError): void {
    if (this.#pending.get(tx.key) !== tx) return;
    this.#pending.delete(tx.key);
    tx.timer?.cancel();
    tx.timer = null;
    if (outcome instanceof StunError) tx.reject(outcome);
    else tx.resolve(outcome);
  }

  /** Send the request once; false (and the transaction rejected) when the caller's send threw. */
  #transmit(tx: Transaction): boolean {
    try {
      this.#send(tx.request, tx.server.port, tx.sendTo);
      return true;
    } catch (err) {
      this.#finish(tx, new StunError(StunCode.Send, `stun: sending to ${formatStunAddress(tx.server)} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err }));
      return false;
    }
  }

  /** Next wake-up: the next retransmission, or the deadline when none is left or it comes first. */
  #arm(tx: Transaction): void {
    const now = this.#clock.now();
    const remaining = tx.deadline - now;
    const delay = tx.retransmitsLeft > 0 ? Math.min(tx.rtoMs, remaining) : remaining;
    tx.timer = this.#clock.schedule(Math.max(0, delay), () => this.#onTimer(tx));
  }

  #onTimer(tx: Transaction): void {
    tx.timer = null;
    if (this.#pending.get(tx.key) !== tx) return;
    if (this.#clock.now() >= tx.deadline || tx.retransmitsLeft === 0) {
      this.stats.timeouts++;
      this.#finish(tx, new StunError(StunCode.Timeout, `stun: no answer from ${formatStunAddress(tx.server)} within ${this.#o.timeoutMs} ms`));
      return;
    }
    tx.retransmitsLeft--;
    tx.rtoMs *= 2; // RFC 8489 §6.2.1: the RTO doubles after each transmission
    this.stats.retransmits++;
    if (this.#transmit(tx)) this.#arm(tx);
  }
}
