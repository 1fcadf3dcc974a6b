/**
 * Where a ping's round trip goes: ShadowMesh over the relay and over a
 * direct UDP path (TUN) against wireguard-go, in one netns lab
 * (src/demo/netns-lab.ts: relay, a, b).
 *
 * Passive timestamps, no instrumentation of the processes: bench/pkt-stamp.py
 * captures every interface of a namespace (AF_PACKET, kernel receive
 * timestamps on the one CLOCK_REALTIME all namespaces share) while `ping`
 * runs from a to b. Each echo is followed hop by hop — out of a's tunnel
 * device, onto a's wire, through the relay, into b's tunnel device, the
 * kernel's reply, and back — and every step's duration is reported (median
 * and mean over the echoes that could be followed end to end).
 *
 *     node dist/bench/netns-latency.js [--count N]
 *
 * Root and python3 only. Progress on stderr; the tables on stdout, then one
 * JSON line.
 */
import { fileURLToPath } from 'node:url';
import { createNetnsLab, type NetnsLab } from '../src/demo/netns-lab.js';
import { labLinkOnly, startLabDaemon, startLabRelay, waitForPeerPath, waitForPing } from '../testkit/netns-shadowmesh.js';
import { setupWireguard } from '../testkit/netns-wireguard.js';
import { createTestNetwork } from '../testkit/test-network.js';
import { measurePing } from '../testkit/netns-measure.js';

const STAMP = fileURLToPath(new URL('../../bench/pkt-stamp.py', import.meta.url));
const MESH_A = '10.10.10.3';
const MESH_B = '10.10.10.4';
/** 20 ms apart: every echo's packets are through all hops long before the next echo starts. */
const INTERVAL_S = 0.02;

interface Packet {
  ts: number;
  ns: string;
  ifname: string;
  dir: 'in' | 'out';
  kind: 'icmp' | 'data';
  icmpType?: number;
  seq?: number;
  src?: string;
  dst?: string;
}

/** One hop of an echo's journey: the first packet matching, at or after the previous hop. */
interface Step {
  label: string;
  ns: string;
  ifname: string;
  dir: 'in' | 'out';
  kind: 'icmp' | 'data';
  icmpType?: number;
  /** For data packets: the remote address (dst when out, src when in). */
  peer?: string;
}

function log(msg: string): void {
  process.stderr.write(`[netns-latency] ${msg}\n`);
}

function parse(ns: string, text: string): Packet[] {
  const out: Packet[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(' ');
    if (f.length < 5 || !/^\d+$/.test(f[0]!)) continue;
    const base = { ts: Number(f[0]) / 1e6, ns, ifname: f[1]!, dir: f[2] as 'in' | 'out' };
    if (f[3] === 'icmp') out.push({ ...base, kind: 'icmp', icmpType: Number(f[4]), seq: Number(f[6]) });
    else if (f[3] === 'tcp' || f[3] === 'udp') out.push({ ...base, kind: 'data', src: f[4]!, dst: f[6]! });
  }
  return out.sort((x, y) => x.ts - y.ts);
}

function matches(p: Packet, s: Step, seq: number): boolean {
  if (p.ns !== s.ns || p.ifname !== s.ifname || p.dir !== s.dir || p.kind !== s.kind) return false;
  if (s.kind === 'icmp') return p.icmpType === s.icmpType && p.seq === seq;
  if (s.peer === undefined) return true;
  return (s.dir === 'out' ? p.dst : p.src) === s.peer;
}

export interface StageStat { stage: string; medianMs: number; meanMs: number }

function follow(packets: Packet[], steps: Step[], seqs: number[]): { followed: number; stages: StageStat[]; totalMedianMs: number } {
  const durations: number[][] = steps.slice(1).map(() => []);
  const totals: number[] = [];
  for (const seq of seqs) {
    const times: number[] = [];
    let from = 0;
    let ok = true;
    for (const s of steps) {
      let i = from;
      while (i < packets.length && !matches(packets[i]!, s, seq)) i++;
      // The next echo starts INTERVAL_S later: a step this late belongs to another echo.
      if (i === packets.length || (times.length > 0 && packets[i]!.ts - times[0]! > INTERVAL_S * 1_000 * 0.9)) {
        ok = false;
        break;
      }
      times.push(packets[i]!.ts);
      from = i;
    }
    if (!ok) continue;
    for (let k = 1; k < times.length; k++) durations[k - 1]!.push(times[k]! - times[k - 1]!);
    totals.push(times[times.length - 1]! - times[0]!);
  }
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length === 0 ? Number.NaN : s[Math.floor(s.length / 2)]!;
  };
  const mean = (xs: number[]): number => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length);
  return {
    followed: totals.length,
    stages: steps.slice(1).map((s, k) => ({ stage: s.label, medianMs: median(durations[k]!), meanMs: mean(durations[k]!) })),
    totalMedianMs: median(totals),
  };
}

/** Capture in `nodes` while pinging `target` from a; returns every namespace's packets and the echo sequence numbers. */
async function capture(lab: NetnsLab, nodes: string[], target: string, count: number): Promise<{ packets: Packet[]; seqs: number[]; pingAvgMs: number }> {
  const seconds = count * INTERVAL_S + 3;
  const procs = nodes.map((n) => ({ n, p: lab.spawn(n, ['python3', STAMP, String(seconds)], { label: `${n}:pkt-stamp` }) }));
  for (const { p } of procs) await p.waitForLine(/^ready$/, 10_000);
  const ping = await measurePing(lab, 'a', target, { count, intervalS: INTERVAL_S });
  for (const { p } of procs) await p.exited;
  const packets = procs.flatMap(({ n, p }) => parse(n, p.stdout())).sort((x, y) => x.ts - y.ts);
  const seqs = [...new Set(packets.filter((p) => p.kind === 'icmp' && p.icmpType === 8 && p.ns === 'a').map((p) => p.seq!))];
  return { packets, seqs, pingAvgMs: ping.avgMs };
}

function render(name: string, pingAvgMs: number, r: { followed: number; stages: StageStat[]; totalMedianMs: number }): string {
  const rows = r.stages.map((s) => `| ${s.stage} | ${s.medianMs.toFixed(3)} | ${s.meanMs.toFixed(3)} |`);
  return `${name}: ping avg ${pingAvgMs.toFixed(3)} ms; ${r.followed} echoes followed end to end, median tunnel-to-tunnel ${r.totalMedianMs.toFixed(3)} ms

| step | median ms | mean ms |
|---|---|---|
${rows.join('\n')}
`;
}

async function main(): Promise<void> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new Error('needs root (network namespaces)');
  const i = process.argv.indexOf('--count');
  const count = i > 0 ? Number(process.argv[i + 1]) : 200;
  const lab = await createNetnsLab({ nodes: ['relay', 'a', 'b'] });
  const net = await createTestNetwork();
  const result: Record<string, unknown> = { count };
  let text = '';
  try {
    const relayIp = lab.ip('relay');
    const ma = await net.addMember('a', { address: `${MESH_A}/24` });
    const mb = await net.addMember('b', { address: `${MESH_B}/24` });
    const relay = await startLabRelay(lab, 'relay', { caFile: net.caFile });
    // --no-direct: this follows the relay path hop by hop.
    const common = { relay, caFile: net.caFile, dev: 'tun', ifname: 'smtun0', args: ['--no-direct'] as string[] } as const;
    let da = await startLabDaemon(lab, 'a', { ...common, args: labLinkOnly(lab, 'a', common.args), certFile: ma.certFile, dir: ma.dir });
    let db = await startLabDaemon(lab, 'b', { ...common, args: labLinkOnly(lab, 'b', common.args), certFile: mb.certFile, dir: mb.dir });
    if ((await waitForPing(lab, 'a', MESH_B, 30_000)) === null) throw new Error('no ping across ShadowMesh');
    log(`ShadowMesh relay path: ${count} pings`);
    const sm = await capture(lab, ['a', 'relay', 'b'], MESH_B, count);
    const smSteps: Step[] = [
      { label: 'start: echo request leaves a\'s kernel into smtun0', ns: 'a', ifname: 'smtun0', dir: 'out', kind: 'icmp', icmpType: 8 },
      { label: 'a: TUN read (event loop), encrypt, WSS write', ns: 'a', ifname: 'eth0', dir: 'out', kind: 'data', peer: relayIp },
      { label: 'wire a -> relay', ns: 'relay', ifname: 'eth0', dir: 'in', kind: 'data', peer: lab.ip('a') },
      { label: 'relay: TLS read, ws parse, forward, TLS write', ns: 'relay', ifname: 'eth0', dir: 'out', kind: 'data', peer: lab.ip('b') },
      { label: 'wire relay -> b', ns: 'b', ifname: 'eth0', dir: 'in', kind: 'data', peer: relayIp },
      { label: 'b: TLS read, ws parse, decrypt, TUN write', ns: 'b', ifname: 'smtun0', dir: 'in', kind: 'icmp', icmpType: 8 },
      { label: 'b: kernel answers the echo', ns: 'b', ifname: 'smtun0', dir: 'out', kind: 'icmp', icmpType: 0 },
      { label: 'b: TUN read (event loop), encrypt, WSS write', ns: 'b', ifname: 'eth0', dir: 'out', kind: 'data', peer: relayIp },
      { label: 'wire b -> relay', ns: 'relay', ifname: 'eth0', dir: 'in', kind: 'data', peer: lab.ip('b') },
      { label: 'relay: TLS read, ws parse, forward, TLS write ', ns: 'relay', ifname: 'eth0', dir: 'out', kind: 'data', peer: lab.ip('a') },
      { label: 'wire relay -> a', ns: 'a', ifname: 'eth0', dir: 'in', kind: 'data', peer: relayIp },
      { label: 'a: TLS read, ws parse, decrypt, TUN write', ns: 'a', ifname: 'smtun0', dir: 'in', kind: 'icmp', icmpType: 0 },
    ];
    const smR = follow(sm.packets, smSteps, sm.seqs);
    result['shadowmesh'] = { pingAvgMs: sm.pingAvgMs, ...smR };
    text += render('ShadowMesh relay path (TUN)', sm.pingAvgMs, smR);
    await da.stop();
    await db.stop();

    // The direct UDP path: same members, no flags; measured once both ends carry the peer over UDP.
    const direct = { ...common, args: [] as string[] };
    da = await startLabDaemon(lab, 'a', { ...direct, args: labLinkOnly(lab, 'a', direct.args), certFile: ma.certFile, dir: ma.dir });
    db = await startLabDaemon(lab, 'b', { ...direct, args: labLinkOnly(lab, 'b', direct.args), certFile: mb.certFile, dir: mb.dir });
    if ((await waitForPing(lab, 'a', MESH_B, 30_000)) === null) throw new Error('no ping across ShadowMesh (direct)');
    const keep = lab.spawn('a', ['ping', '-n', '-i', '0.2', '-W', '1', MESH_B], { label: 'a:keep-ping' });
    try {
      for (const [d, peer] of [[da, 'b'], [db, 'a']] as const) {
        if ((await waitForPeerPath(d, peer, (x) => x.path === 'direct' && x.carrier === 'udp', 30_000)) === null) throw new Error('no direct UDP path within 30 s');
      }
    } finally {
      await keep.stop();
    }
    log(`ShadowMesh direct UDP path: ${count} pings`);
    const du = await capture(lab, ['a', 'b'], MESH_B, count);
    const duSteps: Step[] = [
      { label: 'start: echo request leaves a\'s kernel into smtun0', ns: 'a', ifname: 'smtun0', dir: 'out', kind: 'icmp', icmpType: 8 },
      { label: 'a: TUN read (event loop), encrypt, UDP send', ns: 'a', ifname: 'eth0', dir: 'out', kind: 'data', peer: lab.ip('b') },
      { label: 'wire a -> b', ns: 'b', ifname: 'eth0', dir: 'in', kind: 'data', peer: lab.ip('a') },
      { label: 'b: UDP read, decrypt, TUN write', ns: 'b', ifname: 'smtun0', dir: 'in', kind: 'icmp', icmpType: 8 },
      { label: 'b: kernel answers the echo', ns: 'b', ifname: 'smtun0', dir: 'out', kind: 'icmp', icmpType: 0 },
      { label: 'b: TUN read (event loop), encrypt, UDP send', ns: 'b', ifname: 'eth0', dir: 'out', kind: 'data', peer: lab.ip('a') },
      { label: 'wire b -> a', ns: 'a', ifname: 'eth0', dir: 'in', kind: 'data', peer: lab.ip('b') },
      { label: 'a: UDP read, decrypt, TUN write', ns: 'a', ifname: 'smtun0', dir: 'in', kind: 'icmp', icmpType: 0 },
    ];
    const duR = follow(du.packets, duSteps, du.seqs);
    result['shadowmeshUdp'] = { pingAvgMs: du.pingAvgMs, ...duR };
    text += `\n${render('ShadowMesh direct UDP path (TUN)', du.pingAvgMs, duR)}`;
    await da.stop();
    await db.stop();
    await relay.stop();

    const wg = await setupWireguard(lab, ['a', 'b']);
    if ((await waitForPing(lab, 'a', wg.ip('b'), 30_000)) === null) throw new Error('no ping across wireguard-go');
    log(`wireguard-go: ${count} pings`);
    const w = await capture(lab, ['a', 'b'], wg.ip('b'), count);
    const wa = wg.ifname('a');
    const wb = wg.ifname('b');
    const wgSteps: Step[] = [
      { label: `start: echo request leaves a's kernel into ${wa}`, ns: 'a', ifname: wa, dir: 'out', kind: 'icmp', icmpType: 8 },
      { label: 'a: TUN read, encrypt, UDP send', ns: 'a', ifname: 'eth0', dir: 'out', kind: 'data', peer: lab.ip('b') },
      { label: 'wire a -> b', ns: 'b', ifname: 'eth0', dir: 'in', kind: 'data', peer: lab.ip('a') },
      { label: 'b: UDP read, decrypt, TUN write', ns: 'b', ifname: wb, dir: 'in', kind: 'icmp', icmpType: 8 },
      { label: 'b: kernel answers the echo', ns: 'b', ifname: wb, dir: 'out', kind: 'icmp', icmpType: 0 },
      { label: 'b: TUN read, encrypt, UDP send', ns: 'b', ifname: 'eth0', dir: 'out', kind: 'data', peer: lab.ip('a') },
      { label: 'wire b -> a', ns: 'a', ifname: 'eth0', dir: 'in', kind: 'data', peer: lab.ip('b') },
      { label: 'a: UDP read, decrypt, TUN write', ns: 'a', ifname: wa, dir: 'in', kind: 'icmp', icmpType: 0 },
    ];
    const wgR = follow(w.packets, wgSteps, w.seqs);
    result['wireguard'] = { pingAvgMs: w.pingAvgMs, ...wgR };
    text += `\n${render('wireguard-go', w.pingAvgMs, wgR)}`;
  } finally {
    await lab.teardown();
    await net.cleanup();
  }
  process.stdout.write(`${text}\n${JSON.stringify(result)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
