/**
 * Startup time of the everyday CLI (issue 16: control commands within
 * 150 ms on the project machine): wall time from spawning
 * `node dist/src/cli/main.js ARGS` to its exit, N runs each, median and p90:
 *
 *  - `node -e 0`: the floor, Node's own startup on this machine;
 *  - `shadowmesh --version`;
 *  - `shadowmesh status --json` with no daemon (connect refused: exit 1);
 *  - `shadowmesh status --json`, `peers --json`, `whois alice --json` and
 *    `ip` against a running `up --dev none` daemon (a relay process and the
 *    daemon on 127.0.0.1).
 *
 * What keeps these fast is src/cli/main.ts loading only the chosen
 * command's module (test/cli/control-imports.test.ts guards the import
 * graph). No root needed. `npm run bench` (bench/run.ts) runs it and renders
 * renderCliStartupSection into BENCHMARKS.md.
 *
 * Usage: node dist/bench/cli-startup.js [--runs N]. Progress on stderr; one
 * JSON line, last, on stdout.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { CLI_MAIN_PATH } from '../src/demo/cli-entry.js';
import { startDaemon } from '../testkit/daemon-process.js';
import { startRelayProcess } from '../testkit/relay-process.js';
import { createTestNetwork } from '../testkit/test-network.js';

/** Runs per command: enough for a stable median and p90 in a few seconds each. */
const RUNS_DEFAULT = 30;
/** Runs not counted: the first spawns warm the page cache. */
const WARMUP_RUNS = 3;
/** The target control commands are held to (issue 16). */
export const CONTROL_STARTUP_TARGET_MS = 150;

export interface StartupRow {
  name: string;
  command: string;
  runs: number;
  medianMs: number;
  p90Ms: number;
}

export interface CliStartupResult {
  node: string;
  rows: StartupRow[];
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Spawns `args` RUNS times (after the warm-up) and checks its exit status each time. */
function measure(name: string, args: string[], expectStatus: number, runs: number): StartupRow {
  const times: number[] = [];
  for (let i = 0; i < WARMUP_RUNS + runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const ms = performance.now() - t0;
    if (r.status !== expectStatus) throw new Error(`${name}: exit ${String(r.status)}, expected ${expectStatus}: ${r.stderr}`);
    if (i >= WARMUP_RUNS) times.push(ms);
  }
  times.sort((a, b) => a - b);
  const round = (x: number): number => Math.round(x * 10) / 10;
  const shown = args[0] === CLI_MAIN_PATH ? `shadowmesh ${args.slice(1).filter((a) => !a.includes('/')).join(' ').replace(/ --control$/, ' --control SOCK')}` : `node ${args.join(' ')}`;
  process.stderr.write(`cli-startup: ${name}: median ${round(quantile(times, 0.5))} ms, p90 ${round(quantile(times, 0.9))} ms\n`);
  return { name, command: shown, runs, medianMs: round(quantile(times, 0.5)), p90Ms: round(quantile(times, 0.9)) };
}

export async function runCliStartup(runs: number): Promise<CliStartupResult> {
  const rows: StartupRow[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'sm-bench-cli-'));
  const net = await createTestNetwork({ members: ['alice'] });
  const relay = await startRelayProcess({ caFile: net.caFile, crlFile: net.crlFile });
  const sock = join(dir, 'alice.sock');
  const m = net.member('alice');
  const daemon = await startDaemon(['--relay', relay.url, '--pin', relay.pin, '--ca', net.caFile, '--cert', m.certFile, '--dir', m.dir, '--dev', 'none', '--no-direct', '--control', sock]);
  try {
    rows.push(measure('Node startup (floor)', ['-e', '0'], 0, runs));
    rows.push(measure('--version', [CLI_MAIN_PATH, '--version'], 0, runs));
    rows.push(measure('status, no daemon', [CLI_MAIN_PATH, 'status', '--json', '--control', join(dir, 'none.sock')], 1, runs));
    rows.push(measure('status, daemon running', [CLI_MAIN_PATH, 'status', '--json', '--control', sock], 0, runs));
    rows.push(measure('peers, daemon running', [CLI_MAIN_PATH, 'peers', '--json', '--control', sock], 0, runs));
    rows.push(measure('whois, daemon running', [CLI_MAIN_PATH, 'whois', 'alice', '--json', '--control', sock], 0, runs));
    rows.push(measure('ip, daemon running', [CLI_MAIN_PATH, 'ip', '--control', sock], 0, runs));
  } finally {
    await daemon.stop();
    await relay.stop();
    await net.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
  return { node: process.version, rows };
}

export function renderCliStartupSection(r: CliStartupResult | null, failure?: string): string {
  const head = `## CLI startup

Command: \`npm run bench\` (runs \`node dist/bench/cli-startup.js --runs ${RUNS_DEFAULT}\`; no root, 127.0.0.1 only).

Wall time from spawning the built CLI to its exit, ${r?.rows[0]?.runs ?? RUNS_DEFAULT} runs each after ${WARMUP_RUNS} not counted. The daemon
is a \`shadowmesh up --dev none\` joined to a relay process on 127.0.0.1. Target (issue 16): control commands within
${CONTROL_STARTUP_TARGET_MS} ms; the first row is Node's own startup, which no command can beat.
`;
  if (r === null) return `${head}\nNot measured: ${failure ?? 'failed'}.\n`;
  const rows = r.rows.map((x) => `| ${x.name} | \`${x.command}\` | ${x.medianMs} | ${x.p90Ms} |`);
  return `${head}
Node ${r.node}.

| measurement | command | median ms | p90 ms |
|---|---|---|---|
${rows.join('\n')}
`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf('--runs');
  const runs = i < 0 ? RUNS_DEFAULT : Number(process.argv[i + 1]);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs: expected a positive integer, got ${String(process.argv[i + 1])}`);
  const result = await runCliStartup(runs);
  process.stdout.write(`${renderCliStartupSection(result)}\n${JSON.stringify(result)}\n`);
}
