/**
 * How far a Node.js data path can get, against wireguard-go and ShadowMesh
 * in one run (issue 12's latency goals). In one netns lab (relay, a, b):
 *
 *  - wireguard-go between a and b (testkit/netns-wireguard.ts);
 *  - ShadowMesh daemons on a direct UDP path (TUN, on the lab link);
 *  - three pairs of bench/floor-forwarder.ts: a TUN device and a UDP socket
 *    joined through the same addon the daemon uses, with no framework at
 *    all, sealing nothing ('none'), sealing with the data plane's AEAD
 *    contexts ('native') or with node:crypto per packet ('js').
 *
 * Each round pings every tunnel COUNT times INTERVAL_S apart, the order
 * rotated every round, so outside load falls on all alike; ratios are
 * against the wireguard-go replies of the same run. The floor rows say how
 * much of ShadowMesh's round trip is Node.js and the addon (the 'none'
 * row), how much the AEAD adds ('native'), and so how much is left in the
 * daemon's own per-packet path (BENCHMARKS.md "The floor of a Node.js data
 * path").
 *
 *     node dist/bench/netns-floor.js [--rounds R] [--count C] [--interval S]
 *
 * Root only. Progress on stderr; a table on stdout, then one JSON line.
 */
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { benchNumbers } from './bench-args.js';
import { createNetnsLab, type NetnsLab } from '../src/demo/netns-lab.js';
import { measurePing, quantile } from '../testkit/netns-measure.js';
import { setupWireguard } from '../testkit/netns-wireguard.js';
import { waitForPing } from '../testkit/netns-shadowmesh.js';
import { MESH_B, READY_TIMEOUT_MS, startUdpPair } from './netns-udp-pair.js';

const FORWARDER = fileURLToPath(new URL('./floor-forwarder.js', import.meta.url));
const FLOORS = [
  { crypto: 'none', subnet: '10.77.1.', port: 40_001 },
  { crypto: 'native', subnet: '10.77.2.', port: 40_002 },
  { crypto: 'js', subnet: '10.77.3.', port: 40_003 },
] as const;

interface FloorOptions { rounds: number; count: number; intervalS: number }

export interface FloorRow {
  tunnel: string;
  replies: number;
  lost: number;
  avgMs: number;
  p50Ms: number;
  p99Ms: number;
}

function log(msg: string): void {
  process.stderr.write(`[netns-floor] ${msg}\n`);
}

function row(tunnel: string, rtts: number[], lost: number): FloorRow {
  const avgMs = rtts.length === 0 ? Number.NaN : rtts.reduce((a, b) => a + b, 0) / rtts.length;
  return { tunnel, replies: rtts.length, lost, avgMs, p50Ms: quantile(rtts, 0.5), p99Ms: quantile(rtts, 0.99) };
}

async function startFloors(lab: NetnsLab): Promise<void> {
  for (const f of FLOORS) {
    for (const [node, peer, host] of [['a', 'b', 1], ['b', 'a', 2]] as const) {
      lab.spawn(node, [process.execPath, FORWARDER, '--dev', `smfl${f.crypto.slice(0, 3)}0`, '--address', `${f.subnet}${host}/24`,
        '--local', lab.ip(node), '--peer', lab.ip(peer), '--port', String(f.port), '--crypto', f.crypto], { label: `${node}:floor-${f.crypto}` });
    }
    if ((await waitForPing(lab, 'a', `${f.subnet}2`, READY_TIMEOUT_MS)) === null) throw new Error(`floor ${f.crypto}: no ping across`);
  }
}

const USAGE = 'usage: node dist/bench/netns-floor.js [--rounds R] [--count C] [--interval S]   (root)\n';

async function main(): Promise<void> {
  const n = benchNumbers(USAGE, {
    rounds: { default: 10, min: 1, max: 100 }, count: { default: 20, min: 1, max: 1000 }, interval: { default: 0.01, min: 0.002, max: 1 },
  });
  if (n === null) return;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new Error('needs root (network namespaces)');
  const o: FloorOptions = { rounds: n.rounds, count: n.count, intervalS: n.interval };
  const loadStart = loadavg()[0]!;
  const lab = await createNetnsLab({ nodes: ['relay', 'a', 'b'] });
  const stack: Array<{ stop(): Promise<unknown> }> = [];
  let rows: FloorRow[] = [];
  try {
    const wg = await setupWireguard(lab, ['a', 'b']);
    await startUdpPair(lab, stack);
    await startFloors(lab);
    const tunnels = [
      { name: 'wireguard-go', ip: wg.ip('b') },
      { name: 'ShadowMesh direct UDP (TUN)', ip: MESH_B },
      ...FLOORS.map((f) => ({ name: `floor: addon only, AEAD ${f.crypto}`, ip: `${f.subnet}2` })),
    ];
    const rtts = tunnels.map(() => [] as number[]);
    const lost = tunnels.map(() => 0);
    log(`${o.rounds} rounds of ${o.count} pings through ${tunnels.length} tunnels`);
    for (let r = 0; r < o.rounds; r++) {
      for (let k = 0; k < tunnels.length; k++) {
        const i = (k + r) % tunnels.length;
        const s = await measurePing(lab, 'a', tunnels[i]!.ip, { count: o.count, intervalS: o.intervalS });
        rtts[i]!.push(...s.rttsMs);
        lost[i]! += s.transmitted - s.received;
      }
    }
    rows = tunnels.map((t, i) => row(t.name, rtts[i]!, lost[i]!));
  } finally {
    for (const p of stack.reverse()) await p.stop();
    await lab.teardown();
  }
  const wgRow = rows[0]!;
  const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : '-');
  const ratio = (a: number, b: number): string => (Number.isFinite(a) && b > 0 ? (a / b).toFixed(2) : '-');
  const lines = [
    `${o.rounds} rounds × ${o.count} pings ${o.intervalS * 1_000} ms apart per tunnel, order rotated each round; load average ${loadStart.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}.`,
    '',
    '| tunnel | replies | lost | avg ms | median ms | p99 ms | median ÷ wg-go | p99 ÷ wg-go |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.tunnel} | ${r.replies} | ${r.lost} | ${f(r.avgMs)} | ${f(r.p50Ms)} | ${f(r.p99Ms)} | ${ratio(r.p50Ms, wgRow.p50Ms)} | ${ratio(r.p99Ms, wgRow.p99Ms)} |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  process.stdout.write(`${JSON.stringify({ date: new Date().toISOString().slice(0, 10), node: process.version, loadAvg: [loadStart, loadavg()[0]], options: o, rows })}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
