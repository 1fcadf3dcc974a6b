/**
 * BENCHMARKS.md sections for the latency breakdown (bench/netns-latency.ts),
 * daemon memory with many peers (bench/memory-peers.ts) and RSS over a long
 * transfer (bench/netns-soak.ts). Pure rendering of their JSON results.
 */
import type { HeapEvidence, SoakSeries } from './netns-soak.js';

interface StageStat { stage: string; medianMs: number; meanMs: number }
interface Followed { pingAvgMs: number; followed: number; totalMedianMs: number; stages: StageStat[] }
export interface LatencyResult { count: number; shadowmesh?: Followed; shadowmeshUdp?: Followed; wireguard?: Followed }
export interface MemoryResult { peers: number; daemonPeers: number; holdS: number; rssNoPeersMiB: number; rssSessionsUpMiB: number; rssMaxMiB: number; rssLastMiB: number }
export interface SoakResult { seconds: number; sampleS: number; warmupS: number; mbps: number; results: SoakSeries[]; heap?: HeapEvidence[]; heapBoundMiB?: number; rssBoundMiB?: number }

const na = (what: string, failure: string | undefined): string => `Not measured in this run: ${failure ?? what}.\n`;

function stageTable(f: Followed): string {
  return `| step | median ms | mean ms |\n|---|---|---|\n${f.stages.map((s) => `| ${s.stage.trim()} | ${s.medianMs.toFixed(3)} | ${s.meanMs.toFixed(3)} |`).join('\n')}`;
}

export function renderLatencySection(r: LatencyResult | null, failure?: string): string {
  const head = `## Where a ping's round trip goes (network namespaces)

Command: \`npm run bench\` (as root; runs \`node dist/bench/netns-latency.js\`, which needs python3).

Same lab as above. While \`ping\` runs from \`a\` to \`b\` (${r?.count ?? 200} echoes, 20 ms apart), bench/pkt-stamp.py
captures every interface of each namespace (AF_PACKET, kernel timestamps on the clock all namespaces share)
and each echo is followed hop by hop: out of a's tunnel device, onto the wire, through the relay, into b's
tunnel device, the kernel's reply, and back. No process is instrumented. Three runs: ShadowMesh over the
relay (\`--no-direct\`), ShadowMesh over a direct UDP path (measured once both ends report the UDP carrier), and
wireguard-go.
`;
  if (r === null || r.shadowmesh === undefined || r.wireguard === undefined) return `${head}\n${na('the benchmark failed', failure)}`;
  const sm = r.shadowmesh;
  const wg = r.wireguard;
  const sum = (f: Followed, re: RegExp): number => f.stages.filter((s) => re.test(s.stage)).reduce((a, s) => a + s.medianMs, 0);
  const relay = sum(sm, /^relay|^wire .*relay/);
  return `${head}
ShadowMesh relay path (TUN): ping avg ${sm.pingAvgMs.toFixed(3)} ms; ${sm.followed} echoes followed, median tunnel to tunnel ${sm.totalMedianMs.toFixed(3)} ms.

${stageTable(sm)}
${r.shadowmeshUdp === undefined ? '' : `
ShadowMesh direct UDP path (TUN): ping avg ${r.shadowmeshUdp.pingAvgMs.toFixed(3)} ms; ${r.shadowmeshUdp.followed} echoes followed, median tunnel to tunnel ${r.shadowmeshUdp.totalMedianMs.toFixed(3)} ms.

${stageTable(r.shadowmeshUdp)}
`}
wireguard-go: ping avg ${wg.pingAvgMs.toFixed(3)} ms; ${wg.followed} echoes followed, median tunnel to tunnel ${wg.totalMedianMs.toFixed(3)} ms.

${stageTable(wg)}

Summed medians: the relay's two traversals and the two extra wire hops take ${relay.toFixed(3)} ms; ShadowMesh's
endpoints take ${sum(sm, /^[ab]: /).toFixed(3)} ms against wireguard-go's ${sum(wg, /^[ab]: /).toFixed(3)} ms${r.shadowmeshUdp === undefined ? '' : `; on the direct UDP
path ShadowMesh's endpoints take ${sum(r.shadowmeshUdp, /^[ab]: /).toFixed(3)} ms`}.
`;
}

export function renderMemorySection(r: MemoryResult | null, failure?: string): string {
  const head = `## Daemon memory with 100 peers

Command: \`npm run bench\` (runs \`node dist/bench/memory-peers.js --peers 100 --hold 30\`; no root, 127.0.0.1 only).

A relay process, the daemon under test (\`shadowmesh up --dev none\`, its own process) and 100 members as
in-process ShadowNodes in the benchmark process. Each member sends the daemon a payload, so the daemon
answers 100 handshakes and holds 100 end-to-end sessions; then every member sends one 1000-byte payload a
second for 30 s. VmRSS of the daemon from /proc. Target: under 150 MiB.
`;
  if (r === null) return `${head}\n${na('the benchmark failed', failure)}`;
  return `${head}
| daemon state | VmRSS MiB |
|---|---|
| admitted by the relay, no peers | ${r.rssNoPeersMiB.toFixed(1)} |
| ${r.peers} sessions up (daemon lists ${r.daemonPeers} peers) | ${r.rssSessionsUpMiB.toFixed(1)} |
| max during ${r.holdS} s of traffic from all ${r.peers} | ${r.rssMaxMiB.toFixed(1)} |
| at the end | ${r.rssLastMiB.toFixed(1)} |
`;
}

export function renderSoakSection(r: SoakResult | null, failure?: string): string {
  const head = `## RSS and live heap over a long transfer (network namespaces)

Command: \`npm run bench\` (as root; runs \`node dist/bench/netns-soak.js --minutes N\`; \`SHADOWMESH_SOAK_MINUTES\`, default 10,
the issue's soak, sets N).

Same lab, TUN, relay path (\`--no-direct\`, so both daemons and the relay carry the traffic): one iperf3 TCP stream from
\`a\` to \`b\` for the whole run, VmRSS of the three processes every ${r?.sampleS ?? 2} s, and a V8 heap snapshot of each (Node's
\`--heapsnapshot-signal\`, enabled only for this run) at the start, after the warm-up (the first 20 %), in the middle and
near the end. V8 collects garbage before a snapshot, so its total is the live heap; growth is grouped by constructor
(self sizes, bench/heap-snapshot.ts). A process is **flat** when its live heap grew by at most ${r?.heapBoundMiB ?? 1} MiB from the
warm-up snapshot to the last one and its RSS (mean of the last quarter after warm-up minus the first quarter) by at
most ${r?.rssBoundMiB ?? 8} MiB.
`;
  if (r === null) return `${head}\n${na('the benchmark failed', failure)}`;
  const sign = (x: number, d: number): string => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(d)}` : '—');
  const rows = r.results.map((s) => {
    const h = r.heap?.find((x) => x.process === s.process);
    return `| ${s.process} | ${s.startMiB.toFixed(1)} | ${s.afterWarmupMiB.toFixed(1)} | ${s.maxMiB.toFixed(1)} | ${s.endMiB.toFixed(1)} | ${sign(s.growthMiB, 1)} | ${s.slopeMiBPerMin.toFixed(2)} | ${h === undefined ? '—' : sign(h.heapGrowthMiB, 2)} | ${h === undefined ? '—' : h.flat ? 'yes' : 'no'} |`;
  });
  const heapRows = (r.heap ?? []).map((h) => `| ${h.process} | ${h.points.map((p) => `${p.atS.toFixed(0)} s: ${p.heapMiB.toFixed(2)} / ${p.rssMiB.toFixed(1)}`).join('; ')} | ${h.growers.map((g) => `${g.name} +${(g.bytes / 1024).toFixed(1)} KiB (${g.count >= 0 ? '+' : ''}${g.count})`).join(', ') || 'none'} |`);
  return `${head}
${r.seconds} s at ${r.mbps.toFixed(0)} Mbit/s.

| process | RSS start MiB | after warm-up | max | end | RSS last − first quarter MiB | RSS slope MiB/min | live heap growth MiB | flat |
|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}
${heapRows.length === 0 ? '' : `
| process | heap snapshots: time: live heap MiB / RSS MiB | top growers, warm-up → last snapshot (self size, instances) |
|---|---|---|
${heapRows.join('\n')}
`}`;
}
