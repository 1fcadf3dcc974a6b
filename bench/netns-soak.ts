/**
 * Memory over a long transfer (issue 12: "RSS flat over a 10-minute soak,
 * heap snapshot evidence, not a slope guess"). The netns benchmark's
 * ShadowMesh topology (relay, a, b; TUN; the relay in its own namespace,
 * --no-direct so all three processes carry the traffic) moves one iperf3
 * TCP stream from a to b for the whole soak (10 minutes by default) while
 *
 *   - the VmRSS of both daemons and the relay is sampled every SAMPLE_S s;
 *   - each of the three writes a V8 heap snapshot at the start, at the end
 *     of the warm-up (the first WARMUP_FRACTION, when pools and V8's heap
 *     settle), in the middle and near the end. The processes are started
 *     with Node's own `--heapsnapshot-signal=SIGUSR2` (through NODE_OPTIONS,
 *     snapshots into a throw-away directory): the daemon has no snapshot code
 *     and no control-API call for it, so nothing is added to what a running
 *     node exposes; only whoever starts the process can turn it on.
 *
 * V8 collects garbage before it writes a snapshot, so a snapshot's total is
 * the live heap; bench/heap-snapshot.ts groups it by constructor. Between
 * the warm-up snapshot and the last one the report lists the constructors
 * that grew most. A process is called flat only when its live heap grew by
 * at most HEAP_FLAT_BOUND_MIB from the warm-up snapshot to the last one and
 * its RSS (mean of the last quarter after warm-up minus the first quarter) by
 * at most RSS_FLAT_BOUND_MIB. Writing a snapshot allocates in the process
 * (the serialiser), which can show in RSS right after it; the heap figures
 * are not affected.
 *
 * With `--path udp` the daemons move the same stream over a direct UDP path
 * (on the lab link, as the comparison benchmarks do): the relay then only
 * holds the two idle control connections and is sampled all the same.
 *
 *     node dist/bench/netns-soak.js [--minutes N] [--path relay|udp]
 *
 * Root only. Progress on stderr; a summary and, last, one JSON line on stdout.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNetnsLab } from '../src/demo/netns-lab.js';
import { IPERF3_PORT } from '../testkit/netns-measure.js';
import { labLinkOnly, startLabDaemon, startLabRelay, waitForPeerPath, waitForPing } from '../testkit/netns-shadowmesh.js';
import { createTestNetwork } from '../testkit/test-network.js';
import { readHeapSnapshot, topGrowers, type Grower, type HeapSummary } from './heap-snapshot.js';
import { MIB, rssBytes } from './proc-stats.js';

/** The issue's soak: 10 minutes. */
const SOAK_MINUTES_DEFAULT = 10;
const SAMPLE_S = 2;
const WARMUP_FRACTION = 0.2;
/** When the heap snapshots are taken, as fractions of the soak: start, end of warm-up, middle, near the end. */
const SNAPSHOT_AT = [0, WARMUP_FRACTION, 0.6] as const;
/** The last snapshot this long before the transfer ends, so it sees the process under load. */
const LAST_SNAPSHOT_BEFORE_END_S = 12;
/** Flat: live heap growth from the warm-up snapshot to the last at most this... */
export const HEAP_FLAT_BOUND_MIB = 1;
/** ...and RSS growth (last quarter after warm-up minus first quarter) at most this. */
export const RSS_FLAT_BOUND_MIB = 8;
/** A snapshot of a daemon's heap takes a second or two; generous on a loaded 2-core machine. */
const SNAPSHOT_TIMEOUT_MS = 60_000;
/** Constructors listed per process. */
const TOP_GROWERS = 8;
const MESH_A = '10.10.10.3';
const MESH_B = '10.10.10.4';
/** How long the daemons get to agree on a direct UDP path with `--path udp`. */
const DIRECT_READY_TIMEOUT_MS = 30_000;
const PATHS = ['relay', 'udp'] as const;
type SoakPath = (typeof PATHS)[number];

function log(msg: string): void {
  process.stderr.write(`[netns-soak] ${msg}\n`);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface SoakSeries {
  process: string;
  startMiB: number;
  afterWarmupMiB: number;
  maxMiB: number;
  endMiB: number;
  /** Mean of the last quarter minus mean of the first quarter after warm-up. */
  growthMiB: number;
  /** Least-squares slope after warm-up, MiB per minute. */
  slopeMiBPerMin: number;
}

/** One heap snapshot's figures. */
export interface HeapPoint {
  atS: number;
  rssMiB: number;
  heapMiB: number;
  nodes: number;
}

export interface HeapEvidence {
  process: string;
  points: HeapPoint[];
  /** Live heap, last snapshot minus the warm-up one. */
  heapGrowthMiB: number;
  /** Constructors that grew most from the warm-up snapshot to the last one. */
  growers: Grower[];
  /** Heap and RSS growth within their bounds. */
  flat: boolean;
}

/**
 * SIGUSR2 to a process started with --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=dir; resolves with
 * the summary of the new snapshot once it is complete (it parses), and deletes the file.
 */
async function takeSnapshot(pid: number, dir: string): Promise<HeapSummary> {
  const before = new Set(readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + SNAPSHOT_TIMEOUT_MS;
  let lastSize = -1;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`no complete heap snapshot from pid ${pid} within ${SNAPSHOT_TIMEOUT_MS} ms`);
    await sleep(250);
    const file = readdirSync(dir).find((f) => !before.has(f) && f.endsWith('.heapsnapshot'));
    if (file === undefined) continue;
    const path = join(dir, file);
    const size = statSync(path).size;
    if (size === 0 || size !== lastSize) {
      lastSize = size;
      continue;
    }
    try {
      const summary = readHeapSnapshot(path);
      rmSync(path, { force: true });
      return summary;
    } catch {
      // Still being written: wait for the next size check.
    }
  }
}

function analyse(name: string, t: number[], v: number[], warmupS: number): SoakSeries {
  const idx = t.map((x, i) => (x >= warmupS ? i : -1)).filter((i) => i >= 0);
  const tt = idx.map((i) => t[i]!);
  const vv = idx.map((i) => v[i]!);
  const q = Math.max(1, Math.floor(vv.length / 4));
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const mt = mean(tt);
  const mv = mean(vv);
  let num = 0;
  let den = 0;
  for (let i = 0; i < tt.length; i++) {
    num += (tt[i]! - mt) * (vv[i]! - mv);
    den += (tt[i]! - mt) ** 2;
  }
  return {
    process: name,
    startMiB: v[0] ?? 0,
    afterWarmupMiB: vv[0] ?? 0,
    maxMiB: Math.max(...v),
    endMiB: v[v.length - 1] ?? 0,
    growthMiB: mean(vv.slice(-q)) - mean(vv.slice(0, q)),
    slopeMiBPerMin: den > 0 ? (num / den) * 60 : 0,
  };
}

async function main(): Promise<void> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new Error('needs root (network namespaces)');
  const mi = process.argv.indexOf('--minutes');
  const minutes = mi > 0 ? Number(process.argv[mi + 1]) : SOAK_MINUTES_DEFAULT;
  if (!(minutes >= 1 && minutes <= 24 * 60)) throw new Error(`--minutes: expected 1..1440, got ${process.argv[mi + 1]}`);
  const pi = process.argv.indexOf('--path');
  const path = (pi > 0 ? process.argv[pi + 1] : 'relay') as SoakPath;
  if (!PATHS.includes(path)) throw new Error(`--path: expected ${PATHS.join(' or ')}, got ${String(process.argv[pi + 1])}`);
  const seconds = Math.round(minutes * 60);
  const heapDir = mkdtempSync(join(tmpdir(), 'sm-soak-heap-'));
  const snapEnv = (name: string): Record<string, string> => {
    const dir = join(heapDir, name);
    mkdirSync(dir);
    return { NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${dir}`.trim() };
  };
  const lab = await createNetnsLab({ nodes: ['relay', 'a', 'b'] });
  lab.onTeardown(() => rmSync(heapDir, { recursive: true, force: true }));
  const net = await createTestNetwork();
  let out: Record<string, unknown> = {};
  try {
    const ma = await net.addMember('a', { address: `${MESH_A}/24` });
    const mb = await net.addMember('b', { address: `${MESH_B}/24` });
    const relay = await startLabRelay(lab, 'relay', { caFile: net.caFile, env: snapEnv('relay') });
    // relay: --no-direct keeps all three processes (both daemons and the relay) under load.
    const common = { relay, caFile: net.caFile, dev: 'tun', ifname: 'smtun0', args: path === 'relay' ? ['--no-direct'] : [] } as const;
    const a = await startLabDaemon(lab, 'a', { ...common, args: labLinkOnly(lab, 'a', common.args), certFile: ma.certFile, dir: ma.dir, env: snapEnv('a') });
    const b = await startLabDaemon(lab, 'b', { ...common, args: labLinkOnly(lab, 'b', common.args), certFile: mb.certFile, dir: mb.dir, env: snapEnv('b') });
    if ((await waitForPing(lab, 'a', MESH_B, 30_000)) === null) throw new Error('no ping across the tunnel');
    if (path === 'udp') {
      const keep = lab.spawn('a', ['ping', '-n', '-i', '0.2', '-W', '1', MESH_B], { label: 'a:keep-ping' });
      try {
        for (const [d, peer] of [[a, 'b'], [b, 'a']] as const) {
          const p = await waitForPeerPath(d, peer, (x) => x.path === 'direct' && x.carrier === 'udp', DIRECT_READY_TIMEOUT_MS);
          if (p === null) throw new Error(`no direct UDP path within ${DIRECT_READY_TIMEOUT_MS} ms`);
        }
      } finally {
        await keep.stop();
      }
    }
    const pids = { 'daemon a (sender)': a.proc.pid, 'daemon b (receiver)': b.proc.pid, relay: relay.proc.pid };
    const dirs: Record<string, string> = { 'daemon a (sender)': join(heapDir, 'a'), 'daemon b (receiver)': join(heapDir, 'b'), relay: join(heapDir, 'relay') };
    const snaps: Record<string, Array<{ point: HeapPoint; summary: HeapSummary }>> = Object.fromEntries(Object.keys(pids).map((k) => [k, []]));
    const series: Record<string, number[]> = Object.fromEntries(Object.keys(pids).map((k) => [k, [] as number[]]));
    const times: number[] = [];
    const server = lab.spawn('b', ['iperf3', '-s', '-1', '-J', '-p', String(IPERF3_PORT)], { label: 'b:iperf3-server' });
    await sleep(500);
    log(`iperf3 1 stream for ${seconds} s, RSS every ${SAMPLE_S} s`);
    const t0 = Date.now();
    const client = lab.exec('a', ['iperf3', '-c', MESH_B, '-p', String(IPERF3_PORT), '-t', String(seconds), '-J'], { timeoutMs: seconds * 1_000 + 30_000 });
    let done = false;
    void client.then(() => (done = true));
    const snapTimes = [...SNAPSHOT_AT.map((f) => Math.max(2, f * seconds)), seconds - LAST_SNAPSHOT_BEFORE_END_S];
    const snapper = (async () => {
      for (const at of snapTimes) {
        await sleep(Math.max(0, t0 + at * 1_000 - Date.now()));
        if (done) return;
        // One process at a time: a snapshot pauses its process, and the machine has two cores.
        for (const [k, pid] of Object.entries(pids)) {
          const atS = (Date.now() - t0) / 1_000;
          const rssMiB = (rssBytes(pid) ?? 0) / MIB;
          const summary = await takeSnapshot(pid, dirs[k]!);
          snaps[k]!.push({ point: { atS, rssMiB, heapMiB: summary.totalBytes / MIB, nodes: summary.nodes }, summary });
          log(`${atS.toFixed(0)} s: ${k} heap snapshot: live heap ${(summary.totalBytes / MIB).toFixed(2)} MiB, ${summary.nodes} nodes, RSS ${rssMiB.toFixed(1)} MiB`);
        }
      }
    })();
    while (!done) {
      times.push((Date.now() - t0) / 1_000);
      for (const [k, pid] of Object.entries(pids)) series[k]!.push((rssBytes(pid) ?? 0) / MIB);
      const lastT = times[times.length - 1]!;
      if (Math.floor(lastT) % 30 < SAMPLE_S) log(`${lastT.toFixed(0)} s: ${Object.entries(series).map(([k, v]) => `${k} ${v[v.length - 1]!.toFixed(1)} MiB`).join(', ')}`);
      await sleep(SAMPLE_S * 1_000);
    }
    const c = await client;
    await snapper;
    await server.stop();
    let mbps = 0;
    try {
      const j = JSON.parse(c.stdout) as { end?: { sum_received?: { bits_per_second?: number } } };
      mbps = (j.end?.sum_received?.bits_per_second ?? 0) / 1e6;
    } catch {
      mbps = 0;
    }
    const results = Object.entries(series).map(([k, v]) => analyse(k, times, v, seconds * WARMUP_FRACTION));
    const heap: HeapEvidence[] = Object.entries(snaps).map(([k, list]) => {
      const r = results.find((x) => x.process === k)!;
      // The warm-up snapshot is the second; with fewer than three the run ended early.
      const from = list[1];
      const to = list[list.length - 1];
      const heapGrowthMiB = from !== undefined && to !== undefined && list.length >= 3 ? to.point.heapMiB - from.point.heapMiB : Number.NaN;
      return {
        process: k,
        points: list.map((x) => x.point),
        heapGrowthMiB,
        growers: from !== undefined && to !== undefined && list.length >= 3 ? topGrowers(from.summary, to.summary, TOP_GROWERS) : [],
        flat: heapGrowthMiB <= HEAP_FLAT_BOUND_MIB && r.growthMiB <= RSS_FLAT_BOUND_MIB,
      };
    });
    const carrier = path === 'udp' ? await Promise.all([waitForPeerPath(a, 'b', () => true, 5_000), waitForPeerPath(b, 'a', () => true, 5_000)]) : null;
    out = { path, carrierAtEnd: carrier?.map((p) => p?.carrier ?? null) ?? null, seconds, sampleS: SAMPLE_S, warmupS: seconds * WARMUP_FRACTION, mbps, results, heap, heapBoundMiB: HEAP_FLAT_BOUND_MIB, rssBoundMiB: RSS_FLAT_BOUND_MIB };
  } finally {
    await lab.teardown();
    await net.cleanup();
  }
  const rs = out['results'] as SoakSeries[];
  process.stdout.write(`${String(out['path'])} path${out['carrierAtEnd'] !== null ? ` (carrier at the end: ${JSON.stringify(out['carrierAtEnd'])})` : ''}: iperf3 1 stream for ${String(out['seconds'])} s at ${(out['mbps'] as number).toFixed(0)} Mbit/s\n`);
  for (const r of rs) {
    process.stdout.write(`${r.process}: start ${r.startMiB.toFixed(1)} MiB, after warm-up ${r.afterWarmupMiB.toFixed(1)}, max ${r.maxMiB.toFixed(1)}, end ${r.endMiB.toFixed(1)}; last quarter - first quarter ${r.growthMiB >= 0 ? '+' : ''}${r.growthMiB.toFixed(1)} MiB; slope ${r.slopeMiBPerMin.toFixed(2)} MiB/min\n`);
  }
  for (const h of out['heap'] as HeapEvidence[]) {
    process.stdout.write(`${h.process}: live heap ${h.points.map((p) => `${p.atS.toFixed(0)} s ${p.heapMiB.toFixed(2)} MiB`).join(', ')}; growth after warm-up ${h.heapGrowthMiB >= 0 ? '+' : ''}${h.heapGrowthMiB.toFixed(2)} MiB; ${h.flat ? 'flat' : 'NOT flat'}\n`);
    process.stdout.write(`  top growers: ${h.growers.map((g) => `${g.name} +${(g.bytes / 1024).toFixed(1)} KiB (${g.count >= 0 ? '+' : ''}${g.count})`).join(', ') || 'none'}\n`);
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
