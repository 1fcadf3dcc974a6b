/**
 * Forwards DNS queries that are not ours to the upstream resolvers over UDP
 * (docs/configuration.md "Names": split DNS, other names go to the system's
 * resolver).
 *
 * Each forward uses a fresh UDP socket on an ephemeral port (so the source
 * port is random, like any stub resolver's) and sends the query bytes
 * unchanged to the first upstream; no answer within `timeoutMs` moves on to
 * the next upstream, and after the last one the forward gives up (null: the
 * caller answers SERVFAIL). Only an answer from the upstream's address and
 * port, carrying the query's id and flagged as a response, counts; anything
 * else on the socket is ignored. A client that asked over TCP and gets a
 * truncated (TC) UDP answer is asked for again over TCP to the same
 * upstream (2-byte length framing, the same timeout), so large answers
 * reach TCP clients whole. At most `maxInFlight` forwards run at once;
 * one more is refused at once (null, counted `busy`), so a flood of queries
 * holds a bounded number of sockets and timers.
 */
import { createSocket, type Socket } from 'node:dgram';
import { connect, isIP, type Socket as TcpSocket } from 'node:net';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';

export interface Upstream {
  host: string;
  port: number;
}

export interface ForwarderOptions {
  upstreams: readonly Upstream[];
  /** Wait per upstream, ms. */
  timeoutMs?: number;
  maxInFlight?: number;
}

export const DEFAULT_FORWARD_TIMEOUT_MS = 2_000;
export const DEFAULT_FORWARD_MAX_IN_FLIGHT = 256;
const MAX_DNS_MESSAGE_BYTES = 65_535;

export interface ForwarderStats {
  forwarded: number;
  answered: number;
  timeouts: number;
  busy: number;
  errors: number;
}

export class DnsForwarder {
  readonly #upstreams: readonly Upstream[];
  readonly #timeoutMs: number;
  readonly #maxInFlight: number;
  readonly #clock: Clock;
  readonly #sockets = new Set<Socket>();
  readonly #tcp = new Set<TcpSocket>();
  #inFlight = 0;
  #stopped = false;
  readonly stats: ForwarderStats = { forwarded: 0, answered: 0, timeouts: 0, busy: 0, errors: 0 };

  constructor(options: ForwarderOptions, clock: Clock = systemClock) {
    this.#upstreams = Object.freeze(options.upstreams.map((u) => Object.freeze({ host: u.host, port: u.port })));
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_FORWARD_TIMEOUT_MS;
    this.#maxInFlight = options.maxInFlight ?? DEFAULT_FORWARD_MAX_IN_FLIGHT;
    this.#clock = clock;
  }

  get upstreams(): readonly Upstream[] {
    return this.#upstreams;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** The upstream's answer to `query` (with id `id`), or null: no upstream, busy, every upstream timed out, or stopped. Never rejects. */
  async forward(query: Uint8Array, id: number, transport: 'udp' | 'tcp' = 'udp'): Promise<Uint8Array | null> {
    if (this.#stopped || this.#upstreams.length === 0) return null;
    if (this.#inFlight >= this.#maxInFlight) {
      this.stats.busy++;
      return null;
    }
    this.#inFlight++;
    this.stats.forwarded++;
    try {
      for (const upstream of this.#upstreams) {
        if (this.#stopped) return null;
        let answer = await this.#ask(upstream, query, id);
        if (answer !== null && transport === 'tcp' && ((answer[2] as number) & 0x02) !== 0 && !this.#stopped) {
          answer = (await this.#askTcp(upstream, query, id)) ?? answer;
        }
        if (answer !== null) {
          this.stats.answered++;
          return answer;
        }
      }
      return null;
    } finally {
      this.#inFlight--;
    }
  }

  /** Closes every socket of a running forward (those forwards resolve null). */
  stop(): void {
    this.#stopped = true;
    for (const s of this.#sockets) s.close();
    this.#sockets.clear();
    for (const c of this.#tcp) c.destroy();
    this.#tcp.clear();
  }

  #askTcp(upstream: Upstream, query: Uint8Array, id: number): Promise<Uint8Array | null> {
    return new Promise((resolve) => {
      const c = connect({ host: upstream.host, port: upstream.port });
      this.#tcp.add(c);
      let buf = Buffer.alloc(0);
      let done = false;
      const finish = (answer: Uint8Array | null): void => {
        if (done) return;
        done = true;
        timer.cancel();
        this.#tcp.delete(c);
        c.destroy();
        resolve(answer);
      };
      const timer = this.#clock.schedule(this.#timeoutMs, () => {
        this.stats.timeouts++;
        finish(null);
      });
      c.on('error', () => {
        this.stats.errors++;
        finish(null);
      });
      c.on('close', () => finish(null));
      c.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length < 2) return;
        const len = buf.readUInt16BE(0);
        if (len < 12) return finish(null);
        if (buf.length < 2 + len) return;
        const msg = buf.subarray(2, 2 + len);
        finish(msg.readUInt16BE(0) === id && (msg[2] as number) >= 0x80 ? new Uint8Array(msg) : null);
      });
      const frame = Buffer.alloc(2 + query.length);
      frame.writeUInt16BE(query.length, 0);
      frame.set(query, 2);
      c.write(frame);
    });
  }

  #ask(upstream: Upstream, query: Uint8Array, id: number): Promise<Uint8Array | null> {
    return new Promise((resolve) => {
      const socket = createSocket(isIP(upstream.host) === 6 ? 'udp6' : 'udp4');
      this.#sockets.add(socket);
      let done = false;
      const finish = (answer: Uint8Array | null): void => {
        if (done) return;
        done = true;
        timer.cancel();
        if (this.#sockets.delete(socket)) socket.close();
        resolve(answer);
      };
      const timer = this.#clock.schedule(this.#timeoutMs, () => {
        this.stats.timeouts++;
        finish(null);
      });
      socket.on('error', () => {
        this.stats.errors++;
        finish(null);
      });
      socket.on('close', () => finish(null));
      socket.on('message', (msg, rinfo) => {
        if (msg.length < 12 || msg.length > MAX_DNS_MESSAGE_BYTES || rinfo.port !== upstream.port || !sameHost(rinfo.address, upstream.host)) return;
        if (msg.readUInt16BE(0) !== id || (msg[2] as number) < 0x80) return;
        finish(new Uint8Array(msg));
      });
      socket.send(query, upstream.port, upstream.host, (err) => {
        if (err !== null && err !== undefined) {
          this.stats.errors++;
          finish(null);
        }
      });
    });
  }
}

function sameHost(a: string, b: string): boolean {
  const strip = (s: string): string => s.toLowerCase().replace(/^::ffff:/, '');
  return strip(a) === strip(b);
}
