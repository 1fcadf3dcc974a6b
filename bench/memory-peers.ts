/**
 * Daemon memory with many peers (issue 3 target: RSS under 150 MiB at 100
 * peers). On 127.0.0.1, no root needed:
 *
 *   - a relay process (`shadowmesh relay`, testkit/relay-process.ts);
 *   - the daemon under test: `shadowmesh up --dev none` in its own process;
 *   - PEERS members as in-process ShadowNodes in this process, each of which
 *     sends the daemon a payload, so the daemon answers PEERS handshakes and
 *     holds PEERS end-to-end sessions (key pairs, replay windows, timers,
 *     queues), then keeps sending one payload per member per second.
 *
 * The daemon's VmRSS (/proc) is read before any peer, once all sessions are
 * up, and during HOLD_SECONDS of traffic (maximum and last).
 *
 *     node dist/bench/memory-peers.js [--peers N] [--hold S]
 *
 * Progress on stderr; a summary and, last, one JSON line on stdout.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { MembershipVerifier } from '../src/identity/membership.js';
import { ShadowNode } from '../src/node/node.js';
import { CLI_MAIN_PATH, startRelayProcess } from '../testkit/relay-process.js';
import { createTestNetwork, type TestMember } from '../testkit/test-network.js';
import { MIB, rssBytes } from './proc-stats.js';

const PEERS_DEFAULT = 100;
const HOLD_SECONDS_DEFAULT = 30;
/** All handshakes (hybrid KEM + signatures, noble on Node 20) done within this. */
const SESSIONS_TIMEOUT_MS = 180_000;

function log(msg: string): void {
  process.stderr.write(`[memory-peers] ${msg}\n`);
}

function numArg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!(Number.isInteger(v) && v > 0)) throw new Error(`${name}: expected a positive integer`);
  return v;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const peers = numArg('--peers', PEERS_DEFAULT);
  const holdS = numArg('--hold', HOLD_SECONDS_DEFAULT);
  log(`creating a network with ${peers + 1} members`);
  const net = await createTestNetwork();
  const daemonMember = await net.addMember('daemon');
  const members: TestMember[] = [];
  for (let i = 0; i < peers; i++) members.push(await net.addMember(`m${i}`, { address: `10.78.${Math.floor(i / 200)}.${2 + (i % 200)}/16` }));
  // Every simulated member connects from 127.0.0.1 at once: lift the per-address pending share (one host stands in for many).
  const relay = await startRelayProcess({ caFile: net.caFile, args: ['--max-pending-per-address', '1000'] });
  const control = join(net.dir, 'daemon.sock');
  const daemon = spawn(process.execPath, [
    CLI_MAIN_PATH, 'up', '--p2p-listen', '127.0.0.1', '--relay', relay.url, '--pin', relay.pin, '--ca', net.caFile, '--cert', daemonMember.certFile,
    '--dir', daemonMember.dir, '--dev', 'none', '--control', control,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let daemonErr = '';
  daemon.stderr?.setEncoding('utf8');
  daemon.stderr?.on('data', (c: string) => (daemonErr = (daemonErr + c).slice(-8_000)));
  const pid = daemon.pid as number;
  const killDaemon = (): void => {
    if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL');
  };
  process.on('exit', killDaemon);
  const nodes: ShadowNode[] = [];
  const samples: Array<{ atS: number; phase: string; rssMiB: number }> = [];
  const t0 = Date.now();
  const sample = (phase: string): number => {
    const r = (rssBytes(pid) ?? 0) / MIB;
    samples.push({ atS: (Date.now() - t0) / 1_000, phase, rssMiB: r });
    return r;
  };
  let result: Record<string, unknown> = {};
  try {
    for (;;) {
      if (daemon.exitCode !== null) throw new Error(`daemon exited: ${daemonErr}`);
      const r = spawnSync(process.execPath, [CLI_MAIN_PATH, 'status', '--json', '--control', control], { encoding: 'utf8', timeout: 10_000 });
      if (r.status === 0) break;
      if (Date.now() - t0 > 30_000) throw new Error(`daemon control API not answering: ${daemonErr}`);
      await sleep(200);
    }
    await sleep(3_000);
    const idle = sample('no peers');
    log(`daemon up, RSS ${idle.toFixed(1)} MiB with no peers; starting ${peers} members`);
    const verifier = new MembershipVerifier(net.ca);
    let established = 0;
    const allUp = new Promise<void>((resolve) => {
      for (const m of members) {
        const node = new ShadowNode(
          { signer: m.signer, peerId: m.peerId, certificate: m.certificate, verifier },
          // Loopback only, direct paths included (they bind and advertise 127.0.0.1).
          { relay: { url: relay.url, pin: relay.pin }, direct: { listenHost: '127.0.0.1' } },
        );
        node.on('established', () => {
          if (++established === peers) resolve();
        });
        node.once('relay', () => node.send(daemonMember.peerId, new Uint8Array(64)));
        nodes.push(node);
        node.start();
      }
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([allUp, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`only ${established} of ${peers} sessions after ${SESSIONS_TIMEOUT_MS} ms`)), SESSIONS_TIMEOUT_MS)))]);
    clearTimeout(timer);
    const peersOut = spawnSync(process.execPath, [CLI_MAIN_PATH, 'peers', '--json', '--control', control], { encoding: 'utf8', timeout: 10_000 });
    const list = JSON.parse(peersOut.stdout) as unknown;
    const daemonPeers = Array.isArray(list) ? list.length : Array.isArray((list as { peers?: unknown[] }).peers) ? (list as { peers: unknown[] }).peers.length : -1;
    const up = sample('sessions up');
    log(`${established} sessions up after ${((Date.now() - t0) / 1_000).toFixed(1)} s; daemon lists ${daemonPeers} peers; RSS ${up.toFixed(1)} MiB`);
    let max = up;
    for (let s = 0; s < holdS; s++) {
      for (const n of nodes) n.send(daemonMember.peerId, new Uint8Array(1_000));
      await sleep(1_000);
      max = Math.max(max, sample('traffic'));
    }
    const last = samples[samples.length - 1]!.rssMiB;
    log(`after ${holdS} s of traffic: RSS ${last.toFixed(1)} MiB (max ${max.toFixed(1)})`);
    result = { peers, daemonPeers, holdS, rssNoPeersMiB: idle, rssSessionsUpMiB: up, rssMaxMiB: max, rssLastMiB: last, samples };
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
    daemon.kill('SIGTERM');
    await new Promise((resolve) => (daemon.exitCode !== null ? resolve(null) : daemon.once('exit', resolve)));
    await relay.stop();
    await net.cleanup();
  }
  process.stdout.write(`daemon (--dev none) with ${peers} peers: RSS ${(result['rssNoPeersMiB'] as number).toFixed(1)} MiB with none, ${(result['rssSessionsUpMiB'] as number).toFixed(1)} MiB with all sessions up, max ${(result['rssMaxMiB'] as number).toFixed(1)} MiB over ${holdS} s of traffic\n`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
