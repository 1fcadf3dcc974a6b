/**
 * Tests for src/node/directory.ts: only CA-verified members are listed;
 * another CA's, expired, revoked, forged and garbage certificates are
 * dropped and counted, never thrown; byAddress routes IPv4 and IPv6 host
 * addresses; replacement, down, clear and recheck keep the indexes right.
 * A member with a live session is kept, offline, when the relay stops
 * listing it (PEER_DOWN, a void list), until its session ends or it is
 * revoked or expires.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { issueMemberCertificate } from '../../src/identity/certificate.js';
import { CERT_CLOCK_SKEW_MS, MembershipVerifier } from '../../src/identity/membership.js';
import { issueRevocationList, type RevocationList } from '../../src/identity/revocation.js';
import { Directory, type DirectoryEntry } from '../../src/node/directory.js';
import { FakeClock } from '../../testkit/fake-clock.js';
import { FIXTURE_EPOCH_MS, fixtureNetwork } from '../../testkit/member-fixture.js';

const DAY_MS = 24 * 3600 * 1000;
const net = fixtureNetwork();
const other = fixtureNetwork({ name: 'test network' }); // same name, another CA key
const self = net.member('self', '10.10.10.1/24');
const alice = net.member('alice', '10.10.10.3/24');
const bob = net.member('bob', 'fd00::4/64');
const carol = net.member('carol', '10.10.10.5/24');
const expiring = net.member('dora', '10.10.10.6/24', { notBeforeMs: FIXTURE_EPOCH_MS - DAY_MS, notAfterMs: FIXTURE_EPOCH_MS + DAY_MS });

function ip(...bytes: number[]): Uint8Array {
  return Uint8Array.from(bytes);
}
const V6_BOB = ip(0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4);

interface Recorded {
  dir: Directory;
  clock: FakeClock;
  ups: Array<[DirectoryEntry, DirectoryEntry | undefined]>;
  downs: DirectoryEntry[];
  offlines: DirectoryEntry[];
}

function directory(options: { maxMembers?: number } = {}, verifier = net.verifier, sessionLive?: (peerId: Uint8Array) => boolean): Recorded {
  const clock = new FakeClock(FIXTURE_EPOCH_MS);
  const dir = new Directory({ verifier, selfPeerId: self.peerId, clock, ...(sessionLive !== undefined ? { sessionLive } : {}) }, options);
  const ups: Recorded['ups'] = [];
  const downs: DirectoryEntry[] = [];
  const offlines: DirectoryEntry[] = [];
  dir.on('up', (e: DirectoryEntry, prev: DirectoryEntry | undefined) => ups.push([e, prev]));
  dir.on('down', (e: DirectoryEntry) => downs.push(e));
  dir.on('offline', (e: DirectoryEntry) => offlines.push(e));
  return { dir, clock, ups, downs, offlines };
}

function totalDrops(dir: Directory): number {
  return Object.values(dir.drops).reduce((a, b) => a + b, 0);
}

test('a verified member is listed with its name, addresses and online time, and found by id, hex and address', () => {
  const { dir, ups } = directory();
  const e = dir.onPeerUp(alice.cert.raw, 1234);
  assert.ok(e);
  assert.equal(e.name, 'alice');
  assert.deepEqual(e.peerId, alice.peerId);
  assert.equal(e.onlineSinceMs, 1234);
  assert.deepEqual(e.addresses, [{ family: 4, bytes: ip(10, 10, 10, 3), prefix: 24, text: '10.10.10.3/24' }]);
  assert.equal(dir.get(alice.peerId), e);
  assert.equal(dir.get(e.hex), e);
  assert.equal(dir.get(e.hex.toUpperCase()), e);
  assert.equal(dir.byAddress(ip(10, 10, 10, 3)), e);
  assert.equal(dir.byAddress(ip(10, 10, 10, 4)), undefined, 'only the exact host address routes');
  assert.deepEqual(dir.list(), [e]);
  assert.equal(ups.length, 1);
  assert.equal(ups[0]?.[1], undefined);
  assert.ok(Object.isFrozen(e) && Object.isFrozen(e.addresses));
  assert.equal(totalDrops(dir), 0);
});

test('byAddress works for IPv6 and for a member with several addresses; other lengths find nothing', () => {
  const { dir } = directory();
  const b = dir.onPeerUp(bob.cert.raw, 1);
  assert.ok(b);
  assert.equal(dir.byAddress(V6_BOB), b);
  assert.equal(dir.byAddress(ip(0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5)), undefined);
  const signer = net.member('multi', '10.10.10.9/24').signer;
  const multi = issueMemberCertificate(net.caSigner, net.ca, {
    name: 'multi',
    addresses: ['10.10.10.7/24', 'fd00::7/64'],
    publicKey: signer.publicKey,
    notBeforeMs: FIXTURE_EPOCH_MS - DAY_MS,
    notAfterMs: FIXTURE_EPOCH_MS + 10 * DAY_MS,
  });
  const m = dir.onPeerUp(multi.raw, 2);
  assert.ok(m);
  assert.equal(dir.byAddress(ip(10, 10, 10, 7)), m);
  assert.equal(dir.byAddress(ip(0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7)), m);
  assert.equal(dir.byAddress(ip(10, 10, 10)), undefined);
  assert.equal(dir.byAddress(new Uint8Array(0)), undefined);
});

test('another CA, expired, not yet valid, revoked and garbage certificates are dropped and counted, never thrown', () => {
  const crl = issueRevocationList(net.caSigner, net.ca, { number: 1, issuedAtMs: FIXTURE_EPOCH_MS, peerIds: [carol.peerId] });
  const verifier = fixtureVerifierWith(crl);
  const { dir, ups } = directory({}, verifier);
  const foreign = other.member('mallory', '10.10.10.3/24');
  const notYet = net.member('later', '10.10.10.8/24', { notBeforeMs: FIXTURE_EPOCH_MS + 10 * DAY_MS, notAfterMs: FIXTURE_EPOCH_MS + 20 * DAY_MS });
  const expired = net.member('old', '10.10.10.8/24', { notBeforeMs: FIXTURE_EPOCH_MS - 20 * DAY_MS, notAfterMs: FIXTURE_EPOCH_MS - 10 * DAY_MS });
  const garbage = [new Uint8Array(0), ip(1, 2, 3), Uint8Array.from(alice.cert.raw.subarray(0, 500)), new Uint8Array(9000).fill(0xab)];
  const inputs = [foreign.cert.raw, notYet.cert.raw, expired.cert.raw, carol.cert.raw, ...garbage];
  for (const bytes of inputs) assert.equal(dir.onPeerUp(bytes, 1), null);
  // Not even a Uint8Array: still a counted drop.
  assert.equal(dir.onPeerUp('nonsense' as unknown as Uint8Array, 1), null);
  assert.equal(dir.drops.invalid_cert, inputs.length + 1);
  assert.equal(dir.list().length, 0);
  assert.equal(ups.length, 0);
  assert.equal(dir.byAddress(ip(10, 10, 10, 3)), undefined, "another CA's member did not get the address");
});

test('a relay announcing a forged certificate changes nothing', () => {
  const { dir, ups, downs } = directory();
  const a = dir.onPeerUp(alice.cert.raw, 1);
  const c = dir.onPeerUp(carol.cert.raw, 2);
  assert.ok(a && c);
  // Carol's certificate edited to claim alice's address (last address byte 5 -> 3): the CA signature breaks.
  const forged = Uint8Array.from(carol.cert.raw);
  const at = findBytes(forged, ip(4, 24, 10, 10, 10, 5));
  assert.ok(at > 0, 'address field located');
  forged[at + 5] = 3;
  assert.equal(dir.onPeerUp(forged, 3), null);
  // A certificate with any single flipped bit is refused too.
  const flipped = Uint8Array.from(alice.cert.raw);
  flipped[200] = (flipped[200] as number) ^ 1;
  assert.equal(dir.onPeerUp(flipped, 3), null);
  assert.equal(dir.drops.invalid_cert, 2);
  assert.equal(dir.byAddress(ip(10, 10, 10, 3)), a);
  assert.equal(dir.byAddress(ip(10, 10, 10, 5)), c);
  assert.equal(dir.get(carol.peerId), c);
  assert.equal(ups.length, 2);
  assert.equal(downs.length, 0);
});

test('our own certificate is ignored and counted', () => {
  const { dir } = directory();
  assert.equal(dir.onPeerUp(self.cert.raw, 1), null);
  assert.equal(dir.drops.self, 1);
  assert.equal(dir.byAddress(ip(10, 10, 10, 1)), undefined);
});

test('a re-announcement replaces the entry; a newer certificate moves the addresses; an older one is refused', () => {
  const { dir, ups } = directory();
  const first = dir.onPeerUp(alice.cert.raw, 10);
  const again = dir.onPeerUp(alice.cert.raw, 20);
  assert.ok(first && again);
  assert.equal(again.onlineSinceMs, 20);
  assert.equal(ups[1]?.[1], first, "'up' carries the replaced entry");
  assert.equal(dir.list().length, 1);
  const newer = issueMemberCertificate(net.caSigner, net.ca, {
    name: 'alice',
    addresses: ['10.10.10.30/24'],
    publicKey: alice.signer.publicKey,
    notBeforeMs: alice.cert.notBeforeMs + 1000,
    notAfterMs: alice.cert.notAfterMs,
  });
  const moved = dir.onPeerUp(newer.raw, 30);
  assert.ok(moved);
  assert.equal(dir.byAddress(ip(10, 10, 10, 3)), undefined, 'old address released');
  assert.equal(dir.byAddress(ip(10, 10, 10, 30)), moved);
  // A relay replaying the older certificate cannot move her back.
  assert.equal(dir.onPeerUp(alice.cert.raw, 40), null);
  assert.equal(dir.drops.stale_cert, 1);
  assert.equal(dir.byAddress(ip(10, 10, 10, 30)), moved);
  assert.equal(dir.get(alice.peerId), moved);
});

test('down removes the member and its addresses; unknown or malformed peer ids are counted', () => {
  const { dir, downs } = directory();
  const a = dir.onPeerUp(alice.cert.raw, 1);
  dir.onPeerUp(bob.cert.raw, 1);
  dir.onPeerDown(Uint8Array.from(alice.peerId));
  assert.deepEqual(downs, [a]);
  assert.equal(dir.get(alice.peerId), undefined);
  assert.equal(dir.byAddress(ip(10, 10, 10, 3)), undefined);
  dir.onPeerDown(alice.peerId); // again: no longer listed
  dir.onPeerDown(carol.peerId); // never listed
  dir.onPeerDown(ip(1, 2, 3));
  assert.equal(dir.drops.unknown_peer, 3);
  assert.equal(downs.length, 1);
  assert.equal(dir.list().length, 1);
});

test('clear() emits down for everyone and empties both indexes', () => {
  const { dir, downs } = directory();
  dir.onPeerUp(alice.cert.raw, 1);
  dir.onPeerUp(bob.cert.raw, 1);
  dir.clear();
  assert.equal(downs.length, 2);
  assert.equal(dir.list().length, 0);
  assert.equal(dir.byAddress(ip(10, 10, 10, 3)), undefined);
  assert.equal(dir.byAddress(V6_BOB), undefined);
  // The relay re-sends the list after re-admission.
  assert.ok(dir.onPeerUp(alice.cert.raw, 2));
});

test('maxMembers bounds new members; replacing a listed one still works', () => {
  const { dir } = directory({ maxMembers: 2 });
  assert.ok(dir.onPeerUp(alice.cert.raw, 1));
  assert.ok(dir.onPeerUp(bob.cert.raw, 1));
  assert.equal(dir.onPeerUp(carol.cert.raw, 1), null);
  assert.equal(dir.drops.too_many, 1);
  assert.ok(dir.onPeerUp(alice.cert.raw, 2));
  assert.equal(dir.list().length, 2);
  assert.throws(() => new Directory({ verifier: net.verifier, selfPeerId: self.peerId }, { maxMembers: 0 }), { code: 'SM_ERR_CONFIG_VALUE' });
  assert.throws(() => new Directory({ verifier: net.verifier, selfPeerId: self.peerId }, { maxMember: 3 } as never), { code: 'SM_ERR_CONFIG_UNKNOWN_OPTION' });
  assert.throws(() => new Directory({ verifier: net.verifier, selfPeerId: ip(1) }), { code: 'SM_ERR_CONFIG_VALUE' });
});

test('recheck drops members revoked by a new list and members that expired, emitting down', () => {
  const verifier = fixtureVerifierWith();
  const { dir, downs } = directory({}, verifier);
  dir.onPeerUp(alice.cert.raw, 1);
  dir.onPeerUp(carol.cert.raw, 1);
  const d = dir.onPeerUp(expiring.cert.raw, 1);
  assert.ok(d);
  assert.equal(dir.recheck(FIXTURE_EPOCH_MS), 0);
  verifier.setRevocationList(issueRevocationList(net.caSigner, net.ca, { number: 1, issuedAtMs: FIXTURE_EPOCH_MS, peerIds: [carol.peerId] }));
  assert.equal(dir.recheck(FIXTURE_EPOCH_MS), 1);
  assert.deepEqual(downs.map((e) => e.name), ['carol']);
  assert.equal(dir.byAddress(ip(10, 10, 10, 5)), undefined);
  // Within the skew the expiring member stays; past it, it leaves.
  assert.equal(dir.recheck(expiring.cert.notAfterMs + CERT_CLOCK_SKEW_MS), 0);
  assert.equal(dir.recheck(expiring.cert.notAfterMs + CERT_CLOCK_SKEW_MS + 1), 1);
  assert.deepEqual(downs.map((e) => e.name), ['carol', 'dora']);
  assert.deepEqual(dir.list().map((e) => e.name), ['alice']);
  // A revoked member re-announced by the relay stays out.
  assert.equal(dir.onPeerUp(carol.cert.raw, 2), null);
  assert.equal(dir.drops.invalid_cert, 1);
});

test('an address claimed by two members keeps the first holder and falls back when it leaves', () => {
  const { dir } = directory();
  const twinSigner = net.member('twin', '10.10.10.99/24').signer;
  const twin = issueMemberCertificate(net.caSigner, net.ca, {
    name: 'twin',
    addresses: ['10.10.10.3/24'],
    publicKey: twinSigner.publicKey,
    notBeforeMs: FIXTURE_EPOCH_MS - DAY_MS,
    notAfterMs: FIXTURE_EPOCH_MS + DAY_MS,
  });
  const a = dir.onPeerUp(alice.cert.raw, 1);
  const t = dir.onPeerUp(twin.raw, 1);
  assert.ok(a && t);
  assert.equal(dir.addressConflicts, 1);
  assert.equal(dir.byAddress(ip(10, 10, 10, 3)), a);
  dir.onPeerDown(alice.peerId);
  assert.equal(dir.byAddress(ip(10, 10, 10, 3)), t);
  dir.onPeerDown(t.peerId);
  assert.equal(dir.byAddress(ip(10, 10, 10, 3)), undefined);
});

test('hundreds of announcements and downs keep lookups consistent', () => {
  const { dir } = directory();
  const members = [alice, bob, carol];
  for (let i = 0; i < 300; i++) {
    const m = members[i % 3] as (typeof members)[number];
    if (i % 2 === 0) dir.onPeerUp(m.cert.raw, i);
    else dir.onPeerDown(m.peerId);
    for (const e of dir.list()) for (const a of e.addresses) assert.equal(dir.byAddress(a.bytes), e);
  }
  assert.ok(dir.list().length <= 3);
});

/** A verifier of its own, so a test's revocation list does not leak into the others. */
function fixtureVerifierWith(crl?: RevocationList): MembershipVerifier {
  return new MembershipVerifier(net.ca, crl);
}

function findBytes(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** A directory whose "live session" set the test controls (hex peer ids). */
function withSessions(verifier = net.verifier): Recorded & { live: Set<string> } {
  const live = new Set<string>();
  return { ...directory({}, verifier, (id) => live.has(Buffer.from(id).toString('hex'))), live };
}

test('PEER_DOWN for a member with a live session keeps it listed and routed, offline; re-announced, it is online again', () => {
  const { dir, ups, downs, offlines, live } = withSessions();
  const a = dir.onPeerUp(alice.cert.raw, 1)!;
  const b = dir.onPeerUp(bob.cert.raw, 1)!;
  live.add(a.hex);
  assert.ok(dir.isOnline(alice.peerId));
  dir.onPeerDown(alice.peerId);
  dir.onPeerDown(bob.peerId);
  assert.deepEqual(downs, [b], 'bob had no session: he leaves');
  assert.deepEqual(offlines, [a], 'alice has one: she stays, offline');
  assert.equal(dir.get(alice.peerId), a);
  assert.equal(dir.byAddress(ip(10, 10, 10, 3)), a);
  assert.deepEqual(dir.list(), [a]);
  assert.equal(dir.isOnline(alice.peerId), false);
  assert.equal(dir.isOnline(bob.peerId), false);
  assert.equal(dir.offlineCount, 1);
  // A second PEER_DOWN changes nothing and is not an unknown peer.
  dir.onPeerDown(alice.peerId);
  assert.equal(offlines.length, 1);
  assert.equal(dir.drops.unknown_peer, 0);
  // The relay announces her again: online, the same certificate rules apply (an older one is refused).
  const again = dir.onPeerUp(alice.cert.raw, 5)!;
  assert.ok(dir.isOnline(alice.peerId));
  assert.equal(dir.offlineCount, 0);
  assert.deepEqual(ups.at(-1), [again, a]);
  assert.equal(dir.byAddress(ip(10, 10, 10, 3)), again);
});

test('resetPresence (re-admission) reconciles: members without a session leave, members with one stay offline until the re-sent list names them', () => {
  const { dir, downs, offlines, live } = withSessions();
  const a = dir.onPeerUp(alice.cert.raw, 1)!;
  const b = dir.onPeerUp(bob.cert.raw, 1)!;
  const c = dir.onPeerUp(carol.cert.raw, 1)!;
  live.add(a.hex);
  live.add(b.hex);
  dir.resetPresence();
  assert.deepEqual(downs, [c]);
  assert.deepEqual(offlines, [a, b]);
  assert.equal(dir.byAddress(V6_BOB), b, 'bob is still routed');
  dir.resetPresence(); // again (another admission before the list came): nothing more happens
  assert.equal(downs.length + offlines.length, 3);
  // The re-sent list names alice and carol only.
  dir.onPeerUp(alice.cert.raw, 2);
  dir.onPeerUp(carol.cert.raw, 2);
  assert.ok(dir.isOnline(alice.peerId) && dir.isOnline(carol.peerId));
  assert.equal(dir.isOnline(bob.peerId), false);
  assert.equal(dir.list().length, 3);
  // bob's session ends: the next recheck lets him go; alice (online) stays whatever her session does.
  live.clear();
  assert.equal(dir.recheck(FIXTURE_EPOCH_MS), 1);
  assert.deepEqual(downs.map((e) => e.name), ['carol', 'bob']);
  assert.equal(dir.byAddress(V6_BOB), undefined);
  assert.deepEqual(dir.list().map((e) => e.name), ['alice', 'carol']);
});

test('an offline member kept for its session still leaves at once when revoked or expired', () => {
  const verifier = fixtureVerifierWith();
  const { dir, downs, live } = withSessions(verifier);
  const c = dir.onPeerUp(carol.cert.raw, 1)!;
  const d = dir.onPeerUp(expiring.cert.raw, 1)!;
  live.add(c.hex);
  live.add(d.hex);
  dir.resetPresence();
  assert.equal(dir.offlineCount, 2);
  verifier.setRevocationList(issueRevocationList(net.caSigner, net.ca, { number: 1, issuedAtMs: FIXTURE_EPOCH_MS, peerIds: [carol.peerId] }));
  assert.equal(dir.recheck(FIXTURE_EPOCH_MS), 1);
  assert.deepEqual(downs, [c]);
  assert.equal(dir.recheck(expiring.cert.notAfterMs + CERT_CLOCK_SKEW_MS + 1), 1);
  assert.deepEqual(downs, [c, d]);
  assert.equal(dir.offlineCount, 0);
  assert.equal(dir.list().length, 0);
});

test('sessionChanged lets an offline member go once its session no longer keeps it; online and unknown members are left alone', () => {
  const { dir, downs, live } = withSessions();
  const a = dir.onPeerUp(alice.cert.raw, 1)!;
  const c = dir.onPeerUp(carol.cert.raw, 1)!;
  live.add(a.hex);
  live.add(c.hex);
  dir.onPeerDown(alice.peerId);
  dir.sessionChanged(alice.peerId); // still live: stays
  assert.equal(dir.get(alice.peerId), a);
  live.clear(); // e.g. her direct path was lost: what is left would need the relay
  dir.sessionChanged(carol.peerId); // online: the relay lists her, nothing to decide here
  dir.sessionChanged(bob.peerId); // not listed
  dir.sessionChanged(ip(1, 2, 3));
  assert.deepEqual(downs, []);
  dir.sessionChanged(alice.peerId);
  assert.deepEqual(downs, [a]);
  assert.equal(dir.byAddress(ip(10, 10, 10, 3)), undefined);
  assert.deepEqual(dir.list(), [c]);
});

test('byRoute: a listed member\'s certified routes, longest prefix first; gone when it leaves, back with a newer certificate', () => {
  const wide = net.member('wide', '10.10.10.7/24', { routes: ['192.168.0.0/16'] });
  const lan = net.member('lan', '10.10.10.8/24', { routes: ['192.168.50.0/24', 'fd50::/64'] });
  const { dir } = directory();
  assert.equal(dir.byRoute(ip(192, 168, 50, 10)), undefined);
  dir.onPeerUp(wide.cert.raw, 1);
  dir.onPeerUp(lan.cert.raw, 1);
  assert.equal(dir.byRoute(ip(192, 168, 50, 10))?.name, 'lan');
  assert.equal(dir.byRoute(ip(192, 168, 51, 10))?.name, 'wide');
  assert.equal(dir.byRoute(ip(0xfd, 0x50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9))?.name, 'lan');
  assert.deepEqual(dir.get(lan.peerId)?.routes.map((r) => r.text), ['192.168.50.0/24', 'fd50::/64']);
  // A route is not an address: byAddress does not answer for it.
  assert.equal(dir.byAddress(ip(192, 168, 50, 10)), undefined);
  dir.onPeerDown(lan.peerId);
  assert.equal(dir.byRoute(ip(192, 168, 50, 10))?.name, 'wide');
  dir.onPeerDown(wide.peerId);
  assert.equal(dir.byRoute(ip(192, 168, 50, 10)), undefined);
});

test('byRoute with a misissuing CA: two members claiming one route; the first keeps it (counted), the other takes over when it leaves', () => {
  const one = net.member('one', '10.10.10.21/24', { routes: ['192.168.77.0/24'] });
  const two = net.member('two', '10.10.10.22/24', { routes: ['192.168.77.0/24'] });
  const { dir } = directory();
  dir.onPeerUp(one.cert.raw, 1);
  dir.onPeerUp(two.cert.raw, 1);
  assert.equal(dir.addressConflicts, 1);
  assert.equal(dir.byRoute(ip(192, 168, 77, 1))?.name, 'one');
  dir.onPeerDown(one.peerId);
  assert.equal(dir.byRoute(ip(192, 168, 77, 1))?.name, 'two');
  dir.onPeerDown(two.peerId);
  assert.equal(dir.byRoute(ip(192, 168, 77, 1)), undefined);
});
