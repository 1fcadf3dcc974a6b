/**
 * The opt-in HTTP listener for metrics and health (issue 7 "Metrics",
 * "Health"): plain HTTP, for Prometheus and orchestrators on localhost or a
 * private network. It serves
 *
 *   GET /metrics  the registry in the Prometheus text exposition format
 *   GET /health   liveness: 200 while the process answers
 *   GET /ready    readiness: 200 when `ready()` says so, else 503 with the reason
 *
 * and nothing else (404; other methods 405). No TLS and no authentication:
 * the counters say who is busy, not what they say, but they still describe
 * the network, so the flag's help tells operators to keep it off the
 * internet.
 *
 * Callers must know: `start()`/`stop()` are idempotent; `stop()` closes open
 * keep-alive connections too. `ready()` runs on every /ready request.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { ConfigError, SmError } from '../errors.js';
import { formatHostPort } from '../wire/ip-address.js';

/** Scrapers are few; a cap keeps a connection flood from holding sockets open. */
const MAX_METRICS_CONNECTIONS = 64;
/** A scrape is answered in milliseconds; a client slower than this is cut. */
const METRICS_REQUEST_TIMEOUT_MS = 10_000;

export interface MetricsAddress {
  host: string;
  port: number;
}

/** Readiness: `ok`, and when not, why (shown in the 503 body). */
export interface Readiness {
  ok: boolean;
  reason?: string;
}

export interface MetricsServerDeps {
  registry: Registry;
  ready: () => Readiness;
}

/** Parse the --metrics flag: `HOST:PORT` or `[IPV6]:PORT` (port 0 picks a free one). */
export function parseMetricsAddress(text: string, flag = '--metrics'): MetricsAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (m === null || port > 65_535) {
    throw new ConfigError('SM_ERR_CONFIG_VALUE', `${flag}: expected HOST:PORT or [IPV6]:PORT, e.g. 127.0.0.1:9469, got ${JSON.stringify(text)}`);
  }
  return { host: (m[1] ?? m[2]) as string, port };
}

function send(res: ServerResponse, status: number, type: string, body: string, head: boolean): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(head ? undefined : body);
}

const JSON_TYPE = 'application/json';

export class MetricsServer {
  readonly #deps: MetricsServerDeps;
  readonly #address: MetricsAddress;
  #server: Server | null = null;
  #starting: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;
  #port = 0;

  constructor(deps: MetricsServerDeps, address: MetricsAddress) {
    this.#deps = deps;
    this.#address = address;
  }

  /** The bound port (the real one when asked for 0); 0 before start. */
  get port(): number {
    return this.#port;
  }

  /** `http://host:port` of the listener. */
  get url(): string {
    return `http://${formatHostPort(this.#address.host, this.#port)}`;
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
    const { host, port } = this.#address;
    const server = createServer((req, res) => this.#onRequest(req, res));
    server.maxConnections = MAX_METRICS_CONNECTIONS;
    server.requestTimeout = METRICS_REQUEST_TIMEOUT_MS;
    server.headersTimeout = METRICS_REQUEST_TIMEOUT_MS;
    server.on('clientError', (_err, socket) => socket.destroy());
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(new SmError('SM_ERR_METRICS_LISTEN', `--metrics: cannot listen on ${host}:${port}: ${err.message}`, { cause: err }));
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', () => undefined);
    this.#port = (server.address() as AddressInfo).port;
  }

  async #stop(): Promise<void> {
    await this.#starting?.catch(() => undefined);
    const server = this.#server;
    if (server === null || !server.listening) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      res.setHeader('allow', 'GET, HEAD');
      send(res, 405, JSON_TYPE, JSON.stringify({ error: 'method not allowed' }), false);
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    switch (path) {
      case '/metrics': {
        const registry = this.#deps.registry;
        registry.metrics().then(
          (text) => send(res, 200, registry.contentType, text, head),
          (err: unknown) => send(res, 500, JSON_TYPE, JSON.stringify({ error: `metrics collection failed: ${(err as Error).message}` }), head),
        );
        return;
      }
      case '/health':
        send(res, 200, JSON_TYPE, JSON.stringify({ status: 'ok' }), head);
        return;
      case '/ready': {
        let r: Readiness;
        try {
          r = this.#deps.ready();
        } catch (err) {
          r = { ok: false, reason: `readiness check failed: ${(err as Error).message}` };
        }
        if (r.ok) send(res, 200, JSON_TYPE, JSON.stringify({ status: 'ready' }), head);
        else send(res, 503, JSON_TYPE, JSON.stringify({ status: 'not ready', reason: r.reason ?? 'not ready' }), head);
        return;
      }
      default:
        send(res, 404, JSON_TYPE, JSON.stringify({ error: 'not found' }), head);
    }
  }
}
