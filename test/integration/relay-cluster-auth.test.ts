/**
 * Relay cluster over an authenticated, TLS-protected nats-server
 * (docs/configuration.md "Relay cluster"; issue 13: "NATS traffic is
 * authenticated ... TLS where configured") with real processes: a real
 * nats-server that requires TLS (a throwaway CA, testkit/nats-tls.ts) and
 * user/password, with per-user permissions like deploy/systemd/nats-server.conf;
 * real relay processes; two `shadowmesh up` members.
 *
 * Shows: two relays with their own NATS users and the right CA form a
 * cluster and their members ping each other; a relay with a wrong password,
 * or none, is refused (SM_ERR_CLUSTER_NATS_AUTH in its log and /stats),
 * keeps running and keeps serving; a relay holding the wrong CA refuses the
 * server (SM_ERR_CLUSTER_NATS_TLS); a client without credentials cannot
 * connect, and a NATS user without permission on the network's subjects can
 * neither publish on them nor read them.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as natsConnect, type NatsConnection } from '@nats-io/transport-node';
import { ClusterMembers } from '../../testkit/cluster-members.js';
import { waitFor } from '../../testkit/daemon-process.js';
import { startNatsServer, type NatsServer } from '../../testkit/nats-server.js';
import { makeNatsTls, type NatsTls } from '../../testkit/nats-tls.js';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';
import { freePort } from '../../testkit/free-port.js';
import { scrape } from '../../testkit/metrics-scrape.js';

const MEMBERS = ['alice', 'bob'] as const;
const PASSWORD: Record<string, string> = { 'relay-a': 'pw-a-4f1d', 'relay-b': 'pw-b-93c2', app: 'pw-app-77e0' };

/** Users as in deploy/systemd/nats-server.conf: relays on the network's subjects only; another application elsewhere. */
const NATS_CONFIG = `
authorization {
  RELAY = { publish: "shadowmesh.>", subscribe: "shadowmesh.>" }
  APP = { publish: "app.>", subscribe: "app.>" }
  users = [
    { user: relay-a, password: "${PASSWORD['relay-a']}", permissions: $RELAY }
    { user: relay-b, password: "${PASSWORD['relay-b']}", permissions: $RELAY }
    { user: app, password: "${PASSWORD['app']}", permissions: $APP }
  ]
}
`;

let net: TestNetwork;
let tls: NatsTls;
let nats: NatsServer;
let work: string;
let members: ClusterMembers;
const relays: Record<string, RelayProcess> = {};
const clients: NatsConnection[] = [];

async function startRelay(name: string, cluster: { user?: string; password?: string; ca?: string }, extra: string[] = []): Promise<RelayProcess> {
  const r = await startRelayProcess({
    caFile: net.caFile,
    crlFile: net.crlFile,
    args: [
      '--cluster', nats.url, '--cluster-name', name, '--cluster-heartbeat', '500ms', '--no-stun',
      ...(cluster.user !== undefined ? ['--cluster-user', cluster.user] : []),
      ...(cluster.ca !== undefined ? ['--cluster-ca', cluster.ca] : []),
      ...extra,
    ],
    env: cluster.password !== undefined ? { SHADOWMESH_RELAY_CLUSTER_PASSWORD: cluster.password } : {},
  });
  relays[name] = r;
  return r;
}

async function natsClient(user?: string): Promise<NatsConnection> {
  const nc = await natsConnect({
    servers: nats.url,
    tls: { caFile: tls.caFile },
    ...(user !== undefined ? { user, pass: PASSWORD[user] } : {}),
  });
  clients.push(nc);
  return nc;
}

const dropsTotal = async (r: RelayProcess): Promise<number> => Object.values((await r.stats()).cluster?.drops ?? {}).reduce((a, b) => a + b, 0);

before(async () => {
  net = await createTestNetwork({ members: [...MEMBERS] });
  work = await mkdtemp(join(tmpdir(), 'sm-cluster-auth-'));
  tls = makeNatsTls();
  nats = await startNatsServer({ config: NATS_CONFIG, tls: { certFile: tls.certFile, keyFile: tls.keyFile } });
  const a = await startRelay('relay-a', { user: 'relay-a', password: PASSWORD['relay-a'], ca: tls.caFile });
  const b = await startRelay('relay-b', { user: 'relay-b', password: PASSWORD['relay-b'], ca: tls.caFile });
  await Promise.all([a, b].map((r) => waitFor('relay in the cluster', async () => ((await r.stats()).cluster?.peerRelays.length === 1 ? true : undefined), 15_000)));
  members = new ClusterMembers(net, work);
  await members.start('alice', a);
  await members.start('bob', b);
});

after(async () => {
  for (const nc of clients) await nc.close().catch(() => undefined);
  await members?.stopAll();
  for (const r of Object.values(relays)) await r.stop();
  await nats?.stop();
  tls?.cleanup();
  await net?.cleanup();
  if (work) await rm(work, { recursive: true, force: true });
});

test('two relays with their own NATS users form a cluster over TLS; their members see and ping each other', async () => {
  await members.seesAll('alice', MEMBERS);
  await members.seesAll('bob', MEMBERS);
  assert.equal(await members.ping('alice', 'bob'), 3);
  assert.equal(await members.ping('bob', 'alice'), 3);
  const c = (await (relays['relay-a'] as RelayProcess).stats()).cluster;
  assert.ok(c !== undefined && c.natsConnected);
  assert.equal(c.natsError, null);
  assert.deepEqual(c.peerRelays.map((p) => p.name), ['relay-b']);
});

test('a relay with a wrong password, or none, is refused with SM_ERR_CLUSTER_NATS_AUTH, keeps running and stays out of the cluster', async () => {
  const metricsPort = await freePort();
  const wrong = await startRelay('relay-wrong', { user: 'relay-a', password: 'not-the-password', ca: tls.caFile }, ['--metrics', `127.0.0.1:${metricsPort}`]);
  const none = await startRelay('relay-none', { ca: tls.caFile });
  for (const r of [wrong, none]) {
    await waitFor('the refusal in /stats', async () => ((await r.stats()).cluster?.natsError?.code === 'SM_ERR_CLUSTER_NATS_AUTH' ? true : undefined), 15_000);
    // Still refused on the retries, still alive and answering.
    await waitFor('a retry refused too', async () => (((await r.stats()).cluster?.natsError?.attempts ?? 0) >= 2 ? true : undefined), 15_000);
    const c = (await r.stats()).cluster;
    assert.equal(c?.natsConnected, false);
    assert.equal(c?.peerRelays.length, 0);
    assert.equal(r.child.exitCode, null, 'the relay is still running');
    const refusal = r.stderr().split('\n').filter((l) => l.includes('SM_ERR_CLUSTER_NATS_AUTH'));
    assert.equal(refusal.length, 1, `one warning per change of cause, not one per retry:\n${r.stderr()}`);
    assert.ok(!r.stderr().includes('not-the-password'), 'the password never reaches the log');
  }
  const metrics = await scrape(metricsPort);
  assert.deepEqual(metrics.get('shadowmesh_relay_cluster_nats_error')?.samples.map((x) => [x.labels['code'], x.value]), [['SM_ERR_CLUSTER_NATS_AUTH', 1]]);
  assert.equal(metrics.get('shadowmesh_relay_cluster_nats_connected')?.samples[0]?.value, 0);
  // The cluster never saw them.
  const a = (await (relays['relay-a'] as RelayProcess).stats()).cluster;
  assert.deepEqual(a?.peerRelays.map((p) => p.name), ['relay-b']);
});

test('a relay holding the wrong CA refuses the NATS server with SM_ERR_CLUSTER_NATS_TLS', async () => {
  const r = await startRelay('relay-wrong-ca', { user: 'relay-a', password: PASSWORD['relay-a'], ca: tls.otherCaFile });
  await waitFor('the TLS refusal in /stats', async () => ((await r.stats()).cluster?.natsError?.code === 'SM_ERR_CLUSTER_NATS_TLS' ? true : undefined), 15_000);
  assert.equal((await r.stats()).cluster?.natsConnected, false);
  assert.match(r.stderr(), /SM_ERR_CLUSTER_NATS_TLS/);
  assert.equal(r.child.exitCode, null);
  const a = (await (relays['relay-a'] as RelayProcess).stats()).cluster;
  assert.ok(!a?.peerRelays.some((p) => p.name === 'relay-wrong-ca'));
});

test('without the relays\' credentials nothing reaches the cluster subjects', async () => {
  const a = relays['relay-a'] as RelayProcess;
  const prefix = (await a.stats()).cluster?.subjectPrefix as string;
  // No credentials: no connection at all.
  await assert.rejects(natsClient(), /Authorization Violation/i);

  // Another NATS user: its publishes on the network's subjects are refused by the server,
  // and it reads nothing there.
  const app = await natsClient('app');
  const seen: string[] = [];
  const refused: string[] = [];
  app.subscribe(`${prefix}.>`, {
    callback: (err, m) => {
      if (err !== null) refused.push(err.message);
      else seen.push(m.subject);
    },
  });
  const before = await dropsTotal(a);
  for (let i = 0; i < 3; i++) app.publish(`${prefix}.presence`, new TextEncoder().encode('forged presence'));
  await app.flush();
  // The same bytes from a relay user do arrive (and are dropped as undecodable): the check can fail.
  const relayUser = await natsClient('relay-b');
  for (let i = 0; i < 3; i++) relayUser.publish(`${prefix}.presence`, new TextEncoder().encode('forged presence'));
  await relayUser.flush();
  await waitFor('relay-a dropped the relay user\'s messages', async () => ((await dropsTotal(a)) >= before + 3 ? true : undefined), 10_000);
  // The server delivers in the order it accepted: the app's messages, flushed first, would have come first.
  assert.equal(await dropsTotal(a), before + 3, 'only the relay user\'s messages reached the relay');
  // Live traffic crosses meanwhile; the app sees none of it.
  assert.equal(await members.ping('alice', 'bob'), 3);
  await app.flush().catch(() => undefined);
  assert.deepEqual(seen, []);
  assert.ok(refused.some((e) => /permissions violation/i.test(e)), `the server refused the subscription (${refused.join('; ')})`);
});
