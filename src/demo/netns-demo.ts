/**
 * The root variant of `shadowmesh demo` (what `npm start` runs as root): a
 * real local mesh in Linux network namespaces. Three namespaces (relay,
 * alice, bob) are joined by a bridge; the relay and two `shadowmesh up`
 * daemons run as separate processes with real TAP devices (sm0) carrying
 * 10.10.10.3/24 and 10.10.10.4/24. Once a second the kernel's own `ping`
 * crosses the encrypted tunnel from alice to bob, and every few seconds the
 * daemon's `peers` shows the path (the relay first, then the direct TLS path
 * between the two namespaces) and the session counters. Ctrl-C (or
 * --count) stops the processes and deletes every namespace (`sm-` prefix) and
 * the temporary directory.
 *
 * Built on the namespace lab the tests use (src/demo/netns-lab.ts), so the
 * demo a newcomer sees is the topology CI proves.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initCa, signMember, CA_CERT_FILE } from '../identity/ca.js';
import { saveMemberCertificate } from '../identity/files.js';
import { createIdentity } from '../identity/key-file.js';
import { formatPeerId } from '../identity/peer-id.js';
import { createNetnsLab } from './netns-lab.js';
import { startLabDaemon, startLabRelay, waitForPing, type LabDaemon } from './lab-daemons.js';

/** How long the first ping may take: admission, presence, the post-quantum handshake and ARP. */
const FIRST_PING_TIMEOUT_MS = 30_000;
const PING_INTERVAL_MS = 1_000;
/** Show the daemon's view of the peer every this many pings. */
const PEERS_EVERY = 5;

const MEMBERS = [
  { name: 'alice', ip: '10.10.10.3/24' },
  { name: 'bob', ip: '10.10.10.4/24' },
] as const;

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

interface PeerView { name: string | null; path: string; carrier: string; remote: string; rttMs: number | null; session: { established: boolean }; stats: { framesIn: number; framesOut: number; bytesIn: number; bytesOut: number } }

export async function runNetnsDemo(count: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'shadowmesh-demo-'));
  const lab = await createNetnsLab({ nodes: ['relay', 'alice', 'bob'] });
  try {
    say(`ShadowMesh local mesh in network namespaces (${lab.id}-*), files in ${dir}`);
    await initCa(join(dir, 'ca'), { name: 'demo network' });
    const caFile = join(dir, 'ca', CA_CERT_FILE);
    const certs: Record<string, string> = {};
    for (const m of MEMBERS) {
      const id = await createIdentity(join(dir, m.name));
      const cert = await signMember(join(dir, 'ca'), { name: m.name, addresses: [m.ip], publicKey: id.publicKey });
      certs[m.name] = join(dir, m.name, 'member.crt');
      await saveMemberCertificate(certs[m.name]!, cert);
      say(`  member ${m.name.padEnd(5)} ${m.ip.padEnd(14)} peer id ${formatPeerId(id.peerId)}`);
    }
    const relay = await startLabRelay(lab, 'relay', { caFile });
    say(`  relay in ${lab.node('relay').ns}: ${relay.url} pin ${relay.pin}`);
    const daemons: Record<string, LabDaemon> = {};
    for (const m of MEMBERS) {
      daemons[m.name] = await startLabDaemon(lab, m.name, {
        relay: { url: relay.url, pin: relay.pin }, caFile, certFile: certs[m.name]!, dir: join(dir, m.name), dev: 'tap', ifname: 'sm0',
      });
      say(`  ${m.name} up in ${lab.node(m.name).ns}: TAP sm0 ${m.ip}, joined through the relay`);
    }
    const bobIp = MEMBERS[1].ip.split('/')[0]!;
    const took = await waitForPing(lab, 'alice', bobIp, FIRST_PING_TIMEOUT_MS);
    if (took === null) throw new Error(`no ping from alice to ${bobIp} within ${FIRST_PING_TIMEOUT_MS} ms`);
    say(`  first ping alice -> bob answered after ${took} ms (admission, presence, X25519 + ML-KEM-1024 handshake, ARP)`);

    let stop = false;
    const onSignal = (): void => { stop = true; };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    say('  pinging bob from alice through the tunnel; Ctrl-C to stop');
    let answered = 0;
    let sent = 0;
    try {
      while (!stop && sent < count) {
        sent++;
        const r = await lab.exec('alice', ['ping', '-n', '-c', '1', '-W', '2', bobIp], { timeoutMs: 5_000 });
        const rtt = /time=([\d.]+) ms/.exec(r.stdout)?.[1];
        if (r.code === 0 && rtt !== undefined) answered++;
        let line = `  ping ${sent}: 10.10.10.3 -> ${bobIp} ${rtt !== undefined ? `${rtt} ms` : 'no reply'}`;
        if (sent % PEERS_EVERY === 1) {
          const peers = (await daemons['alice']!.peers()) as { peers: PeerView[] };
          const p = peers.peers.find((x) => x.name === 'bob');
          if (p) line += `; alice's session with bob: path ${p.path === 'direct' ? `direct ${p.carrier} to ${p.remote}` : 'relay'}, frames out/in ${p.stats.framesOut}/${p.stats.framesIn}, bytes out/in ${p.stats.bytesOut}/${p.stats.bytesIn}`;
        }
        say(line);
        if (!stop && sent < count) await new Promise((r2) => setTimeout(r2, PING_INTERVAL_MS));
      }
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    say(`  ${answered}/${sent} pings answered; stopping and removing the namespaces`);
    if (answered < sent) process.exitCode = 1;
  } finally {
    await lab.teardown();
    await rm(dir, { recursive: true, force: true });
  }
}
