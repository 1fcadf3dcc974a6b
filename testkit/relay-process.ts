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
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_MAIN_PATH, parseRelayStartupLine } from '../src/demo/cli-entry.js';
import type { RelayStatsSnapshot } from '../src/relay/relay-stats.js';

/** The demo owns these two; tests and benchmarks reach them here with the rest of the relay process helpers. */
export { CLI_MAIN_PATH, parseRelayStartupLine };

/** A relay needs well under a second to start; generous for a loaded CI machine. */
export const DEFAULT_START_TIMEOUT_MS = 15_000;
/** After SIGTERM the relay closes clients for ~1.5 s; SIGKILL past this. */
export const STOP_GRACE_MS = 5_000;
/** Keep at most this much stderr per relay: enough for diagnostics, bounded for floods. */
const MAX_STDERR_CHARS = 256 * 1024;

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

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  });
}

export async function startRelayProcess(options: StartRelayOptions): Promise<RelayProcess> {
  installExitHook();
  const ownDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'shadowmesh-relay-'));
  const args = [CLI_MAIN_PATH, 'relay', '--listen', `127.0.0.1:${options.port ?? 0}`, '--ca', options.caFile, '--data', dataDir];
  if (options.crlFile !== undefined) args.push('--crl', options.crlFile);
  args.push(...(options.args ?? []));
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...(options.env ?? {}) },
  });
  if (child.pid === undefined) throw new Error('relay process: spawn failed');
  const pid = child.pid;
  live.add(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-MAX_STDERR_CHARS);
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve(code ?? signal ?? -1);
    });
  });

  const kill = (sig: NodeJS.Signals): void => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  };

  let stopping: Promise<number | string> | null = null;
  const stop = (): Promise<number | string> => {
    if (stopping !== null) return stopping;
    stopping = (async () => {
      kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const forced = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          kill('SIGKILL');
          resolve();
        }, STOP_GRACE_MS);
      });
      await Promise.race([exited, forced]);
      clearTimeout(timer);
      const status = await exited;
      if (ownDataDir) rmSync(dataDir, { recursive: true, force: true });
      return status;
    })();
    return stopping;
  };

  let info: { url: string; host: string; port: number; pin: string };
  try {
    info = await new Promise((resolve, reject) => {
      let buffered = '';
      const timer = setTimeout(() => reject(new Error(`relay process ${pid}: no startup line within ${options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS} ms; stderr:\n${stderr}`)), options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
      child.stdout?.setEncoding('utf8');
      child.stdout?.on('data', (chunk: string) => {
        buffered += chunk;
        const nl = buffered.indexOf('\n');
        if (nl < 0) return;
        const parsed = parseRelayStartupLine(buffered.slice(0, nl));
        clearTimeout(timer);
        if (parsed === null) reject(new Error(`relay process ${pid}: unexpected first line ${JSON.stringify(buffered.slice(0, nl))}`));
        else resolve(parsed);
      });
      void exited.then((status) => {
        clearTimeout(timer);
        reject(new Error(`relay process ${pid} exited (${status}) before listening; stderr:\n${stderr}`));
      });
    });
  } catch (err) {
    await stop();
    throw err;
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
    pid,
    url: info.url,
    host: info.host,
    port: info.port,
    pin: info.pin,
    dataDir,
    child,
    stderr: () => stderr,
    async stats(): Promise<RelayStatsSnapshot> {
      const r = await httpGet('/stats');
      if (r.status !== 200) throw new Error(`GET /stats: HTTP ${r.status}`);
      return JSON.parse(r.body) as RelayStatsSnapshot;
    },
    httpGet,
    signal: kill,
    exited,
    stop,
  };
}
