/**
 * The node's DNS responder (docs/configuration.md "Names"): answers
 * NAME.<domain> and the members' reverse names from the member directory
 * (dns-answer.ts, member-names.ts) and forwards every other query to the
 * upstream resolvers (dns-forwarder.ts), over UDP and TCP on each listen
 * address (RFC 1035 §4.2; TCP messages carry a 2-byte length).
 *
 * Bad input never throws and never grows memory without bound
 * (docs/conventions.md §10): a packet the codec refuses, a response sent to
 * us, a TCP frame shorter than a header are dropped and counted under
 * `stats.drops`; TCP holds at most MAX_TCP_CONNECTIONS connections, each
 * closed after TCP_IDLE_MS without a complete query, with at most one
 * message of 65535 bytes buffered; forwards are bounded by the forwarder.
 * A forward that gets no answer is answered SERVFAIL.
 *
 * `start()` binds every address (a failure closes what was bound and
 * rejects with SM_ERR_NAMES_BIND); `stop()` closes them all; both idempotent.
 * Port 0 asks for one ephemeral port that UDP and TCP share: the kernel
 * picks it for UDP, and when the same TCP port is already taken, the UDP
 * port is given back and another tried, at most PORT_PAIR_ATTEMPTS times.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createServer, isIP, type Server, type Socket as TcpSocket } from 'node:net';
import { formatHostPort } from '../wire/ip-address.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { decide, RCODE, reply, udpLimit, type DropReason } from './dns-answer.js';
import type { DnsForwarder, Upstream } from './dns-forwarder.js';
import type { MemberNames } from './member-names.js';
import { NamesCode, NamesError } from './names-errors.js';

export const MAX_TCP_CONNECTIONS = 64;
export const TCP_IDLE_MS = 10_000;
/** Ephemeral ports tried for a UDP+TCP pair when port 0 is asked for. */
export const PORT_PAIR_ATTEMPTS = 8;
const HEADER_BYTES = 12;

export type ResponderDropReason = DropReason | 'short' | 'oversize' | 'tcp_limit';

export interface ResponderStats {
  queries: number;
  /** Answered from the directory with NOERROR (with or without records). */
  answers: number;
  nxdomain: number;
  /** Answered NOTIMP / FORMERR. */
  refusedQueries: number;
  forwarded: number;
  /** Forwards that got no answer (SERVFAIL sent). */
  servfail: number;
  truncated: number;
  drops: Record<ResponderDropReason, number>;
}

export interface ResponderDeps {
  names: MemberNames;
  forwarder: DnsForwarder;
  logger?: Logger;
}

export interface ResponderOptions {
  listen: readonly Upstream[];
  /** Normalized network domain. */
  domain: string;
}

export class DnsResponder {
  readonly #names: MemberNames;
  readonly #forwarder: DnsForwarder;
  readonly #logger: Logger;
  readonly #o: ResponderOptions;
  readonly #udp: Socket[] = [];
  readonly #tcp: Server[] = [];
  readonly #conns = new Set<TcpSocket>();
  #state: 'new' | 'started' | 'stopped' = 'new';
  readonly stats: ResponderStats = {
    queries: 0, answers: 0, nxdomain: 0, refusedQueries: 0, forwarded: 0, servfail: 0, truncated: 0,
    drops: { malformed: 0, not_query: 0, short: 0, oversize: 0, tcp_limit: 0 },
  };

  constructor(deps: ResponderDeps, options: ResponderOptions) {
    this.#names = deps.names;
    this.#forwarder = deps.forwarder;
    this.#logger = deps.logger ?? silentLogger;
    this.#o = options;
  }

  get forwarder(): DnsForwarder {
    return this.#forwarder;
  }

  get domain(): string {
    return this.#o.domain;
  }

  /** The bound UDP addresses (port resolved when 0 was asked for). */
  addresses(): Upstream[] {
    return this.#udp.map((s) => {
      const a = s.address();
      return { host: a.address, port: a.port };
    });
  }

  async start(): Promise<void> {
    if (this.#state !== 'new') return;
    this.#state = 'started';
    try {
      for (const l of this.#o.listen) {
        const pair = await bindPortPair(l, bindUdp, (port) => this.#listenTcp({ host: l.host, port }));
        this.#udp.push(pair.udp);
        this.#tcp.push(pair.tcp);
        const udp = pair.udp;
        udp.on('message', (msg, rinfo) => { void this.#onUdp(udp, msg, rinfo.address, rinfo.port); });
        udp.on('error', (err) => this.#logger.warn('dns udp socket error', { error: err.message }));
      }
    } catch (err) {
      this.stop();
      throw err;
    }
  }

  stop(): void {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    this.#forwarder.stop();
    for (const s of this.#udp) s.close();
    for (const s of this.#tcp) s.close();
    for (const c of this.#conns) c.destroy();
    this.#udp.length = 0;
    this.#tcp.length = 0;
    this.#conns.clear();
  }

  /** Answers one query (wire bytes); null when it is dropped. Exposed for tests; never rejects. */
  async handle(bytes: Uint8Array, transport: 'udp' | 'tcp'): Promise<Uint8Array | null> {
    if (bytes.length < HEADER_BYTES) {
      this.stats.drops.short++;
      return null;
    }
    this.stats.queries++;
    const d = decide(bytes, { domain: this.#o.domain, names: this.#names, transport });
    if (d.kind === 'drop') {
      this.stats.drops[d.reason]++;
      return null;
    }
    if (d.kind === 'answer') {
      if (d.rcode === RCODE.NXDOMAIN) this.stats.nxdomain++;
      else if (d.rcode === RCODE.NOERROR) this.stats.answers++;
      else this.stats.refusedQueries++;
      if (transport === 'udp' && ((d.bytes[2] as number) & 0x02) !== 0) this.stats.truncated++;
      return d.bytes;
    }
    this.stats.forwarded++;
    const answer = await this.#forwarder.forward(bytes, d.query.id ?? 0, transport);
    if (answer !== null && (transport === 'tcp' || answer.length <= Math.max(udpLimit(d.query), 512))) return answer;
    if (answer !== null) {
      // An upstream answer larger than the client allows over UDP: tell it to ask again over TCP.
      const tc = reply(d.query, { transport: 'udp' }, RCODE.NOERROR, []);
      return tc.kind === 'answer' ? setTc(tc.bytes) : null;
    }
    this.stats.servfail++;
    const fail = reply(d.query, { transport }, RCODE.SERVFAIL, []);
    return fail.kind === 'answer' ? clearAa(fail.bytes) : null;
  }

  async #onUdp(socket: Socket, msg: Buffer, host: string, port: number): Promise<void> {
    try {
      const answer = await this.handle(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), 'udp');
      if (answer !== null && this.#state === 'started') socket.send(answer, port, host);
    } catch (err) {
      this.#logger.warn('dns answer failed', { error: (err as Error).message });
    }
  }

  #listenTcp(l: Upstream): Promise<Server> {
    const server = createServer((c) => this.#onTcp(c));
    server.maxConnections = MAX_TCP_CONNECTIONS;
    server.on('drop', () => { this.stats.drops.tcp_limit++; });
    return new Promise((resolve, reject) => {
      server.once('error', (err) => reject(new NamesError(NamesCode.BIND, `DNS responder: cannot listen on TCP ${formatHostPort(l.host, l.port)}: ${err.message}`, { cause: err })));
      server.listen({ host: l.host, port: l.port, exclusive: true }, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => this.#logger.warn('dns tcp server error', { error: err.message }));
        resolve(server);
      });
    });
  }

  #onTcp(c: TcpSocket): void {
    this.#conns.add(c);
    c.setTimeout(TCP_IDLE_MS, () => c.destroy());
    c.on('error', () => c.destroy());
    c.on('close', () => this.#conns.delete(c));
    let buf = Buffer.alloc(0);
    let busy = false;
    const pump = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      try {
        while (buf.length >= 2) {
          const len = buf.readUInt16BE(0);
          if (buf.length < 2 + len) break;
          const msg = new Uint8Array(buf.subarray(2, 2 + len));
          buf = buf.subarray(2 + len);
          const answer = await this.handle(msg, 'tcp');
          if (answer === null) {
            c.destroy();
            return;
          }
          const out = Buffer.alloc(2 + answer.length);
          out.writeUInt16BE(answer.length, 0);
          out.set(answer, 2);
          if (!c.destroyed) c.write(out);
        }
      } finally {
        busy = false;
      }
    };
    c.on('data', (chunk: Buffer) => {
      if (buf.length + chunk.length > 2 + 65_535 + 2) {
        // More than one whole message queued while one is answered: a client that does not wait is cut.
        this.stats.drops.oversize++;
        c.destroy();
        return;
      }
      buf = Buffer.concat([buf, chunk]);
      void pump().catch(() => c.destroy());
    });
  }
}

function setTc(bytes: Uint8Array): Uint8Array {
  bytes[2] = (bytes[2] as number) | 0x02;
  return bytes;
}

function clearAa(bytes: Uint8Array): Uint8Array {
  bytes[2] = (bytes[2] as number) & ~0x04;
  return bytes;
}

/**
 * Binds UDP on `l`, then TCP on the port UDP got. With a fixed port a TCP
 * failure is final; with port 0 a TCP port another process holds (the
 * kernel chose the UDP port without looking at TCP) closes the UDP socket
 * and starts over, up to PORT_PAIR_ATTEMPTS times. Exported for tests.
 */
export async function bindPortPair<U extends { address(): { port: number }; close(): void }, T>(
  l: Upstream,
  udp: (l: Upstream) => Promise<U>,
  tcp: (port: number) => Promise<T>,
): Promise<{ udp: U; tcp: T }> {
  for (let attempt = 1; ; attempt++) {
    const u = await udp(l);
    try {
      return { udp: u, tcp: await tcp(u.address().port) };
    } catch (err) {
      u.close();
      const inUse = (err as { cause?: { code?: unknown } }).cause?.code === 'EADDRINUSE';
      if (l.port !== 0 || !inUse || attempt >= PORT_PAIR_ATTEMPTS) throw err;
    }
  }
}

function bindUdp(l: Upstream): Promise<Socket> {
  const socket = createSocket({ type: isIP(l.host) === 6 ? 'udp6' : 'udp4', reuseAddr: false });
  return new Promise((resolve, reject) => {
    socket.once('error', (err) => {
      socket.close();
      reject(new NamesError(NamesCode.BIND, `DNS responder: cannot listen on UDP ${formatHostPort(l.host, l.port)}: ${err.message}`, { cause: err }));
    });
    socket.bind({ address: l.host, port: l.port, exclusive: true }, () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}
