/**
 * Test helper: run `shadowmesh ca serve` as a real process and wait for its
 * ready line ("enrollment service on HOST:PORT pin PIN pool CIDR"). Only
 * the process started here is signalled, by pid; it is SIGKILLed if still
 * alive when the test process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI_MAIN_PATH } from './relay-process.js';

const READY_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 5_000;
const MAX_CAPTURE_CHARS = 256 * 1024;
export const ENROLL_READY_LINE = /^enrollment service on (\S+):(\d+) pin (sha256:[0-9a-f]{64}) pool (\S+)$/;

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ }
});

export interface EnrollServiceProcess {
  readonly host: string;
  readonly port: number;
  readonly pin: string;
  stderr(): string;
  stop(): Promise<number | string>;
}

/**
 * Spawn `shadowmesh ca serve ARGS` (`--listen` defaults to 127.0.0.1:0 unless
 * in ARGS); `prefix` runs it through another command, e.g.
 * ['ip', 'netns', 'exec', NS].
 */
export async function startEnrollService(args: string[], env: Record<string, string> = {}, prefix: string[] = []): Promise<EnrollServiceProcess> {
  const argv = [process.execPath, CLI_MAIN_PATH, 'ca', 'serve', ...(args.includes('--listen') ? [] : ['--listen', '127.0.0.1:0']), ...args];
  const [cmd, ...rest] = [...prefix, ...argv] as [string, ...string[]];
  const child = spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...env } });
  if (child.pid === undefined) throw new Error('ca serve: spawn failed');
  const pid = child.pid;
  live.add(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { stderr = (stderr + c).slice(-MAX_CAPTURE_CHARS); });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, sig) => { live.delete(child); resolve(code ?? sig ?? -1); }));
  let stopping: Promise<number | string> | null = null;
  const stop = (): Promise<number | string> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
      const t = setTimeout(() => { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }, STOP_GRACE_MS);
      const s = await exited;
      clearTimeout(t);
      return s;
    })();
    return stopping;
  };
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => reject(new Error(`ca serve ${pid}: no ready line within ${READY_TIMEOUT_MS} ms; stderr:\n${stderr}`)), READY_TIMEOUT_MS);
      child.stdout!.setEncoding('utf8').on('data', (c: string) => {
        buf += c;
        const nl = buf.indexOf('\n');
        if (nl >= 0) { clearTimeout(timer); resolve(buf.slice(0, nl)); }
      });
      void exited.then((s) => { clearTimeout(timer); reject(new Error(`ca serve ${pid} exited (${s}) before ready; stderr:\n${stderr}`)); });
    });
    const m = ENROLL_READY_LINE.exec(line);
    if (m === null) throw new Error(`ca serve ${pid}: unexpected ready line ${JSON.stringify(line)}`);
    return { host: m[1]!, port: Number(m[2]), pin: m[3]!, stderr: () => stderr, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
