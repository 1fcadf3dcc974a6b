/**
 * Direct-path benchmark (issue 4 "Targets"): in one run,
 *
 *   - re-handshake CPU time: bench/path-auth.ts (both sides of the three
 *     messages in one process), run as a child;
 *   - relay-to-direct migration time, per trial with fresh daemons in a
 *     netns lab (relay, a, b on one bridge): the first packets of a 10 ms
 *     ping stream start the session on the relay; from a's log, the time
 *     from the direct path being handed to the PathManager ("direct path
 *     added") to the PathManager switching to it ("path relay -> IP:PORT"),
 *     i.e. the PathManager's migration time minus the wait for the next data
 *     frame (with 10 ms traffic, at most 10 ms). The daemon's own
 *     `migrationMs` is used instead when `peers --json` reports it. Also the
 *     whole setup from the accepted PATH_OFFER to the switch (TLS connect,
 *     re-handshake, first probe);
 *   - fallback time after a cut: the same trial cuts the direct link
 *     (iptables DROP between a and b only) during a 10 ms `ping -D` stream;
 *     fallback = the first reply after the cut's reply gap, measured from
 *     the moment the cut was issued;
 *   - throughput and ping on the direct path against wireguard-go (and the
 *     relay-only daemon) in the same lab: iperf3 TCP one stream and 200
 *     pings 10 ms apart, as bench/netns-throughput.ts does.
 *
 * Medians over --trials (default 5). Progress on stderr; the last stdout line
 * is the JSON result (PathsBenchResult) that bench/run.ts renders with
 * renderPathsSection().
 *
 *     node dist/bench/netns-paths.js [--trials N] [--seconds N]
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createNetnsLab, type NetnsLab } from '../src/demo/netns-lab.js';
import { measureIperf3, measurePing, quantile } from '../testkit/netns-measure.js';
import { setupWireguard } from '../testkit/netns-wireguard.js';
import {
  longestReplyGapMs, parsePingStream, peerPath, remoteHost, startLabDaemon, startLabRelay, upAvailable, waitForPeerPath, waitForPing,
  type LabDaemon, type LabPeerPath,
} from '../testkit/netns-shadowmesh.js';
import { createTestNetwork, type TestMember, type TestNetwork } from '../testkit/test-network.js';

const PATH_AUTH = fileURLToPath(new URL('./path-auth.js', import.meta.url));
const MESH_A = '10.10.10.3';
const MESH_B = '10.10.10.4';
const TRIALS_DEFAULT = 5;
const SECONDS_DEFAULT = 10;
/** Issue 4 targets. */
export const TARGET_REHANDSHAKE_MS = 1;
export const TARGET_MIGRATION_MS = 50;
export const TARGET_FALLBACK_MS = 2_000;
const MEMBERS_KNOWN_MS = 30_000;
const TO_DIRECT_MS = 20_000;
const TUNNEL_READY_TIMEOUT_MS = 30_000;
/** The ping stream around a cut: 10 ms apart, the cut 1.5 s in, 6 s in all. */
const CUT_STREAM_COUNT = 600;
const CUT_AFTER_MS = 1_500;
const PING_COUNT = 200;
const PING_INTERVAL_S = 0.01;

export interface PathsTrial {
  /** Direct path handed over -> PathManager switched to it (or the daemon's migrationMs). */
  migrationMs: number | null;
  migrationSource: 'daemon' | 'log' | null;
  /** Accepted PATH_OFFER -> switched to direct: TLS connect, re-handshake, first probe. */
  offerToDirectMs: number | null;
  /** Cut issued -> first ping answered again (over the relay). */
  fallbackMs: number | null;
  /** Longest reply gap around the cut. */
  gapMs: number | null;
  error?: string;
}

export interface PathsScenario {
  name: string;
  available: boolean;
  reason?: string;
  singleMbps?: number;
  pingAvgMs?: number;
  pingP99Ms?: number;
  pingLoss?: number;
  /** For the direct-path row: the path peers --json showed after the measurement. */
  pathAfter?: string;
}

export interface PathsBenchResult {
  date: string;
  cpus: string;
  node: string;
  skipped?: string;
  rehandshake: { cpuMsPerExchange: number; medianMs: number; p90Ms: number } | { error: string };
  trials: PathsTrial[];
  seconds: number;
  scenarios: PathsScenario[];
}

function log(msg: string): void {
  process.stderr.write(`[netns-paths] ${msg}\n`);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface LogLine { time: string; msg: string; remote?: string }

function logLines(stderr: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const r = JSON.parse(line) as LogLine;
      if (typeof r.msg === 'string' && typeof r.time === 'string') out.push(r);
    } catch { /* not a log line */ }
  }
  return out;
}

/** From a daemon's debug log: the first switch relay -> direct, and when its path was added and the offer accepted. */
export function migrationFromLog(stderr: string): { migrationMs: number | null; offerToDirectMs: number | null } {
  const lines = logLines(stderr);
  const sw = lines.find((l) => /path relay -> \S+:\d+$/.test(l.msg));
  if (sw === undefined) return { migrationMs: null, offerToDirectMs: null };
  const remote = /-> (\S+)$/.exec(sw.msg)![1]!;
  const swAt = Date.parse(sw.time);
  const added = lines.find((l) => l.msg.endsWith('direct path added') && l.remote === remote && Date.parse(l.time) <= swAt);
  const offer = lines.find((l) => l.msg.endsWith('path offer accepted') && Date.parse(l.time) <= swAt);
  return {
    migrationMs: added === undefined ? null : swAt - Date.parse(added.time),
    offerToDirectMs: offer === undefined ? null : swAt - Date.parse(offer.time),
  };
}

const median = (xs: readonly number[]): number | null => (xs.length === 0 ? null : quantile(xs, 0.5));

async function startPair(lab: NetnsLab, net: TestNetwork, relay: { url: string; pin: string }, ma: TestMember, mb: TestMember, extra: string[]): Promise<[LabDaemon, LabDaemon]> {
  const common = { relay, caFile: net.caFile, dev: 'tun' as const, ifname: 'smtun0', args: extra, env: { SHADOWMESH_LOG_LEVEL: 'debug' } };
  const a = await startLabDaemon(lab, 'a', { ...common, certFile: ma.certFile, dir: ma.dir });
  try {
    const b = await startLabDaemon(lab, 'b', { ...common, certFile: mb.certFile, dir: mb.dir });
    return [a, b];
  } catch (err) {
    await a.stop();
    throw err;
  }
}

async function trial(lab: NetnsLab, net: TestNetwork, relay: { url: string; pin: string }, ma: TestMember, mb: TestMember): Promise<PathsTrial> {
  const out: PathsTrial = { migrationMs: null, migrationSource: null, offerToDirectMs: null, fallbackMs: null, gapMs: null };
  let pair: [LabDaemon, LabDaemon];
  try {
    pair = await startPair(lab, net, relay, ma, mb, []);
  } catch (err) {
    out.error = (err as Error).message.split('\n')[0] ?? 'failed';
    return out;
  }
  const [a, b] = pair;
  let undo: (() => Promise<void>) | null = null;
  try {
    if ((await waitForPeerPath(a, 'b', () => true, MEMBERS_KNOWN_MS)) === null || (await waitForPeerPath(b, 'a', () => true, MEMBERS_KNOWN_MS)) === null) {
      throw new Error('the daemons never listed each other');
    }
    // The stream's first packets start the session on the relay; the switch follows.
    const trigger = lab.spawn('a', ['ping', '-n', '-q', '-i', '0.01', '-c', '300', MESH_B], { label: 'a:ping' });
    const direct = await waitForPeerPath(a, 'b', (p) => p.path === 'direct' && remoteHost(p.remote) === lab.ip('b'), TO_DIRECT_MS, 100);
    await trigger.stop();
    if (direct === null) throw new Error(`a never switched to the direct path: ${JSON.stringify(await peerPath(a, 'b'))}`);
    const fromLog = migrationFromLog(a.proc.stderr());
    const daemonMs = (direct as LabPeerPath).migrationMs;
    if (typeof daemonMs === 'number') {
      out.migrationMs = daemonMs;
      out.migrationSource = 'daemon';
    } else if (fromLog.migrationMs !== null) {
      out.migrationMs = fromLog.migrationMs;
      out.migrationSource = 'log';
    }
    out.offerToDirectMs = fromLog.offerToDirectMs;

    // Fallback: a 10 ms stream, the direct link cut 1.5 s in.
    await sleep(1_000);
    const ping = lab.spawn('a', ['ping', '-D', '-n', '-i', '0.01', '-c', String(CUT_STREAM_COUNT), '-W', '2', MESH_B], { label: 'a:ping' });
    await sleep(CUT_AFTER_MS);
    const cutAt = Date.now();
    undo = await lab.cut('a', 'b');
    await ping.exited;
    const stream = parsePingStream(ping.stdout());
    const after = stream.replyAtMs.filter((t) => t >= cutAt).sort((x, y) => x - y);
    // The end of the longest gap after the cut was issued is the first reply over the relay.
    let end: number | null = null;
    let gap = 0;
    let prev = cutAt;
    for (const t of after) {
      if (t - prev > gap) {
        gap = t - prev;
        end = t;
      }
      prev = t;
    }
    out.fallbackMs = end === null ? null : end - cutAt;
    out.gapMs = longestReplyGapMs(stream, cutAt - 1_000);
  } catch (err) {
    out.error = (err as Error).message.split('\n')[0] ?? 'failed';
  } finally {
    await undo?.();
    await b.stop();
    await a.stop();
  }
  return out;
}

async function scenario(lab: NetnsLab, name: string, targetIp: string, seconds: number, pathOf?: () => Promise<string>): Promise<PathsScenario> {
  try {
    const took = await waitForPing(lab, 'a', targetIp, TUNNEL_READY_TIMEOUT_MS);
    if (took === null) return { name, available: false, reason: `no ping reply within ${TUNNEL_READY_TIMEOUT_MS} ms` };
    log(`${name}: ping x${PING_COUNT}`);
    const ping = await measurePing(lab, 'a', targetIp, { count: PING_COUNT, intervalS: PING_INTERVAL_S });
    log(`${name}: iperf3 1 stream, ${seconds} s`);
    const one = await measureIperf3(lab, 'a', 'b', targetIp, { seconds });
    const s: PathsScenario = {
      name,
      available: true,
      singleMbps: one.bitsPerSecond / 1e6,
      pingAvgMs: ping.avgMs,
      pingP99Ms: ping.p99Ms,
      pingLoss: ping.transmitted === 0 ? 1 : 1 - ping.received / ping.transmitted,
    };
    if (pathOf !== undefined) s.pathAfter = await pathOf();
    return s;
  } catch (err) {
    return { name, available: false, reason: (err as Error).message.split('\n')[0] ?? 'failed' };
  }
}

function rehandshake(): PathsBenchResult['rehandshake'] {
  try {
    const out = execFileSync(process.execPath, [PATH_AUTH], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 120_000 });
    const r = JSON.parse(out.trim().split('\n').pop()!) as { results: Array<{ medianMs: number; p90Ms: number }>; cpuMsPerExchange: number };
    return { cpuMsPerExchange: r.cpuMsPerExchange, medianMs: r.results[0]!.medianMs, p90Ms: r.results[0]!.p90Ms };
  } catch (err) {
    return { error: (err as Error).message.split('\n')[0] ?? 'failed' };
  }
}

async function main(): Promise<void> {
  const arg = (name: string, dflt: number): number => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : dflt;
  };
  const trials = arg('--trials', TRIALS_DEFAULT);
  const seconds = arg('--seconds', SECONDS_DEFAULT);
  if (!(Number.isInteger(trials) && trials >= 1 && trials <= 50)) throw new Error(`--trials: expected 1..50, got ${trials}`);
  if (!(seconds > 0 && seconds <= 60)) throw new Error(`--seconds: expected 1..60, got ${seconds}`);
  log('re-handshake (bench/path-auth)');
  const result: PathsBenchResult = {
    date: new Date().toISOString().slice(0, 10),
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
    node: process.version,
    rehandshake: rehandshake(),
    trials: [],
    seconds,
    scenarios: [],
  };
  const isRoot = typeof process.getuid !== 'function' || process.getuid() === 0;
  if (!isRoot || !upAvailable()) {
    result.skipped = !isRoot ? 'needs root (network namespaces)' : 'this build has no `shadowmesh up`';
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const lab = await createNetnsLab({ nodes: ['relay', 'a', 'b'] });
  const net = await createTestNetwork();
  try {
    const ma = await net.addMember('a', { address: `${MESH_A}/24` });
    const mb = await net.addMember('b', { address: `${MESH_B}/24` });
    const relay = await startLabRelay(lab, 'relay', { caFile: net.caFile });
    for (let i = 0; i < trials; i++) {
      const t = await trial(lab, net, relay, ma, mb);
      log(`trial ${i + 1}/${trials}: ${JSON.stringify(t)}`);
      result.trials.push(t);
    }
    try {
      const wg = await setupWireguard(lab, ['a', 'b']);
      result.scenarios.push(await scenario(lab, 'wireguard-go', wg.ip('b'), seconds));
    } catch (err) {
      result.scenarios.push({ name: 'wireguard-go', available: false, reason: (err as Error).message.split('\n')[0] ?? 'failed' });
    }
    for (const [name, extra] of [['ShadowMesh direct path (TUN)', []], ['ShadowMesh relay only (TUN, --no-direct)', ['--no-direct']]] as const) {
      let pair: [LabDaemon, LabDaemon] | null = null;
      try {
        pair = await startPair(lab, net, relay, ma, mb, [...extra]);
        const [a] = pair;
        if (extra.length === 0) {
          await waitForPing(lab, 'a', MESH_B, TUNNEL_READY_TIMEOUT_MS);
          const d = await waitForPeerPath(a, 'b', (p) => p.path === 'direct', TO_DIRECT_MS);
          if (d === null) throw new Error('never switched to the direct path');
        }
        const pathOf = async (): Promise<string> => {
          const p = await peerPath(a, 'b');
          return p === null ? 'unknown' : `${p.path}${p.path === 'direct' ? ` ${p.remote}` : ''}, fallbacks ${p.fallbacks}`;
        };
        result.scenarios.push(await scenario(lab, name, MESH_B, seconds, pathOf));
      } catch (err) {
        result.scenarios.push({ name, available: false, reason: (err as Error).message.split('\n')[0] ?? 'failed' });
      } finally {
        if (pair !== null) {
          await pair[1].stop();
          await pair[0].stop();
        }
      }
    }
  } finally {
    await lab.teardown();
    await net.cleanup();
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

// ---------------------------------------------------------------- BENCHMARKS.md section

const fmt = (x: number | null | undefined, digits: number): string => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits));
const verdict = (x: number | null, target: number): string => (x === null ? '—' : x < target ? 'met' : 'missed');

export function renderPathsSection(r: PathsBenchResult | null, failure?: string): string {
  const head = `## Direct paths: re-handshake, migration, fallback (network namespaces)

Command: \`npm run bench\` (as root; runs \`node dist/bench/netns-paths.js\`, which runs \`node dist/bench/path-auth.js\`).

- *re-handshake*: the direct-path challenge–response of src/handshake/path-auth.ts, both sides' work in
  one process (bench/path-auth.ts): CPU time per exchange (process.cpuUsage) and wall time.
- *migration*: per trial, fresh \`shadowmesh up\` daemons in namespaces \`a\` and \`b\` (TUN, routable lab
  addresses on one bridge, the relay in its own namespace); the first packets of a 10 ms ping stream
  start the session on the relay. Migration = the direct path handed to the PathManager -> the
  PathManager switching to it (from a's debug log; with 10 ms traffic the first data frame follows
  within 10 ms). *Offer -> direct* = the accepted PATH_OFFER -> the switch (TLS 1.3 connect,
  re-handshake, first probe).
- *fallback*: the same trial, a 10 ms \`ping -D\` stream, the direct link cut (iptables DROP between a
  and b only, the relay reachable): time from issuing the cut to the first reply after the gap (over
  the relay), and the longest reply gap.
- throughput and ping: iperf3 TCP one stream and 200 pings 10 ms apart from a to b, wireguard-go
  (direct a <-> b) against ShadowMesh on its direct path and relay-only (\`--no-direct\`), same lab, same run.
`;
  if (r === null) return `${head}\nNot measured in this run: ${failure ?? 'the benchmark failed'}.\n`;
  const rh = 'error' in r.rehandshake ? null : r.rehandshake;
  const ok = r.trials.filter((t) => t.error === undefined);
  const med = (k: 'migrationMs' | 'offerToDirectMs' | 'fallbackMs' | 'gapMs'): number | null => median(ok.map((t) => t[k]).filter((x): x is number => x !== null));
  const max = (k: 'migrationMs' | 'offerToDirectMs' | 'fallbackMs' | 'gapMs'): number | null => {
    const xs = ok.map((t) => t[k]).filter((x): x is number => x !== null);
    return xs.length === 0 ? null : Math.max(...xs);
  };
  const failed = r.trials.filter((t) => t.error !== undefined).map((t) => t.error).join('; ');
  const src = [...new Set(ok.map((t) => t.migrationSource).filter((s) => s !== null))].join(', ') || '—';
  let body = `
Run on ${r.date}, ${r.cpus}, ShadowMesh under Node ${r.node}; ${r.trials.length} trials${failed ? ` (failed: ${failed})` : ''}.

| measurement | median | max | target | |
|---|---|---|---|---|
| re-handshake CPU, both sides (ms) | ${rh === null ? `not measured: ${(r.rehandshake as { error: string }).error}` : fmt(rh.cpuMsPerExchange, 4)} | | < ${TARGET_REHANDSHAKE_MS} | ${verdict(rh?.cpuMsPerExchange ?? null, TARGET_REHANDSHAKE_MS)} |
| re-handshake wall, both sides (ms; p90 in max) | ${rh === null ? '—' : fmt(rh.medianMs, 4)} | ${rh === null ? '—' : fmt(rh.p90Ms, 4)} | | |
| migration relay -> direct (ms; from ${src}) | ${fmt(med('migrationMs'), 0)} | ${fmt(max('migrationMs'), 0)} | < ${TARGET_MIGRATION_MS} | ${verdict(med('migrationMs'), TARGET_MIGRATION_MS)} |
| offer -> direct (ms) | ${fmt(med('offerToDirectMs'), 0)} | ${fmt(max('offerToDirectMs'), 0)} | | |
| fallback: cut -> first reply over the relay (ms) | ${fmt(med('fallbackMs'), 0)} | ${fmt(max('fallbackMs'), 0)} | < ${TARGET_FALLBACK_MS} | ${verdict(med('fallbackMs'), TARGET_FALLBACK_MS)} |
| longest reply gap around the cut (ms) | ${fmt(med('gapMs'), 0)} | ${fmt(max('gapMs'), 0)} | | |
`;
  if (r.skipped !== undefined) return `${head}${body}\nNetns part not measured in this run: ${r.skipped}.\n`;
  const wg = r.scenarios.find((s) => s.name === 'wireguard-go');
  const rows = r.scenarios.map((s) => {
    if (!s.available) return `| ${s.name} | not available: ${s.reason ?? '?'} | | | | | |`;
    const vs = wg?.available === true && s !== wg && wg.singleMbps !== undefined && s.singleMbps !== undefined ? (s.singleMbps / wg.singleMbps).toFixed(2) : s === wg ? '1.00' : '—';
    return `| ${s.name} | ${fmt(s.singleMbps, 0)} | ${vs} | ${fmt(s.pingAvgMs, 3)} | ${fmt(s.pingP99Ms, 3)} | ${fmt((s.pingLoss ?? 0) * 100, 1)} | ${s.pathAfter ?? ''} |`;
  });
  body += `
Target: direct-path single stream ≥ wireguard-go (÷ wireguard-go ≥ 1.00), iperf3 ${r.seconds} s.

| path | 1 stream Mbit/s | ÷ wireguard-go | ping avg ms | ping p99 ms | ping loss % | path after (peers --json) |
|---|---|---|---|---|---|---|
${rows.join('\n')}
`;
  return `${head}${body}`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
