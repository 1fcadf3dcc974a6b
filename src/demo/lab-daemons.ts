/**
 * Real ShadowMesh processes inside a netns lab (src/demo/netns-lab.ts): a
 * relay (`shadowmesh relay`) in one namespace and node daemons
 * (`shadowmesh up`) in others, each with its control CLI (`status`, `peers`,
 * `ping`) run against the daemon's control socket, and a ping that waits for
 * the tunnel. The root demo (src/demo/netns-demo.ts) is built from these; the
 * test kit's testkit/netns-shadowmesh.ts re-exports them with what the
 * data-plane netns tests and benchmarks observe on top (paths, ping streams,
 * HTTP inside a namespace).
 *
 * What callers must know:
 *  - Every process is spawned through the lab, so the lab's teardown stops it
 *    by pid even when the caller fails.
 *  - A daemon counts as ready once `shadowmesh status --json --control SOCK`
 *    answers (the control API is up); whether its peers are reachable yet is
 *    for the caller to wait on (e.g. waitForPing).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_MAIN_PATH, parseRelayStartupLine } from './cli-entry.js';
import type { LabProcess, NetnsLab, ExecResult } from './netns-lab.js';
/** Port of the relay inside its namespace (the design's default WSS port; the namespace is ours). */
export const LAB_RELAY_PORT = 8443;
/** A relay or daemon starts in well under a second; generous for a loaded 2-core CI machine. */
export const START_TIMEOUT_MS = 20_000;
/** Poll cadence while waiting for a control socket or a first ping. */
const POLL_MS = 200;
/** One control CLI call (status/peers) should answer at once. */
export const CONTROL_CALL_TIMEOUT_MS = 10_000;

export interface LabRelay {
  readonly proc: LabProcess;
  readonly url: string;
  readonly pin: string;
  readonly dataDir: string;
  stop(): Promise<number | string>;
}

/** Start `shadowmesh relay` in the lab node `node`, listening on its lab address. */
export async function startLabRelay(lab: NetnsLab, node: string, options: { caFile: string; crlFile?: string; dataDir?: string; args?: string[]; env?: Record<string, string> }): Promise<LabRelay> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'sm-lab-relay-'));
  if (options.dataDir === undefined) lab.onTeardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const argv = [process.execPath, CLI_MAIN_PATH, 'relay', '--listen', `${lab.ip(node)}:${LAB_RELAY_PORT}`, '--ca', options.caFile, '--data', dataDir];
  if (options.crlFile !== undefined) argv.push('--crl', options.crlFile);
  argv.push(...(options.args ?? []));
  const proc = lab.spawn(node, argv, { label: `${node}:relay`, ...(options.env !== undefined ? { env: options.env } : {}) });
  const m = await proc.waitForLine(/^relay listening on /, START_TIMEOUT_MS);
  const info = parseRelayStartupLine(m.input);
  if (info === null) throw new Error(`relay on ${node}: unexpected startup line ${JSON.stringify(m.input)}`);
  return { proc, url: info.url, pin: info.pin, dataDir, stop: () => proc.stop() };
}

export interface LabNodeOptions {
  relay: { url: string; pin: string };
  caFile: string;
  certFile: string;
  /** Identity directory (identity.key). */
  dir: string;
  /** 'none': no device (streams only; ifname is not passed). */
  dev: 'tap' | 'tun' | 'none';
  /** Interface name inside the namespace. */
  ifname: string;
  /** Run the daemon as this unprivileged user (setpriv); its files must be readable by it. */
  user?: { uid: number; gid: number };
  /** Control socket path; default <dir>/control-<node>.sock. */
  control?: string;
  args?: string[];
  env?: Record<string, string>;
}

export interface LabDaemon {
  readonly proc: LabProcess;
  readonly node: string;
  readonly control: string;
  readonly options: LabNodeOptions;
  /** Run `shadowmesh <args> --control SOCK` in the node's namespace. */
  cli(args: string[], timeoutMs?: number): Promise<ExecResult>;
  /** `status --json`, parsed. */
  status(): Promise<unknown>;
  /** `peers --json`, parsed. */
  peers(): Promise<unknown>;
  stop(): Promise<number | string>;
}

/** Start `shadowmesh up` in lab node `node` and wait until its control API answers. */
export async function startLabDaemon(lab: NetnsLab, node: string, options: LabNodeOptions): Promise<LabDaemon> {
  const control = options.control ?? join(options.dir, `control-${node}.sock`);
  const argv = [
    ...(options.user !== undefined ? ['setpriv', `--reuid=${options.user.uid}`, `--regid=${options.user.gid}`, '--clear-groups'] : []),
    process.execPath, CLI_MAIN_PATH, 'up',
    '--relay', options.relay.url, '--pin', options.relay.pin,
    '--ca', options.caFile, '--cert', options.certFile, '--dir', options.dir,
    '--dev', options.dev, ...(options.dev !== 'none' ? ['--name', options.ifname] : []), '--control', control,
    ...(options.args ?? []),
  ];
  const proc = lab.spawn(node, argv, { label: `${node}:up`, ...(options.env !== undefined ? { env: options.env } : {}) });
  const cli = (args: string[], timeoutMs = CONTROL_CALL_TIMEOUT_MS): Promise<ExecResult> =>
    lab.exec(node, [process.execPath, CLI_MAIN_PATH, ...args, '--control', control], { timeoutMs });
  const json = async (cmd: string): Promise<unknown> => {
    const r = await cli([cmd, '--json']);
    if (r.code !== 0) throw new Error(`shadowmesh ${cmd} on ${node}: exit ${r.code}: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout) as unknown;
  };
  const daemon: LabDaemon = { proc, node, control, options, cli, status: () => json('status'), peers: () => json('peers'), stop: () => proc.stop() };
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (!proc.alive()) throw new Error(`shadowmesh up on ${node} exited (${await proc.exited}) before its control API answered\nstdout: ${proc.stdout().slice(-4_000)}\nstderr: ${proc.stderr().slice(-4_000)}`);
    const r = await cli(['status', '--json'], 5_000);
    if (r.code === 0) return daemon;
    if (Date.now() > deadline) {
      await proc.stop();
      throw new Error(`shadowmesh up on ${node}: control API not answering after ${START_TIMEOUT_MS} ms (last: ${r.stderr.trim()})\nstdout: ${proc.stdout().slice(-4_000)}\nstderr: ${proc.stderr().slice(-4_000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/**
 * Ping `toIp` from `from` once a second until a reply arrives or `timeoutMs`
 * passes; resolves with the ms it took, or null if no reply came.
 */
export async function waitForPing(lab: NetnsLab, from: string, toIp: string, timeoutMs: number): Promise<number | null> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    const r = await lab.exec(from, ['ping', '-n', '-c', '1', '-W', '1', toIp], { timeoutMs: 5_000 });
    if (r.code === 0) return Date.now() - start;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return null;
}
