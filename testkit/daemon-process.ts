/**
 * Test helpers for the node daemon CLI: spawn `shadowmesh up` as a real
 * process and wait for its ready line, and run short CLI commands
 * asynchronously (so daemons keep draining their pipes meanwhile).
 * Only processes started here are signalled, by pid; any still alive when
 * the test process exits are SIGKILLed.
 */
import { spawn } from 'node:child_process';
import { CLI_MAIN_PATH } from './relay-process.js';
import { MAX_CAPTURE_CHARS, spawnTracked, trackChild } from './tracked-process.js';

/** The daemon is ready within a second or two; generous for a loaded CI machine. */
export const READY_TIMEOUT_MS = 20_000;
/** A CLI command against a daemon answers in milliseconds; ping with count × interval more. */
export const CLI_TIMEOUT_MS = 30_000;
export const READY_LINE = /^node ([0-9a-f]{8}) up: device (\S+) (\S+) via relay (\S+)$/;

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of ['PATH', 'HOME']) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  return { ...env, ...extra };
}

export function runCliAsync(args: string[], env: Record<string, string> = {}, timeoutMs = CLI_TIMEOUT_MS): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_MAIN_PATH, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: baseEnv(env) });
    trackChild(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => { stdout = (stdout + c).slice(-MAX_CAPTURE_CHARS); });
    child.stderr!.setEncoding('utf8').on('data', (c: string) => { stderr = (stderr + c).slice(-MAX_CAPTURE_CHARS); });
    const timer = setTimeout(() => { if (child.pid !== undefined) try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } }, timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ status: code, stdout, stderr });
    });
  });
}

export interface DaemonProcess {
  readonly pid: number;
  readonly readyLine: string;
  readonly shortId: string;
  stderr(): string;
  readonly exited: Promise<number | string>;
  /** SIGTERM, SIGKILL after a grace; resolves with the exit code or signal. Idempotent. */
  stop(): Promise<number | string>;
}

/** Spawn `shadowmesh up ARGS`; resolves once the ready line is printed, rejects (after killing it) if it exits first or times out.
 *  `runAs` runs it as that unprivileged uid/gid (setpriv, supplementary groups cleared): its files must be readable by it. */
export async function startDaemon(args: string[], env: Record<string, string> = {}, runAs?: { uid: number; gid: number }): Promise<DaemonProcess> {
  const node = [process.execPath, CLI_MAIN_PATH, 'up', ...args];
  const [cmd, ...rest] = runAs === undefined ? node : ['setpriv', `--reuid=${runAs.uid}`, `--regid=${runAs.gid}`, '--clear-groups', ...node];
  const p = spawnTracked(cmd!, rest, { env: baseEnv(env) });
  const line = await p.firstLine('daemon', READY_TIMEOUT_MS);
  const m = READY_LINE.exec(line);
  if (m === null) {
    await p.stop();
    throw new Error(`daemon ${p.pid}: unexpected ready line ${JSON.stringify(line)}`);
  }
  return { pid: p.pid, readyLine: line, shortId: m[1]!, stderr: p.stderr, exited: p.exited, stop: p.stop };
}

/**
 * `p`'s value, or undefined when it fails because the daemon does not know the
 * peer yet (SM_ERR_CONTROL_UNKNOWN_PEER): for waitFor callbacks that ping or
 * chat a member that just came up. Presence names a member first and its
 * certificate follows a round trip later, so "not known yet" is a state to
 * wait through; any other error still fails the test.
 */
export async function unlessUnknownPeer<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if ((err as { code?: unknown }).code === 'SM_ERR_CONTROL_UNKNOWN_PEER') return undefined;
    throw err;
  }
}

/** Poll `fn` every `everyMs` until it returns a value other than undefined, at most `timeoutMs`. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 10_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
