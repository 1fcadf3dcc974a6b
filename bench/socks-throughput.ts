/**
 * Throughput of the SOCKS5 path (docs/configuration.md "SOCKS5 proxy";
 * docs/protocol.md §6), to put beside the TUN path of
 * bench/netns-throughput.ts. No root needed, 127.0.0.1 only.
 *
 * Five processes: a relay; member bob `up --dev none --serve-loopback`
 * with an HTTP server (a child process) on its loopback; member alice `up
 * --dev none --socks5`; curl as the client. Both members run --no-direct,
 * so every stream frame crosses the relay, as the TUN relay-path row does.
 * Measured: one stream of MIB MiB, and four parallel streams of MIB/4 MiB
 * each (curl --parallel), wall time from curl's start to its exit,
 * goodput in Mbit/s; each body's SHA-256 is checked. ROUNDS rounds, the
 * median reported.
 *
 *     node dist/bench/socks-throughput.js [--mib N] [--rounds N]
 *
 * `npm run bench` (bench/run.ts) runs it and renders renderSocksSection.
 * Progress on stderr; last, one JSON line on stdout.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startDaemon, type DaemonProcess } from '../testkit/daemon-process.js';
import { freePort } from '../testkit/free-port.js';
import { startRelayProcess, type RelayProcess } from '../testkit/relay-process.js';
import { spawnTracked, type TrackedProcess } from '../testkit/tracked-process.js';
import { createTestNetwork, type TestNetwork } from '../testkit/test-network.js';
import type { NetnsBenchResult } from './netns-report.js';

const BLOCK_BYTES = 1024 * 1024;
const HTTP_SERVER = `
const http = require('node:http'); const fs = require('node:fs');
const block = fs.readFileSync(process.argv[1]);
http.createServer((q, s) => {
  const m = /^\\/blocks\\/(\\d+)$/.exec(q.url);
  if (!m) { s.statusCode = 404; s.end(); return; }
  let left = Number(m[1]);
  s.writeHead(200, { 'content-length': String(left * block.length) });
  const more = () => { while (left > 0) { left--; if (!s.write(block)) { s.once('drain', more); return; } } s.end(); };
  more();
}).listen(Number(process.argv[2]), '127.0.0.1', () => console.log('listening'));
`;

export interface SocksBenchResult {
  date: string;
  cpus: string;
  node: string;
  mib: number;
  rounds: number;
  singleMbps: number;
  fourMbps: number;
  singleRunsMbps: number[];
  fourRunsMbps: number[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function curl(args: string[]): Promise<{ status: number | null; sha256: string; bytes: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('curl', ['--silent', '--show-error', '--max-time', '600', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const h = createHash('sha256');
    let bytes = 0;
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { h.update(c); bytes += c.length; });
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
    child.once('close', (status) => resolve({ status, sha256: h.digest('hex'), bytes, stderr }));
  });
}

async function main(): Promise<void> {
  const arg = (name: string, dflt: number): number => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : dflt;
  };
  const mib = arg('--mib', 256);
  const rounds = arg('--rounds', 3);
  let net: TestNetwork | null = null;
  let relay: RelayProcess | null = null;
  let http: TrackedProcess | null = null;
  const daemons: DaemonProcess[] = [];
  const work = await mkdtemp(join(tmpdir(), 'sm-socks-bench-'));
  try {
    net = await createTestNetwork({ members: ['alice', 'bob'] });
    const block = randomBytes(BLOCK_BYTES);
    await writeFile(join(work, 'block'), block);
    const hash = (blocks: number): string => {
      const h = createHash('sha256');
      for (let i = 0; i < blocks; i++) h.update(block);
      return h.digest('hex');
    };
    const httpPort = await freePort();
    http = spawnTracked(process.execPath, ['-e', HTTP_SERVER, join(work, 'block'), String(httpPort)], { env: { PATH: process.env.PATH ?? '' } });
    await http.firstLine('http server', 10_000);
    relay = await startRelayProcess({ caFile: net.caFile, crlFile: net.crlFile });
    const common = ['--relay', relay.url, '--pin', relay.pin, '--ca', net.caFile, '--dev', 'none', '--no-direct'];
    const b = net.member('bob');
    daemons.push(await startDaemon([...common, '--cert', b.certFile, '--dir', b.dir, '--serve-loopback', '--control', join(work, 'bob.sock')]));
    const a = net.member('alice');
    const socksPort = await freePort();
    daemons.push(await startDaemon([...common, '--cert', a.certFile, '--dir', a.dir, '--socks5', `127.0.0.1:${socksPort}`, '--control', join(work, 'alice.sock')]));
    const proxy = ['-x', `socks5h://127.0.0.1:${socksPort}`];
    // Warm up: bob listed, the session made.
    for (let i = 0; i < 60; i++) {
      const r = await curl([...proxy, `http://bob:${httpPort}/blocks/1`]);
      if (r.status === 0 && r.bytes === BLOCK_BYTES) break;
      await new Promise((res) => setTimeout(res, 500));
    }
    const singleRunsMbps: number[] = [];
    const fourRunsMbps: number[] = [];
    for (let round = 0; round < rounds; round++) {
      let t0 = performance.now();
      const one = await curl([...proxy, `http://bob:${httpPort}/blocks/${mib}`]);
      let s = (performance.now() - t0) / 1000;
      if (one.status !== 0 || one.sha256 !== hash(mib)) throw new Error(`single stream: curl ${String(one.status)} ${one.stderr.trim()} (${one.bytes} bytes)`);
      singleRunsMbps.push(Math.round((one.bytes * 8) / s / 1e6));
      const quarter = Math.max(1, Math.floor(mib / 4));
      const args = [...proxy, '--parallel', '--parallel-max', '4'];
      for (let i = 0; i < 4; i++) args.push(`http://bob:${httpPort}/blocks/${quarter}`);
      t0 = performance.now();
      const four = await curl(args);
      s = (performance.now() - t0) / 1000;
      if (four.status !== 0 || four.bytes !== 4 * quarter * BLOCK_BYTES) throw new Error(`four streams: curl ${String(four.status)} ${four.stderr.trim()}`);
      fourRunsMbps.push(Math.round((four.bytes * 8) / s / 1e6));
      process.stderr.write(`round ${round + 1}: 1 stream ${singleRunsMbps.at(-1)} Mbit/s, 4 streams ${fourRunsMbps.at(-1)} Mbit/s\n`);
    }
    const result: SocksBenchResult = {
      date: new Date().toISOString().slice(0, 10),
      cpus: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`,
      node: process.version,
      mib, rounds,
      singleMbps: median(singleRunsMbps),
      fourMbps: median(fourRunsMbps),
      singleRunsMbps, fourRunsMbps,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    for (const d of daemons.reverse()) await d.stop();
    await relay?.stop();
    await http?.stop();
    await net?.cleanup();
    await rm(work, { recursive: true, force: true });
  }
}

/** The BENCHMARKS.md section; `tun` is this run's netns result, for the TUN relay path beside it. */
export function renderSocksSection(r: SocksBenchResult | null, tun: NetnsBenchResult | null, failure?: string): string {
  const head = `## SOCKS5 path beside the TUN path

Command: \`npm run bench\` (runs \`node dist/bench/socks-throughput.js --mib ${r?.mib ?? 256} --rounds ${r?.rounds ?? 3}\`; no root, 127.0.0.1 only).

A relay; member bob \`up --dev none --serve-loopback\` with an HTTP server on its loopback; member alice \`up --dev none
--socks5\`; curl through the proxy (\`socks5h://\`). Both members \`--no-direct\`, so every stream frame crosses the
relay like the TUN relay-path row of "Tunnel throughput and latency". One stream of N MiB, then four parallel streams
of N/4 MiB (curl --parallel); wall time of curl, goodput, SHA-256 of each body checked; median of the rounds. The TUN
row is iperf3 in network namespaces (a different client and server): compare orders of magnitude, not digits.
`;
  if (r === null) return `${head}\nNot measured in this run: ${failure ?? 'failed'}.\n`;
  const t = tun?.scenarios.find((s) => s.name.startsWith('ShadowMesh relay path (TUN'));
  const ratio = (a: number, b: number | undefined): string => (b === undefined || !(b > 0) ? '—' : (a / b).toFixed(2));
  return `${head}
Run on ${r.date}, ${r.cpus}, Node ${r.node}.

| path | 1 stream Mbit/s | 4 streams Mbit/s | runs (1 stream / 4 streams) |
|---|---|---|---|
| SOCKS5 → stream layer → relay (--dev none) | ${r.singleMbps} | ${r.fourMbps} | ${r.singleRunsMbps.join(', ')} / ${r.fourRunsMbps.join(', ')} |
| TUN relay path (same \`npm run bench\`) | ${t?.singleMbps !== undefined ? Math.round(t.singleMbps) : '—'} | ${t?.fourMbps !== undefined ? Math.round(t.fourMbps) : '—'} | |

SOCKS5 ÷ TUN: 1 stream ${ratio(r.singleMbps, t?.singleMbps)}, 4 streams ${ratio(r.fourMbps, t?.fourMbps)}.
`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`socks-throughput: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
