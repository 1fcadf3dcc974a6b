/**
 * The result of bench/netns-throughput.ts and its BENCHMARKS.md section:
 * absolute numbers per path, each path relative to the bare veth, and
 * ShadowMesh relative to wireguard-go (issue 3 targets: relay-path single
 * stream >= 50% of wireguard-go; ping RTT within 0.5 ms of it), and the
 * goals of issue 12 as ratios against wireguard-go with each goal beside
 * its figure (renderIssue12Goals). Pure rendering, no I/O.
 */

export interface ScenarioResult {
  name: string;
  available: boolean;
  /** Why a scenario could not be measured. */
  reason?: string;
  singleMbps?: number;
  fourMbps?: number;
  pingAvgMs?: number;
  pingP99Ms?: number;
  /** Fraction of pings without a reply. */
  pingLoss?: number;
  /** CPU seconds per 10^9 bytes moved (receiver-side goodput) of the tunnel's processes, per iperf3 run;
   *  absent for the bare veth (no tunnel process: the kernel's work is not attributed). */
  cpuSPerGb?: { single: CpuPerGb; four: CpuPerGb };
  /** What the kernel saw during the single-stream run, to tell a fast run from a slow one (netns-counters.ts). */
  singleRun?: RunCounters;
}

/** Kernel counters over one iperf3 run of a tunnel row. */
export interface RunCounters {
  /** iperf3's TCP retransmissions. */
  retransmits: number;
  /** Mean size of what the sender's tunnel device handed to the daemon (GSO packets of up to 64 KiB when TCP segments large). */
  deviceBytesPerPacket: number;
  /** UDP datagrams the receiver's kernel dropped for a full socket receive buffer. */
  udpRcvbufErrors: number;
  /** Receive buffer (bytes, `ss` skmem rb) and drops of each UDP socket in the receiver's namespace after the run. */
  receiverUdpSockets: Array<{ local: string; rcvbuf: number; drops: number }>;
}

/** CPU seconds per GB of each tunnel process that takes part: sending and receiving daemon, and the relay on relay rows. */
export interface CpuPerGb {
  sender?: number;
  receiver?: number;
  relay?: number;
}

export interface NetnsBenchResult {
  date: string;
  cpus: string;
  /** The Node running the benchmark and the ShadowMesh processes. */
  node: string;
  seconds: number;
  pingCount: number;
  pingIntervalS: number;
  /** Set when the whole benchmark could not run (e.g. not root). */
  skipped?: string;
  scenarios: ScenarioResult[];
}

const fmt = (x: number | undefined, digits: number): string => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits));
/** "sender / receiver[ / relay]" CPU s per GB, or "—" where nothing was measured. */
export function fmtCpu(c: CpuPerGb | undefined): string {
  if (c === undefined || (c.sender === undefined && c.receiver === undefined)) return '—';
  const parts = [c.sender, c.receiver, ...(c.relay !== undefined ? [c.relay] : [])];
  return parts.map((x) => fmt(x, 2)).join(' / ');
}
const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined || !(b > 0) ? '—' : (a / b).toFixed(2));
const delta = (a: number | undefined, b: number | undefined): string => {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b)) return '—';
  const d = a - b;
  return `${d >= 0 ? '+' : ''}${d.toFixed(3)}`;
};

/** One goal of issue 12: a ratio of two figures of one run and the bound it must meet. */
export interface GoalRow {
  goal: string;
  /** The measured ratio; undefined when a row it needs was not measured. */
  ratio: number | undefined;
  bound: number;
  /** 'max': ratio <= bound is met; 'min': ratio >= bound is met. */
  kind: 'max' | 'min';
}

function pick(r: NetnsBenchResult, prefix: string): ScenarioResult | undefined {
  const s = r.scenarios.find((x) => x.name.startsWith(prefix));
  return s?.available === true ? s : undefined;
}

function div(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || !(b > 0) || !Number.isFinite(a) ? undefined : a / b;
}

/** The issue 12 goals that this benchmark's rows can show (the idle-machine ping, CPU per GB and the soak are elsewhere or still open). */
export function issue12Goals(r: NetnsBenchResult): GoalRow[] {
  const wg = pick(r, 'wireguard-go');
  const udp = pick(r, 'ShadowMesh direct UDP (TUN)');
  const relay = pick(r, 'ShadowMesh relay path (TUN');
  const tap = pick(r, 'ShadowMesh direct UDP (TAP)');
  return [
    { goal: 'ping avg, direct UDP ÷ wireguard-go', ratio: div(udp?.pingAvgMs, wg?.pingAvgMs), bound: 1, kind: 'max' },
    { goal: 'ping p99, direct UDP ÷ wireguard-go', ratio: div(udp?.pingP99Ms, wg?.pingP99Ms), bound: 1, kind: 'max' },
    { goal: 'ping avg, relay ÷ wireguard-go', ratio: div(relay?.pingAvgMs, wg?.pingAvgMs), bound: 2, kind: 'max' },
    { goal: '1 stream, direct UDP ÷ wireguard-go', ratio: div(udp?.singleMbps, wg?.singleMbps), bound: 3, kind: 'min' },
    { goal: '4 streams, direct UDP ÷ wireguard-go', ratio: div(udp?.fourMbps, wg?.fourMbps), bound: 4, kind: 'min' },
    { goal: '1 stream, relay ÷ wireguard-go', ratio: div(relay?.singleMbps, wg?.singleMbps), bound: 2, kind: 'min' },
    { goal: '1 stream, TAP direct ÷ TUN direct', ratio: div(tap?.singleMbps, udp?.singleMbps), bound: 0.9, kind: 'min' },
  ];
}

/** The issue 12 goal table (markdown): measured ratio, goal, met or not. */
export function renderIssue12Goals(r: NetnsBenchResult): string {
  const rows = issue12Goals(r).map((g) => {
    const met = g.ratio === undefined ? '—' : (g.kind === 'max' ? g.ratio <= g.bound : g.ratio >= g.bound) ? 'yes' : 'no';
    return `| ${g.goal} | ${g.ratio === undefined ? 'not measured' : g.ratio.toFixed(2)} | ${g.kind === 'max' ? '≤' : '≥'} ${g.bound} | ${met} |`;
  });
  return `Issue 12 goals, as ratios against wireguard-go in this run:

| figure | measured | goal | met |
|---|---|---|---|
${rows.join('\n')}
`;
}

export function renderNetnsSection(r: NetnsBenchResult | null, failure?: string): string {
  const head = `## Tunnel throughput and latency (network namespaces)

Command: \`npm run bench\` (as root; runs \`node dist/bench/netns-throughput.js\`).

Topology: one netns lab (src/demo/netns-lab.ts) — namespaces \`relay\`, \`a\`, \`b\` on one Linux
bridge via veth pairs, addresses 172.31.0.0/24. Every measurement goes from \`a\` to \`b\`:
the bare veth (lab addresses); userspace WireGuard (\`wireguard-go\`, direct a <-> b, tunnel
10.99.0.0/24); ShadowMesh (\`shadowmesh up\` in \`a\` and \`b\`, mesh addresses 10.10.10.3/.4, the relay
in its own namespace) on a direct UDP path, a direct WSS path (\`--no-udp\`) and the relay path
(\`--no-direct\`), over TUN and TAP. iperf3 TCP, one stream and four streams (\`-P 4\`), ${r?.seconds ?? 10} s each,
receiver-side goodput; next to each figure the CPU seconds per GB (10^9 bytes received) of the tunnel's
processes during that run, user + system from /proc: sending daemon / receiving daemon / relay (relay rows);
for wireguard-go its process on each side; none for the bare veth (the kernel's work is not attributed);
${r?.pingCount ?? 200} pings ${((r?.pingIntervalS ?? 0.01) * 1_000).toFixed(0)} ms apart, average and p99 of the per-reply times.
All processes share the machine's cores with each other and with iperf3.
`;
  if (r === null) return `${head}\nNot measured in this run: ${failure ?? 'the benchmark failed'}.\n`;
  if (r.skipped !== undefined) return `${head}\nNot measured in this run: ${r.skipped}.\n`;
  const bare = r.scenarios.find((s) => s.name === 'bare veth');
  const wg = r.scenarios.find((s) => s.name === 'wireguard-go');
  const rows = r.scenarios.map((s) => {
    if (!s.available) return `| ${s.name} | not available: ${s.reason ?? '?'} | | | | | | | | |`;
    return `| ${s.name} | ${fmt(s.singleMbps, 0)} | ${fmtCpu(s.cpuSPerGb?.single)} | ${ratio(s.singleMbps, bare?.singleMbps)} | ${fmt(s.fourMbps, 0)} | ${fmtCpu(s.cpuSPerGb?.four)} | ${ratio(s.fourMbps, bare?.fourMbps)} | ${fmt(s.pingAvgMs, 3)} | ${fmt(s.pingP99Ms, 3)} | ${fmt((s.pingLoss ?? 0) * 100, 1)} |`;
  });
  const mesh = r.scenarios.filter((s) => s.name.startsWith('ShadowMesh'));
  const vsWg = mesh.map((s) => {
    if (!s.available || wg === undefined || !wg.available) return `| ${s.name} | not available | | | |`;
    return `| ${s.name} | ${ratio(s.singleMbps, wg.singleMbps)} | ${ratio(s.fourMbps, wg.fourMbps)} | ${delta(s.pingAvgMs, wg.pingAvgMs)} | ${delta(s.pingP99Ms, wg.pingP99Ms)} |`;
  });
  return `${head}
Run on ${r.date}, ${r.cpus}, ShadowMesh under Node ${r.node}.

| path | 1 stream Mbit/s | CPU s/GB send / recv / relay | ÷ bare | 4 streams Mbit/s | CPU s/GB send / recv / relay | ÷ bare | ping avg ms | ping p99 ms | ping loss % |
|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

ShadowMesh relative to wireguard-go (targets: single stream ≥ 0.50; ping within +0.5 ms):

| path | 1 stream ÷ wireguard-go | 4 streams ÷ wireguard-go | ping avg Δ ms | ping p99 Δ ms |
|---|---|---|---|---|
${vsWg.join('\n')}

${renderIssue12Goals(r)}`;
}
