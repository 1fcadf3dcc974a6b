/**
 * The enrollment service behind `shadowmesh ca serve` (docs/architecture.md
 * "Enrollment"; docs/threat-model.md "Enrollment service").
 *
 * HTTPS, TLS 1.3 only, with a key of its own kept in CADIR/tls-key.pem
 * (src/relay/tls-identity.ts, self-signed, the same key across restarts) so
 * the pin that join tokens carry stays valid. Members pin it; there is no
 * WebPKI. The CA key stays in CADIR and is read only inside this process,
 * for each signature (src/identity/ca.ts).
 *
 *     POST /v1/join    a join request (src/enroll/join-request.ts) -> 200
 *                      {certificate, ca, crl, relays, usesLeft}
 *     POST /v1/renew   a renew request (src/enroll/renew-request.ts),
 *                      authenticated by the current certificate's key -> 200
 *                      {certificate, ca, crl, relays}
 *     GET  /v1/health  200 {"ok": true}
 *
 * Every refusal is `{"error": {"code", "message"}}` with a 4xx/5xx status,
 * counted by code (`refusals`) and logged with its reason and source.
 * Bounds: bodies over MAX_REQUEST_BYTES are refused (413) without reading
 * further; requests from one source address beyond RATE_BURST, refilled at
 * RATE_PER_MINUTE, are refused (429), with at most MAX_TRACKED_SOURCES
 * sources remembered; joins run one at a time with at most MAX_PENDING
 * waiting (503 beyond); slow or idle clients are cut after
 * REQUEST_TIMEOUT_MS; at most MAX_CONNECTIONS connections.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../util/logger.js';
import { SmError } from '../errors.js';
import { IdentityCode } from '../identity/identity-errors.js';
import { TlsIdentity } from '../relay/tls-identity.js';
import type { AddressPool } from './address-pool.js';
import { enrollMember, renewMember } from './enroll.js';
import { EnrollCode, EnrollError } from './enroll-errors.js';
import { checkJoinProof, EXPORTER_BYTES, EXPORTER_LABEL, parseJoinRequest } from './join-request.js';
import { MAX_REQUEST_BYTES } from './request-body.js';
import { checkRenewProof, parseRenewRequest } from './renew-request.js';

export const RATE_BURST = 20;
export const RATE_PER_MINUTE = 20;
export const MAX_TRACKED_SOURCES = 4096;
export const MAX_PENDING = 16;
export const REQUEST_TIMEOUT_MS = 10_000;
export const MAX_CONNECTIONS = 256;
/** Self-signed certificate lifetime of the service key; members pin the key, so re-issue does not matter to them. */
const SERVICE_CERT_LIFETIME_MS = 365 * 24 * 60 * 60 * 1000;

export interface EnrollServerOptions {
  caDir: string;
  host: string;
  port: number;
  pool: AddressPool;
  /** node.relays entries (wss://HOST:PORT#PIN[,PIN]) handed to every member. */
  relays: string[];
  validMs: number;
  passphrase?: string;
  logger: Logger;
}

const STATUS: Record<string, number> = {
  [EnrollCode.REQUEST]: 400,
  [EnrollCode.PROOF]: 400,
  [EnrollCode.TOKEN_UNKNOWN]: 403,
  [EnrollCode.TOKEN_EXPIRED]: 403,
  [EnrollCode.TOKEN_USED_UP]: 403,
  [EnrollCode.NOT_FOUND]: 404,
  [EnrollCode.POOL_EXHAUSTED]: 409,
  [IdentityCode.CERT_NAME_IN_USE]: 409,
  [IdentityCode.CERT_ADDRESS_IN_USE]: 409,
  [IdentityCode.CERT_RENEWAL]: 409,
  [IdentityCode.CERT_REVOKED]: 403,
  [IdentityCode.CERT_EXPIRED]: 403,
  [IdentityCode.CERT_NOT_YET_VALID]: 403,
  [IdentityCode.CERT_NOT_MEMBER]: 403,
  [IdentityCode.CERT_FIELD]: 400,
  [EnrollCode.TOO_LARGE]: 413,
  [EnrollCode.RATE_LIMITED]: 429,
  [EnrollCode.BUSY]: 503,
  [IdentityCode.CA_BUSY]: 503,
};

interface Bucket {
  tokens: number;
  atMs: number;
}

export class EnrollServer {
  readonly pin: string;
  /** Refusals by code since start. */
  readonly refusals = new Map<string, number>();
  joined = 0;
  renewed = 0;
  readonly #server: Server;
  readonly #opts: EnrollServerOptions;
  readonly #buckets = new Map<string, Bucket>();
  #queue: Promise<unknown> = Promise.resolve();
  #pending = 0;

  private constructor(opts: EnrollServerOptions, tls: TlsIdentity) {
    this.#opts = opts;
    this.pin = tls.pin;
    this.#server = createServer({ key: tls.material.keyPem, cert: tls.material.certPem, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' }, (req, res) => {
      this.#handle(req, res).catch((err: unknown) => this.#refuse(req, res, new EnrollError(EnrollCode.INTERNAL, `internal error: ${(err as Error).message}`)));
    });
    this.#server.requestTimeout = REQUEST_TIMEOUT_MS;
    this.#server.headersTimeout = REQUEST_TIMEOUT_MS;
    this.#server.keepAliveTimeout = 1_000;
    this.#server.maxHeadersCount = 32;
    this.#server.maxConnections = MAX_CONNECTIONS;
    this.#server.on('tlsClientError', () => this.#count('SM_ERR_ENROLL_TLS'));
    this.#server.on('clientError', (err: Error, socket) => {
      // Not HTTP at all (or headers over the limit): one coded answer if the socket still takes it, then close.
      this.#count(EnrollCode.REQUEST);
      this.#opts.logger.warn('enrollment request refused', { code: EnrollCode.REQUEST, reason: `not a readable HTTP request: ${err.message.slice(0, 120)}` });
      const body = `${JSON.stringify({ error: { code: EnrollCode.REQUEST, message: 'not a readable HTTP request' } })}\n`;
      if (socket.writable) socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
      else socket.destroy();
    });
  }

  /** Loads (or creates) the service key in CADIR and listens. */
  static async start(opts: EnrollServerOptions): Promise<EnrollServer> {
    const hostnames = opts.host === '0.0.0.0' || opts.host === '::' ? ['localhost'] : [opts.host];
    const tls = await TlsIdentity.load({ dataDir: opts.caDir, hostnames, lifetimeMs: SERVICE_CERT_LIFETIME_MS }, Date.now());
    const s = new EnrollServer(opts, tls);
    await new Promise<void>((resolve, reject) => {
      s.#server.once('error', reject);
      s.#server.listen(opts.port, opts.host, () => {
        s.#server.off('error', reject);
        resolve();
      });
    });
    return s;
  }

  get address(): { host: string; port: number } {
    const a = this.#server.address();
    if (a === null || typeof a === 'string') throw new EnrollError(EnrollCode.INTERNAL, 'not listening');
    return { host: a.address, port: a.port };
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  #count(code: string): void {
    this.refusals.set(code, (this.refusals.get(code) ?? 0) + 1);
  }

  #send(res: ServerResponse, status: number, body: unknown, close = false): void {
    if (res.headersSent) return;
    const text = `${JSON.stringify(body)}\n`;
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...(close ? { connection: 'close' } : {}) });
    res.end(text);
  }

  #refuse(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    const code = err instanceof SmError ? err.code : EnrollCode.INTERNAL;
    const message = err instanceof Error ? err.message : String(err);
    const status = STATUS[code] ?? 500;
    this.#count(code);
    const fields = { code, reason: message, source: req.socket.remoteAddress ?? 'unknown', path: (req.url ?? '').slice(0, 64) };
    if (status >= 500) this.#opts.logger.error('enrollment request failed', fields);
    else this.#opts.logger.warn('enrollment request refused', fields);
    this.#send(res, status, { error: { code, message } }, status === 413 || status === 400);
  }

  /** Token bucket per source address; false when this request is over the limit. */
  #admit(source: string): boolean {
    const now = Date.now();
    let b = this.#buckets.get(source);
    if (b === undefined) {
      if (this.#buckets.size >= MAX_TRACKED_SOURCES) {
        const oldest = this.#buckets.keys().next().value;
        if (oldest !== undefined) this.#buckets.delete(oldest);
      }
      b = { tokens: RATE_BURST, atMs: now };
      this.#buckets.set(source, b);
    }
    b.tokens = Math.min(RATE_BURST, b.tokens + ((now - b.atMs) * RATE_PER_MINUTE) / 60_000);
    b.atMs = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  async #readBody(req: IncomingMessage): Promise<Buffer> {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_REQUEST_BYTES) throw new EnrollError(EnrollCode.TOO_LARGE, `request body of ${declared} bytes is over ${MAX_REQUEST_BYTES}`);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_REQUEST_BYTES) throw new EnrollError(EnrollCode.TOO_LARGE, `request body over ${MAX_REQUEST_BYTES} bytes`);
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  /** Runs CA work one at a time, with at most MAX_PENDING waiting (SM_ERR_ENROLL_BUSY beyond). */
  async #serialized<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#pending >= MAX_PENDING) throw new EnrollError(EnrollCode.BUSY, 'too many requests waiting for the CA; try again shortly');
    this.#pending++;
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => undefined);
    try {
      return await run;
    } finally {
      this.#pending--;
    }
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (!this.#admit(req.socket.remoteAddress ?? 'unknown')) throw new EnrollError(EnrollCode.RATE_LIMITED, 'too many requests from this address; try again in a minute');
      if (req.method === 'GET' && req.url === '/v1/health') {
        this.#send(res, 200, { ok: true });
        return;
      }
      const route = req.method === 'POST' ? req.url : undefined;
      if (route !== '/v1/join' && route !== '/v1/renew') throw new EnrollError(EnrollCode.NOT_FOUND, `no ${String(req.method).slice(0, 16)} ${String(req.url).slice(0, 64)} here (POST /v1/join, POST /v1/renew)`);
      const body = await this.#readBody(req);
      const exporter = new Uint8Array((req.socket as TLSSocket).exportKeyingMaterial(EXPORTER_BYTES, EXPORTER_LABEL, Buffer.alloc(0)));
      const source = req.socket.remoteAddress ?? 'unknown';
      const options = { validMs: this.#opts.validMs, ...(this.#opts.passphrase !== undefined ? { passphrase: this.#opts.passphrase } : {}) };
      if (route === '/v1/renew') {
        const request = parseRenewRequest(body);
        checkRenewProof(request, exporter);
        const done = await this.#serialized(() => renewMember(this.#opts.caDir, request.certificate.raw, options));
        const cert = done.certificate;
        this.renewed++;
        this.#opts.logger.info('member renewed', { name: cert.name, address: cert.addresses.join(','), notAfter: new Date(cert.notAfterMs).toISOString(), source });
        this.#send(res, 200, { certificate: Buffer.from(cert.raw).toString('base64'), ca: done.caText, crl: done.crlText, relays: this.#opts.relays });
        return;
      }
      const request = parseJoinRequest(body);
      checkJoinProof(request, exporter);
      const done = await this.#serialized(() => enrollMember(this.#opts.caDir, request, { pool: this.#opts.pool, ...options }));
      const cert = done.certificate;
      this.joined++;
      this.#opts.logger.info('member joined', { name: cert.name, address: cert.addresses.join(','), groups: cert.groups.join(','), token: request.tokenId, usesLeft: done.usesLeft, source });
      this.#send(res, 200, { certificate: Buffer.from(cert.raw).toString('base64'), ca: done.caText, crl: done.crlText, relays: this.#opts.relays, usesLeft: done.usesLeft });
    } catch (err) {
      this.#refuse(req, res, err);
    }
  }
}
