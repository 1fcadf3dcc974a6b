/**
 * The HTTP CONNECT proxy of `up --http-proxy HOST:PORT` (RFC 9110 §9.3.6;
 * docs/configuration.md "SOCKS5 proxy"): for clients that speak HTTP
 * proxies rather than SOCKS. `CONNECT host:port HTTP/1.1` opens a stream to
 * the member that owns host (stream-dialer.ts, as for SOCKS5), answers
 * `200 Connection established`, and then carries bytes both ways. It needs
 * no privilege and has no authentication: keep it on loopback.
 *
 * Answers: 400 a request that does not parse (or headers past
 * MAX_HTTP_CONNECT_HEAD_BYTES), 405 any method but CONNECT, 403 the
 * destination's policy refused, 502 an unknown name, an address no member
 * owns, a refusal or an unreachable destination, 503 the chosen exit node
 * (`--exit-node`) is not available (never a direct connection), 504 a
 * timeout. Each
 * failure is counted by reason in `stats`; nothing a client sends makes the
 * daemon throw.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { StreamReason } from '../../wire/constants.js';
import { formatHostPort } from '../../wire/ip-address.js';
import type { StreamDialer } from './stream-dialer.js';
import { StreamCode, StreamError } from './stream-errors.js';
import { bridgeSocket } from './stream-socket.js';

/** Request line and headers must fit: a CONNECT carries a host and a few headers. */
export const MAX_HTTP_CONNECT_HEAD_BYTES = 8 * 1024;
/** A client that has not sent its request head by then is cut. */
export const HTTP_CONNECT_HEAD_TIMEOUT_MS = 10_000;
/** Proxy connections at once (as the SOCKS5 proxy). */
export const MAX_HTTP_CONNECT_CLIENTS = 1_024;

export type HttpConnectDropReason = 'malformed' | 'method' | 'too_long' | 'timeout' | 'unknown_name' | 'no_route' | 'no_exit_node' | 'refused';

function statusFor(reason: number): string {
  if (reason === StreamReason.Policy) return '403 Forbidden';
  if (reason === StreamReason.Timeout) return '504 Gateway Timeout';
  return '502 Bad Gateway';
}

export class HttpConnectServer {
  readonly #dialer: StreamDialer;
  readonly #o: { host: string; port: number };
  #server: Server | null = null;
  readonly #clients = new Set<Socket>();
  readonly stats: { accepted: number; connected: number } & Record<HttpConnectDropReason, number> = {
    accepted: 0, connected: 0, malformed: 0, method: 0, too_long: 0, timeout: 0, unknown_name: 0, no_route: 0, no_exit_node: 0, refused: 0,
  };

  constructor(deps: { dialer: StreamDialer }, options: { host: string; port: number }) {
    this.#dialer = deps.dialer;
    this.#o = options;
  }

  get address(): { host: string; port: number } | null {
    const a = this.#server?.address();
    return a !== null && typeof a === 'object' ? { host: a.address, port: a.port } : null;
  }

  async start(): Promise<void> {
    if (this.#server !== null) return;
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (s) => this.#onClient(s));
    server.maxConnections = MAX_HTTP_CONNECT_CLIENTS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new StreamError(StreamCode.HTTP_PROXY_LISTEN, `--http-proxy ${formatHostPort(this.#o.host, this.#o.port)}: ${err.message}`, { cause: err })));
      server.listen(this.#o.port, this.#o.host, () => resolve());
    });
    server.on('error', () => { /* a failed accept loses that client only */ });
    this.#server = server;
  }

  async stop(): Promise<void> {
    const s = this.#server;
    if (s === null) return;
    this.#server = null;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    for (const c of this.#clients) c.destroy();
    this.#clients.clear();
    await closed;
  }

  #onClient(socket: Socket): void {
    this.stats.accepted++;
    this.#clients.add(socket);
    socket.once('close', () => this.#clients.delete(socket));
    socket.on('error', () => { /* 'close' follows */ });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => { this.stats.timeout++; socket.destroy(); }, HTTP_CONNECT_HEAD_TIMEOUT_MS);
    timer.unref();
    const answer = (reason: HttpConnectDropReason, status: string): void => {
      this.stats[reason]++;
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buf.length > MAX_HTTP_CONNECT_HEAD_BYTES) { clearTimeout(timer); socket.removeListener('data', onData); answer('too_long', '400 Bad Request'); }
        return;
      }
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.pause();
      const line = buf.subarray(0, buf.indexOf('\r\n')).toString('latin1');
      const head = Uint8Array.from(buf.subarray(end + 4));
      const m = /^(\S+) (\S+) HTTP\/1\.[01]$/.exec(line);
      if (m === null) { answer('malformed', '400 Bad Request'); return; }
      if (m[1] !== 'CONNECT') { answer('method', '405 Method Not Allowed'); return; }
      const hp = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(m[2]!);
      const port = hp === null ? 0 : Number(hp[3]);
      if (hp === null || port < 1 || port > 65535) { answer('malformed', '400 Bad Request'); return; }
      this.#dialer.dial((hp[1] ?? hp[2])!, port).then((r) => {
        if ('unknownName' in r) { answer('unknown_name', '502 Bad Gateway'); return; }
        if ('noRoute' in r && r.exitDown === true) { answer('no_exit_node', '503 Service Unavailable'); return; }
        if ('noRoute' in r) { answer('no_route', '502 Bad Gateway'); return; }
        if ('refused' in r) { answer('refused', statusFor(r.refused)); return; }
        if (socket.destroyed) { r.handle.reset(StreamReason.Aborted); return; }
        this.stats.connected++;
        socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
        this.#dialer.attach(r.handle, bridgeSocket(socket, r.handle, head));
      }, () => answer('refused', '502 Bad Gateway'));
    };
    socket.on('data', onData);
  }
}
