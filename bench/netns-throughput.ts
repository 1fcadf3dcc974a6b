/**
 * Tunnel throughput and latency benchmark in network namespaces (issue 3 §6):
 * in one run, on one lab topology (src/demo/netns-lab.ts: namespaces
 * relay, a, b on one bridge), measure from a to b
 *
 *   - the bare veth path (lab addresses),
 *   - userspace WireGuard (wireguard-go, direct a <-> b),
 *   - ShadowMesh (`shadowmesh up` in a and b, the relay in its own
 *     namespace) on each path issue 12 compares: direct UDP (TUN), direct
 *     WSS (TUN, --no-udp), the relay (TUN, --no-direct), direct UDP over
 *     TAP, and the relay over TAP — when this build has the daemon;
 *     otherwise the rows say "not available" and why. A direct row is
 *     measured only once a's `peers --json` shows that carrier.
 *
 * Each: iperf3 TCP single stream and 4 streams (-P 4) for THROUGHPUT_SECONDS
 * each, and PING_COUNT pings PING_INTERVAL_S apart (average and p99 of the
 * per-reply times). Around each iperf3 run the CPU time (user + system, from
 * /proc) of the tunnel's processes is read: the sending and receiving daemon
 * (wireguard-go's process on each side for its row) and, on relay rows, the
 * relay; each is reported as CPU seconds per 10^9 bytes the receiver got.
 * Reading /proc twice per run costs nothing measurable. For the ShadowMesh
 * rows the single-stream run also reports kernel counters (RunCounters: TCP
 * retransmissions, the mean size of what the TUN/TAP device handed over, the
 * receiver's UDP receive-buffer drops), which tell a slow run from a fast one. Progress goes to stderr; the last stdout line is the
 * JSON result (NetnsBenchResult) that bench/run.ts renders.
 *
 *     node dist/bench/netns-throughput.js [--seconds N] [--only NAME,NAME]
 *
 * --only keeps the rows whose name contains one of the given words
 * (e.g. `--only veth,wireguard,UDP`), for a quick before/after.
 */
import { cpus } from 'node:os';
import { createNetnsLab, type NetnsLab } from '../src/demo/netns-lab.js';
import { measureIperf3, measurePing } from '../testkit/netns-measure.js';
import { setupWireguard } from '../testkit/netns-wireguard.js';
import { labLinkOnly, startLabDaemon, startLabRelay, upAvailable, waitForPeerPath, waitForPing } from '../testkit/netns-shadowmesh.js';
import { createTestNetwork } from '../testkit/test-network.js';
import { snmpCounter, txCounters, udpSockets } from './netns-counters.js';
import { renderIssue12Goals, type CpuPerGb, type NetnsBenchResult, type RunCounters, type ScenarioResult } from './netns-report.js';
import { cpuTimes } from './proc-stats.js';

/** Per iperf3 run: long enough for TCP to leave slow start and for a stable average. */
const THROUGHPUT_SECONDS_DEFAULT = 10;
/** 200 pings 10 ms apart: 2 s per path, enough for a p99 that is not simply the maximum. */
const PING_COUNT = 200;
const PING_INTERVAL_S = 0.01;
/** A tunnel must carry its first ping (handshakes included) within this. */
const TUNNEL_READY_TIMEOUT_MS = 30_000;
/** Mesh addresses of the two members, inside the lab only. */
const MESH_A = '10.10.10.3';
const MESH_B = '10.10.10.4';

function log(msg: string): void {
  process.stderr.write(`[netns-bench] ${msg}\n`);
}

/** The tunnel's own processes of a row, whose CPU time per GB moved is reported (none for the bare veth: the kernel's). */
export type TunnelPids = Partial<Record<keyof CpuPerGb, number>>;

/** CPU seconds (user + system, all threads, from /proc) each process spent while `run` moved `bytes`, per 10^9 bytes. */
async function cpuPerGb(pids: TunnelPids, run: () => Promise<{ receivedBytes: number }>): Promise<{ bytes: number; cpu: CpuPerGb }> {
  const total = (pid: number): number | null => {
    const t = cpuTimes(pid);
    return t === null ? null : t.userS + t.systemS;
  };
  const before = Object.entries(pids).map(([role, pid]) => [role, pid, total(pid!)] as const);
  const report = await run();
  const cpu: CpuPerGb = {};
  for (const [role, pid, t0] of before) {
    const t1 = total(pid!);
    if (t0 !== null && t1 !== null && report.receivedBytes > 0) cpu[role as keyof CpuPerGb] = (t1 - t0) / (report.receivedBytes / 1e9);
  }
  return { bytes: report.receivedBytes, cpu };
}

/**
 * Ping, then iperf3 with 1 and 4 streams. With `device` (the tunnel's interface in a, for rows whose daemon reads
 * a TUN/TAP device) the single-stream run also reports the kernel counters of RunCounters.
 */
async function measure(lab: NetnsLab, name: string, targetIp: string, seconds: number, pids: TunnelPids = {}, device?: string): Promise<ScenarioResult> {
  log(`${name}: ping x${PING_COUNT}`);
  const ping = await measurePing(lab, 'a', targetIp, { count: PING_COUNT, intervalS: PING_INTERVAL_S });
  log(`${name}: iperf3 1 stream, ${seconds} s`);
  let one = { bitsPerSecond: 0, retransmits: 0 };
  const before = device === undefined ? null : { tx: await txCounters(lab, 'a', device), drops: await snmpCounter(lab, 'b', 'Udp', 'RcvbufErrors') };
  const oneCpu = await cpuPerGb(pids, async () => (one = await measureIperf3(lab, 'a', 'b', targetIp, { seconds })));
  let singleRun: RunCounters | undefined;
  if (before !== null && device !== undefined) {
    const tx = await txCounters(lab, 'a', device);
    singleRun = {
      retransmits: one.retransmits,
      deviceBytesPerPacket: (tx.bytes - before.tx.bytes) / (tx.packets - before.tx.packets),
      udpRcvbufErrors: (await snmpCounter(lab, 'b', 'Udp', 'RcvbufErrors')) - before.drops,
      receiverUdpSockets: await udpSockets(lab, 'b'),
    };
  }
  log(`${name}: iperf3 4 streams, ${seconds} s`);
  let four = { bitsPerSecond: 0 };
  const fourCpu = await cpuPerGb(pids, async () => (four = await measureIperf3(lab, 'a', 'b', targetIp, { seconds, parallel: 4 })));
  return {
    name,
    available: true,
    singleMbps: one.bitsPerSecond / 1e6,
    fourMbps: four.bitsPerSecond / 1e6,
    ...(Object.keys(pids).length > 0 ? { cpuSPerGb: { single: oneCpu.cpu, four: fourCpu.cpu } } : {}),
    ...(singleRun !== undefined ? { singleRun } : {}),
    pingAvgMs: ping.avgMs,
    pingP99Ms: ping.p99Ms,
    pingLoss: ping.transmitted === 0 ? 1 : 1 - ping.received / ping.transmitted,
  };
}

/** A direct path takes a session, offers and a first probe: about a second; generous on a shared machine. */
const DIRECT_READY_TIMEOUT_MS = 30_000;

/** The ShadowMesh rows: device, which carrier must carry the traffic, and the daemon flags that force it. */
export const MESH_SCENARIOS = [
  { name: 'ShadowMesh direct UDP (TUN)', dev: 'tun', carrier: 'udp', args: [] },
  { name: 'ShadowMesh direct WSS (TUN, --no-udp)', dev: 'tun', carrier: 'wss', args: ['--no-udp'] },
  { name: 'ShadowMesh relay path (TUN, --no-direct)', dev: 'tun', carrier: 'relay', args: ['--no-direct'] },
  { name: 'ShadowMesh direct UDP (TAP)', dev: 'tap', carrier: 'udp', args: [] },
  { name: 'ShadowMesh relay path (TAP, --no-direct)', dev: 'tap', carrier: 'relay', args: ['--no-direct'] },
] as const;
type MeshScenario = (typeof MESH_SCENARIOS)[number];

async function shadowmesh(lab: NetnsLab, sc: MeshScenario, seconds: number): Promise<ScenarioResult> {
  const { name, dev } = sc;
  const net = await createTestNetwork();
  const started: Array<{ stop(): Promise<number | string> }> = [];
  try {
    const a = await net.addMember('a', { address: `${MESH_A}/24` });
    const b = await net.addMember('b', { address: `${MESH_B}/24` });
    const relay = await startLabRelay(lab, 'relay', { caFile: net.caFile });
    started.push(relay);
    const common = { relay, caFile: net.caFile, dev, ifname: `sm${dev}0`, args: [...sc.args] as string[] } as const;
    const da = await startLabDaemon(lab, 'a', { ...common, args: labLinkOnly(lab, 'a', common.args), certFile: a.certFile, dir: a.dir });
    started.push(da);
    const db = await startLabDaemon(lab, 'b', { ...common, args: labLinkOnly(lab, 'b', common.args), certFile: b.certFile, dir: b.dir });
    started.push(db);
    const took = await waitForPing(lab, 'a', MESH_B, TUNNEL_READY_TIMEOUT_MS);
    if (took === null) return { name, available: false, reason: `no ping reply across the tunnel within ${TUNNEL_READY_TIMEOUT_MS} ms` };
    if (sc.carrier !== 'relay') {
      // Keep a slow ping going so the session exists while the direct path comes up.
      const keep = lab.spawn('a', ['ping', '-n', '-i', '0.2', '-W', '1', MESH_B], { label: 'a:keep-ping' });
      try {
        for (const [d, peer] of [[da, 'b'], [db, 'a']] as const) {
          const p = await waitForPeerPath(d, peer, (x) => x.path === 'direct' && x.carrier === sc.carrier, DIRECT_READY_TIMEOUT_MS);
          if (p === null) return { name, available: false, reason: `no direct ${sc.carrier} path within ${DIRECT_READY_TIMEOUT_MS} ms` };
        }
      } finally {
        await keep.stop();
      }
    }
    const pids: TunnelPids = { sender: da.proc.pid, receiver: db.proc.pid, ...(sc.carrier === 'relay' ? { relay: relay.proc.pid } : {}) };
    return await measure(lab, name, MESH_B, seconds, pids, common.ifname);
  } catch (err) {
    return { name, available: false, reason: (err as Error).message.split('\n')[0] ?? 'failed' };
  } finally {
    // Daemons first, then the relay: the next scenario reuses the namespaces.
    for (const p of started.reverse()) await p.stop();
    await net.cleanup();
  }
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--seconds');
  const seconds = i > 0 ? Number(process.argv[i + 1]) : THROUGHPUT_SECONDS_DEFAULT;
  const o = process.argv.indexOf('--only');
  const only = o > 0 ? (process.argv[o + 1] ?? '').split(',').filter((w) => w !== '') : [];
  const wanted = (name: string): boolean => only.length === 0 || only.some((w) => name.includes(w));
  if (!(seconds > 0 && seconds <= 60)) throw new Error(`--seconds: expected 1..60, got ${process.argv[i + 1]}`);
  const result: NetnsBenchResult = { date: new Date().toISOString().slice(0, 10), cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`, node: process.version, seconds, pingCount: PING_COUNT, pingIntervalS: PING_INTERVAL_S, scenarios: [] };
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    result.skipped = 'needs root (network namespaces)';
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const lab = await createNetnsLab({ nodes: ['relay', 'a', 'b'] });
  try {
    if (wanted('bare veth')) result.scenarios.push(await measure(lab, 'bare veth', lab.ip('b'), seconds));
    if (wanted('wireguard-go')) try {
      const wg = await setupWireguard(lab, ['a', 'b']);
      const took = await waitForPing(lab, 'a', wg.ip('b'), TUNNEL_READY_TIMEOUT_MS);
      if (took === null) throw new Error('no ping reply across wireguard-go');
      result.scenarios.push(await measure(lab, 'wireguard-go', wg.ip('b'), seconds, { sender: wg.pid('a'), receiver: wg.pid('b') }));
    } catch (err) {
      result.scenarios.push({ name: 'wireguard-go', available: false, reason: (err as Error).message.split('\n')[0] ?? 'failed' });
    }
    const haveUp = upAvailable();
    for (const sc of MESH_SCENARIOS) {
      if (!wanted(sc.name)) continue;
      if (!haveUp) {
        result.scenarios.push({ name: sc.name, available: false, reason: 'this build has no `shadowmesh up` daemon yet' });
        continue;
      }
      result.scenarios.push(await shadowmesh(lab, sc, seconds));
    }
  } finally {
    await lab.teardown();
  }
  for (const sc of result.scenarios) log(`${sc.name}: ${JSON.stringify(sc)}`);
  log(`\n${renderIssue12Goals(result)}`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
