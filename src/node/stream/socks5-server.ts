/**
 * The SOCKS5 proxy of `up --socks5 HOST:PORT` (docs/architecture.md
 * "Streams"; docs/configuration.md "SOCKS5 proxy"): RFC 1928 CONNECT, with
 * no authentication or RFC 1929 username/password, whose connections run as
 * streams inside the sessions to the member that owns the destination
 * (stream-dialer.ts). It needs no privilege: an unprivileged user runs it
 * with `--dev none`.
 *
 * Replies (RFC 1928 §6), so a client can tell what went wrong:
 *   0x01 general failure   the acceptor was busy, or another failure
 *   0x02 not allowed       the acceptor's network policy refused it
 *   0x03 network unreachable  the address is for the chosen exit node
 *                          (`--exit-node`), which is not listed with the
 *                          exit mark now (fail closed: no direct connection)
 *   0x04 host unreachable  a name no member has, an address no member owns,
 *                          an unreachable destination, a timeout
 *   0x05 refused           the acceptor does not serve the destination, or
 *                          the destination refused the connection
 *   0x07 command not supported  BIND, UDP ASSOCIATE
 *   0x08 address type not supported
 * A request that is not SOCKS5 at all (version, reserved byte, a greeting
 * with no method) is closed without a reply after counting it; a client
 * offering no acceptable method gets 0xFF (RFC 1928 §3).
 *
 * Bounds: a client must finish its greeting and request within
 * SOCKS_HANDSHAKE_TIMEOUT_MS and MAX_SOCKS_REQUEST_BYTES; at most
 * MAX_SOCKS_CLIENTS connections at once (the listener refuses more). Bytes
 * a client sent after its request are kept and go first into the stream.
 * Nothing a client sends can make the daemon throw: every failure is
 * counted in `stats` by reason.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { StreamReason } from '../../wire/constants.js';
import { silentLogger, type Logger } from '../../util/logger.js';
import { formatHostPort, formatIpAddress } from '../../wire/ip-address.js';
import type { StreamDialer } from './stream-dialer.js';
import { StreamCode, StreamError } from './stream-errors.js';
import { bridgeSocket } from './stream-socket.js';

/** A client that has not sent a complete request by then is cut: an idle half-open handshake holds a socket. */
export const SOCKS_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Greeting (2 + 255 methods), auth (3 + 2 × 255) and request (7 + 255 name) fit well under this. */
export const MAX_SOCKS_REQUEST_BYTES = 1_024;
/** Proxy connections at once: each holds a socket and a stream (the stream layer bounds streams too). */
export const MAX_SOCKS_CLIENTS = 1_024;

export const SocksReply = { Succeeded: 0x00, GeneralFailure: 0x01, NotAllowed: 0x02, NetworkUnreachable: 0x03, HostUnreachable: 0x04, Refused: 0x05, CommandNotSupported: 0x07, AddressTypeNotSupported: 0x08 } as const;

export type SocksDropReason = 'bad_version' | 'no_method' | 'auth_failed' | 'bad_command' | 'bad_address_type' | 'unknown_name' | 'no_route' | 'no_exit_node' | 'refused' | 'too_long' | 'timeout' | 'malformed';

export interface Socks5Options {
  host: string;
  port: number;
  /** USER → PASSWORD; absent: no authentication (RFC 1928 method 0). */
  users?: ReadonlyMap<string, string>;
}

/** The stream a reply code stands for. */
function replyFor(reason: number): number {
  switch (reason) {
    case StreamReason.Policy: return SocksReply.NotAllowed;
    case StreamReason.NotServed:
    case StreamReason.ConnectRefused: return SocksReply.Refused;
    case StreamReason.Unreachable:
    case StreamReason.Timeout: return SocksReply.HostUnreachable;
    default: return SocksReply.GeneralFailure;
  }
}

/** Parse a credentials file: USER:PASSWORD per line, # comments and blank lines skipped. */
export function parseSocksUsers(text: string, file: string): Map<string, string> {
  const users = new Map<string, string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    const at = line.indexOf(':');
    const user = at < 0 ? '' : line.slice(0, at);
    const pass = at < 0 ? '' : line.slice(at + 1);
    const ok = (s: string): boolean => { const n = Buffer.byteLength(s); return n >= 1 && n <= 255; };
    if (!ok(user) || !ok(pass)) throw new StreamError(StreamCode.SOCKS_AUTH_FILE, `--socks5-auth ${file}: line ${i + 1}: expected USER:PASSWORD, each 1..255 bytes`);
    users.set(user, pass);
  });
  if (users.size === 0) throw new StreamError(StreamCode.SOCKS_AUTH_FILE, `--socks5-auth ${file}: no USER:PASSWORD line`);
  return users;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class Socks5Server {
  readonly #dialer: StreamDialer;
  readonly #logger: Logger;
  readonly #o: Socks5Options;
  #server: Server | null = null;
  /** Client sockets open now: stop() closes them, so it never waits on a half-open stream. */
  readonly #clients = new Set<Socket>();
  readonly stats: { accepted: number; connected: number } & Record<SocksDropReason, number> = {
    accepted: 0, connected: 0, bad_version: 0, no_method: 0, auth_failed: 0, bad_command: 0, bad_address_type: 0, unknown_name: 0, no_route: 0, no_exit_node: 0, refused: 0, too_long: 0, timeout: 0, malformed: 0,
  };

  constructor(deps: { dialer: StreamDialer; logger?: Logger }, options: Socks5Options) {
    this.#dialer = deps.dialer;
    this.#logger = deps.logger ?? silentLogger;
    this.#o = options;
  }

  /** The bound address (port 0 picks one). */
  get address(): { host: string; port: number } | null {
    const a = this.#server?.address();
    return a !== null && typeof a === 'object' ? { host: a.address, port: a.port } : null;
  }

  async start(): Promise<void> {
    if (this.#server !== null) return;
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.#onClient(socket));
    server.maxConnections = MAX_SOCKS_CLIENTS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new StreamError(StreamCode.SOCKS_LISTEN, `--socks5 ${formatHostPort(this.#o.host, this.#o.port)}: ${err.message}`, { cause: err })));
      server.listen(this.#o.port, this.#o.host, () => resolve());
    });
    server.on('error', (err) => this.#logger.warn('socks5: listener error', { error: err.message }));
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
    let buf: Buffer = Buffer.alloc(0);
    let stage: 'greeting' | 'auth' | 'request' | 'dialing' = 'greeting';
    const timer = setTimeout(() => { this.stats.timeout++; socket.destroy(); }, SOCKS_HANDSHAKE_TIMEOUT_MS);
    timer.unref();
    const fail = (reason: SocksDropReason, reply?: Buffer): void => {
      this.stats[reason]++;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      if (reply !== undefined) socket.end(reply);
      else socket.destroy();
    };
    const reply = (code: number): Buffer => Buffer.from([5, code, 0, 1, 0, 0, 0, 0, 0, 0]);
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      if (buf.length > MAX_SOCKS_REQUEST_BYTES) { fail('too_long'); return; }
      for (;;) {
        if (stage === 'greeting') {
          if (buf.length < 2) return;
          if (buf[0] !== 5) { fail('bad_version'); return; }
          const n = buf[1]!;
          if (n === 0) { fail('malformed'); return; }
          if (buf.length < 2 + n) return;
          const methods = buf.subarray(2, 2 + n);
          buf = buf.subarray(2 + n);
          const want = this.#o.users !== undefined ? 0x02 : 0x00;
          if (!methods.includes(want)) { fail('no_method', Buffer.from([5, 0xff])); return; }
          socket.write(Buffer.from([5, want]));
          stage = want === 0x02 ? 'auth' : 'request';
        } else if (stage === 'auth') {
          // RFC 1929 §2: VER 1 | ULEN | UNAME | PLEN | PASSWD.
          if (buf.length < 2) return;
          if (buf[0] !== 1) { fail('malformed', Buffer.from([1, 1])); return; }
          const ulen = buf[1]!;
          if (buf.length < 2 + ulen + 1) return;
          const plen = buf[2 + ulen]!;
          if (buf.length < 3 + ulen + plen) return;
          const user = buf.subarray(2, 2 + ulen).toString('utf8');
          const pass = buf.subarray(3 + ulen, 3 + ulen + plen).toString('utf8');
          buf = buf.subarray(3 + ulen + plen);
          const expected = this.#o.users?.get(user);
          if (expected === undefined || !sameSecret(expected, pass)) { fail('auth_failed', Buffer.from([1, 1])); return; }
          socket.write(Buffer.from([1, 0]));
          stage = 'request';
        } else if (stage === 'request') {
          // RFC 1928 §4: VER 5 | CMD | RSV 0 | ATYP | DST.ADDR | DST.PORT.
          if (buf.length < 5) return;
          if (buf[0] !== 5 || buf[2] !== 0) { fail('malformed', reply(SocksReply.GeneralFailure)); return; }
          const cmd = buf[1]!;
          const atyp = buf[3]!;
          let need: number;
          if (atyp === 0x01) need = 4 + 4 + 2;
          else if (atyp === 0x04) need = 4 + 16 + 2;
          else if (atyp === 0x03) need = 4 + 1 + buf[4]! + 2;
          else { fail('bad_address_type', reply(SocksReply.AddressTypeNotSupported)); return; }
          if (buf.length < need) return;
          if (cmd !== 0x01) { fail('bad_command', reply(SocksReply.CommandNotSupported)); return; }
          const port = buf.readUInt16BE(need - 2);
          const host = atyp === 0x03 ? buf.subarray(5, need - 2).toString('latin1') : formatIpAddress(Uint8Array.from(buf.subarray(4, need - 2)));
          const head = Uint8Array.from(buf.subarray(need));
          buf = Buffer.alloc(0);
          stage = 'dialing';
          clearTimeout(timer);
          socket.removeListener('data', onData);
          socket.pause();
          this.#dial(socket, host, port, head, reply);
          return;
        } else {
          return;
        }
      }
    };
    socket.on('data', onData);
    socket.on('error', () => { /* the client left; 'close' cleans up */ });
    socket.on('close', () => clearTimeout(timer));
  }

  #dial(socket: Socket, host: string, port: number, head: Uint8Array, reply: (code: number) => Buffer): void {
    if (port === 0) { this.stats.malformed++; socket.end(reply(SocksReply.HostUnreachable)); return; }
    this.#dialer.dial(host, port).then((r) => {
      if ('unknownName' in r) { this.stats.unknown_name++; socket.end(reply(SocksReply.HostUnreachable)); return; }
      if ('noRoute' in r && r.exitDown === true) { this.stats.no_exit_node++; socket.end(reply(SocksReply.NetworkUnreachable)); return; }
      if ('noRoute' in r) { this.stats.no_route++; socket.end(reply(SocksReply.HostUnreachable)); return; }
      if ('refused' in r) { this.stats.refused++; socket.end(reply(replyFor(r.refused))); return; }
      if (socket.destroyed) { r.handle.reset(StreamReason.Aborted); return; }
      this.stats.connected++;
      socket.write(reply(SocksReply.Succeeded));
      this.#dialer.attach(r.handle, bridgeSocket(socket, r.handle, head));
    }, (err: unknown) => {
      this.stats.refused++;
      this.#logger.warn('socks5: dial failed', { error: (err as Error).message });
      socket.end(reply(SocksReply.GeneralFailure));
    });
  }
}
