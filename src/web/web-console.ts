/**
 * The web console (docs/architecture.md "Web console", issue 17): a plain
 * HTTP listener in the node daemon, on 127.0.0.1 unless configured
 * otherwise (node.web.listen, `up --web`), that serves
 *
 *     GET  /?token=T       the login link: sets the session cookie, 303 to /
 *     GET  /               the page shell; /app.js, /app.css its files (web-assets.ts)
 *     GET  /web/stream     Server-Sent Events: a `snapshot` every second (web-snapshots.ts)
 *     /v1/...              the control API's HTTP routes in WEB_API_ROUTES, answered by
 *                          the control server's own dispatcher (ControlHttpHandler), so the
 *                          page runs exactly what the CLI runs
 *
 * Every request first passes checkWebRequest (web-guard.ts: Host, Origin,
 * token); a refusal is `{"error": {"code", "message"}}` with 401 or 403
 * and reaches nothing else. Every answer carries the security headers
 * (SECURITY_HEADERS: a Content-Security-Policy of 'self' only, no
 * framing, no referrer, no caching).
 *
 * Bounded: MAX_WEB_CONNECTIONS sockets, headers and bodies as the control
 * API's (MAX_CONTROL_REQUEST_BYTES, enforced by node:http and the control
 * routes), slow headers and slow bodies cut, live streams as web-snapshots.ts says.
 *
 * The relay's operator page is the same listener with `page: 'relay'`: no
 * API routes, its own page, a snapshot of the relay's counters, and the
 * operator's admin token instead of a per-start one.
 *
 * The console reaches the daemon only through what it is handed (its
 * deps, docs/conventions.md §11): it imports nothing of src/node/.
 * start()/stop() are idempotent; the token is drawn by the caller and
 * never logged here in full.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { loadWebAssets, type WebAsset, type WebPage } from './web-assets.js';
import { allowedHosts, checkWebRequest, requestUrl } from './web-guard.js';
import { MAX_WEB_SUBSCRIBERS, WebSnapshots } from './web-snapshots.js';
import { WebCode, WebError } from './web-errors.js';
import { formatHostPort } from '../wire/ip-address.js';
import { redactToken, sessionCookie } from './web-token.js';

/** A few tabs, each with its page loads, one stream and a chat stream: 32 leaves room without letting a loop exhaust descriptors. */
export const MAX_WEB_CONNECTIONS = 32;
/** As the control API: the largest header block or body a page needs is far below this. */
export const MAX_WEB_HEADER_BYTES = 64 * 1024;
/** Headers must arrive within this: a slow client must not hold a connection slot. */
const WEB_HEADERS_TIMEOUT_MS = 10_000;
/** A whole request (headers and body) must arrive within this: a page's largest body is a chat line, and a client trickling one must not hold a slot. The live streams are answers, not requests, and run on. */
const WEB_REQUEST_TIMEOUT_MS = 30_000;
/** An idle keep-alive connection is closed after this; the page's streams keep theirs busy. */
const WEB_KEEP_ALIVE_MS = 5_000;

/**
 * The control API routes a page may use: reading state, users, chat and
 * the network check (bounded by the daemon: one run at a time, a recent
 * report reused, src/node/path/netcheck-runner.ts).
 * Not shutdown (a page must not stop the daemon) and not web (the token
 * is never served back over HTTP).
 */
export const WEB_API_ROUTES: readonly string[] = Object.freeze([
  '/v1/status', '/v1/peers', '/v1/ping', '/v1/whois', '/v1/users',
  '/v1/chat/conversations', '/v1/chat/request', '/v1/chat/respond', '/v1/chat/send', '/v1/chat/terminate', '/v1/events',
  '/v1/netcheck',
]);

/** The Content-Security-Policy: our own origin only, no inline script or style, no plugins, no framing, forms and base URL pinned. */
export const WEB_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Sent with every answer, refusals included. */
const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Security-Policy': WEB_CSP,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
});

/** The control routes as an HTTP handler (ControlServer.httpRoutes fits). */
export interface WebApi {
  handle(req: IncomingMessage, res: ServerResponse): void;
}

export interface WebConsoleDeps {
  /** The control routes; absent (the relay's page): /v1/ is 404. */
  api?: WebApi;
  /** What one live-stream event carries (the daemon: status, peers and users from the control handlers). */
  snapshot: () => unknown;
  clock: Clock;
  logger: Logger;
}

export interface WebConsoleOptions {
  host: string;
  /** 0: any free port (tests). */
  port: number;
  /** This daemon start's token (web-token.ts newWebToken), or the relay's admin token (readWebTokenFile). */
  token: string;
  /** 'node' (default) or 'relay', the operator page. */
  page?: WebPage;
}

export class WebConsole {
  readonly #deps: WebConsoleDeps;
  readonly #o: WebConsoleOptions;
  readonly #snapshots: WebSnapshots;
  readonly stats = { requests: 0, refused: {} as Record<string, number> };
  #server: Server | null = null;
  #assets: ReadonlyMap<string, WebAsset> = new Map();
  #hosts: ReadonlySet<string> = new Set();
  #port = 0;
  #starting: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;

  constructor(deps: WebConsoleDeps, options: WebConsoleOptions) {
    if (typeof options?.host !== 'string' || options.host.length === 0) throw new ConfigError('SM_ERR_CONFIG_VALUE', 'WebConsole option host: expected an address');
    if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65_535) throw new ConfigError('SM_ERR_CONFIG_VALUE', `WebConsole option port: expected 0..65535, got ${String(options.port)}`);
    if (typeof options.token !== 'string' || options.token.length < 16) throw new ConfigError('SM_ERR_CONFIG_VALUE', 'WebConsole option token: expected a token from newWebToken');
    this.#deps = deps;
    this.#o = Object.freeze({ ...options });
    this.#snapshots = new WebSnapshots({ clock: deps.clock, snapshot: deps.snapshot, logger: deps.logger });
  }

  /** http://HOST:PORT/ once started (the port actually bound); null before. */
  get url(): string | null {
    if (this.#server === null) return null;
    return `http://${formatHostPort(this.#o.host, this.#port)}/`;
  }

  get port(): number {
    return this.#port;
  }

  /** The live streams open now (tests, status). */
  get subscribers(): number {
    return this.#snapshots.subscribers;
  }

  start(): Promise<void> {
    this.#starting ??= this.#start();
    return this.#starting;
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #start(): Promise<void> {
    this.#assets = await loadWebAssets(this.#o.page ?? 'node');
    const server = createServer({ maxHeaderSize: MAX_WEB_HEADER_BYTES }, (req, res) => this.#onRequest(req, res));
    server.maxConnections = MAX_WEB_CONNECTIONS;
    server.keepAliveTimeout = WEB_KEEP_ALIVE_MS;
    server.headersTimeout = WEB_HEADERS_TIMEOUT_MS;
    server.requestTimeout = WEB_REQUEST_TIMEOUT_MS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(new WebError(WebCode.LISTEN, `web console: cannot listen on ${this.#o.host}:${this.#o.port}: ${err.code ?? err.message}`)));
      server.listen(this.#o.port, this.#o.host, () => resolve());
    });
    server.on('error', (err) => this.#deps.logger.warn('web console listener error', { error: err.message }));
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
    this.#hosts = allowedHosts(this.#o.host, this.#port);
    // The token stays out of logs (docs/threat-model.md §7): the redacted form tells two starts apart.
    const how = this.#o.page === 'relay' ? 'open it with ?token=<the admin token of relay.web.tokenFile>' : '`shadowmesh web` prints the login link';
    this.#deps.logger.info(`web console listening; ${how}`, { url: this.url, token: redactToken(this.#o.token) });
  }

  async #stop(): Promise<void> {
    await this.#starting?.catch(() => undefined);
    this.#snapshots.stop();
    const server = this.#server;
    if (server === null) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  #refuse(res: ServerResponse, status: number, code: string, message: string, extra: Record<string, string> = {}): void {
    this.stats.refused[code] = (this.stats.refused[code] ?? 0) + 1;
    const text = JSON.stringify({ error: { code, message } }) + '\n';
    res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...extra });
    res.end(text);
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    // Nothing a client sends may throw out of here: node:http would take the daemon down with it.
    try {
      this.#route(req, res);
    } catch (err) {
      this.#deps.logger.error('web console request failed', { error: (err as Error).message });
      if (!res.headersSent) this.#refuse(res, 500, WebCode.INTERNAL, 'internal error', { Connection: 'close' });
      else res.destroy();
    }
  }

  #route(req: IncomingMessage, res: ServerResponse): void {
    this.stats.requests++;
    const access = checkWebRequest(req, { hosts: this.#hosts, token: this.#o.token });
    if (!access.ok) {
      // Whatever body a refused client sent is not read; close rather than drain it.
      return this.#refuse(res, access.status, access.code, access.message, { Connection: 'close', ...(access.status === 401 ? { 'WWW-Authenticate': 'Bearer realm="shadowmesh"' } : {}) });
    }
    // checkWebRequest admitted it, so the target parses.
    const path = requestUrl(req.url)?.pathname ?? '/';
    if (access.via === 'login') {
      res.writeHead(303, { ...SECURITY_HEADERS, 'Set-Cookie': sessionCookie(this.#o.token), Location: '/', 'Content-Length': 0 });
      res.end();
      return;
    }
    if (path.startsWith('/v1/')) {
      const api = this.#deps.api;
      if (api === undefined) return this.#refuse(res, 404, WebCode.NOT_FOUND, `no route ${path} on this console`);
      for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
      api.handle(req, res);
      return;
    }
    if (path === '/web/stream') return this.#stream(req, res);
    const asset = this.#assets.get(path);
    if (asset === undefined || !this.#assets.has(path)) return this.#refuse(res, 404, WebCode.NOT_FOUND, `no page ${path}`);
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.#refuse(res, 405, WebCode.METHOD, `${path} takes GET`, { Allow: 'GET, HEAD' });
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': asset.type, 'Content-Length': asset.body.length });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  }

  #stream(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET') return this.#refuse(res, 405, WebCode.METHOD, '/web/stream takes GET', { Allow: 'GET' });
    if (this.#snapshots.subscribers >= MAX_WEB_SUBSCRIBERS) return this.#refuse(res, 503, WebCode.BUSY, `${MAX_WEB_SUBSCRIBERS} live pages are open already`);
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/event-stream', 'X-Accel-Buffering': 'no' });
    res.write(': subscribed\n\n');
    if (!this.#snapshots.subscribe(res)) res.end();
  }
}
