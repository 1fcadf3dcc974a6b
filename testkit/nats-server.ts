/**
 * Start a real `nats-server` (Debian's package, .ci/run) on a free loopback
 * port for tests of the relay cluster (docs/architecture.md "Relay
 * cluster").
 *
 *     const nats = await startNatsServer();
 *     try {
 *       // nats.url = nats://127.0.0.1:<port>
 *       await nats.stop();                    // SIGTERM by pid, then SIGKILL
 *       await nats.restart();                 // same port, new process
 *     } finally {
 *       await nats.stop();
 *     }
 *
 * What callers must know:
 *  - Ready means the server accepts TCP on its port (polled), not just spawned.
 *  - Only the process started here is signalled, by its pid; any still alive
 *    when the test process exits is SIGKILLed, and a start that fails kills
 *    its child before rejecting.
 *  - `options.args` go to nats-server as given (e.g. ['--user', 'u', '--pass', 'p']).
 *  - `options.config` is the text of a nats-server.conf (users, permissions,
 *    TLS; see deploy/systemd/nats-server.conf), written to a temp file removed
 *    when the test process exits; address and port still come from here.
 *    With `options.tls` the config gets a `tls {}` block with that
 *    certificate and key, and `url` is tls://.
 *  - startLabNatsServer() runs the same binary in a netns lab node instead
 *    (src/demo/netns-lab.ts), on that node's lab address, so relays in other
 *    namespaces reach it; the lab stops it by pid at teardown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import type { LabProcess, NetnsLab } from '../src/demo/netns-lab.js';
import { freePort } from './free-port.js';

/** Where Debian installs it; PATH is tried first. */
const CANDIDATES = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'];
/** nats-server is up in milliseconds; generous for a loaded CI machine. */
export const NATS_START_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 3_000;
const MAX_LOG_CHARS = 64 * 1024;

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
    try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ }
  }
});

/** The nats-server binary, or null when it is not installed. */
export function natsServerBinary(): string | null {
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    if (dir !== '' && existsSync(`${dir}/nats-server`)) return `${dir}/nats-server`;
  }
  return CANDIDATES.find((p) => existsSync(p)) ?? null;
}

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  pid(): number;
  log(): string;
  /** SIGTERM by pid, SIGKILL after a grace; idempotent per process. */
  stop(): Promise<void>;
  /** Start again on the same port (after stop). */
  restart(): Promise<void>;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

export interface StartNatsOptions {
  args?: string[];
  port?: number;
  /** nats-server.conf text (authorization, permissions, …). */
  config?: string;
  /** Serve TLS with this certificate and key (PEM files); clients use tls:// URLs. */
  tls?: { certFile: string; keyFile: string };
}

/** Write the config file for `options`, or return null when none is needed. */
function writeConfig(options: StartNatsOptions): string | null {
  if (options.config === undefined && options.tls === undefined) return null;
  const dir = mkdtempSync(join(tmpdir(), 'sm-nats-conf-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const tls = options.tls === undefined ? '' : `\ntls {\n  cert_file: ${JSON.stringify(options.tls.certFile)}\n  key_file: ${JSON.stringify(options.tls.keyFile)}\n  timeout: 5\n}\n`;
  const file = join(dir, 'nats-server.conf');
  writeFileSync(file, `${options.config ?? ''}${tls}`);
  return file;
}

export async function startNatsServer(options: StartNatsOptions = {}): Promise<NatsServer> {
  const bin = natsServerBinary();
  if (bin === null) throw new Error('nats-server is not installed (Debian package nats-server; .ci/run installs it)');
  const port = options.port ?? (await freePort());
  const configFile = writeConfig(options);
  let child: ChildProcess | null = null;
  let log = '';

  const stopChild = async (): Promise<void> => {
    const c = child;
    if (c === null || c.pid === undefined) return;
    child = null;
    if (c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    try { process.kill(c.pid, 'SIGTERM'); } catch { /* gone */ }
    const t = setTimeout(() => { try { process.kill(c.pid as number, 'SIGKILL'); } catch { /* gone */ } }, STOP_GRACE_MS);
    await exited;
    clearTimeout(t);
  };

  const startChild = async (): Promise<void> => {
    const c = spawn(bin, [...(configFile !== null ? ['-c', configFile] : []), '-a', '127.0.0.1', '-p', String(port), ...(options.args ?? [])], { stdio: ['ignore', 'pipe', 'pipe'] });
    if (c.pid === undefined) throw new Error('nats-server: spawn failed');
    child = c;
    live.add(c);
    const keep = (chunk: Buffer): void => { log = (log + chunk.toString('utf8')).slice(-MAX_LOG_CHARS); };
    c.stdout?.on('data', keep);
    c.stderr?.on('data', keep);
    c.once('exit', () => live.delete(c));
    const deadline = Date.now() + NATS_START_TIMEOUT_MS;
    while (!(await canConnect(port))) {
      if (c.exitCode !== null || Date.now() > deadline) {
        await stopChild();
        throw new Error(`nats-server on port ${port} did not start; log:\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  await startChild();
  return {
    url: `${options.tls !== undefined ? 'tls' : 'nats'}://127.0.0.1:${port}`,
    port,
    pid: () => child?.pid ?? -1,
    log: () => log,
    stop: stopChild,
    restart: async () => {
      await stopChild();
      await startChild();
    },
  };
}

/** Port of nats-server inside its lab namespace (its default; the namespace is ours). */
export const LAB_NATS_PORT = 4222;

export interface LabNatsServer {
  /** nats://<lab address>:LAB_NATS_PORT */
  readonly url: string;
  readonly proc: LabProcess;
}

/** Connect to HOST:PORT and exit 0, or exit 1 on error (run inside a namespace). */
const CAN_CONNECT = `const s = require('node:net').connect(Number(process.argv[2]), process.argv[1]);
s.on('connect', () => { s.destroy(); process.exit(0); });
s.on('error', () => process.exit(1));`;

/**
 * Start nats-server in lab node `node`, listening on the node's lab address;
 * resolves once it accepts TCP there (tried from inside the namespace).
 */
export async function startLabNatsServer(lab: NetnsLab, node: string): Promise<LabNatsServer> {
  const bin = natsServerBinary();
  if (bin === null) throw new Error('nats-server is not installed (Debian package nats-server; .ci/run installs it)');
  const host = lab.ip(node);
  const proc = lab.spawn(node, [bin, '-a', host, '-p', String(LAB_NATS_PORT)], { label: `${node}:nats-server` });
  const deadline = Date.now() + NATS_START_TIMEOUT_MS;
  for (;;) {
    if (!proc.alive()) throw new Error(`nats-server on ${node} exited (${await proc.exited}); log:\n${proc.stderr().slice(-4_000)}`);
    const r = await lab.exec(node, [process.execPath, '-e', CAN_CONNECT, host, String(LAB_NATS_PORT)], { timeoutMs: 5_000 });
    if (r.code === 0) return { url: `nats://${host}:${LAB_NATS_PORT}`, proc };
    if (Date.now() > deadline) {
      await proc.stop();
      throw new Error(`nats-server on ${node} not accepting on ${host}:${LAB_NATS_PORT} after ${NATS_START_TIMEOUT_MS} ms; log:\n${proc.stderr().slice(-4_000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
