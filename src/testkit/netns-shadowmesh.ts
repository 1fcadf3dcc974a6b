/**
 * Real ShadowMesh processes inside a netns lab (src/testkit/netns-lab.ts):
 * a relay (`shadowmesh relay`) in one namespace and node daemons
 * (`shadowmesh up`) in others, plus the control CLI (`status`, `peers`,
 * `ping`) run against a daemon's control socket. Used by the data-plane netns
 * tests and the throughput benchmark.
 *
 * What callers must know:
 *  - Every process is spawned through the lab, so the lab's teardown stops it
 *    by pid even when a test fails.
 *  - A daemon counts as ready once `shadowmesh status --json --control SOCK`
 *    answers (the control API is up); whether its peers are reachable yet is
 *    for the caller to wait on (e.g. waitForPing).
 *  - upAvailable() tells whether this build has the `up` command at all, so a
 *    benchmark can report "not available" instead of failing.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LabProcess, NetnsLab, ExecResult } from './netns-lab.js';
import { CLI_MAIN_PATH, parseRelayStartupLine } from './relay-process.js';

/** Port of the relay inside its namespace (the design's default WSS port; the namespace is ours). */
export const LAB_RELAY_PORT = 8443;
/** A relay or daemon starts in well under a second; generous for a loaded 2-core CI machine. */
export const START_TIMEOUT_MS = 20_000;
/** Poll cadence while waiting for a control socket or a first ping. */
const POLL_MS = 200;
/** One control CLI call (status/peers) should answer at once. */
const CONTROL_CALL_TIMEOUT_MS = 10_000;

export interface LabRelay {
  readonly proc: LabProcess;
  readonly url: string;
  readonly pin: string;
  readonly dataDir: string;
  stop(): Promise<number | string>;
}

/** True when this build's CLI has the `up` command (the node daemon). */
export function upAvailable(): boolean {
  const r = spawnSync(process.execPath, [CLI_MAIN_PATH, 'up', '--help'], { encoding: 'utf8', timeout: 15_000 });
  return r.status === 0 && /--relay/.test(r.stdout);
}

/** Start `shadowmesh relay` in the lab node `node`, listening on its lab address. */
export async function startLabRelay(lab: NetnsLab, node: string, options: { caFile: string; crlFile?: string; dataDir?: string; args?: string[] }): Promise<LabRelay> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'sm-lab-relay-'));
  if (options.dataDir === undefined) lab.onTeardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const argv = [process.execPath, CLI_MAIN_PATH, 'relay', '--listen', `${lab.ip(node)}:${LAB_RELAY_PORT}`, '--ca', options.caFile, '--data', dataDir];
  if (options.crlFile !== undefined) argv.push('--crl', options.crlFile);
  argv.push(...(options.args ?? []));
  const proc = lab.spawn(node, argv, { label: `${node}:relay` });
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
  dev: 'tap' | 'tun';
  /** Interface name inside the namespace. */
  ifname: string;
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
    process.execPath, CLI_MAIN_PATH, 'up',
    '--relay', options.relay.url, '--pin', options.relay.pin,
    '--ca', options.caFile, '--cert', options.certFile, '--dir', options.dir,
    '--dev', options.dev, '--name', options.ifname, '--control', control,
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

// ---------------------------------------------------------------- direct paths (issue 4)

/** One peer's path as `shadowmesh peers --json` reports it (control-protocol PeerStatus, path fields). */
export interface LabPeerPath {
  peerId: string;
  name: string | null;
  path: 'relay' | 'direct';
  /** 'relay', 'wss' or 'udp'. */
  carrier: 'relay' | 'wss' | 'udp';
  /** 'relay', or IP:PORT of the direct path's other end. */
  remote: string;
  rttMs: number | null;
  migrations: { to_direct: number; to_relay: number };
  fallbacks: number;
  mirroring: boolean;
  session: { established: boolean };
  /** Relay-to-direct migration time of the last switch, when the daemon reports it. */
  migrationMs?: number | null;
}

/** The entry named `name` in the daemon's `peers --json`, or null while it is not listed. */
export async function peerPath(daemon: LabDaemon, name: string): Promise<LabPeerPath | null> {
  const r = (await daemon.peers()) as { peers?: LabPeerPath[] };
  return r.peers?.find((p) => p.name === name) ?? null;
}

/**
 * Poll `peers --json` on `daemon` until the entry for `name` satisfies
 * `pred`; resolves with that entry, or null after `timeoutMs`. A failing
 * control call (daemon busy) counts as "not yet".
 */
export async function waitForPeerPath(daemon: LabDaemon, name: string, pred: (p: LabPeerPath) => boolean, timeoutMs: number, pollMs = 250): Promise<LabPeerPath | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = await peerPath(daemon, name).catch(() => null);
    if (p !== null && pred(p)) return p;
    if (Date.now() > deadline) return null;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** The host part of a path remote "IP:PORT" or "[IPv6]:PORT"; '' for 'relay'. */
export function remoteHost(remote: string): string {
  if (remote === 'relay') return '';
  const m = /^\[(.*)\]:\d+$/.exec(remote) ?? /^(.*):\d+$/.exec(remote);
  return m?.[1] ?? remote;
}

/** A numbered echo stream as seen by iputils `ping -D -n`: what came back, once or more. */
export interface PingStream {
  /** Echo sequence numbers answered (first reply of each), ascending. */
  answered: number[];
  /** Sequence numbers answered more than once ("DUP!" lines). */
  duplicates: number[];
  /** Highest sequence number answered (0 when none). */
  maxSeq: number;
  /** Sequence numbers in 1..maxSeq without a reply. */
  missing: number[];
  /** Receive time (epoch ms, from -D) of every first reply, in arrival order. */
  replyAtMs: number[];
  /** From the summary line, when ping printed one. */
  transmitted: number | null;
  received: number | null;
}

/** Parse `ping -D -n` output (one line per reply: `[epoch] 64 bytes from ...: icmp_seq=N ... time=X ms [DUP!]`). */
export function parsePingStream(text: string): PingStream {
  const seen = new Set<number>();
  const dups = new Set<number>();
  const replyAtMs: number[] = [];
  for (const line of text.split('\n')) {
    const m = /^\[([0-9.]+)\].* icmp_seq=(\d+) .*time=/.exec(line);
    if (m === null) continue;
    const seq = Number(m[2]);
    if (seen.has(seq) || line.includes('DUP!')) {
      dups.add(seq);
      continue;
    }
    seen.add(seq);
    replyAtMs.push(Number(m[1]) * 1_000);
  }
  const answered = [...seen].sort((x, y) => x - y);
  const maxSeq = answered.length === 0 ? 0 : answered[answered.length - 1]!;
  const missing: number[] = [];
  for (let s = 1; s <= maxSeq; s++) if (!seen.has(s)) missing.push(s);
  const summary = /(\d+) packets transmitted, (\d+) received/.exec(text);
  return {
    answered,
    duplicates: [...dups].sort((x, y) => x - y),
    maxSeq,
    missing,
    replyAtMs,
    transmitted: summary ? Number(summary[1]) : null,
    received: summary ? Number(summary[2]) : null,
  };
}

/**
 * Wait for a `ping -D` process to end (at most `timeoutMs`; then it is
 * stopped and this throws) and parse what it printed.
 */
export async function finishPingStream(p: LabProcess, timeoutMs: number): Promise<PingStream> {
  let timer: NodeJS.Timeout | undefined;
  const ok = await Promise.race([p.exited.then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)))]);
  clearTimeout(timer);
  if (!ok) {
    await p.stop();
    throw new Error(`${p.label} did not finish within ${timeoutMs} ms`);
  }
  return parsePingStream(p.stdout());
}

/** Longest time between consecutive replies whose arrival lies in [fromMs, toMs] (epoch ms); 0 with fewer than two. */
export function longestReplyGapMs(stream: PingStream, fromMs = -Infinity, toMs = Infinity): number {
  const at = stream.replyAtMs.filter((t) => t >= fromMs && t <= toMs).sort((x, y) => x - y);
  let gap = 0;
  for (let i = 1; i < at.length; i++) gap = Math.max(gap, at[i]! - at[i - 1]!);
  return gap;
}

// ---------------------------------------------------------------- HTTP inside a namespace (issue 7 metrics)

/** One HTTP GET answered inside a lab namespace. */
export interface LabHttpResponse {
  status: number;
  contentType: string;
  body: string;
}

/** GET http://HOST:PORT<path> and print {status, type, body} as one JSON line (run inside a namespace). */
const HTTP_GET = `
const http = require('node:http');
const [host, port, path] = process.argv.slice(1);
const req = http.request({ host, port: Number(port), path, timeout: 5000 }, (res) => {
  let body = ''; res.setEncoding('utf8'); res.on('data', (c) => { body += c; });
  res.on('end', () => { process.stdout.write(JSON.stringify({ status: res.statusCode, contentType: String(res.headers['content-type'] || ''), body })); });
});
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', (e) => { process.stderr.write(e.message); process.exit(2); });
req.end();`;

/**
 * GET `path` from `host:port` from inside lab node `node` (a daemon's or the
 * relay's `--metrics` listener on its lab address). Throws when the request
 * fails; any HTTP status is returned.
 */
export async function labHttpGet(lab: NetnsLab, node: string, host: string, port: number, path: string): Promise<LabHttpResponse> {
  const r = await lab.exec(node, [process.execPath, '-e', HTTP_GET, host, String(port), path], { timeoutMs: CONTROL_CALL_TIMEOUT_MS });
  if (r.code !== 0) throw new Error(`GET http://${host}:${port}${path} from ${node}: exit ${r.code}${r.timedOut ? ' (timed out)' : ''}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as LabHttpResponse;
}
