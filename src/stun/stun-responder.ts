/**
 * STUN Binding responder (RFC 8489 §6.3; docs/protocol.md §5, issue 5 §1):
 * the server side of reflexive address discovery, run by the relay on UDP
 * next to its WSS port. It answers each Binding request with the datagram's
 * source address and port in XOR-MAPPED-ADDRESS, plus SOFTWARE and
 * FINGERPRINT when they fit the amplification bound. Any standard STUN
 * client (and our StunClient) can use it; the only per-client state is a
 * bounded rate-limit bucket per source address.
 *
 * What callers must know:
 *  - Everything that is not a well-formed Binding request is dropped and
 *    counted by reason (`stats.dropped`), never thrown: 'not-stun',
 *    'malformed', 'not-request' (responses, indications, other methods),
 *    'bad-fingerprint', 'unknown-attribute', 'bad-source', 'send-failed',
 *    'rate-limited'.
 *  - Rate: at most STUN_PER_SOURCE_RATE answers per second per source
 *    address (burst STUN_PER_SOURCE_BURST) and STUN_TOTAL_RATE in all, so a
 *    flood with spoofed sources cannot turn the relay into a traffic source
 *    towards a victim; the per-source state is bounded (least recently seen
 *    forgotten first).
 *  - A request with an unknown comprehension-required attribute is DROPPED
 *    (counted 'unknown-attribute'), not answered with the 420 error of
 *    RFC 8489 §6.3.1: plain Binding clients never send such attributes, and
 *    staying silent sends nothing towards a possibly spoofed source.
 *  - Amplification: a response is never more than AMPLIFICATION_FACTOR times
 *    the request's size; SOFTWARE, then FINGERPRINT, are left out when
 *    needed, and a request too small even for a bare answer (a 20-byte
 *    request asking about an IPv6 source) gets the bare answer of 44 bytes,
 *    i.e. at most 2.2x. No attribute from the request is echoed.
 *  - `stats.requests` counts every datagram received, junk included.
 *  - Host: an IPv6 literal binds a udp6 socket (dual-stack for "::"),
 *    anything else udp4. `start()`/`stop()` are idempotent; a bind failure
 *    rejects `start()` with SM_ERR_STUN_LISTEN naming the address.
 */

import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

import { ConfigError } from '../errors.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { TokenBucket } from '../util/token-bucket.js';
import { unmapIpv4 } from '../wire/ip-address.js';
import { formatStunAddress } from './stun-address.js';
import { StunError, StunCode } from './stun-errors.js';
import { STUN_METHOD_BINDING, decodeStunMessage, encodeBindingSuccess, isStunMessage, type StunAddress, type StunEncodeOptions } from './stun-message.js';

/** Largest response relative to its request: ~2x keeps the responder useless as a reflection amplifier. */
export const AMPLIFICATION_FACTOR = 2;
/** Answers per source address per second, and the burst allowed: a node asks once per refresh (25 s)
 *  and per direct attempt; anything above this is a flood or a reflection attempt with a spoofed source. */
export const STUN_PER_SOURCE_RATE = 10;
export const STUN_PER_SOURCE_BURST = 20;
/** Answers per second over all sources: a relay of thousands of members refreshing every 25 s needs a few
 *  hundred; the bound caps what spoofed requests can make the relay send anywhere. */
export const STUN_TOTAL_RATE = 5_000;
/** Sources whose buckets are remembered (least recently seen forgotten first): bounded memory under floods. */
export const STUN_MAX_TRACKED_SOURCES = 4_096;
/** SOFTWARE text in responses (RFC 8489 §14.14), so operators can tell which server answered. */
export const STUN_RESPONDER_SOFTWARE = 'shadowmesh';

export type StunDropReason = 'not-stun' | 'malformed' | 'not-request' | 'bad-fingerprint' | 'unknown-attribute' | 'bad-source' | 'send-failed' | 'rate-limited';

export interface StunResponderStats {
  /** Datagrams received, junk included. */
  requests: number;
  /** Binding success responses handed to the socket. */
  answered: number;
  /** Datagrams not answered, by reason. */
  dropped: Record<StunDropReason, number>;
}

export interface StunResponderOptions {
  host: string;
  /** UDP port; 0 picks a free one (read it back from `address`). */
  port: number;
  /** Answers per second per source address; default STUN_PER_SOURCE_RATE. */
  perSourceRate?: number;
  /** Burst per source address; default STUN_PER_SOURCE_BURST. */
  perSourceBurst?: number;
  /** Answers per second in all; default STUN_TOTAL_RATE. */
  totalRate?: number;
  /** Source buckets kept; default STUN_MAX_TRACKED_SOURCES. */
  maxTrackedSources?: number;
}

type ResolvedResponderOptions = Required<StunResponderOptions>;

export interface StunResponderDeps {
  logger?: Logger;
}

const WITH_ALL: StunEncodeOptions = Object.freeze({ software: STUN_RESPONDER_SOFTWARE, fingerprint: true });
const WITH_FINGERPRINT: StunEncodeOptions = Object.freeze({ fingerprint: true });
const BARE: StunEncodeOptions = Object.freeze({});

function isIpv6Literal(host: string): boolean {
  return host.includes(':');
}

const OPTION_KEYS = ['host', 'port', 'perSourceRate', 'perSourceBurst', 'totalRate', 'maxTrackedSources'];

function resolveOptions(given: StunResponderOptions): Readonly<ResolvedResponderOptions> {
  if (typeof given !== 'object' || given === null) throw new ConfigError('SM_ERR_CONFIG_VALUE', 'stun responder options: expected { host, port }');
  for (const key of Object.keys(given)) {
    if (!OPTION_KEYS.includes(key)) throw new ConfigError('SM_ERR_CONFIG_UNKNOWN_OPTION', `stun responder option ${key}: unknown option`);
  }
  const positive = (name: string, v: number | undefined, dflt: number): number => {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ConfigError('SM_ERR_CONFIG_VALUE', `stun responder option ${name}: expected an integer >= 1, got ${JSON.stringify(v)}`);
    return v;
  };
  const limits = {
    perSourceRate: positive('perSourceRate', given.perSourceRate, STUN_PER_SOURCE_RATE),
    perSourceBurst: positive('perSourceBurst', given.perSourceBurst, STUN_PER_SOURCE_BURST),
    totalRate: positive('totalRate', given.totalRate, STUN_TOTAL_RATE),
    maxTrackedSources: positive('maxTrackedSources', given.maxTrackedSources, STUN_MAX_TRACKED_SOURCES),
  };
  if (typeof given.host !== 'string' || given.host.length === 0) {
    throw new ConfigError('SM_ERR_CONFIG_VALUE', `stun responder option host: expected a non-empty host, got ${JSON.stringify(given.host)}`);
  }
  if (typeof given.port !== 'number' || !Number.isInteger(given.port) || given.port < 0 || given.port > 0xffff) {
    throw new ConfigError('SM_ERR_CONFIG_VALUE', `stun responder option port: expected an integer in [0, 65535], got ${JSON.stringify(given.port)}`);
  }
  return Object.freeze({ host: given.host, port: given.port, ...limits });
}

export class StunResponder {
  readonly options: Readonly<ResolvedResponderOptions>;
  readonly stats: StunResponderStats = {
    requests: 0,
    answered: 0,
    dropped: { 'not-stun': 0, malformed: 0, 'not-request': 0, 'bad-fingerprint': 0, 'unknown-attribute': 0, 'bad-source': 0, 'send-failed': 0, 'rate-limited': 0 },
  };
  readonly #sources = new Map<string, TokenBucket>();
  readonly #total: TokenBucket;
  readonly #logger: Logger;
  #socket: Socket | null = null;
  #address: StunAddress | null = null;
  #starting: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;
  /** Registered once: no closure per datagram. */
  readonly #onMessage = (msg: Buffer, rinfo: RemoteInfo): void => this.#handle(msg, rinfo);
  readonly #onSent = (err: Error | null): void => {
    if (err !== null) {
      this.stats.answered--;
      this.stats.dropped['send-failed']++;
    }
  };

  constructor(deps: StunResponderDeps, options: StunResponderOptions) {
    this.options = resolveOptions(options);
    this.#total = new TokenBucket(this.options.totalRate, this.options.totalRate, Date.now());
    this.#logger = deps?.logger ?? silentLogger;
  }

  /** Source addresses with a rate-limit bucket now (at most maxTrackedSources). */
  get trackedSources(): number {
    return this.#sources.size;
  }

  /** The bound address and port; null before start() and after stop(). */
  get address(): StunAddress | null {
    return this.#address;
  }

  start(): Promise<void> {
    if (this.#starting !== null) return this.#starting;
    this.#starting = this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    const { host, port } = this.options;
    const socket = createSocket({ type: isIpv6Literal(host) ? 'udp6' : 'udp4', reuseAddr: false });
    const where = formatStunAddress({ address: host, port });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        socket.close();
        reject(new StunError(StunCode.Listen, `stun: cannot listen on udp ${where}: ${err.message}`, { cause: err }));
      };
      socket.once('error', onError);
      socket.bind({ address: host, port, exclusive: true }, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    socket.on('error', (err) => this.#logger.error('stun socket error', { error: err.message }));
    socket.on('message', this.#onMessage);
    const bound = socket.address();
    this.#socket = socket;
    this.#address = { address: bound.address, port: bound.port };
    this.#logger.info('stun listening', { address: formatStunAddress(this.#address) });
  }

  stop(): Promise<void> {
    if (this.#stopping !== null) return this.#stopping;
    this.#stopping = this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    if (this.#starting !== null) await this.#starting.catch(() => undefined);
    const socket = this.#socket;
    this.#socket = null;
    this.#address = null;
    if (socket !== null) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  /** Per-source and total token buckets (after the request proved well-formed, so junk costs no bucket). */
  #allow(source: string): boolean {
    const now = Date.now();
    let bucket = this.#sources.get(source);
    if (bucket === undefined) {
      if (this.#sources.size >= this.options.maxTrackedSources) {
        const oldest = this.#sources.keys().next();
        if (oldest.done !== true) this.#sources.delete(oldest.value);
      }
      bucket = new TokenBucket(this.options.perSourceRate, this.options.perSourceBurst, now);
    } else {
      this.#sources.delete(source); // re-inserted below: the map's order is least recently seen first
    }
    this.#sources.set(source, bucket);
    return bucket.take(1, now) && this.#total.take(1, now);
  }

  #handle(msg: Buffer, rinfo: RemoteInfo): void {
    this.stats.requests++;
    const socket = this.#socket;
    if (socket === null) return;
    if (!isStunMessage(msg)) {
      this.stats.dropped['not-stun']++;
      return;
    }
    // Cheap class/method check before a full decode: type must be 0x0001.
    if (msg[0] !== 0x00 || msg[1] !== 0x01) {
      this.stats.dropped['not-request']++;
      return;
    }
    let request;
    try {
      request = decodeStunMessage(msg);
    } catch {
      this.stats.dropped.malformed++;
      return;
    }
    if (request.method !== STUN_METHOD_BINDING || request.class !== 'request') {
      this.stats.dropped['not-request']++;
      return;
    }
    if (request.fingerprintOk === false) {
      this.stats.dropped['bad-fingerprint']++;
      return;
    }
    if (request.unknownRequired.length > 0) {
      this.stats.dropped['unknown-attribute']++;
      return;
    }
    if (rinfo.port === 0) {
      this.stats.dropped['bad-source']++;
      return;
    }
    if (!this.#allow(rinfo.address)) {
      this.stats.dropped['rate-limited']++;
      return;
    }
    let response: Uint8Array;
    try {
      // The source as the socket reports it; a dual-stack socket's IPv4 peers come as ::ffff:a.b.c.d,
      // which the IPv4-mapped IPv6 family of XOR-MAPPED-ADDRESS would confuse clients with: answer IPv4.
      const address = unmapIpv4(rinfo.address);
      const mapped: StunAddress = { address, port: rinfo.port };
      const limit = msg.length * AMPLIFICATION_FACTOR;
      response = encodeBindingSuccess(request.transactionId, mapped, WITH_ALL);
      if (response.length > limit) response = encodeBindingSuccess(request.transactionId, mapped, WITH_FINGERPRINT);
      if (response.length > limit) response = encodeBindingSuccess(request.transactionId, mapped, BARE);
    } catch {
      // A source the codec cannot encode (a zone-scoped link-local address, for one).
      this.stats.dropped['bad-source']++;
      return;
    }
    this.stats.answered++;
    try {
      socket.send(response, rinfo.port, rinfo.address, this.#onSent);
    } catch {
      this.stats.answered--;
      this.stats.dropped['send-failed']++;
    }
  }
}
