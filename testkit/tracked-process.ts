/**
 * A child process a test started and answers for (the relay, daemon and
 * enrollment service helpers share it): spawned with its output captured,
 * signalled only by its own pid, stopped with SIGTERM and then SIGKILL after
 * a grace, and SIGKILLed if still alive when the test process exits, so a
 * failing test never leaves one behind.
 *
 *     const p = spawnTracked(process.execPath, [CLI_MAIN_PATH, 'relay', ...], { env });
 *     const line = await p.firstLine('relay', 15_000);   // rejects (and stops p) on exit or timeout
 *     ...
 *     await p.stop();                                     // idempotent; resolves with code or signal
 *
 * What callers must know:
 *  - stderr is kept (the last 256 KiB) for assertions and failure messages.
 *  - firstLine reads stdout up to its first newline; the rest of stdout is
 *    drained and dropped.
 *  - `onStopped` runs once after the process exited through stop() (e.g.
 *    to remove a temporary directory).
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** SIGTERM grace before SIGKILL: the relay closes its clients for ~1.5 s. */
export const STOP_GRACE_MS = 5_000;
/** Keep at most this much output per process: enough for diagnostics, bounded for floods. */
export const MAX_CAPTURE_CHARS = 256 * 1024;

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Count `child` among the processes SIGKILLed (by pid) if still alive when the test process exits. */
export function trackChild(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of live) {
        if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
          try {
            process.kill(c.pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
    });
  }
  live.add(child);
  child.once('exit', () => live.delete(child));
}

export interface TrackedProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  stderr(): string;
  /** Resolves with the exit code (or the signal name) once the process exits. */
  readonly exited: Promise<number | string>;
  /** Send a signal to this pid; nothing once the process has exited. */
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM, SIGKILL after STOP_GRACE_MS; resolves with the exit code or signal. Idempotent. */
  stop(): Promise<number | string>;
  /** The first stdout line; rejects after stopping the process if it exits first or `timeoutMs` passes. */
  firstLine(what: string, timeoutMs: number): Promise<string>;
}

export interface SpawnTrackedOptions {
  env: Record<string, string | undefined>;
  onStopped?: () => void;
}

export function spawnTracked(cmd: string, args: string[], options: SpawnTrackedOptions): TrackedProcess {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env });
  if (child.pid === undefined) throw new Error(`${cmd}: spawn failed`);
  const pid = child.pid;
  trackChild(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => {
    stderr = (stderr + c).slice(-MAX_CAPTURE_CHARS);
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  const signal = (sig: NodeJS.Signals): void => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  };
  let stopping: Promise<number | string> | null = null;
  const stop = (): Promise<number | string> => {
    stopping ??= (async () => {
      signal('SIGTERM');
      const forced = setTimeout(() => signal('SIGKILL'), STOP_GRACE_MS);
      const status = await exited;
      clearTimeout(forced);
      options.onStopped?.();
      return status;
    })();
    return stopping;
  };
  const firstLine = async (what: string, timeoutMs: number): Promise<string> => {
    try {
      return await new Promise<string>((resolve, reject) => {
        let buf = '';
        const timer = setTimeout(() => reject(new Error(`${what} ${pid}: no first line within ${timeoutMs} ms; stderr:\n${stderr}`)), timeoutMs);
        child.stdout!.setEncoding('utf8').on('data', (c: string) => {
          if (buf.includes('\n')) return;
          buf += c;
          const nl = buf.indexOf('\n');
          if (nl >= 0) {
            clearTimeout(timer);
            resolve(buf.slice(0, nl));
          }
        });
        void exited.then((s) => {
          clearTimeout(timer);
          reject(new Error(`${what} ${pid} exited (${s}) before its first line; stderr:\n${stderr}`));
        });
      });
    } catch (err) {
      await stop();
      throw err;
    }
  };
  return { child, pid, stderr: () => stderr, exited, signal, stop, firstLine };
}
