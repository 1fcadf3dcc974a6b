/**
 * Runs the built CLI (dist/src/cli/main.js) synchronously as a child
 * process, the way a user does, with a controlled environment and working
 * directory; for commands that finish on their own (keygen, ca). Daemons and
 * CLI calls that must not block the event loop: testkit/daemon-process.ts.
 */
import { spawnSync } from 'node:child_process';
import { CLI_MAIN_PATH } from '../src/demo/cli-entry.js';

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], options: { cwd: string; env?: Record<string, string> }): CliResult {
  const env: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'SYSTEMROOT']) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  const r = spawnSync(process.execPath, [CLI_MAIN_PATH, ...args], { cwd: options.cwd, env: { ...env, ...options.env }, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The shape of a user-mistake failure: exit 1, one line on stderr ending in an SM_ERR code, no stack trace. */
export function isOneLineError(r: CliResult, code: string): boolean {
  const lines = r.stderr.trimEnd().split('\n');
  return r.status === 1 && lines.length === 1 && lines[0]!.startsWith('shadowmesh: ') && lines[0]!.endsWith(`(${code})`) && !r.stderr.includes('    at ');
}
