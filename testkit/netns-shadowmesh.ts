/**
 * Real ShadowMesh processes inside a netns lab (src/demo/netns-lab.ts), as
 * the data-plane netns tests and the benchmarks drive them: the relay and
 * daemon start helpers of src/demo/lab-daemons.ts (re-exported here, so a
 * test imports one module), plus what tests observe on top: a peer's path in
 * `peers --json`, numbered ping streams and their gaps, HTTP GETs inside a
 * namespace, and whether this build has `up` at all.
 *
 * What callers must know:
 *  - Every process is spawned through the lab, so the lab's teardown stops it
 *    by pid even when a test fails.
 *  - upAvailable() tells whether this build has the `up` command at all, so a
 *    benchmark can report "not available" instead of failing.
 */
import { spawnSync } from 'node:child_process';
import type { LabProcess, NetnsLab } from '../src/demo/netns-lab.js';
import { CLI_MAIN_PATH } from '../src/demo/cli-entry.js';
import { CONTROL_CALL_TIMEOUT_MS, type LabDaemon } from '../src/demo/lab-daemons.js';

export {
  LAB_RELAY_PORT, START_TIMEOUT_MS, startLabRelay, startLabDaemon, waitForPing,
  type LabRelay, type LabNodeOptions, type LabDaemon,
} from '../src/demo/lab-daemons.js';

/**
 * Daemon flags that keep direct paths on the lab link: the node offers only its lab address as a candidate
 * (`--p2p-listen`), so a direct path can never run through another tunnel in the namespace. The comparison
 * benchmarks need it: with wireguard-go up beside the daemons, a candidate on wireguard's tunnel address
 * could win the race and the "direct" row would measure ShadowMesh inside wireguard-go. The selector moves such a
 * path to the wire after its dwell (path-rank.ts: on-link before a tunnel device), but a measurement must not
 * start on the wrong path or include the switch. Returns `args` with
 * the flag added, or unchanged when they turn direct paths off (`--no-direct` refuses a listener address).
 */
export function labLinkOnly(lab: NetnsLab, node: string, args: readonly string[]): string[] {
  return args.includes('--no-direct') ? [...args] : [...args, '--p2p-listen', lab.ip(node)];
}

/** True when this build's CLI has the `up` command (the node daemon). */
export function upAvailable(): boolean {
  const r = spawnSync(process.execPath, [CLI_MAIN_PATH, 'up', '--help'], { encoding: 'utf8', timeout: 15_000 });
  return r.status === 0 && /--relay/.test(r.stdout);
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
  /** Every live direct path, selected or not (control-protocol PeerStatus.directs). */
  directs: Array<{ carrier: 'wss' | 'udp'; remote: string; rttMs: number | null; selected: boolean }>;
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
