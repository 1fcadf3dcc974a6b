/**
 * Member presence against real relay processes on 127.0.0.1 (protocol.md §1
 * "Presence"): PEER_UP both ways when members join, PEER_DOWN when one
 * leaves, a fresh PEER_UP and no PEER_DOWN when a member's connection is
 * replaced, and the full list re-sent after every re-admission, always after
 * 'established'. A Directory fed by the link lists the verified members.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '../../src/crypto/bytes.js';
import { MembershipVerifier } from '../../src/identity/membership.js';
import { Directory } from '../../src/node/directory.js';
import { RelayLink } from '../../src/node/path/relay-link.js';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { createTestNetwork, type TestMember, type TestNetwork } from '../../testkit/test-network.js';
import { FrameType } from '../../src/wire/constants.js';
import { admitRaw, eventually, once } from '../../testkit/raw-relay-client.js';
import { fetchPresenceCerts } from '../../testkit/presence-certs.js';

let net: TestNetwork;
let scratch: string;
const links: RelayLink[] = [];
const relays: RelayProcess[] = [];
const names = new Map<string, string>();

before(async () => {
  net = await createTestNetwork({ members: ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina'] });
  for (const m of net.members) names.set(toHex(m.peerId), m.name);
  scratch = mkdtempSync(join(tmpdir(), 'sm-presence-'));
});

after(async () => {
  await Promise.all(links.map((l) => l.stop()));
  for (const r of relays) await r.stop();
  await net?.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

async function relayProcess(extra: { dataDir?: string; port?: number } = {}): Promise<RelayProcess> {
  const r = await startRelayProcess({ caFile: net.caFile, ...extra });
  relays.push(r);
  return r;
}

/** A link whose events are recorded in order as 'est', 'up:<name>', 'down:<name>'. */
interface Recorded {
  link: RelayLink;
  events: string[];
  certs: Map<string, Uint8Array>;
}

function nameOf(peerId: Uint8Array): string {
  return names.get(toHex(peerId)) ?? `unknown:${toHex(peerId).slice(0, 8)}`;
}

async function up(m: TestMember, relay: RelayProcess): Promise<Recorded> {
  const link = new RelayLink({ signer: m.signer, certificate: m.certBytes }, { url: relay.url, pin: relay.pin, reconnectBaseMs: 50, reconnectMaxMs: 300 });
  links.push(link);
  const rec: Recorded = { link, events: [], certs: new Map() };
  link.on('established', () => rec.events.push('est'));
  fetchPresenceCerts(link);
  link.on('peer_up', (cert: Uint8Array, since: number) => {
    // The certificate is checked the way a node does; the name comes from it.
    const verified = new MembershipVerifier(net.ca).verify(cert, Date.now());
    assert.ok(Number.isSafeInteger(since) && since > 0 && since <= Date.now(), `onlineSinceMs ${since}`);
    rec.certs.set(verified.name, cert);
    rec.events.push(`up:${verified.name}`);
  });
  link.on('peer_down', (peerId: Uint8Array) => rec.events.push(`down:${nameOf(peerId)}`));
  const est = once(link, 'established');
  link.start();
  await est;
  return rec;
}

function has(rec: Recorded, event: string): true | undefined {
  return rec.events.includes(event) ? true : undefined;
}

test('A and B see each other come up, A sees B go down, and B coming back is announced again', async () => {
  const relay = await relayProcess();
  const alice = net.member('alice');
  const bob = net.member('bob');
  const a = await up(alice, relay);
  const directory = new Directory({ verifier: new MembershipVerifier(net.ca), selfPeerId: alice.peerId });
  a.link.on('peer_up', (cert: Uint8Array, since: number) => directory.onPeerUp(cert, since));
  a.link.on('peer_down', (id: Uint8Array) => directory.onPeerDown(id));
  const b = await up(bob, relay);
  await eventually('A sees PEER_UP(B)', () => has(a, 'up:bob'));
  await eventually('B sees PEER_UP(A)', () => has(b, 'up:alice'));
  assert.deepEqual(b.events, ['est', 'up:alice'], 'established comes before the list');
  assert.deepEqual(b.certs.get('alice'), alice.certBytes, 'the certificate is the one the member presented');
  // The directory holds bob, verified, under his certificate's address.
  const entry = directory.get(bob.peerId);
  assert.ok(entry);
  assert.equal(entry.name, 'bob');
  assert.equal(directory.byAddress(entry.addresses[0]?.bytes as Uint8Array), entry);
  await b.link.stop();
  await eventually('A sees PEER_DOWN(B)', () => has(a, 'down:bob'));
  assert.equal(directory.get(bob.peerId), undefined);
  const b2 = await up(bob, relay);
  await eventually('A sees PEER_UP(B) again', () => (a.events.filter((e) => e === 'up:bob').length === 2 ? true : undefined));
  await eventually('B is told about A again', () => has(b2, 'up:alice'));
  assert.deepEqual(a.events, ['est', 'up:bob', 'down:bob', 'up:bob']);
  assert.ok(directory.get(bob.peerId));
  const stats = await relay.stats();
  assert.ok(stats.peerUpSent >= 4, JSON.stringify(stats));
  assert.ok(stats.peerDownSent >= 1, JSON.stringify(stats));
  await Promise.all([a.link.stop(), b2.link.stop()]);
});

test('a member replaced by its own newer connection is announced up again, never down; its real leave is', async () => {
  const relay = await relayProcess();
  const erin = await up(net.member('erin'), relay);
  const dave = net.member('dave');
  const first = await admitRaw(relay.host, relay.port, dave);
  await eventually('erin sees dave', () => has(erin, 'up:dave'));
  const second = await admitRaw(relay.host, relay.port, dave);
  await first.closed;
  await eventually('erin sees dave up again', () => (erin.events.filter((e) => e === 'up:dave').length === 2 ? true : undefined));
  // The replaced connection's socket is gone; give a stray PEER_DOWN time to arrive.
  await eventually('replacement counted', async () => (((await relay.stats()).disconnects['replaced'] ?? 0) >= 1 ? true : undefined));
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(erin.events, ['est', 'up:dave', 'up:dave']);
  // The newer connection was told about erin like any newcomer.
  const f = await second.nextFrame();
  assert.equal(f.type, FrameType.Presence);
  second.close();
  await eventually('erin sees dave down', () => has(erin, 'down:dave'));
  assert.deepEqual(erin.events, ['est', 'up:dave', 'up:dave', 'down:dave']);
  await erin.link.stop();
});

test('after a relay restart every link is re-admitted and the full list is re-sent after established', async () => {
  const dataDir = join(scratch, 'restart');
  const first = await relayProcess({ dataDir });
  const [f, g, c] = [await up(net.member('frank'), first), await up(net.member('gina'), first), await up(net.member('carol'), first)];
  await eventually('frank sees both', () => (has(f, 'up:gina') && has(f, 'up:carol')));
  const downs = [once(f.link, 'down'), once(g.link, 'down'), once(c.link, 'down')];
  first.signal('SIGKILL');
  await first.exited;
  await Promise.all(downs);
  for (const r of [f, g, c]) r.events.length = 0;
  await relayProcess({ dataDir, port: first.port });
  const others: Record<string, string[]> = { frank: ['gina', 'carol'], gina: ['frank', 'carol'], carol: ['frank', 'gina'] };
  for (const [name, rec] of [['frank', f], ['gina', g], ['carol', c]] as const) {
    await eventually(`${name} re-admitted and told about the others`, () => ((others[name] as string[]).every((o) => rec.events.includes(`up:${o}`)) ? true : undefined), 15_000);
    // Every announcement of this admission comes after its 'est'.
    const est = rec.events.lastIndexOf('est');
    assert.ok(est >= 0, `${name}: ${rec.events.join(',')}`);
    for (const o of others[name] as string[]) assert.ok(rec.events.lastIndexOf(`up:${o}`) > est, `${name}: ${rec.events.join(',')}`);
  }
  await Promise.all([f.link.stop(), g.link.stop(), c.link.stop()]);
});
