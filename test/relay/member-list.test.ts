/**
 * The operator page's member list (src/relay/member-list.ts): sorted by
 * name then peer id, cut at the limit with the complete total, connections
 * not yet admitted left out, and entries that are copies (changing one does
 * not change the connection's counters).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shortId } from '../../src/identity/peer-id.js';
import { MAX_LISTED_MEMBERS, memberList, type ListedConnection } from '../../src/relay/member-list.js';
import type { MemberTraffic } from '../../src/relay/client-connection.js';

function conn(name: string, idByte: number, framesIn = 0): ListedConnection {
  const traffic: MemberTraffic = { framesIn, bytesIn: framesIn * 100, framesOut: 0, bytesOut: 0, drops: { 'rate-limited': 1 } };
  return {
    peerId: new Uint8Array(32).fill(idByte),
    certificate: { name, addresses: [`10.0.0.${idByte}/24`] },
    remoteAddress: '::1',
    remotePort: 4000 + idByte,
    get traffic() { return { ...traffic, drops: { ...traffic.drops } }; },
  };
}

test('members are listed by name then peer id, with their traffic, addresses and where they connect from', () => {
  const list = memberList([
    { conn: conn('carol', 3, 7), admittedAtMs: 30 },
    { conn: conn('alice', 2), admittedAtMs: 10 },
    { conn: conn('alice', 1), admittedAtMs: 20 },
  ]);
  assert.equal(list.total, 3);
  assert.deepEqual(list.members.map((m) => [m.name, m.peer]), [['alice', shortId(new Uint8Array(32).fill(1))], ['alice', shortId(new Uint8Array(32).fill(2))], ['carol', shortId(new Uint8Array(32).fill(3))]]);
  assert.deepEqual(list.members[2], { name: 'carol', peer: shortId(new Uint8Array(32).fill(3)), addresses: ['10.0.0.3/24'], remote: '[::1]:4003', admittedAtMs: 30, framesIn: 7, bytesIn: 700, framesOut: 0, bytesOut: 0, drops: { 'rate-limited': 1 } });
});

test('past the limit only the first members by name are sent, and the total stays complete', () => {
  const entries = Array.from({ length: MAX_LISTED_MEMBERS + 50 }, (_, i) => ({ conn: conn(`m${String(i).padStart(4, '0')}`, i % 250), admittedAtMs: i }));
  const list = memberList(entries.reverse());
  assert.equal(list.total, MAX_LISTED_MEMBERS + 50);
  assert.equal(list.members.length, MAX_LISTED_MEMBERS);
  assert.equal(list.members[0]!.name, 'm0000');
  assert.equal(list.members.at(-1)!.name, `m${String(MAX_LISTED_MEMBERS - 1).padStart(4, '0')}`);
  assert.equal(memberList(entries, 0).members.length, 0);
});

test('a connection without a peer id or certificate is not listed; entries are copies', () => {
  const c = conn('alice', 1, 2);
  const list = memberList([{ conn: { ...c, peerId: null, traffic: c.traffic }, admittedAtMs: 1 }, { conn: { ...c, certificate: null, traffic: c.traffic }, admittedAtMs: 1 }, { conn: c, admittedAtMs: 1 }]);
  assert.equal(list.total, 1);
  list.members[0]!.drops['rate-limited'] = 99;
  list.members[0]!.addresses.push('x');
  assert.equal(c.traffic.drops['rate-limited'], 1);
  assert.deepEqual(c.certificate?.addresses, ['10.0.0.1/24']);
});
