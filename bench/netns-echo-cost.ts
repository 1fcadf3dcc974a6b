/**
 * What one ping echo costs each tunnel process, from /proc/PID/stat (issue 12,
 * "Where a ping's round trip goes"): CPU time (user + system) and minor page
 * faults per echo, for the two `shadowmesh up` daemons on a direct UDP path
 * (TUN) and the two wireguard-go processes beside them in the same netns lab
 * (src/demo/netns-lab.ts: relay, a, b).
 *
 * After WARM pings to settle both tunnels, each round sends COUNT pings
 * INTERVAL_S apart through one tunnel and then the other (order flipped every
 * round), reading the four processes' counters around each burst. Minor
 * faults count fresh pages a process touches: in a Node daemon mostly V8's
 * young generation and per-datagram buffers, so they show per-packet
 * allocation that a CPU profile spreads thin.
 *
 *     node dist/bench/netns-echo-cost.js [--rounds R] [--count C] [--interval S] [--warm N]
 *
 * Root only. SHADOWMESH_NATIVE_AEAD=off in the environment runs the daemons
 * with node:crypto instead of the AEAD context addon (a before/after pair).
 * Progress on stderr; a table on stdout, then one JSON line.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { createNetnsLab, type NetnsLab } from '../src/demo/netns-lab.js';
import { benchNumbers } from './bench-args.js';
import { measurePing } from '../testkit/netns-measure.js';
import { setupWireguard } from '../testkit/netns-wireguard.js';
import { waitForPing } from '../testkit/netns-shadowmesh.js';
import { MESH_B, READY_TIMEOUT_MS, startUdpPair } from './netns-udp-pair.js';

/** Warm-up pings go this far apart. */
const WARM_INTERVAL_S = 0.002;
/** sysconf(_SC_CLK_TCK) on Linux: /proc stat times are in these ticks. */
const CLOCK_TICKS_PER_S = 100;

interface Counters {
  cpuS: number;
  minorFaults: number;
}

/** utime + stime and minflt of one process; fields 14, 15 and 10 of /proc/PID/stat. */
function counters(pid: number): Counters {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): minflt is field 10, utime 14, stime 15.
  return { cpuS: (Number(rest[11]) + Number(rest[12])) / CLOCK_TICKS_PER_S, minorFaults: Number(rest[7]) };
}

export interface EchoCostRow {
  tunnel: string;
  node: string;
  echoes: number;
  /** CPU microseconds per echo (user + system, clock-tick resolution summed over all rounds). */
  cpuUsPerEcho: number;
  minorFaultsPerEcho: number;
}

function log(msg: string): void {
  process.stderr.write(`[netns-echo-cost] ${msg}\n`);
}

async function measure(lab: NetnsLab, wgIp: string, wgPids: Record<string, number>, o: { rounds: number; count: number; intervalS: number; warm: number }): Promise<EchoCostRow[]> {
  const stack: Array<{ stop(): Promise<unknown> }> = [];
  try {
    const pair = await startUdpPair(lab, stack);
    log(`warm-up, ${o.warm} pings through each tunnel`);
    await measurePing(lab, 'a', MESH_B, { count: o.warm, intervalS: WARM_INTERVAL_S });
    await measurePing(lab, 'a', wgIp, { count: o.warm, intervalS: WARM_INTERVAL_S });
    const pids: Record<string, Record<string, number>> = {
      ShadowMesh: { a: pair.aPid, b: pair.bPid },
      'wireguard-go': wgPids,
    };
    const sum: Record<string, Record<string, Counters & { echoes: number }>> = {};
    for (const t of Object.keys(pids)) sum[t] = { a: { cpuS: 0, minorFaults: 0, echoes: 0 }, b: { cpuS: 0, minorFaults: 0, echoes: 0 } };
    log(`${o.rounds} rounds of ${o.count} pings ${o.intervalS * 1000} ms apart per tunnel`);
    for (let r = 0; r < o.rounds; r++) {
      const order = r % 2 === 0 ? ['wireguard-go', 'ShadowMesh'] : ['ShadowMesh', 'wireguard-go'];
      for (const t of order) {
        const before = { a: counters(pids[t]!['a']!), b: counters(pids[t]!['b']!) };
        const s = await measurePing(lab, 'a', t === 'ShadowMesh' ? MESH_B : wgIp, { count: o.count, intervalS: o.intervalS });
        for (const n of ['a', 'b'] as const) {
          const after = counters(pids[t]![n]!);
          const acc = sum[t]![n]!;
          acc.cpuS += after.cpuS - before[n].cpuS;
          acc.minorFaults += after.minorFaults - before[n].minorFaults;
          acc.echoes += s.received;
        }
      }
    }
    const rows: EchoCostRow[] = [];
    for (const [t, byNode] of Object.entries(sum)) {
      for (const [n, acc] of Object.entries(byNode)) {
        rows.push({ tunnel: t, node: n, echoes: acc.echoes, cpuUsPerEcho: (acc.cpuS * 1e6) / acc.echoes, minorFaultsPerEcho: acc.minorFaults / acc.echoes });
      }
    }
    return rows;
  } finally {
    for (const p of stack.reverse()) await p.stop();
  }
}

const USAGE = `usage: node dist/bench/netns-echo-cost.js [--rounds R (10)] [--count C (50)] [--interval S (0.01)] [--warm N (200)]
CPU time and minor page faults per ping echo of each daemon, ShadowMesh beside wireguard-go, in a netns lab (root only).
`;

async function main(): Promise<void> {
  const a = benchNumbers(USAGE, {
    rounds: { default: 10, min: 1, max: 100 }, count: { default: 50, min: 1, max: 1000 },
    interval: { default: 0.01, min: 0.002, max: 1 }, warm: { default: 200, min: 0, max: 20_000 },
  });
  if (a === null) return;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new Error('needs root (network namespaces)');
  const o = { rounds: a.rounds, count: a.count, intervalS: a.interval, warm: a.warm };
  const loadAtStart = loadavg()[0] ?? 0;
  const lab = await createNetnsLab({ nodes: ['relay', 'a', 'b'] });
  let rows: EchoCostRow[];
  try {
    const wg = await setupWireguard(lab, ['a', 'b']);
    if ((await waitForPing(lab, 'a', wg.ip('b'), READY_TIMEOUT_MS)) === null) throw new Error('no ping across wireguard-go');
    rows = await measure(lab, wg.ip('b'), { a: wg.pid('a'), b: wg.pid('b') }, o);
  } finally {
    await lab.teardown();
  }
  const aead = process.env['SHADOWMESH_NATIVE_AEAD'] === 'off' ? 'node:crypto (SHADOWMESH_NATIVE_AEAD=off)' : 'the AEAD context addon when built';
  const lines = [
    `Direct UDP (TUN), ${o.rounds} rounds × ${o.count} pings ${o.intervalS * 1000} ms apart per tunnel after ${o.warm} warm-up pings; ShadowMesh AEAD: ${aead}.`,
    '',
    '| tunnel | process | echoes | CPU µs per echo | minor faults per echo |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.tunnel} | ${r.node} | ${r.echoes} | ${r.cpuUsPerEcho.toFixed(0)} | ${r.minorFaultsPerEcho.toFixed(2)} |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n${JSON.stringify({ date: new Date().toISOString().slice(0, 10), loadAvg: [loadAtStart, loadavg()[0] ?? 0], aead, options: o, rows })}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
