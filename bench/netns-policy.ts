/**
 * What network-policy enforcement costs on the data path (docs/architecture.md
 * "Network policy"), in network namespaces: the netns throughput harness's
 * lab (relay, a, b on one bridge; bench/netns-throughput.ts), ShadowMesh on
 * a direct UDP path over TUN, measured side by side in one run
 *
 *   - without a policy (the data plane's one null check per packet),
 *   - with a signed 100-rule policy on both daemons whose LAST rule allows
 *     the flow: the 99 before it each match the protocol and port and fail
 *     only on the sender's group, the worst case of the first-match walk.
 *
 * The walk runs for the first packet of a flow; every later packet in
 * either direction is a connection-table lookup (src/policy/conntrack.ts),
 * so what a bulk transfer mostly pays is the lookup and the 5-tuple parse.
 * The two rows alternate ROUNDS times (none, policy, none, policy, ...) so a
 * drift in the machine's load hits both; each row reports the mean and the
 * range of its rounds, iperf3 TCP single stream and 4 streams, and the CPU
 * seconds per 10^9 bytes of the receiving daemon.
 *
 *     node dist/bench/netns-policy.js [--seconds N] [--rounds N]
 *
 * Progress goes to stderr; the last stdout line is the JSON result
 * (PolicyBenchResult) that bench/run.ts renders with renderPolicySection.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createNetnsLab, type NetnsLab } from '../src/demo/netns-lab.js';
import { encodeSignedPolicy, signPolicy } from '../src/policy/ca-policy.js';
import { IPERF3_PORT, measureIperf3 } from '../testkit/netns-measure.js';
import { startLabDaemon, startLabRelay, upAvailable, waitForPeerPath, waitForPing } from '../testkit/netns-shadowmesh.js';
import { createTestNetwork } from '../testkit/test-network.js';
import { cpuTimes } from './proc-stats.js';

/** Per iperf3 run, as in bench/netns-throughput.ts: past slow start, a stable average. */
const SECONDS_DEFAULT = 10;
/** Two rounds per row: enough to see whether the difference exceeds the round-to-round spread. */
const ROUNDS_DEFAULT = 2;
/** Rules in the policy; the last one allows the flow. */
export const POLICY_RULES = 100;
const TUNNEL_READY_TIMEOUT_MS = 30_000;
const DIRECT_READY_TIMEOUT_MS = 30_000;
const MESH_A = '10.10.10.3';
const MESH_B = '10.10.10.4';

export interface PolicyRow {
  name: string;
  available: boolean;
  reason?: string;
  /** One entry per round. */
  singleMbps: number[];
  fourMbps: number[];
  /** Receiving daemon, CPU s per 10^9 bytes, single stream. */
  receiverCpuSPerGb: number[];
}

export interface PolicyBenchResult {
  date: string;
  cpus: string;
  node: string;
  seconds: number;
  rounds: number;
  rules: number;
  rows: PolicyRow[];
  skipped?: string;
}

function log(msg: string): void {
  process.stderr.write(`[netns-policy] ${msg}\n`);
}

/** 99 rules that match tcp/5201 and fail on the sender's group, then one that allows everything. */
export function worstCasePolicy(rules: number = POLICY_RULES): string {
  const lines = ['rules:'];
  for (let i = 1; i < rules; i++) lines.push(`  - name: miss-${i}`, `    from: group:g${i}`, '    to: any', '    proto: tcp', `    ports: [${IPERF3_PORT}]`);
  lines.push('  - name: allow-last', '    from: any', '    to: any', '    proto: any');
  return `${lines.join('\n')}\n`;
}

async function round(lab: NetnsLab, withPolicy: boolean, seconds: number): Promise<{ single: number; four: number; cpu: number } | string> {
  const net = await createTestNetwork();
  const started: Array<{ stop(): Promise<number | string> }> = [];
  try {
    const a = await net.addMember('a', { address: `${MESH_A}/24` });
    const b = await net.addMember('b', { address: `${MESH_B}/24` });
    const args: string[] = [];
    if (withPolicy) {
      const file = join(net.dir, 'policy.signed');
      writeFileSync(file, encodeSignedPolicy(await signPolicy(net.caDir, worstCasePolicy())));
      args.push('--policy', file);
    }
    const relay = await startLabRelay(lab, 'relay', { caFile: net.caFile });
    started.push(relay);
    const common = { relay, caFile: net.caFile, dev: 'tun', ifname: 'smtun0', args } as const;
    const da = await startLabDaemon(lab, 'a', { ...common, certFile: a.certFile, dir: a.dir });
    started.push(da);
    const db = await startLabDaemon(lab, 'b', { ...common, certFile: b.certFile, dir: b.dir });
    started.push(db);
    if ((await waitForPing(lab, 'a', MESH_B, TUNNEL_READY_TIMEOUT_MS)) === null) return `no ping reply across the tunnel within ${TUNNEL_READY_TIMEOUT_MS} ms`;
    const keep = lab.spawn('a', ['ping', '-n', '-i', '0.2', '-W', '1', MESH_B], { label: 'a:keep-ping' });
    try {
      for (const [d, peer] of [[da, 'b'], [db, 'a']] as const) {
        if ((await waitForPeerPath(d, peer, (x) => x.path === 'direct' && x.carrier === 'udp', DIRECT_READY_TIMEOUT_MS)) === null) return `no direct udp path within ${DIRECT_READY_TIMEOUT_MS} ms`;
      }
    } finally {
      await keep.stop();
    }
    const cpu0 = cpuTimes(db.proc.pid);
    const one = await measureIperf3(lab, 'a', 'b', MESH_B, { seconds });
    const cpu1 = cpuTimes(db.proc.pid);
    const four = await measureIperf3(lab, 'a', 'b', MESH_B, { seconds, parallel: 4 });
    const cpu = cpu0 !== null && cpu1 !== null && one.receivedBytes > 0 ? ((cpu1.userS + cpu1.systemS) - (cpu0.userS + cpu0.systemS)) / (one.receivedBytes / 1e9) : Number.NaN;
    if (withPolicy) {
      const s = (await db.status()) as { policyVersion: number | null };
      if (s.policyVersion === null) return 'the receiving daemon reports no policy in force';
    }
    return { single: one.bitsPerSecond / 1e6, four: four.bitsPerSecond / 1e6, cpu };
  } catch (err) {
    return (err as Error).message.split('\n')[0] ?? 'failed';
  } finally {
    for (const p of started.reverse()) await p.stop();
    await net.cleanup();
  }
}

async function main(): Promise<void> {
  const arg = (flag: string, dflt: number): number => {
    const i = process.argv.indexOf(flag);
    return i > 0 ? Number(process.argv[i + 1]) : dflt;
  };
  const seconds = arg('--seconds', SECONDS_DEFAULT);
  const rounds = arg('--rounds', ROUNDS_DEFAULT);
  if (!(seconds > 0 && seconds <= 60)) throw new Error(`--seconds: expected 1..60, got ${seconds}`);
  if (!(Number.isInteger(rounds) && rounds >= 1 && rounds <= 10)) throw new Error(`--rounds: expected 1..10, got ${rounds}`);
  const rows: PolicyRow[] = [
    { name: 'ShadowMesh direct UDP (TUN), no policy', available: true, singleMbps: [], fourMbps: [], receiverCpuSPerGb: [] },
    { name: `ShadowMesh direct UDP (TUN), ${POLICY_RULES}-rule policy, last rule allows`, available: true, singleMbps: [], fourMbps: [], receiverCpuSPerGb: [] },
  ];
  const result: PolicyBenchResult = { date: new Date().toISOString().slice(0, 10), cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`, node: process.version, seconds, rounds, rules: POLICY_RULES, rows };
  if (typeof process.getuid === 'function' && process.getuid() !== 0) result.skipped = 'needs root (network namespaces)';
  else if (!upAvailable()) result.skipped = 'this build has no `shadowmesh up` daemon';
  else {
    const lab = await createNetnsLab({ nodes: ['relay', 'a', 'b'] });
    try {
      for (let r = 0; r < rounds; r++) {
        for (const [i, row] of rows.entries()) {
          if (!row.available) continue;
          log(`round ${r + 1}/${rounds}: ${row.name}`);
          const m = await round(lab, i === 1, seconds);
          if (typeof m === 'string') {
            row.available = false;
            row.reason = m;
            continue;
          }
          row.singleMbps.push(m.single);
          row.fourMbps.push(m.four);
          row.receiverCpuSPerGb.push(m.cpu);
          log(`${row.name}: ${JSON.stringify(m)}`);
        }
      }
    } finally {
      await lab.teardown();
    }
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

// ---------------------------------------------------------------- BENCHMARKS.md section

const mean = (xs: readonly number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
const fmt = (x: number, digits: number): string => (Number.isFinite(x) ? x.toFixed(digits) : '—');
const cell = (xs: readonly number[], digits: number): string =>
  xs.length === 0 ? '—' : xs.length === 1 ? fmt(xs[0]!, digits) : `${fmt(mean(xs), digits)} (${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)})`;

export function renderPolicySection(r: PolicyBenchResult | null, failure?: string): string {
  const head = `## Network policy enforcement cost (network namespaces)

Command: \`npm run bench\` (as root; runs \`node dist/bench/netns-policy.js\`).

The lab of the throughput section, ShadowMesh on a direct UDP path over TUN, iperf3 TCP from a to b,
without a policy and with a signed ${POLICY_RULES}-rule policy on both daemons whose last rule allows
the flow (the ${POLICY_RULES - 1} before it match protocol and port and fail on the sender's group: the
worst case of the first-match walk). The walk runs for a flow's first packet; later packets, both ways,
are connection-table lookups. The rows alternate per round; cells give the mean and the range of the
rounds. CPU: the receiving daemon's CPU seconds per 10^9 bytes received, single stream.
`;
  if (r === null) return `${head}\nNot measured in this run: ${failure ?? 'the benchmark failed'}.\n`;
  if (r.skipped !== undefined) return `${head}\nNot measured in this run: ${r.skipped}.\n`;
  const base = r.rows[0];
  const rows = r.rows.map((row) => {
    if (!row.available) return `| ${row.name} | not available: ${row.reason ?? '?'} | | | | |`;
    const ratio = (k: 'singleMbps' | 'fourMbps'): string => (base?.available === true && base[k].length > 0 ? fmt(mean(row[k]) / mean(base[k]), 2) : '—');
    return `| ${row.name} | ${cell(row.singleMbps, 0)} | ${ratio('singleMbps')} | ${cell(row.fourMbps, 0)} | ${ratio('fourMbps')} | ${cell(row.receiverCpuSPerGb, 1)} |`;
  });
  return `${head}
Run on ${r.date}, ${r.cpus}, Node ${r.node}; iperf3 ${r.seconds} s per run, ${r.rounds} rounds per row.

| path | 1 stream Mbit/s | ÷ no policy | 4 streams Mbit/s | ÷ no policy | receiver CPU s/GB |
|---|---|---|---|---|---|
${rows.join('\n')}
`;
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
