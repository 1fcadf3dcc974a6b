/**
 * Where the time goes on the data path: the netns benchmark's ShadowMesh
 * scenario (src/demo/netns-lab.ts: relay, a, b; `shadowmesh up` in a and
 * b, the relay in its own namespace) with every ShadowMesh process started
 * under `node --cpu-prof`, then a ping run and a single-stream iperf3 from a
 * to b. After a graceful stop (SIGTERM, so V8 writes the profiles) it prints
 * per process: CPU seconds (user/system, from /proc) during the load, the top
 * self-time functions, and the inclusive time of the data-path stages.
 *
 *     node dist/bench/netns-profile.js [--dev tun|tap] [--seconds N] [--pings N] [--keep DIR]
 *
 * --seconds 0 leaves out the iperf3 run, so the profile shows what an idle
 * link's echoes cost (--pings of them, 10 ms apart; 200 by default).
 * The daemons take whichever path they settle on (direct UDP between the two
 * namespaces once it is up, the relay before that); the stage table names
 * both paths' functions.
 *
 * Root only. The profiles stay in a temp directory (printed), or in --keep DIR.
 * The last stdout line is JSON with everything printed above.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNetnsLab } from '../src/demo/netns-lab.js';
import { measureIperf3, measurePing } from '../testkit/netns-measure.js';
import { LAB_RELAY_PORT, START_TIMEOUT_MS, waitForPing } from '../testkit/netns-shadowmesh.js';
import { CLI_MAIN_PATH, parseRelayStartupLine } from '../testkit/relay-process.js';
import type { LabProcess, NetnsLab } from '../src/demo/netns-lab.js';
import { createTestNetwork } from '../testkit/test-network.js';
import { summarizeProfile, type CpuProfile, type ProfileSummary } from './cpuprofile.js';
import { cpuTimes, type CpuTimes } from './proc-stats.js';

const MESH_A = '10.10.10.3';
const MESH_B = '10.10.10.4';
const TOP = 15;
/** Functions whose inclusive time names a stage of the data path (matched as prefixes of the label). */
const STAGES: ReadonlyArray<[string, string]> = [
  ['device read batch (JS)', '#onNativeBatch '],
  ['dataplane from device', '#fromDevice '],
  ['session encrypt (copy + seal)', 'encrypt (dist/src/node/session'],
  ['AEAD seal', 'sealInPlace '],
  ['relay link send', 'send (dist/src/node/path/relay-link'],
  ['ws send (framing, mask, socket write)', 'send (node_modules/ws/lib/websocket'],
  ['relay forward', 'forward (dist/src/relay/relay-server'],
  ['ws receive (parse, unmask)', 'onMessage (node_modules/ws'],
  ['peer frame in', 'onFrame (dist/src/node/session/peer-manager'],
  ['session decrypt', 'decrypt (dist/src/node/session'],
  ['AEAD open', 'open (dist/src/crypto/aead'],
  ['UDP datagram in', '#onDatagram (dist/src/node/path/udp-transport'],
  ['UDP path send', 'send (dist/src/node/path/udp-path'],
  ['dataplane to device', '#flushDevice '],
  ['device write (write(2))', 'write (dist/src/node/device/native-device'],
  ['TLS socket read (onStreamRead)', 'onStreamRead '],
  ['garbage collector', '(garbage collector)'],
];

function log(msg: string): void {
  process.stderr.write(`[netns-profile] ${msg}\n`);
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

export interface ProcessProfile {
  process: string;
  cpu: { userS: number; systemS: number; seconds: number };
  busyMs: number;
  wallMs: number;
  top: Array<{ name: string; ms: number; pctBusy: number }>;
  stages: Array<{ stage: string; ms: number; pctBusy: number }>;
}

function loadProfile(dir: string): ProfileSummary {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length !== 1) throw new Error(`${dir}: expected one .cpuprofile, found ${files.length}`);
  return summarizeProfile(JSON.parse(readFileSync(join(dir, files[0]!), 'utf8')) as CpuProfile);
}

function describe(name: string, s: ProfileSummary, cpu: { userS: number; systemS: number; seconds: number }): ProcessProfile {
  const pct = (ms: number): number => (s.busyMs > 0 ? (100 * ms) / s.busyMs : 0);
  const top = s.self.filter((f) => f.name !== '(idle)').slice(0, TOP).map((f) => ({ name: f.name, ms: f.ms, pctBusy: pct(f.ms) }));
  const stages = STAGES.map(([stage, prefix]) => {
    const ms = s.inclusive.filter((f) => f.name.startsWith(prefix)).reduce((a, f) => a + f.ms, 0);
    return { stage, ms, pctBusy: pct(ms) };
  }).filter((x) => x.ms > 0);
  return { process: name, cpu, busyMs: s.busyMs, wallMs: s.wallMs, top, stages };
}

function print(p: ProcessProfile): void {
  const out: string[] = [];
  out.push(`\n== ${p.process}: CPU during load ${p.cpu.userS.toFixed(2)} s user + ${p.cpu.systemS.toFixed(2)} s sys over ${p.cpu.seconds.toFixed(1)} s; main thread busy ${(p.busyMs / 1_000).toFixed(2)} s of ${(p.wallMs / 1_000).toFixed(1)} s profiled`);
  out.push('  top self time:');
  for (const f of p.top) out.push(`    ${f.ms.toFixed(0).padStart(7)} ms ${f.pctBusy.toFixed(1).padStart(5)} %  ${f.name}`);
  out.push('  stages (inclusive):');
  for (const s of p.stages) out.push(`    ${s.ms.toFixed(0).padStart(7)} ms ${s.pctBusy.toFixed(1).padStart(5)} %  ${s.stage}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

function upArgs(relay: { url: string; pin: string }, caFile: string, certFile: string, dir: string, dev: string): string[] {
  return ['up', '--relay', relay.url, '--pin', relay.pin, '--ca', caFile, '--cert', certFile, '--dir', dir, '--dev', dev, '--name', `sm${dev}0`];
}

/** `shadowmesh up` under `node --cpu-prof` (not allowed in NODE_OPTIONS), ready once its control API answers. */
async function startProfiledDaemon(lab: NetnsLab, node: string, profDir: string, args: string[], control: string): Promise<LabProcess> {
  const proc = lab.spawn(node, [process.execPath, '--cpu-prof', `--cpu-prof-dir=${profDir}`, CLI_MAIN_PATH, ...args], { label: `${node}:up` });
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (!proc.alive()) throw new Error(`up on ${node} exited: ${proc.stderr().slice(-2_000)}`);
    const r = await lab.exec(node, [process.execPath, CLI_MAIN_PATH, 'status', '--json', '--control', control], { timeoutMs: 5_000 });
    if (r.code === 0) return proc;
    if (Date.now() > deadline) throw new Error(`up on ${node}: control API not answering: ${r.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function main(): Promise<void> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new Error('needs root (network namespaces)');
  const dev = (arg('--dev') ?? 'tun') as 'tun' | 'tap';
  if (dev !== 'tun' && dev !== 'tap') throw new Error('--dev: tun or tap');
  const seconds = Number(arg('--seconds') ?? '10');
  if (!(seconds >= 0 && seconds <= 120)) throw new Error('--seconds: 0..120');
  const pings = Number(arg('--pings') ?? '200');
  if (!(Number.isInteger(pings) && pings >= 1 && pings <= 100_000)) throw new Error('--pings: 1..100000');
  const root = arg('--keep') ?? mkdtempSync(join(tmpdir(), 'sm-profile-'));
  const dirs = { relay: join(root, 'relay'), a: join(root, 'a'), b: join(root, 'b') };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  log(`profiles in ${root}`);

  const lab = await createNetnsLab({ nodes: ['relay', 'a', 'b'] });
  const net = await createTestNetwork();
  const results: ProcessProfile[] = [];
  let ping: { avgMs: number; p99Ms: number } | null = null;
  let mbps = 0;
  try {
    const ma = await net.addMember('a', { address: `${MESH_A}/24` });
    const mb = await net.addMember('b', { address: `${MESH_B}/24` });
    const relayData = join(root, 'relay-data');
    mkdirSync(relayData, { recursive: true });
    const relayProc = lab.spawn('relay', [process.execPath, '--cpu-prof', `--cpu-prof-dir=${dirs.relay}`, CLI_MAIN_PATH, 'relay', '--listen', `${lab.ip('relay')}:${LAB_RELAY_PORT}`, '--ca', net.caFile, '--data', relayData], { label: 'relay' });
    const info = parseRelayStartupLine((await relayProc.waitForLine(/^relay listening on /, START_TIMEOUT_MS)).input);
    if (info === null) throw new Error('relay: no startup line');
    const a = await startProfiledDaemon(lab, 'a', dirs.a, [...upArgs(info, net.caFile, ma.certFile, ma.dir, dev), '--control', join(root, 'a.sock')], join(root, 'a.sock'));
    const b = await startProfiledDaemon(lab, 'b', dirs.b, [...upArgs(info, net.caFile, mb.certFile, mb.dir, dev), '--control', join(root, 'b.sock')], join(root, 'b.sock'));
    const relay = { proc: relayProc, stop: () => relayProc.stop() };
    if ((await waitForPing(lab, 'a', MESH_B, 30_000)) === null) throw new Error('no ping across the tunnel');
    const procs = { relay: relay.proc.pid, a: a.pid, b: b.pid };
    const before: Record<string, CpuTimes | null> = {};
    for (const [k, pid] of Object.entries(procs)) before[k] = cpuTimes(pid);
    const t0 = Date.now();
    log(`ping x${pings}`);
    const p = await measurePing(lab, 'a', MESH_B, { count: pings, intervalS: 0.01 });
    ping = { avgMs: p.avgMs, p99Ms: p.p99Ms };
    if (seconds > 0) {
      log(`iperf3 1 stream ${seconds} s`);
      mbps = (await measureIperf3(lab, 'a', 'b', MESH_B, { seconds })).bitsPerSecond / 1e6;
    }
    const loadS = (Date.now() - t0) / 1_000;
    const cpu: Record<string, { userS: number; systemS: number; seconds: number }> = {};
    for (const [k, pid] of Object.entries(procs)) {
      const x = cpuTimes(pid);
      const y = before[k];
      cpu[k] = x === null || y === null || y === undefined ? { userS: 0, systemS: 0, seconds: loadS } : { userS: x.userS - y.userS, systemS: x.systemS - y.systemS, seconds: loadS };
    }
    for (const d of [a, b]) await d.stop();
    await relay.stop();
    results.push(describe('daemon a (sender: device read -> encrypt -> relay link)', loadProfile(dirs.a), cpu['a']!));
    results.push(describe('relay (forward)', loadProfile(dirs.relay), cpu['relay']!));
    results.push(describe('daemon b (receiver: relay link -> decrypt -> device write; sends the ACKs)', loadProfile(dirs.b), cpu['b']!));
  } finally {
    await lab.teardown();
    await net.cleanup();
  }
  process.stdout.write(`ShadowMesh (${dev.toUpperCase()}, the path the daemons settled on): ping avg ${ping?.avgMs.toFixed(3)} ms p99 ${ping?.p99Ms.toFixed(3)} ms; iperf3 1 stream ${mbps.toFixed(0)} Mbit/s\n`);
  for (const r of results) print(r);
  process.stdout.write(`${JSON.stringify({ dev, seconds, ping, mbps, profiles: results, dir: root })}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
