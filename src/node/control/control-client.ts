/**
 * The CLI's side of the local control API (control-protocol.ts): one unix
 * socket connection per call, one request, progress messages handed to a
 * callback, then the answer.
 *
 * Every failure is a ControlError with a code: SM_ERR_CONTROL_NO_DAEMON when
 * nothing listens ("is `shadowmesh up` running?"), SM_ERR_CONTROL_PATH when
 * the socket is not ours to use (permission denied), SM_ERR_CONTROL_TIMEOUT,
 * SM_ERR_CONTROL_PROTOCOL for an answer that breaks the protocol, and the
 * daemon's own code (e.g. SM_ERR_CONTROL_UNKNOWN_PEER) for an error answer.
 */
import { connect } from 'node:net';
import { checkSocketPath, ControlError, MAX_CONTROL_RESPONSE_BYTES, type ControlMethod, type PeersResult, type PingParams, type PingProgress, type PingResult, type StatusResult } from './control-protocol.js';
import { ControlCode } from './control-errors.js';

/** status and peers answer from memory: 10 s means the daemon is wedged, not busy. */
export const DEFAULT_CONTROL_TIMEOUT_MS = 10_000;
/** Slack over count × interval for a ping request: the last ping's own timeout plus a first handshake. */
export const PING_REQUEST_SLACK_MS = 15_000;

export interface ControlClientOptions {
  path: string;
  timeoutMs?: number;
}

export class ControlClient {
  readonly path: string;
  readonly #timeoutMs: number;
  #nextId = 1;

  constructor(options: ControlClientOptions) {
    checkSocketPath(options.path);
    this.path = options.path;
    const t = options.timeoutMs ?? DEFAULT_CONTROL_TIMEOUT_MS;
    if (!Number.isInteger(t) || t < 1) throw new ControlError(ControlCode.PARAMS, `control client timeoutMs: expected a positive integer, got ${String(t)}`);
    this.#timeoutMs = t;
  }

  status(): Promise<StatusResult> {
    return this.call('status', {}) as Promise<StatusResult>;
  }

  peers(): Promise<PeersResult> {
    return this.call('peers', {}) as Promise<PeersResult>;
  }

  ping(params: PingParams, onProgress?: (p: PingProgress) => void): Promise<PingResult> {
    const timeoutMs = params.count * params.intervalMs + PING_REQUEST_SLACK_MS;
    return this.call('ping', { ...params }, { onProgress: onProgress as ((p: unknown) => void) | undefined, timeoutMs }) as Promise<PingResult>;
  }

  /** Send one request and wait for its answer. */
  call(method: ControlMethod, params: Record<string, unknown>, options: { onProgress?: (p: unknown) => void; timeoutMs?: number } = {}): Promise<unknown> {
    const id = this.#nextId++;
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    return new Promise((resolve, reject) => {
      const socket = connect(this.path);
      let buffered = '';
      let settled = false;
      let connected = false;
      const finish = (err: ControlError | null, value?: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        if (err) reject(err);
        else resolve(value);
      };
      const timer = setTimeout(
        () => finish(new ControlError(ControlCode.TIMEOUT, `the daemon on ${this.path} did not answer ${method} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      socket.setEncoding('utf8');
      socket.once('connect', () => {
        connected = true;
        socket.write(JSON.stringify({ id, method, params }) + '\n');
      });
      socket.on('error', (err: NodeJS.ErrnoException) => {
        if (!connected && (err.code === 'ENOENT' || err.code === 'ECONNREFUSED')) {
          finish(new ControlError(ControlCode.NO_DAEMON, `no daemon listening on ${this.path}: is \`shadowmesh up\` running?`));
        } else if (!connected && (err.code === 'EACCES' || err.code === 'EPERM')) {
          finish(new ControlError(ControlCode.PATH, `permission denied on ${this.path}: the daemon runs as another user (run as that user, or with sudo)`));
        } else {
          finish(new ControlError(ControlCode.PROTOCOL, `control connection to ${this.path} failed: ${err.message}`));
        }
      });
      socket.on('close', () => finish(new ControlError(ControlCode.PROTOCOL, `the daemon on ${this.path} closed the connection without answering ${method}`)));
      socket.on('data', (chunk: string) => {
        buffered += chunk;
        if (buffered.length > MAX_CONTROL_RESPONSE_BYTES) {
          finish(new ControlError(ControlCode.PROTOCOL, `answer from ${this.path} exceeds ${MAX_CONTROL_RESPONSE_BYTES} bytes`));
          return;
        }
        for (let nl = buffered.indexOf('\n'); nl >= 0 && !settled; nl = buffered.indexOf('\n')) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          this.#onLine(line, id, options.onProgress, finish);
        }
      });
    });
  }

  #onLine(line: string, id: number, onProgress: ((p: unknown) => void) | undefined, finish: (err: ControlError | null, value?: unknown) => void): void {
    let msg: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(line);
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      msg = parsed as Record<string, unknown>;
    } catch {
      finish(new ControlError(ControlCode.PROTOCOL, `the daemon on ${this.path} sent a line that is not a JSON object`));
      return;
    }
    const err = msg['error'] as { code?: unknown; message?: unknown } | undefined;
    // An error for id null answers a request the daemon could not read: ours.
    if (msg['id'] !== id && !(msg['id'] === null && err !== undefined)) return;
    if (err !== undefined) {
      const code = typeof err?.code === 'string' && err.code.startsWith('SM_ERR_') ? err.code : ControlCode.PROTOCOL;
      finish(new ControlError(code, typeof err?.message === 'string' ? err.message : 'the daemon answered with an error'));
    } else if ('progress' in msg) {
      onProgress?.(msg['progress']);
    } else if ('result' in msg) {
      finish(null, msg['result']);
    } else {
      finish(new ControlError(ControlCode.PROTOCOL, `the daemon on ${this.path} answered without result or error`));
    }
  }
}
