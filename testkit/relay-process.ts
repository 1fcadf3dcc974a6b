/**
 * Spawn a real relay process (`node dist/src/cli/main.js relay …`) for
 * integration tests, the way a user would meet it.
 *
 * Usage:
 *
 *     const relay = await startRelayProcess({ caFile: net.caFile, args: ['--heartbeat', '200ms'] });
 *     try {
 *       // relay.url  = wss://127.0.0.1:<port>, relay.pin = sha256:<hex>
 *       const stats = await relay.stats();      // GET /stats
 *       relay.signal('SIGHUP');                  // e.g. after rewriting the CRL
 *     } finally {
 *       await relay.stop();                      // SIGTERM, then SIGKILL after a grace; by pid
 *     }
 *
 * What callers must know:
 *  - The relay listens on 127.0.0.1, port 0 unless `port` is given; the real port and the pin come
 *    from its first stdout line, `relay listening on wss://HOST:PORT pin
 *    sha256:<hex>` (parseRelayStartupLine). Startup fails (and the child is
 *    killed) if that line does not arrive within `startTimeoutMs`.
 *  - `dataDir` defaults to a fresh temp dir, removed by stop(); pass your own
 *    (and `port`) to restart a relay with the same TLS key (same pin) where
 *    its clients expect it.
 *  - Only the process started here is ever signalled, by its pid. Every
 *    child still alive when the test process exits is SIGKILLed by pid, so a
 *    failing test never leaves a relay behind.
 *  - stderr (JSON logs) is kept in `relay.stderr()` for assertions and
 *    failure messages; never parse it for protocol facts.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_MAIN_PATH, parseRelayStartupLine } from '../src/demo/cli-entry.js';
import type { RelayStatsSnapshot } from '../src/relay/relay-stats.js';
import { STOP_GRACE_MS, spawnTracked } from './tracked-process.js';

/** The demo owns these two; tests and benchmarks reach them here with the rest of the relay process helpers. */
export { CLI_MAIN_PATH, parseRelayStartupLine };
/** After SIGTERM the relay closes clients for ~1.5 s; SIGKILL past this. */
export { STOP_GRACE_MS };

/** A relay needs well under a second to start; generous for a loaded CI machine. */
export const DEFAULT_START_TIMEOUT_MS = 15_000;

export interface StartRelayOptions {
  caFile: string;
  crlFile?: string;
  /** Port on 127.0.0.1; default 0 (a free one). Pass a previous relay's port to restart it in place. */
  port?: number;
  /** TLS key directory; default a fresh temp dir removed by stop(). */
  dataDir?: string;
  /** Extra CLI arguments, e.g. ['--heartbeat', '200ms', '--idle-timeout', '1s']. */
  args?: string[];
  /** Extra environment (merged over process.env). */
  env?: Record<string, string>;
  startTimeoutMs?: number;
}

export interface RelayProcess {
  readonly pid: number;
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly pin: string;
  readonly dataDir: string;
  readonly child: ChildProcess;
  /** stderr so far (JSON log lines). */
  stderr(): string;
  /** GET /stats (TLS not verified: test-only, 127.0.0.1). */
  stats(): Promise<RelayStatsSnapshot>;
  /** GET any path; status and body. */
  httpGet(path: string): Promise<{ status: number; body: string }>;
  /** Send a signal to this relay's pid. */
  signal(sig: NodeJS.Signals): void;
  /** Resolves with the exit code (or the signal name) once the process exits. */
  readonly exited: Promise<number | string>;
  /** SIGTERM, wait up to STOP_GRACE_MS, then SIGKILL; removes a temp data dir. Idempotent. */
  stop(): Promise<number | string>;
}

export async function startRelayProcess(options: StartRelayOptions): Promise<RelayProcess> {
  const ownDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'shadowmesh-relay-'));
  const args = [CLI_MAIN_PATH, 'relay', '--listen', `127.0.0.1:${options.port ?? 0}`, '--ca', options.caFile, '--data', dataDir];
  if (options.crlFile !== undefined) args.push('--crl', options.crlFile);
  args.push(...(options.args ?? []));
  const p = spawnTracked(process.execPath, args, {
    env: { ...process.env, ...(options.env ?? {}) },
    onStopped: () => {
      if (ownDataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  });
  const line = await p.firstLine('relay process', options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
  const info = parseRelayStartupLine(line);
  if (info === null) {
    await p.stop();
    throw new Error(`relay process ${p.pid}: unexpected first line ${JSON.stringify(line)}`);
  }

  const httpGet = (path: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = httpsGet({ host: info.host, port: info.port, path, rejectUnauthorized: false, timeout: 5_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('timeout', () => req.destroy(new Error(`GET ${path}: timeout`)));
      req.on('error', reject);
    });

  return {
    pid: p.pid,
    url: info.url,
    host: info.host,
    port: info.port,
    pin: info.pin,
    dataDir,
    child: p.child,
    stderr: p.stderr,
    async stats(): Promise<RelayStatsSnapshot> {
      const r = await httpGet('/stats');
      if (r.status !== 200) throw new Error(`GET /stats: HTTP ${r.status}`);
      return JSON.parse(r.body) as RelayStatsSnapshot;
    },
    httpGet,
    signal: p.signal,
    exited: p.exited,
    stop: p.stop,
  };
}
