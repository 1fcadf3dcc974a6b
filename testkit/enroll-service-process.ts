/**
 * Test helper: run `shadowmesh ca serve` as a real process and wait for its
 * ready line ("enrollment service on HOST:PORT pin PIN pool CIDR"). Only
 * the process started here is signalled, by pid; it is SIGKILLed if still
 * alive when the test process exits.
 */
import { CLI_MAIN_PATH } from './relay-process.js';
import { spawnTracked } from './tracked-process.js';

const READY_TIMEOUT_MS = 20_000;
export const ENROLL_READY_LINE = /^enrollment service on (\S+):(\d+) pin (sha256:[0-9a-f]{64}) pool (\S+)$/;

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
  const p = spawnTracked(cmd, rest, { env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...env } });
  const line = await p.firstLine('ca serve', READY_TIMEOUT_MS);
  const m = ENROLL_READY_LINE.exec(line);
  if (m === null) {
    await p.stop();
    throw new Error(`ca serve ${p.pid}: unexpected ready line ${JSON.stringify(line)}`);
  }
  return { host: m[1]!, port: Number(m[2]), pin: m[3]!, stderr: p.stderr, stop: p.stop };
}
