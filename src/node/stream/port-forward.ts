/**
 * A plain TCP port forward through the stream layer (`shadowmesh forward
 * LOCALPORT PEER:PORT`; docs/architecture.md "Streams"): a listener on a
 * local address whose every connection becomes a stream to PEER:PORT
 * (PEER a member name or mesh address, resolved and routed by
 * stream-dialer.ts like a SOCKS5 destination).
 *
 * A connection whose stream cannot be opened (unknown name, no member owns
 * the address, the acceptor refused) is closed at once and counted by
 * reason in `stats`. Bounded like the proxy: MAX_FORWARD_CLIENTS
 * connections at once.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { StreamReason } from '../../wire/constants.js';
import type { StreamDialer } from './stream-dialer.js';
import { StreamCode, StreamError } from './stream-errors.js';
import { bridgeSocket } from './stream-socket.js';
import { formatHostPort } from '../../wire/ip-address.js';

/** Connections at once through one forward: as many as the SOCKS5 proxy allows. */
export const MAX_FORWARD_CLIENTS = 1_024;

export interface PortForwardOptions {
  /** Local listen address and port (0: any free port). */
  host: string;
  port: number;
  /** Destination: a member name or mesh address, and a port. */
  target: string;
  targetPort: number;
}

export class PortForward {
  readonly #dialer: StreamDialer;
  readonly #o: PortForwardOptions;
  #server: Server | null = null;
  /** Client sockets open now: stop() closes them, so it never waits on a half-open stream. */
  readonly #clients = new Set<Socket>();
  readonly stats = { connections: 0, connected: 0, unknown_name: 0, no_route: 0, refused: 0 };

  constructor(dialer: StreamDialer, options: PortForwardOptions) {
    this.#dialer = dialer;
    this.#o = options;
  }

  /** The bound address. */
  get address(): { host: string; port: number } | null {
    const a = this.#server?.address();
    return a !== null && typeof a === 'object' ? { host: a.address, port: a.port } : null;
  }

  async start(): Promise<void> {
    if (this.#server !== null) return;
    const server = createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, (s) => this.#onClient(s));
    server.maxConnections = MAX_FORWARD_CLIENTS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new StreamError(StreamCode.FORWARD_LISTEN, `forward: cannot listen on ${formatHostPort(this.#o.host, this.#o.port)}: ${err.message}`, { cause: err })));
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
    this.stats.connections++;
    this.#clients.add(socket);
    socket.once('close', () => this.#clients.delete(socket));
    socket.on('error', () => { /* 'close' follows */ });
    this.#dialer.dial(this.#o.target, this.#o.targetPort).then((r) => {
      if ('unknownName' in r) { this.stats.unknown_name++; socket.destroy(); return; }
      if ('noRoute' in r) { this.stats.no_route++; socket.destroy(); return; }
      if ('refused' in r) { this.stats.refused++; socket.destroy(); return; }
      if (socket.destroyed) { r.handle.reset(StreamReason.Aborted); return; }
      this.stats.connected++;
      this.#dialer.attach(r.handle, bridgeSocket(socket, r.handle));
    }, () => { this.stats.refused++; socket.destroy(); });
  }
}
