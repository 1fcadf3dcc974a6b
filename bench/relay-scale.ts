/**
 * One relay process holding many admitted members (issue 13 scale target:
 * 10,000 members, relay RSS ≤ 1 GiB; docs/architecture.md "Relay cluster").
 * On 127.0.0.1, no root needed:
 *
 *   - a real relay process (`shadowmesh relay`, testkit/relay-process.ts,
 *     under this Node), --max-clients above N;
 *   - N lightweight simulated members in this process: each opens TLS and
 *     the WebSocket and runs the real admission (HELLO with its real
 *     CA-signed certificate, AUTH with its real hybrid signature over the
 *     relay's challenge), then stays connected, reads and discards what the
 *     relay sends (PRESENCE entries for every other member: peer id,
 *     certificate digest, admission time) and answers its PINGs. It fetches
 *     no certificates (a node fetches them on demand, src/node/cert-fetcher.ts).
 *     Identities come from bench/scale-identities.ts (made in worker threads,
 *     cached under the OS temp directory by count).
 *
 * Admissions run CONCURRENCY at a time. Reported: members admitted, the
 * admission rate (admissions/s over the wall time from the first connect to
 * the last ESTABLISHED), the relay's RSS once all are admitted and after
 * presence settled (maximum seen), its CPU time, up entries and PRESENCE
 * frames sent, and presence bytes per member (the relay's PRESENCE bytes
 * over the members admitted; each receives ~73 bytes per other member).
 * A run stops admitting at --max-seconds, or once the relay's RSS passes
 * --max-rss-mib, and reports what it reached. The relay's handshake timeout
 * is raised to 60 s: on a loaded machine an admission waits its turn
 * instead of being refused. Where the relay's memory is (V8 heap, external,
 * ArrayBuffers, the malloc heap, other anonymous mappings) comes from
 * bench/memory-probe.ts loaded into the relay process, and is logged with
 * every progress line and reported once all are admitted and once settled.
 * The relay gets this process's environment, so MALLOC_ARENA_MAX and the
 * like set for the benchmark reach it.
 *
 *     node dist/bench/relay-scale.js [--members N] [--max-seconds S] [--max-rss-mib M]
 *     (N also from SHADOWMESH_SCALE_MEMBERS; default 10000)
 *
 * Progress on stderr; a summary and, last, one JSON line on stdout.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRelayProcess } from '../testkit/relay-process.js';
import type { MemoryProbe } from './memory-probe.js';
import { admitLight, type LightMember } from './light-member.js';
import { cpuTimes, MIB, rssBytes } from './proc-stats.js';
import { loadOrMakeIdentities, type ScaleMember } from './scale-identities.js';

const MEMBERS_DEFAULT = 10_000;
const MAX_SECONDS_DEFAULT = 600;
/** Stop admitting once the relay's RSS passes this (MiB): the machine is shared, and past 1 GiB the goal is missed anyway. */
const MAX_RSS_MIB_DEFAULT = 4096;
/** Admissions in flight at once: enough to keep the relay's core busy, under its pending bounds. */
const CONCURRENCY = 32;
/** After the last admission, presence keeps flowing; wait this long for the relay to go quiet. */
const SETTLE_MAX_MS = 120_000;

function log(msg: string): void {
  process.stderr.write(`[relay-scale] ${msg}\n`);
}

function numArg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!(Number.isInteger(v) && v > 0)) throw new Error(`${name}: expected a positive integer`);
  return v;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface RelayScaleResult {
  date: string;
  node: string;
  target: number;
  admitted: number;
  failed: number;
  identitiesCached: boolean;
  identitySeconds: number;
  admissionSeconds: number;
  admissionsPerSecond: number;
  rssIdleMiB: number;
  rssAdmittedMiB: number;
  rssMaxMiB: number;
  rssSettledMiB: number;
  relayCpuUserS: number;
  relayCpuSystemS: number;
  peerUpSent: number;
  presenceFrames: number;
  presenceBytes: number;
  presenceBytesPerMember: number;
  presenceDrops: number;
  settleSeconds: number;
  stoppedEarly: boolean;
  /** Why it stopped early: 'time' or 'rss'. */
  stopReason: string | null;
  /** The relay's memory breakdown once all were admitted and once settled (bench/memory-probe.ts); null if the probe wrote nothing. */
  memoryAdmitted: MemoryProbe | null;
  memorySettled: MemoryProbe | null;
}

function readProbe(file: string): MemoryProbe | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as MemoryProbe;
  } catch {
    return null;
  }
}

/** `heap 123 / ext 4 / ab 3 / malloc 300 / anon 150 MiB`: one probe on one line. */
export function formatProbe(p: MemoryProbe | null): string {
  if (p === null) return 'no memory probe';
  const m = (x: number): string => (x / MIB).toFixed(0);
  return `V8 heap used ${m(p.heapUsed)} of ${m(p.heapTotal)}, external ${m(p.external)} (ArrayBuffers ${m(p.arrayBuffers)}), malloc [heap] ${m(p.mallocHeapRss)}, other anon ${m(p.anonOtherRss)} MiB`;
}

async function main(): Promise<void> {
  const target = numArg('--members', Number(process.env['SHADOWMESH_SCALE_MEMBERS'] ?? MEMBERS_DEFAULT));
  const maxSeconds = numArg('--max-seconds', MAX_SECONDS_DEFAULT);
  const maxRss = numArg('--max-rss-mib', MAX_RSS_MIB_DEFAULT) * MIB;
  const t0 = Date.now();
  let lastReport = 0;
  const ids = await loadOrMakeIdentities(target, (done) => {
    if (Date.now() - lastReport > 5_000) {
      lastReport = Date.now();
      log(`identities: ${done}/${target}`);
    }
  });
  const identitySeconds = (Date.now() - t0) / 1000;
  log(`${target} identities ${ids.cached ? 'from the cache' : 'made'} in ${identitySeconds.toFixed(1)} s (${ids.dir})`);

  const probeDir = mkdtempSync(join(tmpdir(), 'shadowmesh-relay-scale-'));
  const probeFile = join(probeDir, 'memory.json');
  const probeModule = fileURLToPath(new URL('./memory-probe.js', import.meta.url));
  const relay = await startRelayProcess({
    caFile: ids.caFile,
    env: { NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --import ${probeModule}`.trim(), SHADOWMESH_MEMORY_PROBE_FILE: probeFile },
    args: ['--max-clients', String(target + 100), '--max-pending', String(CONCURRENCY * 4), '--max-pending-per-address', String(CONCURRENCY * 4), '--no-stun', '--heartbeat', '5m', '--idle-timeout', '10m', '--handshake-timeout', '60s'],
  });
  const held: LightMember[] = [];
  let rssMax = 0;
  const sample = (): number => {
    const r = rssBytes(relay.pid) ?? 0;
    rssMax = Math.max(rssMax, r);
    return r;
  };
  const sampler = setInterval(sample, 250);
  try {
    const rssIdle = sample();
    const start = Date.now();
    const deadline = start + maxSeconds * 1000;
    let next = 0;
    let failed = 0;
    let lastEstablished = start;
    const runner = async (): Promise<void> => {
      while (next < target && Date.now() < deadline && rssMax < maxRss) {
        const m = ids.members[next++] as ScaleMember;
        try {
          held.push(await admitLight(relay, m));
          lastEstablished = Date.now();
        } catch (err) {
          failed++;
          if (failed <= 5) log(`admission failed: ${(err as Error).message}`);
        }
        if (held.length % 500 === 0 && held.length > 0) log(`admitted ${held.length} in ${((Date.now() - start) / 1000).toFixed(1)} s, relay RSS ${(sample() / MIB).toFixed(0)} MiB: ${formatProbe(readProbe(probeFile))}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, runner));
    const admissionSeconds = (lastEstablished - start) / 1000;
    const rssAdmitted = sample();
    const memoryAdmitted = readProbe(probeFile);
    log(`all admitted: relay RSS ${(rssAdmitted / MIB).toFixed(0)} MiB: ${formatProbe(memoryAdmitted)}`);
    const stats = await relay.stats();
    log(`relay reports ${stats.activeClients} active, ${stats.admissions} admissions; waiting for presence to settle`);
    // Presence to the members keeps flowing after the last admission; wait until the relay's CPU goes quiet.
    const settleStart = Date.now();
    let prev = cpuTimes(relay.pid);
    while (Date.now() - settleStart < SETTLE_MAX_MS) {
      await sleep(1_000);
      const now = cpuTimes(relay.pid);
      if (now !== null && prev !== null && now.userS + now.systemS - (prev.userS + prev.systemS) < 0.05) break;
      prev = now;
    }
    const settleSeconds = (Date.now() - settleStart) / 1000;
    const rssSettled = sample();
    // The probe writes every second: wait for one taken after the settle.
    await sleep(1_500);
    const memorySettled = readProbe(probeFile);
    log(`settled: relay RSS ${(rssSettled / MIB).toFixed(0)} MiB: ${formatProbe(memorySettled)}`);
    const cpu = cpuTimes(relay.pid) ?? { userS: 0, systemS: 0 };
    const after = await relay.stats();
    const result: RelayScaleResult = {
      date: new Date().toISOString().slice(0, 10),
      node: process.version,
      target,
      admitted: after.activeClients,
      failed,
      identitiesCached: ids.cached,
      identitySeconds,
      admissionSeconds,
      admissionsPerSecond: held.length / Math.max(admissionSeconds, 0.001),
      rssIdleMiB: rssIdle / MIB,
      rssAdmittedMiB: rssAdmitted / MIB,
      rssMaxMiB: rssMax / MIB,
      rssSettledMiB: rssSettled / MIB,
      relayCpuUserS: cpu.userS,
      relayCpuSystemS: cpu.systemS,
      peerUpSent: after.peerUpSent,
      presenceFrames: after.presence?.framesSent ?? 0,
      presenceBytes: after.presence?.bytesSent ?? 0,
      presenceBytesPerMember: (after.presence?.bytesSent ?? 0) / Math.max(after.activeClients, 1),
      presenceDrops: after.drops['presence-queue-full'] ?? 0,
      settleSeconds,
      stoppedEarly: held.length + failed < target,
      stopReason: held.length + failed >= target ? null : rssMax >= maxRss ? `relay RSS passed ${maxRss / MIB} MiB` : `${maxSeconds} s bound`,
      memoryAdmitted,
      memorySettled,
    };
    process.stdout.write(`${renderRelayScaleSection(result)}\n`);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    clearInterval(sampler);
    for (const h of held) h.close();
    await relay.stop();
    rmSync(probeDir, { recursive: true, force: true });
  }
}

const f1 = (x: number): string => x.toFixed(1);

export function renderRelayScaleSection(r: RelayScaleResult): string {
  return [
    `| members asked | admitted | failed | admissions/s | relay RSS idle / all admitted / max / settled (MiB) | relay CPU user + sys (s) | up entries sent | PRESENCE frames | presence KiB per member | presence drops |`,
    `|---|---|---|---|---|---|---|---|---|---|`,
    `| ${r.target} | ${r.admitted}${r.stopReason !== null ? ` (stopped: ${r.stopReason})` : ''} | ${r.failed} | ${f1(r.admissionsPerSecond)} | ${f1(r.rssIdleMiB)} / ${f1(r.rssAdmittedMiB)} / ${f1(r.rssMaxMiB)} / ${f1(r.rssSettledMiB)} | ${f1(r.relayCpuUserS)} + ${f1(r.relayCpuSystemS)} | ${r.peerUpSent} | ${r.presenceFrames} | ${f1(r.presenceBytesPerMember / 1024)} | ${r.presenceDrops} |`,
  ].join('\n');
}

if (process.argv[1]?.endsWith('relay-scale.js') === true) {
  main().catch((err: unknown) => {
    process.stderr.write(`relay-scale: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
