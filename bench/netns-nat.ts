/**
 * NAT traversal benchmark (issue 5 "Targets"): in one run, in the NAT lab of
 * testkit/netns-nat-lab.ts (relay + coturn STUN on the "internet", two
 * home routers doing iptables MASQUERADE, a `shadowmesh up` daemon with a
 * TUN device behind each; testkit/netns-nat-mesh.ts),
 *
 *   - time to a direct UDP path behind two port-restricted NATs, per trial
 *     with a fresh NAT mesh: from the peers meeting (a single ping from a to
 *     b's mesh address: its packet starts the session, over the relay) until
 *     both daemons' `peers` answer (the control API that `peers --json`
 *     prints) shows b resp. a on path 'direct' with carrier 'udp'. Both
 *     daemons are polled every 50 ms over their control sockets; the time is
 *     taken when the answer that first shows it arrives (an upper bound by at
 *     most one poll). Also the time until a alone shows it;
 *   - on that path, once it is up: iperf3 TCP one stream a -> b and 200
 *     pings 10 ms apart over the mesh addresses, the daemons' CPU during the
 *     iperf3 run (/proc/PID/stat), the packets and IP fragments on a's LAN
 *     link during it, and what status/peers show about the path;
 *   - in the same lab, taking turns with it: wireguard-go between the
 *     same two namespaces through the same two NATs (each side's endpoint is
 *     the other router's WAN address, persistent-keepalive 1 s, so both
 *     sides punch), same iperf3 and pings;
 *   - the bare path through both NATs (no tunnel): a -> b's router's WAN
 *     address, with a port forward (DNAT of iperf3's TCP port and ICMP echo)
 *     added on b's router for this row only.
 *
 * Progress on stderr; the last stdout line is the JSON result
 * (NatBenchResult) that bench/run.ts renders with renderNatSection().
 *
 * The two tunnels take turns (ROUNDS_DEFAULT rounds, both running all the
 * time), so a change in the machine's load hits both; each row is the median
 * over its rounds.
 *
 *     node dist/bench/netns-nat.js [--trials N] [--seconds N] [--rounds N]
 */
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { ControlClient } from '../src/node/control/control-client.js';
import type { PeerStatus, StatusResult } from '../src/node/control/control-protocol.js';
import type { NatKind, NatLab } from '../testkit/netns-nat-lab.js';
import { snmpCounter, txCounters } from './netns-counters.js';
import { startNatMesh, NAT_MESH_UDP_PORT, type NatMesh } from '../testkit/netns-nat-mesh.js';
import { measureIperf3, measurePing, IPERF3_PORT } from '../testkit/netns-measure.js';
import { setupWireguard, WG_LISTEN_PORT } from '../testkit/netns-wireguard.js';
import { upAvailable, waitForPing } from '../testkit/netns-shadowmesh.js';
import { createTestNetwork, type TestMember, type TestNetwork } from '../testkit/test-network.js';
import { cpuTimes } from './proc-stats.js';

const MESH_A = '10.10.10.3';
const MESH_B = '10.10.10.4';
const KINDS: { a: NatKind; b: NatKind } = { a: 'port-restricted', b: 'port-restricted' };
const TRIALS_DEFAULT = 10;
const SECONDS_DEFAULT = 10;
/** ShadowMesh and wireguard-go take turns this many times (the machine's load varies): medians over the rounds. */
const ROUNDS_DEFAULT = 3;
/** Issue 5 target: direct path within 2 s of the peers meeting, median of 10 trials. */
export const TARGET_DIRECT_MS = 2_000;
const POLL_MS = 50;
/** Ends the wait for the direct path (several punch rounds); only a bound, not a target. */
const DIRECT_WAIT_MS = 30_000;
const TUNNEL_READY_TIMEOUT_MS = 30_000;
const PING_COUNT = 200;
const PING_INTERVAL_S = 0.01;

export interface NatTrial {
  /** First packet sent -> a's peers shows b on the UDP direct path. */
  aMs: number | null;
  /** First packet sent -> both show it. */
  bothMs: number | null;
  /** The first ping's reply time as ping printed it (session set-up over the relay included); null without a reply. */
  firstPingMs: number | null;
  /** a's view of the path once up (IP:PORT of b's public mapping). */
  remote?: string;
  error?: string;
}

export interface NatScenario {
  name: string;
  available: boolean;
  reason?: string;
  singleMbps?: number;
  /** Each round's throughput, when the row is a median over rounds. */
  runsMbps?: number[];
  retransmits?: number;
  pingAvgMs?: number;
  pingP99Ms?: number;
  pingLoss?: number;
  /** CPU of the tunnel process in a and in b during the iperf3 run, % of one core. */
  cpuA?: number | null;
  cpuB?: number | null;
  /** a's LAN link (eth0) during the iperf3 run: packets sent, mean bytes per packet, IP fragments created in a. */
  txPackets?: number;
  txMeanBytes?: number;
  fragsCreated?: number;
  /** UDP datagrams b's kernel dropped for a full socket receive buffer during the iperf3 run. */
  udpRcvbufDropsB?: number;
  /** What carried it: the path as the tunnel reports it. */
  path?: string;
}

export interface NatFacts {
  deviceMtu: number | null;
  udpPortA: number | null;
  natA: string | null;
  natB: string | null;
  reflexiveA: string[];
  reflexiveB: string[];
  remoteAB: string | null;
  remoteBA: string | null;
  rttMsAB: number | null;
  /** Largest ICMP payload with DF set that crossed the tunnel (ping -M do), probed at MTU - 28 and downwards. */
  dfPayload: number | null;
  wgEndpointAB?: string | null;
  wgMtu?: number | null;
}

export interface NatBenchResult {
  date: string;
  cpus: string;
  node: string;
  loadAvg: number[];
  skipped?: string;
  kinds: { a: NatKind; b: NatKind };
  trials: NatTrial[];
  seconds: number;
  rounds: number;
  scenarios: NatScenario[];
  facts: NatFacts | null;
}

function log(msg: string): void {
  process.stderr.write(`[netns-nat] ${msg}\n`);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const firstLine = (err: unknown): string => (err as Error).message.split('\n')[0] ?? 'failed';
const isUdp = (p: PeerStatus | null): boolean => p !== null && p.path === 'direct' && p.carrier === 'udp';

async function peerOf(c: ControlClient, name: string): Promise<PeerStatus | null> {
  try {
    return (await c.peers()).peers.find((p) => p.name === name) ?? null;
  } catch {
    return null;
  }
}

/** Wait until both daemons show each other on the UDP direct path; poll every POLL_MS from t0. */
async function pollDirect(ca: ControlClient, cb: ControlClient, t0: number, timeoutMs: number): Promise<{ aMs: number | null; bothMs: number | null; remote?: string }> {
  let aMs: number | null = null;
  let bMs: number | null = null;
  let remote: string | undefined;
  for (let tick = 1; ; tick++) {
    const [pa, pb] = await Promise.all([aMs === null ? peerOf(ca, 'b') : null, bMs === null ? peerOf(cb, 'a') : null]);
    const now = Date.now();
    if (aMs === null && isUdp(pa)) {
      aMs = now - t0;
      remote = pa!.remote;
    }
    if (bMs === null && isUdp(pb)) bMs = now - t0;
    if (aMs !== null && bMs !== null) return { aMs, bothMs: Math.max(aMs, bMs), ...(remote !== undefined ? { remote } : {}) };
    if (now - t0 > timeoutMs) return { aMs, bothMs: null, ...(remote !== undefined ? { remote } : {}) };
    // The next tick on the 50 ms grid from t0 (or at once if the answer took longer).
    await sleep(Math.max(0, t0 + tick * POLL_MS - Date.now()));
  }
}

async function trial(net: TestNetwork, ma: TestMember, mb: TestMember): Promise<NatTrial> {
  let mesh: NatMesh;
  try {
    mesh = await startNatMesh(net, ma, mb, KINDS);
  } catch (err) {
    return { aMs: null, bothMs: null, firstPingMs: null, error: firstLine(err) };
  }
  const { lab, a, b } = mesh;
  try {
    const ca = new ControlClient({ path: a.control });
    const cb = new ControlClient({ path: b.control });
    const before = await peerOf(ca, 'b');
    if (isUdp(before)) throw new Error('a showed the UDP path before the first packet');
    // The peers meet: one ping's packet starts the session (over the relay) and the direct attempt.
    const t0 = Date.now();
    const ping = lab.spawn('a', ['ping', '-n', '-c', '1', '-W', '10', MESH_B], { label: 'a:first-ping' });
    const r = await pollDirect(ca, cb, t0, DIRECT_WAIT_MS);
    await ping.exited;
    const m = / time=([0-9.]+) ms/.exec(ping.stdout());
    const out: NatTrial = { aMs: r.aMs, bothMs: r.bothMs, firstPingMs: m === null ? null : Number(m[1]), ...(r.remote !== undefined ? { remote: r.remote } : {}) };
    if (r.bothMs === null) out.error = `no UDP direct path on both within ${DIRECT_WAIT_MS} ms (a ${JSON.stringify(await peerOf(ca, 'b'))})`;
    return out;
  } catch (err) {
    return { aMs: null, bothMs: null, firstPingMs: null, error: firstLine(err) };
  } finally {
    await lab.teardown();
  }
}

// ---------------------------------------------------------------- throughput rows

const fragCreates = (lab: NatLab, node: string): Promise<number> => snmpCounter(lab, node, 'Ip', 'FragCreates');
const udpRcvbufErrors = (lab: NatLab, node: string): Promise<number> => snmpCounter(lab, node, 'Udp', 'RcvbufErrors');

/** Pids of the processes named `comm` in a namespace (`ip netns pids`). */
async function pidsIn(lab: NatLab, node: string, comm: string): Promise<number[]> {
  const r = await lab.exec('br', ['ip', 'netns', 'pids', lab.node(node).ns]);
  const out: number[] = [];
  for (const s of r.stdout.split('\n')) {
    const pid = Number(s.trim());
    if (!Number.isInteger(pid) || pid <= 0) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === comm) out.push(pid);
    } catch { /* gone */ }
  }
  return out;
}

const cpuS = (pid: number | null): number | null => {
  if (pid === null) return null;
  const t = cpuTimes(pid);
  return t === null ? null : t.userS + t.systemS;
};

/** Pings, then one iperf3 stream with the tunnel processes' CPU and a's link counters around it. */
async function measureRow(lab: NatLab, name: string, targetIp: string, seconds: number, pidA: number | null, pidB: number | null): Promise<NatScenario> {
  log(`${name}: ping x${PING_COUNT}`);
  const ping = await measurePing(lab, 'a', targetIp, { count: PING_COUNT, intervalS: PING_INTERVAL_S });
  log(`${name}: iperf3 1 stream, ${seconds} s`);
  const [c0a, c0b, tx0, f0, u0] = [cpuS(pidA), cpuS(pidB), await txCounters(lab, 'a', 'eth0'), await fragCreates(lab, 'a'), await udpRcvbufErrors(lab, 'b')];
  const w0 = Date.now();
  const one = await measureIperf3(lab, 'a', 'b', targetIp, { seconds });
  const wallS = (Date.now() - w0) / 1_000;
  const [c1a, c1b, tx1, f1, u1] = [cpuS(pidA), cpuS(pidB), await txCounters(lab, 'a', 'eth0'), await fragCreates(lab, 'a'), await udpRcvbufErrors(lab, 'b')];
  const pct = (x0: number | null, x1: number | null): number | null => (x0 === null || x1 === null ? null : ((x1 - x0) / wallS) * 100);
  const packets = tx1.packets - tx0.packets;
  return {
    name,
    available: true,
    singleMbps: one.bitsPerSecond / 1e6,
    retransmits: one.retransmits,
    pingAvgMs: ping.avgMs,
    pingP99Ms: ping.p99Ms,
    pingLoss: ping.transmitted === 0 ? 1 : 1 - ping.received / ping.transmitted,
    cpuA: pct(c0a, c1a),
    cpuB: pct(c0b, c1b),
    txPackets: packets,
    txMeanBytes: packets > 0 ? (tx1.bytes - tx0.bytes) / packets : Number.NaN,
    fragsCreated: f1 - f0,
    udpRcvbufDropsB: u1 - u0,
  };
}

/** The largest ICMP payload with DF set that gets an answer across the tunnel, probing down from MTU - 28. */
async function dfPayload(lab: NatLab, targetIp: string, mtu: number): Promise<number | null> {
  for (let size = mtu - 28; size >= mtu - 28 - 200; size -= 20) {
    const r = await lab.exec('a', ['ping', '-n', '-c', '2', '-i', '0.2', '-W', '2', '-M', 'do', '-s', String(size), targetIp], { timeoutMs: 10_000 });
    if (/ [12] received/.test(r.stdout)) return size;
  }
  return null;
}

/** A tunnel under test: where to send, whose CPU to count, and how it reports its path afterwards. */
interface Target {
  name: string;
  ip: string;
  pidA: number | null;
  pidB: number | null;
  pathAfter(): Promise<string>;
}

/** The NAT mesh's UDP direct path, once both sides show it; fills result.facts from status / peers. */
async function shadowmeshTarget(mesh: NatMesh, result: NatBenchResult): Promise<Target> {
  const { lab, a, b } = mesh;
  const ca = new ControlClient({ path: a.control });
  const cb = new ControlClient({ path: b.control });
  if ((await waitForPing(lab, 'a', MESH_B, TUNNEL_READY_TIMEOUT_MS)) === null) throw new Error('no ping reply over the mesh');
  // Keep a little traffic flowing until the path is up, as a user's would.
  const pinger = lab.spawn('a', ['ping', '-n', '-q', '-i', '0.2', '-c', '150', MESH_B], { label: 'a:ping' });
  const r = await pollDirect(ca, cb, Date.now(), DIRECT_WAIT_MS);
  await pinger.stop();
  if (r.bothMs === null) throw new Error(`no UDP direct path within ${DIRECT_WAIT_MS} ms: a -> b ${JSON.stringify(await peerOf(ca, 'b'))}`);
  const [sa, sb]: [StatusResult, StatusResult] = await Promise.all([ca.status(), cb.status()]);
  const [pab, pba] = await Promise.all([peerOf(ca, 'b'), peerOf(cb, 'a')]);
  const mtu = sa.device?.mtu ?? null;
  result.facts = {
    deviceMtu: mtu,
    udpPortA: sa.udp?.port ?? null,
    natA: sa.udp?.nat ?? null,
    natB: sb.udp?.nat ?? null,
    reflexiveA: sa.udp?.reflexive ?? [],
    reflexiveB: sb.udp?.reflexive ?? [],
    remoteAB: pab?.remote ?? null,
    remoteBA: pba?.remote ?? null,
    rttMsAB: pab?.rttMs ?? null,
    dfPayload: mtu === null ? null : await dfPayload(lab, MESH_B, mtu),
  };
  const show = (p: PeerStatus | null): string => (p === null ? 'unknown' : `${p.path}/${p.carrier} ${p.remote}`);
  return {
    name: 'ShadowMesh UDP direct path (TUN)',
    ip: MESH_B,
    pidA: a.proc.pid,
    pidB: b.proc.pid,
    async pathAfter() {
      const [qa, qb] = await Promise.all([peerOf(ca, 'b'), peerOf(cb, 'a')]);
      return `after: a -> b ${show(qa)}, b -> a ${show(qb)}; fallbacks ${qa?.fallbacks ?? '?'}`;
    },
  };
}

/** wireguard-go between a and b through the same two NATs. */
async function wireguardTarget(lab: NatLab, result: NatBenchResult): Promise<Target> {
  const wg = await setupWireguard(lab, ['a', 'b']);
  // setupWireguard points each peer at the other's LAN address, which is not reachable behind NAT:
  // point it at the other router's WAN address instead and keep the mapping open from both sides.
  for (const [side, other] of [['a', 'b'], ['b', 'a']] as const) {
    const peers = (await lab.check(side, ['wg', 'show', wg.ifname(side), 'peers'])).stdout.trim().split('\n');
    if (peers.length !== 1 || peers[0] === '') throw new Error(`wireguard-go on ${side}: expected one peer, got ${peers.length}`);
    await lab.check(side, ['wg', 'set', wg.ifname(side), 'peer', peers[0]!, 'endpoint', `${lab.wanIp(other)}:${WG_LISTEN_PORT}`, 'persistent-keepalive', '1']);
  }
  if ((await waitForPing(lab, 'a', wg.ip('b'), TUNNEL_READY_TIMEOUT_MS)) === null) throw new Error('no ping reply across wireguard-go');
  const [pa] = await pidsIn(lab, 'a', 'wireguard-go');
  const [pb] = await pidsIn(lab, 'b', 'wireguard-go');
  const endpoint = async (): Promise<string | null> => (await lab.exec('a', ['wg', 'show', wg.ifname('a'), 'endpoints'])).stdout.trim().split(/\s+/)[1] ?? null;
  const mtu = Number((await lab.exec('a', ['cat', `/sys/class/net/${wg.ifname('a')}/mtu`])).stdout.trim());
  if (result.facts !== null) {
    result.facts.wgEndpointAB = await endpoint();
    result.facts.wgMtu = Number.isFinite(mtu) ? mtu : null;
  }
  return { name: 'wireguard-go through the same NATs', ip: wg.ip('b'), pidA: pa ?? null, pidB: pb ?? null, pathAfter: async () => `a's endpoint for b: ${(await endpoint()) ?? '?'}` };
}

/** Per metric, the median over the rounds; the per-round throughputs are kept. */
function combine(name: string, runs: NatScenario[]): NatScenario {
  const ok = runs.filter((x) => x.available);
  if (ok.length === 0) return runs[0] ?? { name, available: false, reason: 'not measured' };
  const m = (k: keyof NatScenario): number | null => median(ok.map((x) => x[k]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v)));
  const failed = runs.filter((x) => !x.available).map((x) => x.reason);
  return {
    name,
    available: true,
    singleMbps: m('singleMbps') ?? Number.NaN,
    runsMbps: ok.map((x) => x.singleMbps ?? Number.NaN),
    retransmits: m('retransmits') ?? Number.NaN,
    pingAvgMs: m('pingAvgMs') ?? Number.NaN,
    pingP99Ms: m('pingP99Ms') ?? Number.NaN,
    pingLoss: m('pingLoss') ?? Number.NaN,
    cpuA: m('cpuA'),
    cpuB: m('cpuB'),
    txPackets: m('txPackets') ?? Number.NaN,
    txMeanBytes: m('txMeanBytes') ?? Number.NaN,
    fragsCreated: m('fragsCreated') ?? Number.NaN,
    udpRcvbufDropsB: m('udpRcvbufDropsB') ?? Number.NaN,
    path: `${ok[ok.length - 1]!.path ?? ''}${failed.length > 0 ? `; failed rounds: ${failed.join('; ')}` : ''}`,
  };
}

/** ShadowMesh and wireguard-go in alternation, `rounds` times, in one NAT lab; then the bare path. */
async function throughput(net: TestNetwork, ma: TestMember, mb: TestMember, seconds: number, rounds: number, result: NatBenchResult): Promise<void> {
  const smName = 'ShadowMesh UDP direct path (TUN)';
  let mesh: NatMesh;
  try {
    mesh = await startNatMesh(net, ma, mb, KINDS);
  } catch (err) {
    result.scenarios.push({ name: smName, available: false, reason: firstLine(err) });
    return;
  }
  const { lab } = mesh;
  try {
    const targets: Target[] = [];
    const failedTargets: NatScenario[] = [];
    try {
      targets.push(await shadowmeshTarget(mesh, result));
    } catch (err) {
      failedTargets.push({ name: smName, available: false, reason: firstLine(err) });
    }
    try {
      targets.push(await wireguardTarget(lab, result));
    } catch (err) {
      failedTargets.push({ name: 'wireguard-go through the same NATs', available: false, reason: firstLine(err) });
    }
    const runs = new Map<string, NatScenario[]>(targets.map((t) => [t.name, []]));
    for (let i = 0; i < rounds; i++) {
      for (const t of targets) {
        try {
          const row = await measureRow(lab, `${t.name} (round ${i + 1}/${rounds})`, t.ip, seconds, t.pidA, t.pidB);
          row.path = await t.pathAfter();
          runs.get(t.name)!.push(row);
        } catch (err) {
          runs.get(t.name)!.push({ name: t.name, available: false, reason: firstLine(err) });
        }
      }
    }
    for (const t of targets) result.scenarios.push(combine(t.name, runs.get(t.name)!));
    result.scenarios.push(...failedTargets);
    await bareRow(lab, seconds, result);
  } finally {
    await lab.teardown();
  }
}

async function bareRow(lab: NatLab, seconds: number, result: NatBenchResult): Promise<void> {
  const name = 'bare path through both NATs (port forward on b\'s router)';
  const rules = [
    ['-p', 'tcp', '--dport', String(IPERF3_PORT), '-j', 'DNAT', '--to-destination', lab.ip('b')],
    ['-p', 'icmp', '--icmp-type', 'echo-request', '-j', 'DNAT', '--to-destination', lab.ip('b')],
  ];
  try {
    for (const rule of rules) await lab.check('r2', ['iptables', '-w', '5', '-t', 'nat', '-A', 'PREROUTING', '-i', 'eth0', ...rule]);
    if ((await waitForPing(lab, 'a', lab.wanIp('b'), 10_000)) === null) throw new Error('no ping reply through the port forward');
    const row = await measureRow(lab, name, lab.wanIp('b'), seconds, null, null);
    row.path = `a -> ${lab.wanIp('b')} (DNAT to ${lab.ip('b')})`;
    result.scenarios.push(row);
  } catch (err) {
    result.scenarios.push({ name, available: false, reason: firstLine(err) });
  } finally {
    for (const rule of rules) await lab.exec('r2', ['iptables', '-w', '5', '-t', 'nat', '-D', 'PREROUTING', '-i', 'eth0', ...rule]);
  }
}

async function main(): Promise<void> {
  const arg = (name: string, dflt: number): number => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : dflt;
  };
  const trials = arg('--trials', TRIALS_DEFAULT);
  const seconds = arg('--seconds', SECONDS_DEFAULT);
  const rounds = arg('--rounds', ROUNDS_DEFAULT);
  if (!(Number.isInteger(rounds) && rounds >= 1 && rounds <= 10)) throw new Error(`--rounds: expected 1..10, got ${rounds}`);
  if (!(Number.isInteger(trials) && trials >= 0 && trials <= 50)) throw new Error(`--trials: expected 0..50, got ${trials}`);
  if (!(seconds > 0 && seconds <= 60)) throw new Error(`--seconds: expected 1..60, got ${seconds}`);
  const result: NatBenchResult = {
    date: new Date().toISOString().slice(0, 10),
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
    node: process.version,
    loadAvg: loadavg().map((x) => Math.round(x * 100) / 100),
    kinds: KINDS,
    trials: [],
    seconds,
    rounds,
    scenarios: [],
    facts: null,
  };
  const isRoot = typeof process.getuid !== 'function' || process.getuid() === 0;
  if (!isRoot || !upAvailable()) {
    result.skipped = !isRoot ? 'needs root (network namespaces)' : 'this build has no `shadowmesh up`';
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const net = await createTestNetwork();
  try {
    const ma = await net.addMember('a', { address: `${MESH_A}/24` });
    const mb = await net.addMember('b', { address: `${MESH_B}/24` });
    for (let i = 0; i < trials; i++) {
      const t = await trial(net, ma, mb);
      log(`trial ${i + 1}/${trials}: ${JSON.stringify(t)}`);
      result.trials.push(t);
    }
    await throughput(net, ma, mb, seconds, rounds, result);
  } finally {
    await net.cleanup();
  }
  result.loadAvg.push(...loadavg().map((x) => Math.round(x * 100) / 100));
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

// ---------------------------------------------------------------- BENCHMARKS.md section

/** The median (the mean of the two middle values for an even count); null when empty. */
export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const fmt = (x: number | null | undefined, digits: number): string => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits));

export function renderNatSection(r: NatBenchResult | null, failure?: string): string {
  const head = `## NAT traversal and UDP direct paths (network namespaces)

Command: \`npm run bench\` (as root), or \`node dist/bench/netns-nat.js\` for this section alone.

The NAT lab of testkit/netns-nat-lab.ts: relay (which answers STUN) and coturn STUN on the
"internet", two home routers doing iptables MASQUERADE with a stateful firewall (both *port-restricted*:
endpoint-independent mapping, address-and-port-dependent filtering), a \`shadowmesh up\` daemon with a TUN
device behind each, UDP port ${NAT_MESH_UDP_PORT} (testkit/netns-nat-mesh.ts).

- *time to the UDP direct path*: per trial a fresh lab, relay, coturn and daemons (both already list
  each other). The peers meet when a sends one ping to b's mesh address (its packet starts the session,
  over the relay); from then both daemons' control API (\`peers --json\`) is polled every ${POLL_MS} ms
  until a shows b, and b shows a, on path \`direct\` with carrier \`udp\`. Times are taken when the
  answer that shows it arrives (an upper bound by at most one poll).
- *throughput and ping*: a fresh NAT mesh, the UDP path up, then from a to b iperf3 TCP one stream and
  200 pings 10 ms apart over the mesh addresses; the daemons' CPU during the iperf3 run (% of one core,
  /proc/PID/stat). In the same lab, wireguard-go between the same two namespaces through the same two
  NATs (endpoint = the other router's WAN address, persistent-keepalive 1 s: both sides punch); the two
  tunnels run side by side and take turns (\`--rounds\`, default ${ROUNDS_DEFAULT}), each row the median
  over its rounds (the per-round throughputs in brackets). Last, the bare path through both NATs (a port
  forward for iperf3 and ICMP echo added on b's router for that row only). *a's link* = packets a sent on its LAN link during the iperf3
  run, their mean size, and IP fragments a created; *retr* = iperf3's TCP retransmits; *b's UDP drops* =
  datagrams b's kernel dropped for a full socket receive buffer (Udp RcvbufErrors) during the run.
`;
  if (r === null) return `${head}\nNot measured in this run: ${failure ?? 'the benchmark failed'}.\n`;
  const machine = `Run on ${r.date}, ${r.cpus} (a loaded 2-vCPU VM: other test runs shared it; load average ${r.loadAvg.slice(0, 3).join(' / ')} at the start${r.loadAvg.length > 3 ? `, ${r.loadAvg.slice(3, 6).join(' / ')} at the end` : ''}), ShadowMesh under Node ${r.node}.`;
  if (r.skipped !== undefined) return `${head}\n${machine}\n\nNot measured in this run: ${r.skipped}.\n`;
  const ok = r.trials.filter((t) => t.bothMs !== null);
  const both = ok.map((t) => t.bothMs!);
  const aOnly = r.trials.map((t) => t.aMs).filter((x): x is number => x !== null);
  const mn = (xs: number[]): number | null => (xs.length === 0 ? null : Math.min(...xs));
  const mx = (xs: number[]): number | null => (xs.length === 0 ? null : Math.max(...xs));
  const failed = r.trials.filter((t) => t.error !== undefined).map((t) => t.error).join('; ');
  const verdict = both.length === 0 ? '—' : median(both)! <= TARGET_DIRECT_MS ? 'met' : 'missed';
  const trialRows = r.trials.map((t, i) => `| ${i + 1} | ${fmt(t.aMs, 0)} | ${fmt(t.bothMs, 0)} | ${fmt(t.firstPingMs, 1)} | ${t.remote ?? ''}${t.error !== undefined ? ` failed: ${t.error}` : ''} |`);
  let body = `
${machine}

${r.trials.length} trials (${r.kinds.a} / ${r.kinds.b})${failed ? `; failed: ${failed}` : ''}.

| first packet -> UDP direct path (ms) | median | min | max | target | |
|---|---|---|---|---|---|
| both sides show it | ${fmt(median(both), 0)} | ${fmt(mn(both), 0)} | ${fmt(mx(both), 0)} | ≤ ${TARGET_DIRECT_MS} (median of 10) | ${verdict} |
| a shows it | ${fmt(median(aOnly), 0)} | ${fmt(mn(aOnly), 0)} | ${fmt(mx(aOnly), 0)} | | |

| trial | a shows it (ms) | both show it (ms) | first ping's reply (ms, over the relay) | a's path to b |
|---|---|---|---|---|
${trialRows.join('\n')}
`;
  const wg = r.scenarios.find((s) => s.name.startsWith('wireguard-go'));
  const rows = r.scenarios.map((s) => {
    if (!s.available) return `| ${s.name} | not available: ${s.reason ?? '?'} | | | | | | | | | |`;
    const vs = s === wg ? '1.00' : wg?.available === true && wg.singleMbps !== undefined && s.singleMbps !== undefined ? (s.singleMbps / wg.singleMbps).toFixed(2) : '—';
    const cpu = s.cpuA === undefined || (s.cpuA === null && s.cpuB === null) ? '—' : `${fmt(s.cpuA, 0)} / ${fmt(s.cpuB, 0)}`;
    const runs = s.runsMbps !== undefined && s.runsMbps.length > 1 ? ` (${s.runsMbps.map((x) => fmt(x, 0)).join(', ')})` : '';
    return `| ${s.name} | ${fmt(s.singleMbps, 0)}${runs} | ${vs} | ${fmt(s.pingAvgMs, 3)} | ${fmt(s.pingP99Ms, 3)} | ${fmt((s.pingLoss ?? 0) * 100, 1)} | ${s.retransmits ?? '—'} | ${cpu} | ${s.udpRcvbufDropsB ?? '—'} | ${s.txPackets ?? '—'} pkts, ${fmt(s.txMeanBytes, 0)} B avg, ${s.fragsCreated ?? '—'} frags | ${s.path ?? ''} |`;
  });
  body += `
iperf3 ${r.seconds} s, one TCP stream, a -> b; all rows in this run, same lab; medians over ${r.rounds} alternating rounds.

| path | 1 stream Mbit/s | ÷ wireguard-go | ping avg ms | ping p99 ms | ping loss % | retr | CPU a / b during iperf3 (% of a core) | b's UDP drops | a's link during iperf3 | path |
|---|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}
`;
  const sm = r.scenarios.find((s) => s.name.startsWith('ShadowMesh'));
  if (sm?.available === true && wg?.available === true && sm.pingAvgMs !== undefined && wg.pingAvgMs !== undefined) {
    body += `\nShadowMesh ÷ wireguard-go: throughput ${fmt(sm.singleMbps! / wg.singleMbps!, 2)}, ping avg ${fmt(sm.pingAvgMs / wg.pingAvgMs, 2)}, ping p99 ${fmt(sm.pingP99Ms! / wg.pingP99Ms!, 2)}.\n`;
  }
  const f = r.facts;
  if (f !== null) {
    body += `
What the daemons showed on the UDP path (status / peers):

- a's TUN MTU ${f.deviceMtu ?? '?'}; a ping with DF set and a ${f.dfPayload ?? '?'}-byte payload crossed the tunnel${f.dfPayload !== null && f.deviceMtu !== null && f.dfPayload === f.deviceMtu - 28 ? ' (the full device MTU)' : ''}${f.wgMtu ? `; wireguard-go's interface MTU ${f.wgMtu}` : ''}.
- UDP port ${f.udpPortA ?? '?'}; NAT mapping classified as ${f.natA ?? '?'} (a) / ${f.natB ?? '?'} (b); reflexive addresses a ${f.reflexiveA.join(', ') || '—'}, b ${f.reflexiveB.join(', ') || '—'}.
- a's direct path to b: remote ${f.remoteAB ?? '?'} (b's public mapping), probe RTT ${f.rttMsAB ?? '?'} ms; b's to a: ${f.remoteBA ?? '?'}${f.wgEndpointAB ? `; wireguard-go's endpoint for b: ${f.wgEndpointAB}` : ''}.
`;
  }
  return `${head}${body}`;
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
