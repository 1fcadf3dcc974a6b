/**
 * The control API as HTTP/1.1 on the same unix socket (docs/architecture.md
 * "Control API and CLI"), so that other tools can use it with nothing but
 * an HTTP client: `curl --unix-socket SOCK http://localhost/v1/status`.
 * The CLI keeps the newline-delimited JSON framing (control-protocol.ts),
 * which starts faster.
 *
 * The server (control-server.ts) reads the first bytes of a connection:
 * an HTTP method token followed by a space is HTTP (sniffProtocol), anything
 * else is NDJSON (where a line that is not a request gets the usual error
 * answer). HTTP connections go to node:http's own parser; nothing here
 * parses HTTP.
 *
 * Routes (JSON bodies are exactly the NDJSON results and params):
 *
 *     GET  /v1/status                  status
 *     GET  /v1/peers                   peers
 *     POST /v1/ping                    ping            body: PingParams (progress is not sent; the answer is the result)
 *     GET  /v1/whois?target=IP|NAME    whois
 *     GET  /v1/users[?keys=true]       users
 *     GET  /v1/chat/conversations      chat_list
 *     POST /v1/chat/request            chat_request    body: ChatRequestParams
 *     POST /v1/chat/respond            chat_respond    body: ChatRespondParams
 *     POST /v1/chat/send               chat_send       body: ChatSendParams
 *     POST /v1/chat/terminate          chat_terminate  body: ChatTerminateParams
 *     GET  /v1/events                  chat_events with follow, as Server-Sent Events: one `data: <ChatEvent JSON>` per event
 *     POST /v1/shutdown                shutdown        (the answer is written before the daemon starts stopping)
 *     GET  /v1/web                     web             (the web console's address and login link)
 *
 * Errors are `{"error": {"code", "message"}}`, the NDJSON error body, with
 * a status from httpStatusOf: 400 bad input, 403 refused (below), 404
 * unknown route or member, 405 wrong method (with Allow), 413 a body over
 * MAX_CONTROL_REQUEST_BYTES, 503 busy, 500 a daemon bug.
 *
 * Browsers are refused. The socket's file mode decides who may connect, but
 * a local proxy (socat, an SSH or container socket forward, a development
 * server) can put the socket behind a TCP port, and a web page can then make
 * the visitor's browser send requests to it, including by DNS rebinding. A
 * browser always sends the Host of the page's URL and, for a script's
 * request, an Origin header; ordinary tools (curl, scripts) send neither an
 * Origin nor a Host other than the one they were given. So a request with
 * an Origin header, or with a Host other than localhost, 127.0.0.1 or [::1]
 * (any port), is refused with 403 SM_ERR_CONTROL_FORBIDDEN before it
 * reaches a handler.
 *
 * The web console (src/web/) serves a subset of these routes on its own TCP
 * listener through ControlServer.httpRoutes, after its own token, Origin
 * and Host checks (docs/architecture.md "Web console"): the same handlers,
 * not a copy of them.
 *
 * Bounds as for NDJSON: request bodies and headers up to
 * MAX_CONTROL_REQUEST_BYTES (node:http answers 431 for longer headers), an
 * event stream whose reader leaves more than MAX_CONTROL_PENDING_BYTES
 * unread is cut (SM_ERR_CONTROL_SLOW_CONSUMER), and a request whose client
 * goes away is aborted. Connections count against the server's limit like
 * NDJSON ones.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../../util/logger.js';
import { ControlError, errorBody, MAX_CONTROL_PENDING_BYTES, MAX_CONTROL_REQUEST_BYTES, type ControlErrorBody } from './control-protocol.js';
import { ControlCode } from './control-errors.js';

/** Runs one control method (the server's dispatcher): progress to onProgress, the answer as the result. */
export type ControlDispatch = (method: string, params: Record<string, unknown>, onProgress: (p: unknown) => void, signal: AbortSignal) => Promise<unknown>;

/** Methods node:http knows and a client may send; the sniffer only needs to tell them from a JSON object. */
const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE'];
/** Longest method token plus its space: a first chunk shorter than this may still become one. */
const SNIFF_BYTES = Math.max(...HTTP_METHODS.map((m) => m.length)) + 1;
/** An idle keep-alive HTTP connection is closed after this (curl and most libraries open one per request anyway). */
const HTTP_KEEP_ALIVE_MS = 5_000;
/** Headers must arrive within this: a slow client must not hold a connection slot. */
const HTTP_HEADERS_TIMEOUT_MS = 10_000;

/**
 * What the first bytes of a connection are: 'http' (a method token and a
 * space), 'ndjson' (anything else, `{` included), or 'more' while they are a
 * prefix of a method token and could still become one.
 */
export function sniffProtocol(head: Uint8Array): 'http' | 'ndjson' | 'more' {
  const text = Buffer.from(head.subarray(0, SNIFF_BYTES)).toString('latin1');
  for (const m of HTTP_METHODS) {
    if (text.startsWith(`${m} `)) return 'http';
    if (text.length <= m.length && m.startsWith(text)) return 'more';
  }
  return 'ndjson';
}

/** True for a Host header a local tool sends (localhost, 127.0.0.1, [::1], any port) or none at all (HTTP/1.0). */
export function hostAllowed(host: string | undefined): boolean {
  if (host === undefined) return true;
  const name = host.toLowerCase().replace(/:\d{1,5}$/, '');
  return name === 'localhost' || name === '127.0.0.1' || name === '[::1]';
}

/** The HTTP status of an error answer, by its code. */
export function httpStatusOf(code: string): number {
  switch (code) {
    case ControlCode.REQUEST:
    case ControlCode.PARAMS:
      return 400;
    case ControlCode.FORBIDDEN:
      return 403;
    case ControlCode.METHOD:
    case ControlCode.UNKNOWN_PEER:
    case ControlCode.UNKNOWN_NAME:
    case ControlCode.UNKNOWN_ADDRESS:
    case ControlCode.NO_WEB:
    case 'SM_ERR_CHAT_OFFLINE':
    case 'SM_ERR_CHAT_UNKNOWN_CONVERSATION':
      return 404;
    case ControlCode.TOO_LARGE:
    case 'SM_ERR_CHAT_TOO_LARGE':
      return 413;
    case ControlCode.BUSY:
    case 'SM_ERR_CHAT_BUSY':
      return 503;
    case ControlCode.TIMEOUT:
    case ControlCode.NO_REPLY:
    case 'SM_ERR_CHAT_TIMEOUT':
      return 504;
    case ControlCode.INTERNAL:
      return 500;
    default:
      // A coded refusal of a well-formed request (declined, terminated, wrong state): the daemon's state says no.
      return code.startsWith('SM_ERR_') ? 409 : 500;
  }
}

interface Route {
  readonly method: 'GET' | 'POST';
  /** The control method it runs. */
  readonly control: string;
  /** GET: the query parameters it takes and how each becomes a param. */
  readonly query?: Readonly<Record<string, 'string' | 'boolean'>>;
  /** Fixed params added to the request's. */
  readonly fixed?: Readonly<Record<string, unknown>>;
  readonly sse?: boolean;
}

/** Every route, by path. */
export const CONTROL_HTTP_ROUTES: Readonly<Record<string, Route>> = Object.freeze({
  '/v1/status': { method: 'GET', control: 'status' },
  '/v1/peers': { method: 'GET', control: 'peers' },
  '/v1/ping': { method: 'POST', control: 'ping' },
  '/v1/whois': { method: 'GET', control: 'whois', query: { target: 'string' } },
  '/v1/users': { method: 'GET', control: 'users', query: { keys: 'boolean' } },
  '/v1/chat/conversations': { method: 'GET', control: 'chat_list' },
  '/v1/chat/request': { method: 'POST', control: 'chat_request' },
  '/v1/chat/respond': { method: 'POST', control: 'chat_respond' },
  '/v1/chat/send': { method: 'POST', control: 'chat_send' },
  '/v1/chat/terminate': { method: 'POST', control: 'chat_terminate' },
  '/v1/events': { method: 'GET', control: 'chat_events', fixed: { follow: true }, sse: true },
  '/v1/shutdown': { method: 'POST', control: 'shutdown' },
  '/v1/web': { method: 'GET', control: 'web' },
});

function queryParams(route: Route, search: URLSearchParams): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of search) {
    const kind = route.query?.[key];
    if (kind === undefined) throw new ControlError(ControlCode.PARAMS, `${route.control}: unknown query parameter ${JSON.stringify(key)}`);
    if (kind === 'boolean') {
      if (value !== 'true' && value !== 'false') throw new ControlError(ControlCode.PARAMS, `${key}: expected true or false`);
      out[key] = value === 'true';
    } else {
      out[key] = value;
    }
  }
  return out;
}

/** The request body as JSON params: empty is {}; over MAX_CONTROL_REQUEST_BYTES is TOO_LARGE. */
function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_CONTROL_REQUEST_BYTES) return reject(new ControlError(ControlCode.TOO_LARGE, `request body over ${MAX_CONTROL_REQUEST_BYTES} bytes`));
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_CONTROL_REQUEST_BYTES) {
        req.removeAllListeners('data');
        req.resume();
        reject(new ControlError(ControlCode.TOO_LARGE, `request body over ${MAX_CONTROL_REQUEST_BYTES} bytes`));
      } else {
        chunks.push(chunk);
      }
    });
    req.on('error', reject);
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim().length === 0) return resolve({});
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        return reject(new ControlError(ControlCode.REQUEST, 'request body is not valid JSON'));
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return reject(new ControlError(ControlCode.PARAMS, 'request body: expected a JSON object of params'));
      resolve(value as Record<string, unknown>);
    });
  });
}

/** The control socket's admission: refuse anything a browser sent (the docs above). Throws FORBIDDEN. */
export function refuseBrowsers(req: IncomingMessage): void {
  if (req.headers.origin !== undefined || !hostAllowed(req.headers.host)) {
    throw new ControlError(ControlCode.FORBIDDEN, 'requests with an Origin header or a Host other than localhost are refused (the control API is not for browsers)');
  }
}

export interface ControlHttpDeps {
  dispatch: ControlDispatch;
  /**
   * Decides whether a request may reach a route at all; throws a coded
   * error (FORBIDDEN) to refuse it. Absent: refuseBrowsers. The web console
   * (src/web/) checks its own token, Origin and Host before it hands a
   * request over, so its instance admits everything.
   */
  admit?: (req: IncomingMessage) => void;
  /** Routes this instance serves (paths of CONTROL_HTTP_ROUTES); absent: all. */
  routes?: readonly string[];
  logger: Logger;
  /** Counts an error answer by code (the server's stats). */
  count(code: string): void;
  /** Called once the answer to POST /v1/shutdown is written. */
  shutdownAnswered(): void;
}

/** What another HTTP server needs to hand a parsed request to the control routes (ControlServer.httpRoutes). */
export interface ControlHttpHandler {
  handle(req: IncomingMessage, res: ServerResponse): void;
}

/** The HTTP side of one ControlServer: serve(socket, head) hands it a sniffed connection. */
export class ControlHttp implements ControlHttpHandler {
  readonly #deps: ControlHttpDeps;
  readonly #server: Server;
  readonly #admit: (req: IncomingMessage) => void;
  readonly #routes: ReadonlySet<string>;

  constructor(deps: ControlHttpDeps) {
    this.#deps = deps;
    this.#admit = deps.admit ?? refuseBrowsers;
    this.#routes = new Set(deps.routes ?? Object.keys(CONTROL_HTTP_ROUTES));
    this.#server = createServer({ maxHeaderSize: MAX_CONTROL_REQUEST_BYTES }, (req, res) => this.#onRequest(req, res));
    this.#server.keepAliveTimeout = HTTP_KEEP_ALIVE_MS;
    this.#server.headersTimeout = HTTP_HEADERS_TIMEOUT_MS;
    this.#server.requestTimeout = HTTP_HEADERS_TIMEOUT_MS * 3;
    this.#server.timeout = 0;
  }

  /** Serve an accepted connection whose first bytes (`head`, already read) are an HTTP request. */
  serve(socket: Socket, head: Buffer): void {
    socket.unshift(head);
    this.#server.emit('connection', socket);
    // The server's 'data' listener feeds `head` to its parser; later bytes may go to it straight from the handle.
    socket.resume();
  }

  #sendError(res: ServerResponse, err: unknown, extraHeaders: Record<string, string> = {}): void {
    const body: ControlErrorBody = errorBody(err);
    this.#deps.count(body.code);
    const status = httpStatusOf(body.code);
    if (status === 500) this.#deps.logger.error('control handler failed', { error: body.message });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const text = JSON.stringify({ error: body }) + '\n';
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...extraHeaders });
    res.end(text);
  }

  /** Answer one request that another HTTP server (the web console's) parsed; admission and routes as configured. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    this.#onRequest(req, res);
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const ac = new AbortController();
    res.on('close', () => ac.abort());
    this.#handle(req, res, ac.signal).catch((err: unknown) => this.#sendError(res, err));
  }

  async #handle(req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> {
    try {
      this.#admit(req);
    } catch (err) {
      res.setHeader('Connection', 'close');
      throw err;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = CONTROL_HTTP_ROUTES[url.pathname];
    if (route === undefined || !Object.hasOwn(CONTROL_HTTP_ROUTES, url.pathname) || !this.#routes.has(url.pathname)) {
      throw new ControlError(ControlCode.METHOD, `no route ${url.pathname}; the API is under /v1/ (docs/architecture.md "Control API and CLI")`);
    }
    if (req.method !== route.method) {
      const body = errorBody(new ControlError(ControlCode.METHOD, `${url.pathname} takes ${route.method}, not ${String(req.method)}`));
      this.#deps.count(body.code);
      const text = JSON.stringify({ error: body }) + '\n';
      res.writeHead(405, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), Allow: route.method });
      res.end(text);
      return;
    }
    let params: Record<string, unknown>;
    try {
      params = route.method === 'GET' ? queryParams(route, url.searchParams) : await readBody(req);
    } catch (err) {
      // The rest of an oversized body is not worth reading: answer and close.
      if ((err as { code?: string }).code === ControlCode.TOO_LARGE) res.setHeader('Connection', 'close');
      throw err;
    }
    if (route.method === 'POST' && url.search.length > 0) throw new ControlError(ControlCode.PARAMS, `${url.pathname}: params go in the JSON body, not the query`);
    params = { ...params, ...route.fixed };
    if (route.sse === true) return this.#stream(route, params, res, signal);
    const result = await this.#deps.dispatch(route.control, params, () => undefined, signal);
    const text = JSON.stringify(result) + '\n';
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    if (route.control === 'shutdown') res.end(text, () => this.#deps.shutdownAnswered());
    else res.end(text);
  }

  /** Server-Sent Events: each progress message is one `data:` event, until the client hangs up. */
  async #stream(route: Route, params: Record<string, unknown>, res: ServerResponse, signal: AbortSignal): Promise<void> {
    const start = (): void => {
      if (res.headersSent) return;
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' });
      res.write(': subscribed\n\n');
    };
    const onEvent = (e: unknown): void => {
      if (res.destroyed) return;
      start();
      if (res.writableLength > MAX_CONTROL_PENDING_BYTES) {
        this.#deps.count(ControlCode.SLOW_CONSUMER);
        this.#deps.logger.info('control HTTP client not reading its event stream; disconnecting', { pendingBytes: res.writableLength });
        res.destroy();
        return;
      }
      res.write(`data: ${JSON.stringify(e)}\n\n`);
    };
    const running = this.#deps.dispatch(route.control, params, onEvent, signal);
    // A refusal (e.g. too many subscribers) comes at once: answer it as an error, not as an empty stream.
    let failed: unknown = null;
    running.catch((err: unknown) => { failed = err ?? new Error('failed'); });
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (failed !== null && !res.headersSent) throw failed;
    start();
    try {
      await running;
    } finally {
      if (!res.destroyed) res.end();
    }
  }

  /** Drop every HTTP connection (the server closes their sockets itself). */
  close(): void {
    this.#server.closeAllConnections();
  }
}
