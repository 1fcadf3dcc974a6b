/**
 * `shadowmesh demo` (what `npm start` runs): a complete local mesh, so a
 * newcomer sees it work in seconds. As root it runs the real thing in
 * network namespaces with TAP devices (src/demo/netns-demo.ts), after
 * checking that iproute2, ping and /dev/net/tun are there (one coded line
 * saying what to install if not); otherwise, or with --userspace, this file's userspace mesh
 * in one process. In a temporary directory the userspace mesh
 * creates a network CA and two members (alice, bob) with hybrid identities,
 * starts a relay on 127.0.0.1 (TLS 1.3, a fresh pin), joins both members,
 * lets them run the end-to-end post-quantum handshake and then sends a
 * numbered ping from alice to bob and back once a second, printing the round
 * trip, the session and the relay's counters. Ctrl-C (or --count) stops
 * everything and removes the directory.
 *
 * This is the userspace mesh: payloads cross end to end, no TAP/TUN device
 * is created (that needs the node daemon, `shadowmesh up`).
 */
import type { Command } from 'commander';
import { spawnSync } from 'node:child_process';
import { runNetnsDemo } from '../demo/netns-demo.js';
import { DemoCode } from '../demo/demo-errors.js';
import { describeMissing, missingNetnsPrerequisites } from '../demo/prerequisites.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { initCa, signMember } from '../identity/ca.js';
import { createIdentity } from '../identity/key-file.js';
import { MembershipVerifier } from '../identity/membership.js';
import { formatPeerId, shortId } from '../identity/peer-id.js';
import { ShadowNode } from '../node/node.js';
import { RelayServer } from '../relay/relay-server.js';
import { TlsIdentity } from '../relay/tls-identity.js';
import { getPqBackend } from '../crypto/pq-backend.js';
import { createLogger, LOG_FORMAT_ENV } from '../util/logger.js';
import { chooseLogFormat } from './log-format.js';

/** Spacing of the demo's pings: slow enough to read. */
const PING_INTERVAL_MS = 1_000;

interface DemoOptions {
  count?: string;
  userspace?: boolean;
}

/**
 * Root on Linux picks the namespace demo; without root it is the userspace
 * mesh. As root, whatever the namespace demo lacks (src/demo/prerequisites.ts)
 * stops it at once with what to install, rather than quietly showing a
 * different demo than the one asked for.
 */
function wantsNetns(): boolean {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  const missing = missingNetnsPrerequisites();
  if (missing.length > 0) throw new ConfigError(DemoCode.PREREQUISITES, describeMissing(missing));
  if (spawnSync('ip', ['netns', 'list'], { stdio: 'ignore', timeout: 5_000 }).status !== 0) {
    throw new ConfigError(DemoCode.PREREQUISITES, '`ip netns list` fails: this kernel or container does not allow network namespaces; run the userspace mesh instead: shadowmesh demo --userspace');
  }
  return true;
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

export async function runDemo(opts: DemoOptions): Promise<void> {
  const count = opts.count === undefined ? Infinity : Number(opts.count);
  if (!(count >= 1) || (count !== Infinity && !Number.isInteger(count))) {
    throw new ConfigError('SM_ERR_CONFIG_VALUE', `--count: expected a whole number >= 1, got ${JSON.stringify(opts.count)}`);
  }
  if (!opts.userspace && wantsNetns()) {
    await runNetnsDemo(count);
    return;
  }
  const logger = createLogger('demo', { level: process.env['SHADOWMESH_LOG_LEVEL'] ? undefined : 'warn', format: chooseLogFormat(process.env[LOG_FORMAT_ENV], process.stderr) });
  const dir = await mkdtemp(join(tmpdir(), 'shadowmesh-demo-'));
  const cleanups: Array<() => Promise<void>> = [async () => rm(dir, { recursive: true, force: true })];
  const cleanup = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    say(`ShadowMesh local mesh (userspace) in ${dir}`);
    say(`  post-quantum backend: ${getPqBackend().name === 'node' ? 'node:crypto (OpenSSL)' : '@noble/post-quantum'}`);
    const ca = await initCa(join(dir, 'ca'), { name: 'demo network' });
    say(`  network CA "${ca.name}" created (Ed25519 + ML-DSA-87)`);
    const verifier = new MembershipVerifier(ca);
    const members = [];
    for (const [name, ip] of [['alice', '10.10.10.3/24'], ['bob', '10.10.10.4/24']] as const) {
      const identity = await createIdentity(join(dir, name));
      const cert = await signMember(join(dir, 'ca'), { name, addresses: [ip], publicKey: identity.publicKey });
      members.push({ name, identity, cert });
      say(`  member ${name.padEnd(5)} ${ip.padEnd(14)} peer id ${formatPeerId(identity.peerId)}`);
    }
    const tls = await TlsIdentity.load({ dataDir: join(dir, 'relay'), hostnames: ['localhost', '127.0.0.1'] }, Date.now());
    const relay = new RelayServer({ verifier, tls, logger: logger.child('relay') }, { host: '127.0.0.1', port: 0 });
    await relay.start();
    cleanups.push(() => relay.stop());
    say(`  relay listening on ${relay.url} pin ${relay.pin}`);

    const nodes = members.map((m) => {
      const node = new ShadowNode(
        { signer: m.identity.signer, peerId: m.identity.peerId, certificate: m.cert, verifier, logger: logger.child(m.name) },
        // The demo stays on this machine's loopback, direct paths included.
        { relay: { url: relay.url, pin: relay.pin }, direct: { listenHost: '127.0.0.1' } },
      );
      node.start();
      cleanups.push(() => node.stop());
      return node;
    });
    const [alice, bob] = nodes as [ShadowNode, ShadowNode];
    const [ma, mb] = members as [(typeof members)[0], (typeof members)[0]];
    await Promise.all(nodes.map((n) => new Promise<void>((resolve) => n.once('relay', () => resolve()))));
    say('  both members admitted by the relay (hybrid signature over the TLS exporter)');

    // bob echoes every ping back; alice measures the round trip.
    bob.on('payload', (from: Uint8Array, body: Uint8Array) => { bob.send(from, body); });
    const sentAt = new Map<number, number>();
    let received = 0;
    alice.on('payload', (_from: Uint8Array, body: Uint8Array) => {
      const seq = Number(Buffer.from(body).toString().split(' ')[1]);
      const t0 = sentAt.get(seq);
      if (t0 === undefined) return;
      sentAt.delete(seq);
      received++;
      const info = alice.peerList().find((p) => p.peerId === formatPeerId(mb.identity.peerId));
      const st = relay.snapshot();
      say(`  ping ${seq}: alice -> bob -> alice ${(performance.now() - t0).toFixed(2)} ms via relay; ` +
        `session frames out/in ${info?.stats.framesOut ?? 0}/${info?.stats.framesIn ?? 0}; relay routed ${st.framesRouted} sealed frames`);
    });
    alice.once('established', () => say(`  end-to-end session alice <-> bob established (X25519 + ML-KEM-1024, both identities signed)`));

    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => { stop = resolve; });
    const onSignal = (): void => stop();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    cleanups.push(async () => { process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal); });
    say(`  sending pings from ${shortId(ma.identity.peerId)} (alice) to ${shortId(mb.identity.peerId)} (bob); Ctrl-C to stop`);
    let seq = 0;
    const tick = (): void => {
      if (seq >= count) {
        if (sentAt.size === 0 || seq > count + 2) stop();
        else setTimeout(tick, PING_INTERVAL_MS);
        return;
      }
      seq++;
      sentAt.set(seq, performance.now());
      alice.send(mb.identity.peerId, Buffer.from(`ping ${seq}`));
      setTimeout(tick, PING_INTERVAL_MS);
    };
    tick();
    await stopped;
    say(`  ${received}/${seq} pings answered; stopping`);
    if (received < seq) process.exitCode = 1;
  } finally {
    await cleanup();
  }
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run a complete local mesh (a CA, a relay and two members) and ping across it: in network namespaces with TAP devices as root (needs iproute2, ping and /dev/net/tun; says what to install when one is missing), in one process otherwise')
    .option('--count <n>', 'stop after this many pings (default: until Ctrl-C)')
    .option('--userspace', 'run the userspace mesh in this process even as root (no devices, no namespaces)')
    .action(async (opts: DemoOptions) => {
      await runDemo(opts);
    });
}
