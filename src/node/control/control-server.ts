/**
 * The daemon's side of the local control API (control-protocol.ts): a unix
 * socket server that reads newline-delimited JSON requests and answers them
 * through a small handler the daemon supplies (the node's is
 * NodeControlHandlers, control-handlers.ts). A connection whose first bytes
 * are an HTTP method token is handed to the HTTP side instead
 * (control-http.ts), which runs the same methods through the same
 * dispatcher; it counts against the same connection limit.
 *
 * Access control is the file system: the socket is created with mode 0600
 * (umask 0177 around bind, then chmod), so only the daemon's user (and root)
 * can connect. The parent directory is created 0700 when missing. With
 * `group` (an admin group, control-group.ts), the socket is given to that
 * group with mode 0660 (chown before chmod, so it is never open to the wrong
 * group), and a parent directory we create is 0710 with that group, so the
 * group's members can reach the socket and nothing else in the directory; an
 * existing parent the group cannot search is logged as a warning.
 *
 * A socket file left at the path is handled at start: if a daemon answers
 * on it, start() refuses (SM_ERR_CONTROL_IN_USE) rather than steal a live
 * daemon's socket; if nothing answers (the previous daemon died), the file is
 * replaced. A path that holds anything but a socket is never deleted
 * (SM_ERR_CONTROL_PATH).
 *
 * Bad input never escapes: a malformed line, an unknown method, bad params or
 * a failing handler become an error answer, counted in `stats.errors` by code.
 * Bounded: MAX_CONTROL_CONNECTIONS clients, MAX_INFLIGHT_PER_CONNECTION
 * requests each, MAX_CONTROL_REQUEST_BYTES per line, idle connections closed.
 * A request still running when its client goes away is aborted (its signal).
 * A streaming request (chat_events with follow) runs until then; a client
 * that leaves more than MAX_CONTROL_PENDING_BYTES of progress unread is
 * disconnected (counted as SM_ERR_CONTROL_SLOW_CONSUMER).
 *
 * The chat methods are served by `handler.chat` when the daemon has one;
 * without it they are unknown methods; so is `shutdown` without
 * `handler.shutdown`. Its answer is written before the handler's stop request
 * runs (shutdownAnswered), so the caller hears it before the daemon closes
 * the socket.
 */
import { chmod, chown, lstat, mkdir, stat, unlink } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { ConfigError } from '../../errors.js';
import type { Logger } from '../../util/logger.js';
import { silentLogger } from '../../util/logger.js';
import { checkSocketPath, ControlError, errorBody, MAX_CONTROL_PENDING_BYTES, MAX_CONTROL_REQUEST_BYTES, parseChatEventsParams, parseChatRequestParams, parseChatRespondParams, parseChatSendParams, parseChatTerminateParams, parseForwardParams, parseNetcheckParams, parsePingParams, parseUsersParams, parseWhoisParams, type ChatEvent, type ChatEventsParams, type ChatEventsResult, type ChatListResult, type ChatRequestParams, type ChatRespondParams, type ChatSendParams, type ChatSendResult, type ChatTerminateParams, type ControlMessage, type ForwardParams, type ForwardProgress, type NetcheckParams, type ConversationInfo, type UsersParams, type UsersResult, type PeersResult, type PingParams, type PingProgress, type PingResult, type ShutdownResult, type StatusResult, type WebResult, type WhoisParams, type WhoisResult } from './control-protocol.js';
import type { NetcheckRun } from '../path/netcheck-runner.js';
import { ControlCode } from './control-errors.js';
import { resolveGroupId } from './control-group.js';
import { ControlHttp, sniffProtocol, type ControlHttpHandler } from './control-http.js';

/** The CLI opens one connection per command; 16 leaves room for scripts and monitoring without letting a loop exhaust descriptors. */
export const MAX_CONTROL_CONNECTIONS = 16;
/** Requests one connection may have running at once (a ping runs for count × interval). */
export const MAX_INFLIGHT_PER_CONNECTION = 4;
/** A connection with nothing running and nothing said for this long is closed: a forgotten `nc` must not hold a slot forever. */
export const CONTROL_IDLE_TIMEOUT_MS = 60_000;
/** How long start() waits for an existing socket to answer before calling it live (a daemon that does not even accept within 1 s is still not ours to remove). */
export const STALE_PROBE_TIMEOUT_MS = 1_000;
/** A refused connection gets its BUSY line and this long to hang up before we cut it. */
const REFUSED_LINGER_MS = 1_000;
/** Socket file mode: the daemon's user only. */
export const CONTROL_SOCKET_MODE = 0o600;
/** Socket file mode with a control group: the daemon's user and the group. */
export const CONTROL_GROUP_SOCKET_MODE = 0o660;
/** Mode of a parent directory we create for a group's socket: the group may search it, not list it. */
const CONTROL_GROUP_DIR_MODE = 0o710;
/** umask around bind so the socket is never, even briefly, connectable by others. */
const BIND_UMASK = 0o177;
/** Mode of a parent directory we create. */
const CONTROL_DIR_MODE = 0o700;

/** What the server needs from the daemon: one function per method. */
export interface ControlHandler {
  status(): StatusResult;
  peers(): PeersResult;
  ping(params: PingParams, onProgress: (p: PingProgress) => void, signal: AbortSignal): Promise<PingResult>;
  /** `whois`: a member by address, name or id; absent: the method is unknown. */
  whois?(params: WhoisParams): WhoisResult;
  /** Users and chat (src/messaging/); absent: those methods are unknown. */
  readonly chat?: ChatControlHandler;
  /** `shutdown`: who is stopping; absent: the method is unknown. */
  shutdown?(): ShutdownResult;
  /** `web`: the web console's address and login link; absent: the method is unknown. */
  web?(): WebResult;
  /** `netcheck`: UDP, NAT and relay latency as measured from this node (src/node/path/netcheck-runner.ts); absent: the method is unknown. */
  netcheck?(params: NetcheckParams): Promise<NetcheckRun>;
  /** `forward`: a local listener carried by streams until `signal` aborts (never resolves before); absent: the method is unknown. */
  forward?(params: ForwardParams, onProgress: (p: ForwardProgress) => void, signal: AbortSignal): Promise<void>;
  /** Called once the answer to `shutdown` is written: start stopping now. */
  shutdownAnswered?(): void;
}

export interface ChatControlHandler {
  users(params: UsersParams): UsersResult;
  request(params: ChatRequestParams, signal: AbortSignal): Promise<ConversationInfo>;
  respond(params: ChatRespondParams): ConversationInfo;
  send(params: ChatSendParams, signal: AbortSignal): Promise<ChatSendResult>;
  terminate(params: ChatTerminateParams): ConversationInfo;
  list(): ChatListResult;
  /** follow: stream each event through onEvent until `signal` aborts (never resolves before). */
  events(params: ChatEventsParams, onEvent: (e: ChatEvent) => void, signal: AbortSignal): Promise<ChatEventsResult>;
}

export interface ControlServerDeps {
  handler: ControlHandler;
  logger?: Logger;
}

export interface ControlServerOptions {
  /** Path of the unix socket. */
  path: string;
  /** Group (name or id) whose members may use the socket (mode 0660); absent: the daemon's user only (0600). */
  group?: string;
}

interface Conn {
  socket: Socket;
  buffered: string;
  inflight: Map<number, AbortController>;
  closed: boolean;
}

/** True when something accepts connections on the unix socket at `path`. */
export function probeSocket(path: string, timeoutMs = STALE_PROBE_TIMEOUT_MS): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (live: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(live);
    };
    const timer = setTimeout(() => done(true), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export class ControlServer {
  readonly path: string;
  readonly stats = { connections: 0, requests: 0, errors: {} as Record<string, number>, refusedConnections: 0 };
  readonly #handler: ControlHandler;
  readonly #logger: Logger;
  readonly #conns = new Set<Conn>();
  readonly #http: ControlHttp;
  readonly #group: string | null;
  #server: Server | null = null;
  #ino: number | null = null;
  #starting: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;

  constructor(deps: ControlServerDeps, options: ControlServerOptions) {
    if (deps === null || typeof deps !== 'object' || typeof deps.handler?.status !== 'function') {
      throw new ConfigError('SM_ERR_CONFIG_VALUE', 'ControlServer deps.handler: expected a handler with status, peers and ping');
    }
    if (options === null || typeof options !== 'object') throw new ConfigError('SM_ERR_CONFIG_VALUE', 'ControlServer options: expected an object');
    for (const key of Object.keys(options)) if (key !== 'path' && key !== 'group') throw new ConfigError('SM_ERR_CONFIG_UNKNOWN_OPTION', `ControlServer option ${key}: unknown option`);
    checkSocketPath(options.path);
    if (options.group !== undefined && (typeof options.group !== 'string' || options.group.length === 0)) {
      throw new ConfigError('SM_ERR_CONFIG_VALUE', 'ControlServer option group: expected a group name or id');
    }
    this.#group = options.group ?? null;
    this.#handler = deps.handler;
    this.#logger = deps.logger ?? silentLogger;
    this.path = options.path;
    this.#http = new ControlHttp({
      dispatch: (method, params, onProgress, signal) => {
        this.stats.requests++;
        return this.#dispatch(method, params, onProgress, signal);
      },
      logger: this.#logger,
      count: (code) => this.#count(code),
      shutdownAnswered: () => this.#handler.shutdownAnswered?.(),
    });
  }

  /**
   * The HTTP routes `routes` over this server's dispatcher, for another
   * HTTP server to hand requests to (the web console, src/web/). It admits
   * every request: the caller checks who is asking first. Requests count in
   * `stats` like the socket's; connections are the caller's to bound.
   */
  httpRoutes(routes: readonly string[]): ControlHttpHandler {
    return new ControlHttp({
      dispatch: (method, params, onProgress, signal) => {
        this.stats.requests++;
        return this.#dispatch(method, params, onProgress, signal);
      },
      admit: () => undefined,
      routes,
      logger: this.#logger,
      count: (code) => this.#count(code),
      shutdownAnswered: () => this.#handler.shutdownAnswered?.(),
    });
  }

  /** Claim the socket and accept clients; idempotent. ControlError IN_USE / PATH on failure. */
  start(): Promise<void> {
    this.#starting ??= this.#start();
    return this.#starting;
  }

  /** Close every client, stop listening and remove our socket file; idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #start(): Promise<void> {
    const dir = dirname(this.path);
    const gid = this.#group === null ? null : await resolveGroupId(this.#group);
    try {
      const created = await mkdir(dir, { recursive: true, mode: gid === null ? CONTROL_DIR_MODE : CONTROL_GROUP_DIR_MODE });
      if (gid !== null && created !== undefined) {
        await chown(dir, -1, gid);
        await chmod(dir, CONTROL_GROUP_DIR_MODE);
      }
    } catch (err) {
      throw new ControlError(ControlCode.PATH, `cannot create ${dir} for the control socket: ${(err as Error).message}`, { cause: err });
    }
    if (gid !== null) {
      const d = await stat(dir);
      const searchable = (d.mode & 0o001) !== 0 || (d.gid === gid && (d.mode & 0o010) !== 0);
      if (!searchable) this.#logger.warn('the control group cannot reach the socket: its directory is not searchable by the group', { dir, group: this.#group });
    }
    try {
      await this.#listen();
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'EADDRINUSE') throw this.#listenError(err);
      let isSocket = false;
      try {
        isSocket = (await lstat(this.path)).isSocket();
      } catch {
        // vanished meanwhile: just try again below
        isSocket = true;
      }
      if (!isSocket) throw new ControlError(ControlCode.PATH, `${this.path} exists and is not a socket; refusing to replace it (choose another --control)`);
      if (await probeSocket(this.path)) {
        throw new ControlError(ControlCode.IN_USE, `another daemon answers on ${this.path}: stop it first, or give this one another --control`);
      }
      this.#logger.info('replacing a stale control socket', { path: this.path });
      await unlink(this.path).catch(() => undefined);
      try {
        await this.#listen();
      } catch (err2) {
        throw this.#listenError(err2);
      }
    }
    if (gid !== null) {
      try {
        await chown(this.path, -1, gid);
      } catch (err) {
        await unlink(this.path).catch(() => undefined);
        throw new ControlError(ControlCode.GROUP, `cannot give the control socket to group ${this.#group}: ${(err as Error).message} (only root, or a member of the group, may)`, { cause: err });
      }
    }
    await chmod(this.path, gid === null ? CONTROL_SOCKET_MODE : CONTROL_GROUP_SOCKET_MODE);
    this.#ino = (await lstat(this.path)).ino;
    this.#logger.info('control socket listening', { path: this.path });
  }

  #listenError(err: unknown): ControlError {
    return new ControlError(ControlCode.PATH, `cannot listen on ${this.path}: ${(err as Error).message}`, { cause: err });
  }

  #listen(): Promise<void> {
    const server = createServer({ allowHalfOpen: false }, (socket) => this.#accept(socket));
    return new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        server.close();
        reject(err);
      };
      server.once('error', onError);
      // Bind happens synchronously inside listen() for a unix path, so the umask covers exactly it.
      const previous = process.umask(BIND_UMASK);
      try {
        server.listen(this.path, () => {
          server.off('error', onError);
          server.on('error', (e: Error) => this.#logger.error('control server error', { error: e.message }));
          this.#server = server;
          resolve();
        });
      } finally {
        process.umask(previous);
      }
    });
  }

  async #stop(): Promise<void> {
    await this.#starting?.catch(() => undefined);
    const server = this.#server;
    this.#server = null;
    for (const c of this.#conns) this.#closeConn(c);
    this.#http.close();
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
    // Remove the file only if it is still the one we bound (another daemon may have replaced a path we lost).
    if (this.#ino !== null) {
      try {
        if ((await lstat(this.path)).ino === this.#ino) await unlink(this.path);
      } catch {
        // already gone
      }
    }
  }

  #count(code: string): void {
    this.stats.errors[code] = (this.stats.errors[code] ?? 0) + 1;
  }

  #accept(socket: Socket): void {
    if (this.#server === null || this.#conns.size >= MAX_CONTROL_CONNECTIONS) {
      this.stats.refusedConnections++;
      // Read (and discard) until the client closes: a paused socket would never see its EOF and never close.
      socket.on('error', () => socket.destroy());
      socket.resume();
      socket.setTimeout(REFUSED_LINGER_MS, () => socket.destroy());
      socket.end(JSON.stringify({ id: null, error: { code: ControlCode.BUSY, message: `the daemon serves at most ${MAX_CONTROL_CONNECTIONS} control connections at once` } }) + '\n');
      return;
    }
    this.stats.connections++;
    const conn: Conn = { socket, buffered: '', inflight: new Map(), closed: false };
    this.#conns.add(conn);
    socket.setTimeout(CONTROL_IDLE_TIMEOUT_MS);
    socket.on('timeout', () => {
      if (conn.inflight.size === 0) this.#closeConn(conn);
    });
    socket.on('error', () => this.#closeConn(conn));
    socket.on('close', () => this.#closeConn(conn));
    // HTTP or NDJSON: decided by the first bytes (control-http.ts, sniffProtocol).
    let head = Buffer.alloc(0);
    const sniff = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const kind = sniffProtocol(head);
      if (kind === 'more') return;
      socket.off('data', sniff);
      socket.pause();
      if (kind === 'http') {
        // node:http owns the connection from here, its timeouts included; ours still counts it and closes it on stop.
        socket.setTimeout(0);
        this.#http.serve(socket, head);
        return;
      }
      socket.unshift(head);
      socket.setEncoding('utf8');
      socket.on('data', (text: string) => this.#onData(conn, text));
      socket.resume();
    };
    socket.on('data', sniff);
  }

  #closeConn(conn: Conn): void {
    if (conn.closed) return;
    conn.closed = true;
    this.#conns.delete(conn);
    for (const ac of conn.inflight.values()) ac.abort();
    conn.inflight.clear();
    conn.socket.destroy();
  }

  #send(conn: Conn, msg: ControlMessage): void {
    if (conn.closed || !conn.socket.writable) return;
    if ('progress' in msg && conn.socket.writableLength > MAX_CONTROL_PENDING_BYTES) {
      this.#count(ControlCode.SLOW_CONSUMER);
      this.#logger.info('control client not reading its subscription; disconnecting', { pendingBytes: conn.socket.writableLength });
      this.#closeConn(conn);
      return;
    }
    conn.socket.write(JSON.stringify(msg) + '\n');
  }

  /** Sends, then runs `after` once the line is handed to the kernel (or at once when the client is already gone). */
  #sendThen(conn: Conn, msg: ControlMessage, after: () => void): void {
    if (conn.closed || !conn.socket.writable) return after();
    conn.socket.write(JSON.stringify(msg) + '\n', () => after());
  }

  #sendError(conn: Conn, id: number | null, err: unknown): void {
    const body = errorBody(err);
    this.#count(body.code);
    this.#send(conn, { id, error: body });
  }

  #onData(conn: Conn, chunk: string): void {
    if (conn.closed) return; // after TOO_LARGE: discard what is still in flight
    conn.buffered += chunk;
    for (;;) {
      const nl = conn.buffered.indexOf('\n');
      if (nl < 0) break;
      const line = conn.buffered.slice(0, nl);
      conn.buffered = conn.buffered.slice(nl + 1);
      if (Buffer.byteLength(line) > MAX_CONTROL_REQUEST_BYTES) return this.#tooLarge(conn);
      if (line.trim().length > 0) this.#onLine(conn, line);
      if (conn.closed) return;
    }
    if (Buffer.byteLength(conn.buffered) > MAX_CONTROL_REQUEST_BYTES) this.#tooLarge(conn);
  }

  #tooLarge(conn: Conn): void {
    this.#sendError(conn, null, new ControlError(ControlCode.TOO_LARGE, `request line over ${MAX_CONTROL_REQUEST_BYTES} bytes; closing the connection`));
    conn.buffered = '';
    conn.socket.setTimeout(REFUSED_LINGER_MS, () => conn.socket.destroy());
    conn.socket.end();
    conn.closed = true;
    this.#conns.delete(conn);
    for (const ac of conn.inflight.values()) ac.abort();
  }

  #onLine(conn: Conn, line: string): void {
    this.stats.requests++;
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      return this.#sendError(conn, null, new ControlError(ControlCode.REQUEST, 'request is not valid JSON'));
    }
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
      return this.#sendError(conn, null, new ControlError(ControlCode.REQUEST, 'request must be a JSON object {"id", "method", "params"}'));
    }
    const rec = msg as Record<string, unknown>;
    const id = rec['id'];
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
      return this.#sendError(conn, null, new ControlError(ControlCode.REQUEST, 'request id: expected a non-negative integer'));
    }
    if (conn.inflight.has(id)) return this.#sendError(conn, id, new ControlError(ControlCode.REQUEST, `request id ${id} is already running on this connection`));
    const params = rec['params'] ?? {};
    if (params === null || typeof params !== 'object' || Array.isArray(params)) {
      return this.#sendError(conn, id, new ControlError(ControlCode.PARAMS, 'params: expected a JSON object'));
    }
    const method = rec['method'];
    if (conn.inflight.size >= MAX_INFLIGHT_PER_CONNECTION) {
      return this.#sendError(conn, id, new ControlError(ControlCode.BUSY, `at most ${MAX_INFLIGHT_PER_CONNECTION} requests may run at once on one connection`));
    }
    const ac = new AbortController();
    conn.inflight.set(id, ac);
    this.#dispatch(method, params as Record<string, unknown>, (progress) => this.#send(conn, { id, progress }), ac.signal).then(
      (result) => {
        conn.inflight.delete(id);
        if (method === 'shutdown') this.#sendThen(conn, { id, result }, () => this.#handler.shutdownAnswered?.());
        else this.#send(conn, { id, result });
      },
      (err: unknown) => {
        conn.inflight.delete(id);
        const body = errorBody(err);
        if (body.code === ControlCode.INTERNAL) this.#logger.error('control handler failed', { method: String(method), error: body.message });
        this.#sendError(conn, id, err);
      },
    );
  }

  /** One request, whichever framing carried it: progress goes to onProgress, the answer is the result. */
  async #dispatch(method: unknown, params: Record<string, unknown>, onProgress: (p: unknown) => void, signal: AbortSignal): Promise<unknown> {
    const noParams = (): void => {
      const keys = Object.keys(params);
      if (keys.length > 0) throw new ControlError(ControlCode.PARAMS, `${String(method)}: takes no parameters, got ${JSON.stringify(keys[0])}`);
    };
    switch (method) {
      case 'status':
        noParams();
        return this.#handler.status();
      case 'peers':
        noParams();
        return this.#handler.peers();
      case 'ping': {
        const p = parsePingParams(params);
        return this.#handler.ping(p, onProgress, signal);
      }
      case 'whois': {
        const p = parseWhoisParams(params);
        if (this.#handler.whois === undefined) throw new ControlError(ControlCode.METHOD, 'unknown method "whois": this daemon has no member directory');
        return this.#handler.whois(p);
      }
      case 'shutdown':
        if (this.#handler.shutdown === undefined) throw new ControlError(ControlCode.METHOD, 'unknown method "shutdown": this daemon cannot be stopped through its control API');
        noParams();
        return this.#handler.shutdown();
      case 'web':
        if (this.#handler.web === undefined) throw new ControlError(ControlCode.METHOD, 'unknown method "web": this daemon has no web console');
        noParams();
        return this.#handler.web();
      case 'netcheck': {
        const p = parseNetcheckParams(params);
        if (this.#handler.netcheck === undefined) throw new ControlError(ControlCode.METHOD, 'unknown method "netcheck": this daemon does not run network checks');
        return this.#handler.netcheck(p);
      }
      case 'forward': {
        const p = parseForwardParams(params);
        if (this.#handler.forward === undefined) throw new ControlError(ControlCode.METHOD, 'unknown method "forward": this daemon carries no streams');
        return this.#handler.forward(p, onProgress, signal);
      }
      default: {
        const chat = this.#handler.chat;
        if (chat !== undefined && typeof method === 'string' && (method === 'users' || method.startsWith('chat_'))) return this.#dispatchChat(chat, method, params, onProgress, signal);
        throw new ControlError(ControlCode.METHOD, `unknown method ${JSON.stringify(method)}; expected status, peers, ping, whois${this.#handler.shutdown !== undefined ? ', shutdown' : ''}${chat !== undefined ? ', users or chat_*' : ''}`);
      }
    }
  }

  async #dispatchChat(chat: ChatControlHandler, method: string, params: Record<string, unknown>, onProgress: (p: unknown) => void, signal: AbortSignal): Promise<unknown> {
    switch (method) {
      case 'users': return chat.users(parseUsersParams(params));
      case 'chat_request': return chat.request(parseChatRequestParams(params), signal);
      case 'chat_respond': return chat.respond(parseChatRespondParams(params));
      case 'chat_send': return chat.send(parseChatSendParams(params), signal);
      case 'chat_terminate': return chat.terminate(parseChatTerminateParams(params));
      case 'chat_list':
        if (Object.keys(params).length > 0) throw new ControlError(ControlCode.PARAMS, 'chat_list: takes no parameters');
        return chat.list();
      case 'chat_events': return chat.events(parseChatEventsParams(params), onProgress, signal);
      default:
        throw new ControlError(ControlCode.METHOD, `unknown method ${JSON.stringify(method)}; the chat methods are users, chat_request, chat_respond, chat_send, chat_terminate, chat_list and chat_events`);
    }
  }
}
