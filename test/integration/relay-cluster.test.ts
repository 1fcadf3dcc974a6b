/**
 * Relay cluster over NATS (issue 13, relay side; docs/architecture.md
 * "Relay cluster") with real processes: a real nats-server, three real
 * relay processes joined with --cluster, and four `shadowmesh up --dev none
 * --no-direct` members spread over them (alice and dave on relay 0, bob on
 * relay 1, carol on relay 2). A subscriber on `>` records every NATS
 * message meanwhile.
 *
 * Shows: members of different relays see each other (`users`) and
 * exchange mesh pings and chat across relays; the chat marker never crosses
 * NATS in cleartext; /stats shows the cluster; a relay restarted rejoins
 * and its member is reachable again; with nats-server stopped the relays
 * keep serving their local members, and after it is back they re-sync.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as natsConnect, type NatsConnection } from '@nats-io/transport-node';
import { ControlClient } from '../../src/node/control/control-client.js';
import type { ChatListResult } from '../../src/node/control/control-protocol.js';
import { ClusterMembers } from '../../testkit/cluster-members.js';
import { runCliAsync, unlessUnknownPeer, waitFor } from '../../testkit/daemon-process.js';
import { startNatsServer, type NatsServer } from '../../testkit/nats-server.js';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';
import { freePort } from '../../testkit/free-port.js';
import { scrape } from '../../testkit/metrics-scrape.js';

const MARKER = 'CLUSTER-PLAINTEXT-MARKER-51c9';
/** Short cluster heartbeat so a dead relay is noticed in 1.5 s (three heartbeats). */
const CLUSTER_HEARTBEAT = '500ms';
const MEMBERS = ['alice', 'bob', 'carol', 'dave'] as const;
const HOME: Record<string, number> = { alice: 0, bob: 1, carol: 2, dave: 0 };
/** How long nats-server stays down (issue 13: 20 s): many times the 1.5 s bound, so every relay sees the others expire. */
const NATS_OUTAGE_MS = 20_000;

let net: TestNetwork;
let nats: NatsServer;
let work: string;
const relays: RelayProcess[] = [];
const relayData: string[] = [];
/** Relay 0 serves Prometheus metrics here. */
let metricsPort = 0;
let recorder: NatsConnection | null = null;
const recorded: Buffer[] = [];
const subjects = new Set<string>();

let members: ClusterMembers;
const sock = (name: string): string => members.sock(name);
const client = (name: string): ControlClient => members.client(name);

async function startRelay(i: number, port?: number): Promise<RelayProcess> {
  return startRelayProcess({
    caFile: net.caFile,
    crlFile: net.crlFile,
    dataDir: relayData[i] as string,
    ...(port !== undefined ? { port } : {}),
    args: ['--cluster', nats.url, '--cluster-name', `relay-${i}`, '--cluster-heartbeat', CLUSTER_HEARTBEAT, '--no-stun', ...(i === 0 ? ['--metrics', `127.0.0.1:${metricsPort}`] : [])],
  });
}

const users = (name: string): Promise<string[]> => members.users(name);
const seesAll = (name: string, timeoutMs = 20_000): Promise<void> => members.seesAll(name, MEMBERS, timeoutMs);
const pingOk = (from: string, to: string, count = 3): Promise<number> => members.ping(from, to, count);

before(async () => {
  net = await createTestNetwork({ members: [...MEMBERS] });
  work = await mkdtemp(join(tmpdir(), 'sm-cluster-'));
  nats = await startNatsServer();
  recorder = await natsConnect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  recorder.subscribe('>', {
    callback: (_err, msg) => {
      subjects.add(msg.subject);
      recorded.push(Buffer.from(msg.data));
    },
  });
  metricsPort = await freePort();
  for (let i = 0; i < 3; i++) relayData.push(await mkdtemp(join(tmpdir(), `sm-cluster-relay${i}-`)));
  for (let i = 0; i < 3; i++) relays.push(await startRelay(i));
  await Promise.all(relays.map((r) => waitFor('relay in the cluster', async () => ((await r.stats()).cluster?.peerRelays.length === 2 ? true : undefined), 15_000)));
  members = new ClusterMembers(net, work);
  await Promise.all(MEMBERS.map((m) => members.start(m, relays[HOME[m] as number] as RelayProcess)));
});

after(async () => {
  await members?.stopAll();
  for (const r of relays) await r.stop();
  await recorder?.close().catch(() => undefined);
  await nats?.stop();
  await net?.cleanup();
  if (work) await rm(work, { recursive: true, force: true });
  for (const d of relayData) await rm(d, { recursive: true, force: true });
});

test('members on three relays see each other and ping and chat across relays; the marker never crosses NATS in cleartext', async () => {
  for (const m of MEMBERS) await seesAll(m);
  for (const [a, b] of [['alice', 'bob'], ['bob', 'carol'], ['carol', 'alice'], ['dave', 'carol'], ['alice', 'dave']] as const) {
    assert.equal(await pingOk(a, b), 3, `${a} -> ${b}`);
  }
  const sent = runCliAsync(['send', 'carol', `${MARKER} from alice`, '--json', '--control', sock('alice')]);
  await waitFor('request at carol', async () => ((await client('carol').call('chat_list', {})) as ChatListResult).conversations.some((c) => c.state === 'requested') ? true : undefined);
  const recv = await runCliAsync(['recv', '--accept', '--control', sock('carol')]);
  assert.equal(recv.status, 0, recv.stderr);
  const s = await sent;
  assert.equal(s.status, 0, s.stderr);
  const got = await runCliAsync(['recv', '--control', sock('carol')]);
  assert.match(got.stdout, new RegExp(`${MARKER} from alice`));

  const all = Buffer.concat(recorded);
  assert.ok([...subjects].some((x) => x.includes('.frames.')), `frames crossed NATS (subjects: ${[...subjects].join(' ')})`);
  assert.ok(all.length > 0);
  assert.equal(all.indexOf(MARKER), -1, 'the chat marker crossed NATS in cleartext');
  assert.ok([...subjects].every((x) => x.startsWith('shadowmesh.')), 'every subject is under the network prefix');

  const stats = await (relays[0] as RelayProcess).stats();
  const c = stats.cluster;
  assert.ok(c !== undefined && c.natsConnected);
  assert.deepEqual(c.peerRelays.map((p) => p.name).sort(), ['relay-1', 'relay-2']);
  assert.equal(c.remoteMembers, 2);
  assert.ok((c.forwarding['relay-1']?.framesOut ?? 0) > 0 && (c.forwarding['relay-2']?.framesIn ?? 0) > 0);
  assert.ok(c.peerRelays.every((p) => p.lastHeartbeatAgoMs < 5_000 && p.members >= 1));

  const metrics = await scrape(metricsPort);
  assert.equal(metrics.get('shadowmesh_relay_cluster_nats_connected')?.samples[0]?.value, 1);
  assert.equal(metrics.get('shadowmesh_relay_cluster_peer_relays')?.samples[0]?.value, 2);
  const out = metrics.get('shadowmesh_relay_cluster_frames_forwarded_total')?.samples.find((x) => x.labels['peer_relay'] === 'relay-1' && x.labels['direction'] === 'out');
  assert.ok((out?.value ?? 0) > 0, 'frames forwarded to relay-1 are counted');
});

test('a relay restarted rejoins the cluster and its member is reachable again', async () => {
  const old = relays[1] as RelayProcess;
  const port = old.port;
  await old.stop();
  await waitFor('bob shown down at alice', async () => ((await users('alice')).includes('bob') ? undefined : true), 15_000);
  relays[1] = await startRelay(1, port);
  await waitFor('relay 1 back in the cluster', async () => ((await (relays[1] as RelayProcess).stats()).cluster?.peerRelays.length === 2 ? true : undefined), 15_000);
  await seesAll('alice', 30_000);
  await seesAll('bob', 30_000);
  await waitFor('alice pings bob again', async () => (((await unlessUnknownPeer(pingOk('alice', 'bob', 2))) ?? 0) > 0 ? true : undefined), 20_000, 200);
  assert.equal(await pingOk('bob', 'carol'), 3);
});

test('with nats-server stopped relays serve their local members, and re-sync once it is back', async () => {
  await nats.stop();
  const t0 = Date.now();
  // Local traffic keeps flowing on relay 0 throughout the outage.
  while (Date.now() - t0 < NATS_OUTAGE_MS) {
    assert.equal(await pingOk('alice', 'dave', 2), 2, 'alice -> dave on their own relay');
    await new Promise((r) => setTimeout(r, 1_000));
  }
  // The remote members went down after the bound; the local one stayed.
  assert.deepEqual(await users('alice'), ['dave']);
  const down = await (relays[0] as RelayProcess).stats();
  assert.equal(down.cluster?.natsConnected, false);
  await nats.restart();
  for (const m of MEMBERS) await seesAll(m, 30_000);
  await waitFor('alice pings carol again', async () => (((await unlessUnknownPeer(pingOk('alice', 'carol', 2))) ?? 0) > 0 ? true : undefined), 20_000, 200);
  assert.equal(await pingOk('bob', 'dave'), 3);
  const back = await (relays[2] as RelayProcess).stats();
  assert.equal(back.cluster?.natsConnected, true);
  assert.ok((back.cluster?.connects ?? 0) >= 2);
});
