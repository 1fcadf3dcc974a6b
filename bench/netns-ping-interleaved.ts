/**
 * Ping ratios against wireguard-go that hold on a shared machine (issue 12):
 * ShadowMesh and wireguard-go run side by side in one netns lab
 * (src/demo/netns-lab.ts: relay, a, b) and are pinged in alternating short
 * rounds, so whatever else loads the machine loads both alike.
 *
 * bench/netns-throughput.ts measures its rows one after the other, minutes
 * apart; with other work on the machine the load changes in between, and
 * a ratio of two such pings says more about the load than about the
 * tunnels. Here wireguard-go stays up for the whole run, next to one pair
 * of `shadowmesh up` daemons per phase — direct UDP over TUN, the relay
 * over TUN (--no-direct), direct UDP over TAP — and each phase runs
 * ROUNDS rounds of COUNT pings INTERVAL_S apart on each tunnel, the order
 * flipped every round. Every reply counts towards its tunnel's average,
 * median and p99; each ratio is taken against the wireguard-go replies of
 * the same phase. Under heavy outside load the median ratio is the one to
 * read: a few scheduling stalls of tens of ms move the average and p99 of
 * whichever tunnel they hit.
 *
 * Next to the round trips, each tunnel's CPU time per echo: the run time
 * (/proc schedstat, all threads) of its processes — the two ShadowMesh
 * daemons (and the relay in the relay phase), the two wireguard-go
 * processes — over the phase's rounds, less what they run when idle
 * (measured over IDLE_S just before, nothing pinged), divided by the
 * replies: the work an echo costs, without the timers that run anyway
 * (the idle rate is reported too). It moves far less with other load on
 * the machine than the round trips do, which makes it the figure to
 * compare two builds by.
 *
 * --warm N first sends N pings 2 ms apart through each phase's ShadowMesh
 * tunnel, so the daemons' data path runs as it does after some traffic
 * rather than right after start (bench/profile-notes.md).
 *
 *     node dist/bench/netns-ping-interleaved.js [--rounds R] [--count C] [--interval S] [--warm N]
 *
 * Root only. Progress on stderr; a table on stdout, then one JSON line.
 */
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { benchNumbers } from './bench-args.js';
import { createNetnsLab, type NetnsLab } from '../src/demo/netns-lab.js';
import { measurePing, quantile } from '../testkit/netns-measure.js';
import { setupWireguard } from '../testkit/netns-wireguard.js';
import { labLinkOnly, startLabDaemon, startLabRelay, waitForPeerPath, waitForPing } from '../testkit/netns-shadowmesh.js';
import { createTestNetwork } from '../testkit/test-network.js';
import { runTimeNs } from './proc-stats.js';
import { MESH_A, MESH_B, READY_TIMEOUT_MS } from './netns-udp-pair.js';

/** Seconds of nothing pinged before the rounds, for each tunnel's idle CPU rate. */
const IDLE_S = 3;
/** Warm-up pings go this far apart. */
const WARM_INTERVAL_S = 0.002;

export interface InterleavedOptions {
  rounds: number;
  count: number;
  intervalS: number;
  warm: number;
}

/** The last stdout line. */
export interface InterleavedResult {
  date: string;
  /** The machine's 1-minute load average when the run started and when it ended: how shared it was. */
  loadAvg: [number, number];
  options: InterleavedOptions;
  rows: InterleavedRow[];
}

const PHASES = [
  { name: 'direct UDP (TUN)', dev: 'tun', carrier: 'udp', args: [] },
  { name: 'relay (TUN, --no-direct)', dev: 'tun', carrier: 'relay', args: ['--no-direct'] },
  { name: 'direct UDP (TAP)', dev: 'tap', carrier: 'udp', args: [] },
] as const;

export interface InterleavedRow {
  phase: string;
  tunnel: string;
  replies: number;
  lost: number;
  avgMs: number;
  /** The median: on a loaded machine other work's spikes move the average and p99, much less the median. */
  p50Ms: number;
  p99Ms: number;
  /** CPU µs the tunnel's processes ran per reply over the phase's rounds, less their idle rate (NaN when unknown). */
  cpuUsPerEcho: number;
  /** CPU ms per second the tunnel's processes ran while nothing was pinged. */
  idleCpuMsPerS: number;
}

/** Run time of `pids` together, ns; NaN when one is gone. */
function runTime(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) total += runTimeNs(pid) ?? Number.NaN;
  return total;
}

function log(msg: string): void {
  process.stderr.write(`[netns-ping-interleaved] ${msg}\n`);
}

/** CPU a tunnel's processes ran: over the rounds (ns, `busyS` seconds long) and while idle (ns per second). */
interface TunnelCpu {
  busyNs: number;
  busyS: number;
  idleNsPerS: number;
}

function row(phase: string, tunnel: string, rtts: number[], lost: number, cpu: TunnelCpu): InterleavedRow {
  const avgMs = rtts.length === 0 ? Number.NaN : rtts.reduce((a, b) => a + b, 0) / rtts.length;
  const perEchoNs = (cpu.busyNs - cpu.idleNsPerS * cpu.busyS) / rtts.length;
  return {
    phase, tunnel, replies: rtts.length, lost, avgMs, p50Ms: quantile(rtts, 0.5), p99Ms: quantile(rtts, 0.99),
    cpuUsPerEcho: rtts.length === 0 ? Number.NaN : perEchoNs / 1_000, idleCpuMsPerS: cpu.idleNsPerS / 1e6,
  };
}

async function phase(lab: NetnsLab, wg: { ip: string; pids: readonly number[] }, ph: (typeof PHASES)[number], o: InterleavedOptions): Promise<InterleavedRow[]> {
  const net = await createTestNetwork();
  const started: Array<{ stop(): Promise<number | string> }> = [];
  try {
    const ma = await net.addMember('a', { address: `${MESH_A}/24` });
    const mb = await net.addMember('b', { address: `${MESH_B}/24` });
    const relay = await startLabRelay(lab, 'relay', { caFile: net.caFile });
    started.push(relay);
    const common = { relay, caFile: net.caFile, dev: ph.dev, ifname: `sm${ph.dev}0`, args: [...ph.args] as string[] } as const;
    const da = await startLabDaemon(lab, 'a', { ...common, args: labLinkOnly(lab, 'a', common.args), certFile: ma.certFile, dir: ma.dir });
    started.push(da);
    const db = await startLabDaemon(lab, 'b', { ...common, args: labLinkOnly(lab, 'b', common.args), certFile: mb.certFile, dir: mb.dir });
    started.push(db);
    if ((await waitForPing(lab, 'a', MESH_B, READY_TIMEOUT_MS)) === null) throw new Error(`${ph.name}: no ping across ShadowMesh`);
    if (ph.carrier !== 'relay') {
      const keep = lab.spawn('a', ['ping', '-n', '-i', '0.2', '-W', '1', MESH_B], { label: 'a:keep-ping' });
      try {
        for (const [d, peer] of [[da, 'b'], [db, 'a']] as const) {
          const p = await waitForPeerPath(d, peer, (x) => x.path === 'direct' && x.carrier === ph.carrier, READY_TIMEOUT_MS);
          if (p === null) throw new Error(`${ph.name}: no direct ${ph.carrier} path within ${READY_TIMEOUT_MS} ms`);
        }
      } finally {
        await keep.stop();
      }
    }
    if (o.warm > 0) {
      log(`${ph.name}: warm-up, ${o.warm} pings`);
      await measurePing(lab, 'a', MESH_B, { count: o.warm, intervalS: WARM_INTERVAL_S });
    }
    const sm: number[] = [];
    const wgRtts: number[] = [];
    let smLost = 0;
    let wgLost = 0;
    log(`${ph.name}: ${o.rounds} rounds of ${o.count} pings each way`);
    const smPids = [da.proc.pid, db.proc.pid, ...(ph.carrier === 'relay' ? [relay.proc.pid] : [])];
    const idleStart = { sm: runTime(smPids), wg: runTime(wg.pids), at: performance.now() };
    await new Promise((resolve) => setTimeout(resolve, IDLE_S * 1_000));
    const idleS = (performance.now() - idleStart.at) / 1_000;
    const idle = { sm: (runTime(smPids) - idleStart.sm) / idleS, wg: (runTime(wg.pids) - idleStart.wg) / idleS };
    const cpuAtStart = { sm: runTime(smPids), wg: runTime(wg.pids), at: performance.now() };
    for (let r = 0; r < o.rounds; r++) {
      const order = r % 2 === 0 ? (['wg', 'sm'] as const) : (['sm', 'wg'] as const);
      for (const who of order) {
        const s = await measurePing(lab, 'a', who === 'wg' ? wg.ip : MESH_B, { count: o.count, intervalS: o.intervalS });
        (who === 'wg' ? wgRtts : sm).push(...s.rttsMs);
        if (who === 'wg') wgLost += s.transmitted - s.received;
        else smLost += s.transmitted - s.received;
      }
    }
    const busyS = (performance.now() - cpuAtStart.at) / 1_000;
    return [
      row(ph.name, 'wireguard-go', wgRtts, wgLost, { busyNs: runTime(wg.pids) - cpuAtStart.wg, busyS, idleNsPerS: idle.wg }),
      row(ph.name, `ShadowMesh ${ph.name}`, sm, smLost, { busyNs: runTime(smPids) - cpuAtStart.sm, busyS, idleNsPerS: idle.sm }),
    ];
  } finally {
    for (const p of started.reverse()) await p.stop();
    await net.cleanup();
  }
}

function renderTable(rows: readonly InterleavedRow[], o: InterleavedOptions): string {
  const f = (n: number): string => (Number.isFinite(n) ? n.toFixed(3) : '-');
  const lines = [
    `${o.rounds} rounds × ${o.count} pings ${o.intervalS * 1000} ms apart per tunnel and phase, order flipped each round${o.warm > 0 ? `; ${o.warm} warm-up pings first` : ''}.`,
    '',
    '| phase | tunnel | replies | lost | avg ms | median ms | p99 ms | avg ÷ wg-go | median ÷ wg-go | p99 ÷ wg-go | CPU µs per echo | CPU ÷ wg-go | idle CPU ms/s |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (let i = 0; i + 1 < rows.length; i += 2) {
    const wg = rows[i] as InterleavedRow;
    const sm = rows[i + 1] as InterleavedRow;
    const us = (n: number | undefined): string => (n !== undefined && Number.isFinite(n) ? n.toFixed(0) : '-');
    const ms = (n: number | undefined): string => (n !== undefined && Number.isFinite(n) ? n.toFixed(1) : '-');
    const cpuRatio = sm.cpuUsPerEcho !== undefined && wg.cpuUsPerEcho !== undefined ? sm.cpuUsPerEcho / wg.cpuUsPerEcho : Number.NaN;
    lines.push(`| ${wg.phase} | wireguard-go | ${wg.replies} | ${wg.lost} | ${f(wg.avgMs)} | ${f(wg.p50Ms)} | ${f(wg.p99Ms)} | 1.00 | 1.00 | 1.00 | ${us(wg.cpuUsPerEcho)} | 1.00 | ${ms(wg.idleCpuMsPerS)} |`);
    lines.push(`| ${sm.phase} | ShadowMesh | ${sm.replies} | ${sm.lost} | ${f(sm.avgMs)} | ${f(sm.p50Ms)} | ${f(sm.p99Ms)} | ${(sm.avgMs / wg.avgMs).toFixed(2)} | ${(sm.p50Ms / wg.p50Ms).toFixed(2)} | ${(sm.p99Ms / wg.p99Ms).toFixed(2)} | ${us(sm.cpuUsPerEcho)} | ${Number.isFinite(cpuRatio) ? cpuRatio.toFixed(2) : '-'} | ${ms(sm.idleCpuMsPerS)} |`);
  }
  return lines.join('\n');
}

/** The BENCHMARKS.md section (bench/run.ts). */
export function renderInterleavedSection(r: InterleavedResult | null, failure?: string, args = ''): string {
  const head = `## Ping against wireguard-go, interleaved (network namespaces)

Command: \`npm run bench\` (as root; runs \`node dist/bench/netns-ping-interleaved.js${args}\`).

wireguard-go and one pair of \`shadowmesh up\` daemons run side by side in the lab above and are pinged from
\`a\` in alternating short rounds, so load from other work on the machine falls on both alike; each ratio is
against the wireguard-go replies of the same phase. Read the median ratio when the machine is busy.
`;
  if (r === null) return `${head}\nNot measured: ${failure ?? 'unknown failure'}.\n`;
  const load = `Run on ${r.date}; the machine's 1-minute load average was ${r.loadAvg[0].toFixed(1)} at the start and ${r.loadAvg[1].toFixed(1)} at the end.`;
  return `${head}\n${load}\n${renderTable(r.rows, r.options)}\n`;
}

const USAGE = `usage: node dist/bench/netns-ping-interleaved.js [--rounds R (10)] [--count C (20)] [--interval S (0.01)] [--warm N (0)]
Pings wireguard-go and ShadowMesh side by side in alternating rounds in a netns lab (root only);
a table on stdout, then one JSON line.
`;

async function main(): Promise<void> {
  const a = benchNumbers(USAGE, {
    rounds: { default: 10, min: 1, max: 100 }, count: { default: 20, min: 1, max: 1000 },
    interval: { default: 0.01, min: 0.002, max: 1 }, warm: { default: 0, min: 0, max: 20_000 },
  });
  if (a === null) return;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new Error('needs root (network namespaces)');
  const o = { rounds: a.rounds, count: a.count, intervalS: a.interval, warm: a.warm };
  const loadAtStart = loadavg()[0] ?? 0;
  const lab = await createNetnsLab({ nodes: ['relay', 'a', 'b'] });
  const rows: InterleavedRow[] = [];
  try {
    const wg = await setupWireguard(lab, ['a', 'b']);
    if ((await waitForPing(lab, 'a', wg.ip('b'), READY_TIMEOUT_MS)) === null) throw new Error('no ping across wireguard-go');
    for (const ph of PHASES) rows.push(...(await phase(lab, { ip: wg.ip('b'), pids: [wg.pid('a'), wg.pid('b')] }, ph, o)));
  } finally {
    await lab.teardown();
  }
  process.stdout.write(`${renderTable(rows, o)}\n${JSON.stringify({ date: new Date().toISOString().slice(0, 10), loadAvg: [loadAtStart, loadavg()[0] ?? 0], options: o, rows } satisfies InterleavedResult)}\n`);
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
