/**
 * The relay server's side of a relay cluster (RelayServer.attachCluster,
 * src/relay/relay-server.ts; docs/architecture.md "Relay cluster"), with a
 * fake cluster: a SEND for a member that is not local leaves as the DELIVER
 * bytes a local member would get, addressed to the member it named (the
 * regression: the destination was read after the DELIVER header had
 * overwritten it); remote members are announced with PEER_UP/PEER_DOWN; a
 * frame from the cluster reaches the local member as is; a member
 * admitted later on another relay replaces the local connection.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256, toHex } from '../../src/crypto/bytes.js';
import { MembershipVerifier } from '../../src/identity/membership.js';
import type { MemberCertificate } from '../../src/identity/certificate.js';
import { RelayServer, type RelayClusterPort } from '../../src/relay/relay-server.js';
import type { ClusterSnapshot } from '../../src/relay/cluster/relay-cluster.js';
import { TlsIdentity } from '../../src/relay/tls-identity.js';
import { FrameType, PresenceKind } from '../../src/wire/constants.js';
import { encodeRelayFrame } from '../../src/wire/relay-frames.js';
import { admitRaw, eventually, type RawClient } from '../../testkit/raw-relay-client.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';

class FakeCluster implements RelayClusterPort {
  readonly joined: string[] = [];
  readonly left: string[] = [];
  readonly forwarded: { dst: string; frame: number[] }[] = [];
  remote = new Set<string>();
  localJoined(peerId: Uint8Array): void {
    this.joined.push(toHex(peerId));
  }
  localLeft(peerId: Uint8Array): void {
    this.left.push(toHex(peerId));
  }
  forward(dst: Uint8Array, frame: Uint8Array): boolean {
    if (!this.remote.has(toHex(dst))) return false;
    this.forwarded.push({ dst: toHex(dst), frame: [...frame] });
    return true;
  }
  snapshot(): ClusterSnapshot {
    return { relayId: 'x', name: 'fake', subjectPrefix: 'p', natsConnected: true, natsError: null, connects: 1, disconnects: 0, syncsSent: 0, remoteMembers: this.remote.size, peerRelays: [], forwarding: {}, drops: {} };
  }
}

let net: TestNetwork;
let dir: string;
let server: RelayServer<MemberCertificate>;
const cluster = new FakeCluster();
const clients: RawClient[] = [];

before(async () => {
  net = await createTestNetwork({ members: ['alice', 'bob', 'carol'] });
  dir = mkdtempSync(join(tmpdir(), 'sm-relay-cluster-'));
  const tls = await TlsIdentity.load({ dataDir: dir }, Date.now());
  server = new RelayServer({ verifier: new MembershipVerifier(net.ca), tls }, { host: '127.0.0.1', port: 0 });
  server.attachCluster(cluster);
  await server.start();
});

after(async () => {
  for (const c of clients) c.close();
  await server?.stop();
  await net?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a SEND for a member attached elsewhere leaves as DELIVER(src) addressed to that member; remote presence reaches local members', async () => {
  const alice = net.member('alice');
  const bob = net.member('bob');
  const a = await admitRaw('127.0.0.1', server.port, alice);
  clients.push(a);
  await eventually('alice announced to the cluster', async () => (cluster.joined.includes(toHex(alice.peerId)) ? true : undefined));
  assert.equal(server.localAdmission(toHex(alice.peerId)) !== undefined, true);

  // bob is up on another relay: alice hears PRESENCE with his certificate's digest, and the relay serves the certificate.
  cluster.remote.add(toHex(bob.peerId));
  server.remoteUp(toHex(bob.peerId), bob.peerId, bob.certBytes, 1_234);
  const up = await a.nextFrame();
  assert.equal(up.type, FrameType.Presence);
  if (up.type === FrameType.Presence) {
    const e = up.entries[0];
    assert.ok(up.entries.length === 1 && e?.kind === PresenceKind.Up);
    assert.deepEqual([...e.peerId], [...bob.peerId]);
    assert.deepEqual([...e.certDigest], [...sha256(bob.certBytes)]);
  }
  a.send(encodeRelayFrame({ type: FrameType.CertRequest, peerId: bob.peerId }));
  const cert = await a.nextFrame();
  assert.equal(cert.type, FrameType.Cert);
  if (cert.type === FrameType.Cert) assert.deepEqual([...cert.cert], [...bob.certBytes], 'a remote member\'s certificate, as the cluster delivered it');

  const payload = new Uint8Array([0x24, 1, 2, 3, 4, 5]);
  a.send(encodeRelayFrame({ type: FrameType.Send, peerId: bob.peerId, payload }));
  await eventually('the frame forwarded', async () => (cluster.forwarded.length > 0 ? true : undefined));
  const fwd = cluster.forwarded[0]!;
  assert.equal(fwd.dst, toHex(bob.peerId), 'addressed to the member the SEND named');
  assert.deepEqual(fwd.frame, [...encodeRelayFrame({ type: FrameType.Deliver, peerId: alice.peerId, payload })], 'exactly the DELIVER a local member would get');

  // A frame from the cluster reaches alice byte for byte.
  const back = encodeRelayFrame({ type: FrameType.Deliver, peerId: bob.peerId, payload: new Uint8Array([9, 9]) });
  assert.equal(server.deliver(toHex(alice.peerId), back), 'delivered');
  assert.deepEqual([...(await a.next())], [...back]);
  assert.equal(server.deliver(toHex(net.member('carol').peerId), back), 'unreachable');

  server.remoteDown(toHex(bob.peerId), bob.peerId);
  const down = await a.nextFrame();
  assert.equal(down.type, FrameType.Presence);
  if (down.type === FrameType.Presence) assert.equal(down.entries[0]?.kind, PresenceKind.Down);
});

test('a member admitted later on another relay replaces the local connection, without PEER_DOWN to the others', async () => {
  const carol = net.member('carol');
  const c = await admitRaw('127.0.0.1', server.port, carol);
  clients.push(c);
  await eventually('carol admitted', async () => (server.localAdmission(toHex(carol.peerId)) !== undefined ? true : undefined));
  server.remoteUp(toHex(carol.peerId), carol.peerId, carol.certBytes, Date.now() + 1);
  const closed = await c.closed;
  assert.ok(closed.code >= 1000);
  assert.equal(server.localAdmission(toHex(carol.peerId)), undefined);
  assert.equal(cluster.left.includes(toHex(carol.peerId)), false, 'no LEAVE: the member lives on elsewhere');
  assert.equal(server.snapshot().disconnects['replaced'], 1);
});
