/**
 * Memory over a long transfer (issue 3: no RSS growth over a long iperf3
 * run). The netns benchmark's ShadowMesh topology (relay, a, b; TUN; the
 * relay in its own namespace) carries one iperf3 TCP stream from a to b for
 * SHADOWMESH_SOAK_SECONDS (default 120; the issue's 10 minutes is 600) while
 * the VmRSS of both daemons and the relay is sampled every SAMPLE_S seconds.
 *
 * Growth is judged after a warm-up (the first WARMUP_FRACTION of the run,
 * when pools and V8's heap settle): the mean of the last quarter against the
 * mean of the first quarter after warm-up, and the least-squares slope.
 *
 *     SHADOWMESH_SOAK_SECONDS=600 node dist/bench/netns-soak.js
 *
 * Root only. Progress on stderr; a summary and, last, one JSON line on stdout.
 */
import { createNetnsLab } from '../src/demo/netns-lab.js';
import { IPERF3_PORT } from '../testkit/netns-measure.js';
import { startLabDaemon, startLabRelay, waitForPing } from '../testkit/netns-shadowmesh.js';
import { createTestNetwork } from '../testkit/test-network.js';
import { MIB, rssBytes } from './proc-stats.js';

const SOAK_SECONDS_DEFAULT = 120;
const SAMPLE_S = 2;
const WARMUP_FRACTION = 0.2;
const MESH_A = '10.10.10.3';
const MESH_B = '10.10.10.4';

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
  const seconds = Number(process.env['SHADOWMESH_SOAK_SECONDS'] ?? SOAK_SECONDS_DEFAULT);
  if (!(Number.isInteger(seconds) && seconds >= 10 && seconds <= 24 * 3600)) throw new Error('SHADOWMESH_SOAK_SECONDS: expected an integer >= 10');
  const lab = await createNetnsLab({ nodes: ['relay', 'a', 'b'] });
  const net = await createTestNetwork();
  let out: Record<string, unknown> = {};
  try {
    const ma = await net.addMember('a', { address: `${MESH_A}/24` });
    const mb = await net.addMember('b', { address: `${MESH_B}/24` });
    const relay = await startLabRelay(lab, 'relay', { caFile: net.caFile });
    // --no-direct: the soak keeps all three processes (both daemons and the relay) under load.
    const common = { relay, caFile: net.caFile, dev: 'tun', ifname: 'smtun0', args: ['--no-direct'] as string[] } as const;
    const a = await startLabDaemon(lab, 'a', { ...common, certFile: ma.certFile, dir: ma.dir });
    const b = await startLabDaemon(lab, 'b', { ...common, certFile: mb.certFile, dir: mb.dir });
    if ((await waitForPing(lab, 'a', MESH_B, 30_000)) === null) throw new Error('no ping across the tunnel');
    const pids = { 'daemon a (sender)': a.proc.pid, 'daemon b (receiver)': b.proc.pid, relay: relay.proc.pid };
    const series: Record<string, number[]> = Object.fromEntries(Object.keys(pids).map((k) => [k, [] as number[]]));
    const times: number[] = [];
    const server = lab.spawn('b', ['iperf3', '-s', '-1', '-J', '-p', String(IPERF3_PORT)], { label: 'b:iperf3-server' });
    await sleep(500);
    log(`iperf3 1 stream for ${seconds} s, RSS every ${SAMPLE_S} s`);
    const t0 = Date.now();
    const client = lab.exec('a', ['iperf3', '-c', MESH_B, '-p', String(IPERF3_PORT), '-t', String(seconds), '-J'], { timeoutMs: seconds * 1_000 + 30_000 });
    let done = false;
    void client.then(() => (done = true));
    while (!done) {
      times.push((Date.now() - t0) / 1_000);
      for (const [k, pid] of Object.entries(pids)) series[k]!.push((rssBytes(pid) ?? 0) / MIB);
      const lastT = times[times.length - 1]!;
      if (Math.floor(lastT) % 30 < SAMPLE_S) log(`${lastT.toFixed(0)} s: ${Object.entries(series).map(([k, v]) => `${k} ${v[v.length - 1]!.toFixed(1)} MiB`).join(', ')}`);
      await sleep(SAMPLE_S * 1_000);
    }
    const c = await client;
    await server.stop();
    let mbps = 0;
    try {
      const j = JSON.parse(c.stdout) as { end?: { sum_received?: { bits_per_second?: number } } };
      mbps = (j.end?.sum_received?.bits_per_second ?? 0) / 1e6;
    } catch {
      mbps = 0;
    }
    const results = Object.entries(series).map(([k, v]) => analyse(k, times, v, seconds * WARMUP_FRACTION));
    out = { seconds, sampleS: SAMPLE_S, warmupS: seconds * WARMUP_FRACTION, mbps, results };
  } finally {
    await lab.teardown();
    await net.cleanup();
  }
  const rs = out['results'] as SoakSeries[];
  process.stdout.write(`iperf3 1 stream for ${String(out['seconds'])} s at ${(out['mbps'] as number).toFixed(0)} Mbit/s\n`);
  for (const r of rs) {
    process.stdout.write(`${r.process}: start ${r.startMiB.toFixed(1)} MiB, after warm-up ${r.afterWarmupMiB.toFixed(1)}, max ${r.maxMiB.toFixed(1)}, end ${r.endMiB.toFixed(1)}; last quarter - first quarter ${r.growthMiB >= 0 ? '+' : ''}${r.growthMiB.toFixed(1)} MiB; slope ${r.slopeMiBPerMin.toFixed(2)} MiB/min\n`);
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
