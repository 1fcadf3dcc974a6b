/**
 * The relay cluster's other NATS logins (docs/configuration.md "Relay
 * cluster": relay.cluster.token, `--cluster-creds`), with real processes: a
 * real nats-server requiring a token, a real nats-server in operator mode
 * (decentralized JWT authentication, testkit/nats-jwt.ts), real relay
 * processes and two `shadowmesh up` members per cluster.
 *
 * Shows, for each method: two relays that present the right credentials form
 * a cluster and their members ping each other across it; a relay with the
 * wrong token, or with a credentials file whose account the server does not
 * trust, is refused (SM_ERR_CLUSTER_NATS_AUTH in /stats and its log), keeps
 * running, stays out of the cluster, and the secret never reaches its log.
 * And a token changed on the server under connected relays: their reconnects
 * are refused with that code, local members are still served, and they
 * rejoin by themselves once the server takes their token again.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClusterMembers } from '../../testkit/cluster-members.js';
import { waitFor } from '../../testkit/daemon-process.js';
import { startNatsServer, type NatsServer } from '../../testkit/nats-server.js';
import { natsOperator } from '../../testkit/nats-jwt.js';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';

const MEMBERS = ['alice', 'bob'] as const;
const TOKEN = 'tok-5b2e91c4d7';
/** What a relay user may touch (deploy/systemd/nats-server.conf gives relays the same). */
const RELAY_SUBJECTS = ['shadowmesh.>', '_INBOX.>'];

let net: TestNetwork;
let work: string;
const servers: NatsServer[] = [];
const relays: RelayProcess[] = [];
const memberSets: ClusterMembers[] = [];

async function startRelay(nats: NatsServer, name: string, args: string[], env: Record<string, string> = {}): Promise<RelayProcess> {
  const r = await startRelayProcess({
    caFile: net.caFile,
    crlFile: net.crlFile,
    args: ['--cluster', nats.url, '--cluster-name', name, '--cluster-heartbeat', '500ms', '--no-stun', ...args],
    env,
  });
  relays.push(r);
  return r;
}

/** Two relays in one cluster, alice on the first and bob on the second: they see and ping each other. */
async function clusterWorks(a: RelayProcess, b: RelayProcess, dir: string): Promise<void> {
  await Promise.all([a, b].map((r) => waitFor('relay in the cluster', async () => ((await r.stats()).cluster?.peerRelays.length === 1 ? true : undefined), 15_000)));
  const members = new ClusterMembers(net, join(work, dir));
  memberSets.push(members);
  await rm(join(work, dir), { recursive: true, force: true });
  await mkdir(join(work, dir));
  await members.start('alice', a);
  await members.start('bob', b);
  await members.seesAll('alice', MEMBERS);
  await members.seesAll('bob', MEMBERS);
  assert.equal(await members.ping('alice', 'bob'), 3);
  assert.equal(await members.ping('bob', 'alice'), 3);
  await members.stopAll();
}

/** `r` is refused by the server for its credentials, keeps running, and never logs `secret`. */
async function refused(r: RelayProcess, secret: string): Promise<void> {
  await waitFor('the refusal in /stats', async () => ((await r.stats()).cluster?.natsError?.code === 'SM_ERR_CLUSTER_NATS_AUTH' ? true : undefined), 15_000);
  const c = (await r.stats()).cluster;
  assert.equal(c?.natsConnected, false);
  assert.equal(c?.peerRelays.length, 0);
  assert.equal(r.child.exitCode, null, 'the relay is still running');
  assert.match(r.stderr(), /SM_ERR_CLUSTER_NATS_AUTH/);
  assert.ok(!r.stderr().includes(secret), 'the secret never reaches the log');
}

before(async () => {
  net = await createTestNetwork({ members: [...MEMBERS] });
  work = await mkdtemp(join(tmpdir(), 'sm-cluster-creds-'));
});

after(async () => {
  for (const m of memberSets) await m.stopAll();
  for (const r of relays) await r.stop();
  for (const s of servers) await s.stop();
  await net?.cleanup();
  if (work) await rm(work, { recursive: true, force: true });
});

test('token: relays holding the server\'s token (SHADOWMESH_RELAY_CLUSTER_TOKEN) form a cluster; a wrong token is refused with SM_ERR_CLUSTER_NATS_AUTH', async () => {
  const nats = await startNatsServer({ config: `authorization { token: "${TOKEN}" }\n` });
  servers.push(nats);
  const a = await startRelay(nats, 'relay-a', [], { SHADOWMESH_RELAY_CLUSTER_TOKEN: TOKEN });
  const b = await startRelay(nats, 'relay-b', [], { SHADOWMESH_RELAY_CLUSTER_TOKEN: TOKEN });
  await clusterWorks(a, b, 'token');
  const wrong = await startRelay(nats, 'relay-wrong', [], { SHADOWMESH_RELAY_CLUSTER_TOKEN: 'tok-not-this-one' });
  await refused(wrong, 'tok-not-this-one');
  assert.deepEqual((await a.stats()).cluster?.peerRelays.map((p) => p.name), ['relay-b']);
});

test('credentials file (--cluster-creds, user JWT and nkey seed): users of the trusted account form a cluster; a user of an account the server does not trust is refused', async () => {
  const operator = natsOperator();
  const account = operator.account('SHADOWMESH');
  const stranger = operator.account('ELSEWHERE');
  const nats = await startNatsServer({ config: operator.serverConfig([account]) });
  servers.push(nats);
  const creds = async (name: string, text: string): Promise<string> => {
    const file = join(work, `${name}.creds`);
    await writeFile(file, text, { mode: 0o600 });
    return file;
  };
  const a = await startRelay(nats, 'relay-a', ['--cluster-creds', await creds('relay-a', account.userCreds('relay-a', { allow: RELAY_SUBJECTS }))]);
  const b = await startRelay(nats, 'relay-b', ['--cluster-creds', await creds('relay-b', account.userCreds('relay-b', { allow: RELAY_SUBJECTS }))]);
  await clusterWorks(a, b, 'creds');
  const foreignCreds = stranger.userCreds('relay-x', { allow: RELAY_SUBJECTS });
  const seed = /SU[A-Z2-7]+/.exec(foreignCreds)![0];
  const wrong = await startRelay(nats, 'relay-x', ['--cluster-creds', await creds('relay-x', foreignCreds)]);
  await refused(wrong, seed);
  assert.deepEqual((await a.stats()).cluster?.peerRelays.map((p) => p.name), ['relay-b']);
});

test('a token changed on the server while relays are connected: their reconnects are refused with SM_ERR_CLUSTER_NATS_AUTH, they keep serving local members, and rejoin once the server takes their token again', async () => {
  const config = (token: string): string => `authorization { token: "${token}" }\n`;
  const first = await startNatsServer({ config: config(TOKEN) });
  servers.push(first);
  const a = await startRelay(first, 'relay-a', [], { SHADOWMESH_RELAY_CLUSTER_TOKEN: TOKEN });
  const b = await startRelay(first, 'relay-b', [], { SHADOWMESH_RELAY_CLUSTER_TOKEN: TOKEN });
  await Promise.all([a, b].map((r) => waitFor('relay in the cluster', async () => ((await r.stats()).cluster?.peerRelays.length === 1 ? true : undefined), 15_000)));
  await mkdir(join(work, 'rotated'));
  const members = new ClusterMembers(net, join(work, 'rotated'));
  memberSets.push(members);
  await members.start('alice', a);
  await members.start('bob', a);
  await members.seesAll('alice', MEMBERS);

  // The operator rotates the server's token; the relays still hold the old one.
  await first.stop();
  const rotated = await startNatsServer({ port: first.port, config: config('tok-rotated-0c9a') });
  servers.push(rotated);
  for (const r of [a, b]) {
    await waitFor('the refused reconnect in /stats', async () => ((await r.stats()).cluster?.natsError?.code === 'SM_ERR_CLUSTER_NATS_AUTH' ? true : undefined), 20_000);
    assert.equal((await r.stats()).cluster?.natsConnected, false);
    assert.equal(r.child.exitCode, null, 'the relay is still running');
  }
  // Local traffic goes on while the cluster is out of reach.
  assert.equal(await members.ping('alice', 'bob'), 3);
  assert.equal(await members.ping('bob', 'alice'), 3);

  // The server takes the relays' token again: they reconnect by themselves and find each other.
  await rotated.stop();
  const restored = await startNatsServer({ port: first.port, config: config(TOKEN) });
  servers.push(restored);
  for (const r of [a, b]) {
    await waitFor('back in the cluster', async () => {
      const c = (await r.stats()).cluster;
      return c?.natsConnected === true && c.peerRelays.length === 1 ? true : undefined;
    }, 30_000);
  }
  assert.equal((await a.stats()).cluster?.natsError, null, 'the error clears once connected');
  assert.equal(await members.ping('alice', 'bob'), 3);
});
