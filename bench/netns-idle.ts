/**
 * What two idle daemons cost, and what the first packet after an idle spell
 * costs (issue 12; docs/architecture.md "Quiet peers" and "Timers"): the two
 * `shadowmesh up` daemons of a direct UDP path (TUN, with the WSS path that
 * stays beside it as the standby) and the relay, in a netns lab
 * (src/demo/netns-lab.ts: relay, a, b).
 *
 * Phase 1, idle: nothing is sent for SETTLE seconds (long enough for the
 * pair to go quiet), then for SECONDS each process's run time (from
 * /proc/PID/task/TID/schedstat) and voluntary context switches (each one a
 * wake-up) are read, per second.
 *
 * Phase 2, wake: ROUNDS times, SETTLE seconds of nothing, then 5 pings
 * 200 ms apart; the first ping's round trip (the one that wakes both ends)
 * and the median of the other four.
 *
 *     node dist/bench/netns-idle.js [--seconds S (30)] [--settle S (15)] [--rounds R (6)]
 *
 * Root only. Progress on stderr; a table on stdout, then one JSON line.
 */
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { createNetnsLab, type NetnsLab } from '../src/demo/netns-lab.js';
import { benchNumbers } from './bench-args.js';
import { runTimeNs, voluntarySwitches } from './proc-stats.js';
import { measurePing, quantile } from '../testkit/netns-measure.js';
import { MESH_B, startUdpPair } from './netns-udp-pair.js';

const WAKE_PINGS = 5;
const WAKE_INTERVAL_S = 0.2;

export interface IdleRow {
  process: string;
  cpuMsPerS: number;
  wakeupsPerS: number;
}

export interface WakeRound {
  firstMs: number;
  restMedianMs: number;
}

export interface IdleResult {
  date: string;
  loadAvg: [number, number];
  options: { seconds: number; settle: number; rounds: number };
  idle: IdleRow[];
  wake: WakeRound[];
}

/** The measurement as markdown: the idle table and the first-ping line. */
export function renderIdleTable(r: IdleResult): string {
  const firsts = r.wake.map((w) => w.firstMs);
  const rests = r.wake.map((w) => w.restMedianMs);
  return [
    `Idle for ${r.options.settle} s, then ${r.options.seconds} s measured:`,
    '',
    '| process | CPU ms/s | wake-ups/s |',
    '|---|---|---|',
    ...r.idle.map((x) => `| ${x.process} | ${x.cpuMsPerS.toFixed(2)} | ${x.wakeupsPerS.toFixed(1)} |`),
    '',
    r.wake.length === 0
      ? 'No wake rounds.'
      : `First ping after ${r.options.settle} s idle, ${r.wake.length} rounds: median ${quantile(firsts, 0.5).toFixed(3)} ms ` +
        `(${firsts.map((x) => x.toFixed(3)).join(', ')}); the next ${WAKE_PINGS - 1}, median of the rounds' medians ${quantile(rests, 0.5).toFixed(3)} ms.`,
  ].join('\n');
}

/** The BENCHMARKS.md section of `npm run bench`. */
export function renderIdleSection(r: IdleResult | null, failure?: string): string {
  const head = `## Idle daemons and the first ping after (network namespaces)

Command: \`npm run bench\` (as root; runs \`node dist/bench/netns-idle.js\`).

Two daemons on a direct UDP path (with the WSS path beside it) and the relay, sending nothing: CPU run time and
voluntary context switches (wake-ups) per second of each process, then the round trip of the first ping after
each of several idle spells, which wakes both ends (docs/architecture.md "Quiet peers").
`;
  if (r === null) return `${head}\nNot measured: ${failure ?? 'unknown failure'}.\n`;
  const load = `Run on ${r.date}; the machine's 1-minute load average was ${r.loadAvg[0].toFixed(1)} at the start and ${r.loadAvg[1].toFixed(1)} at the end.`;
  return `${head}\n${load}\n\n${renderIdleTable(r)}\n`;
}

function log(msg: string): void {
  process.stderr.write(`[netns-idle] ${msg}\n`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function measure(lab: NetnsLab, o: { seconds: number; settle: number; rounds: number }): Promise<{ idle: IdleRow[]; wake: WakeRound[] }> {
  const stack: Array<{ stop(): Promise<unknown> }> = [];
  try {
    const pair = await startUdpPair(lab, stack);
    const pids: Record<string, number> = { 'daemon a': pair.aPid, 'daemon b': pair.bPid, relay: pair.relayPid };
    log(`idle: ${o.settle} s to settle, then ${o.seconds} s measured`);
    await sleep(o.settle * 1_000);
    const read = (pid: number): { ns: number; sw: number } => ({ ns: runTimeNs(pid) ?? Number.NaN, sw: voluntarySwitches(pid) ?? Number.NaN });
    const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, read(pid)]));
    const t0 = performance.now();
    await sleep(o.seconds * 1_000);
    const dt = (performance.now() - t0) / 1_000;
    const idle: IdleRow[] = Object.entries(pids).map(([k, pid]) => {
      const now = read(pid);
      return { process: k, cpuMsPerS: (now.ns - before[k]!.ns) / 1e6 / dt, wakeupsPerS: (now.sw - before[k]!.sw) / dt };
    });
    const wake: WakeRound[] = [];
    for (let r = 0; r < o.rounds; r++) {
      log(`wake round ${r + 1}/${o.rounds}: ${o.settle} s of nothing, then ${WAKE_PINGS} pings`);
      await sleep(o.settle * 1_000);
      const s = await measurePing(lab, 'a', MESH_B, { count: WAKE_PINGS, intervalS: WAKE_INTERVAL_S });
      if (s.rttsMs.length < 2) throw new Error(`wake round ${r + 1}: ${s.received} of ${WAKE_PINGS} pings answered`);
      wake.push({ firstMs: s.rttsMs[0]!, restMedianMs: quantile(s.rttsMs.slice(1), 0.5) });
    }
    return { idle, wake };
  } finally {
    for (const p of stack.reverse()) await p.stop();
  }
}

const USAGE = `usage: node dist/bench/netns-idle.js [--seconds S (30)] [--settle S (15)] [--rounds R (6)]
CPU and wake-ups per second of two idle daemons on a direct UDP path and of the relay, then the round trip of
the first ping after an idle spell, in a netns lab (root only).
`;

async function main(): Promise<void> {
  const a = benchNumbers(USAGE, {
    seconds: { default: 30, min: 1, max: 3_600 }, settle: { default: 15, min: 0, max: 600 }, rounds: { default: 6, min: 0, max: 100 },
  });
  if (a === null) return;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new Error('needs root (network namespaces)');
  const loadAtStart = loadavg()[0] ?? 0;
  const lab = await createNetnsLab({ nodes: ['relay', 'a', 'b'] });
  let result: { idle: IdleRow[]; wake: WakeRound[] };
  try {
    result = await measure(lab, a);
  } finally {
    await lab.teardown();
  }
  const r: IdleResult = { date: new Date().toISOString().slice(0, 10), loadAvg: [loadAtStart, loadavg()[0] ?? 0], options: a, ...result };
  process.stdout.write(`${renderIdleTable(r)}\n${JSON.stringify(r)}\n`);
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
