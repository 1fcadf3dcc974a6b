/**
 * The cluster's remote member table (src/relay/cluster/remote-presence.ts):
 * newest admission wins, silent relays expire with their members, a full
 * list replaces what was known, bounds refuse newcomers without evicting.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newer, RemotePresence } from '../../../src/relay/cluster/remote-presence.js';

const A = 'a'.repeat(32);
const B = 'b'.repeat(32);
const C = 'c'.repeat(32);

function member(n: number, admittedAtMs: number): { key: string; peerId: Uint8Array; admittedAtMs: number; cert: Uint8Array } {
  const peerId = new Uint8Array(32).fill(n);
  return { key: Buffer.from(peerId).toString('hex'), peerId, admittedAtMs, cert: new Uint8Array([n, 1, 2, 3]) };
}

const limits = { maxRelays: 4, maxMembers: 8, downAfterMs: 6_000 };

test('a member announced by two relays belongs to the newest admission, whatever the order of arrival', () => {
  for (const order of [[A, B], [B, A]] as const) {
    const t = new RemotePresence(limits);
    const at = { [A]: 1_000, [B]: 2_000 };
    for (const r of order) t.upsert(r, member(1, at[r] as number), 0);
    assert.equal(t.owner(member(1, 0).key)?.relayId, B);
    assert.equal(t.size, 1);
    assert.equal(t.relay(A)?.members.size, 0);
    assert.equal(t.relay(B)?.members.size, 1);
  }
  const t = new RemotePresence(limits);
  t.upsert(B, member(1, 2_000), 0);
  assert.equal(t.upsert(A, member(1, 1_000), 0).result, 'stale');
  // Re-announcing the same admission (a re-sync) changes nothing.
  assert.equal(t.upsert(B, member(1, 2_000), 0).result, 'updated');
  // Ties go to the larger relay id, so every relay decides alike.
  assert.equal(newer(5, B, 5, A), true);
  assert.equal(newer(5, A, 5, B), false);
});

test('a relay silent past the bound is down with its members; one still heard is kept', () => {
  const t = new RemotePresence(limits);
  t.upsert(A, member(1, 1), 0);
  t.upsert(A, member(2, 1), 0);
  t.upsert(B, member(3, 1), 0);
  t.heard(B, 5_000);
  assert.deepEqual(t.expire(6_000), { relays: [], members: [] });
  const gone = t.expire(6_001);
  assert.deepEqual(gone.relays.map((r) => r.id), [A]);
  assert.deepEqual(gone.members.map((m) => m.key).sort(), [member(1, 0).key, member(2, 0).key].sort());
  assert.equal(t.size, 1);
  assert.equal(t.owner(member(3, 0).key)?.relayId, B);
});

test('LEAVE removes a member only for the relay that owns it with that admission', () => {
  const t = new RemotePresence(limits);
  t.upsert(A, member(1, 1_000), 0);
  t.upsert(B, member(1, 2_000), 0); // moved to B
  assert.equal(t.leave(A, member(1, 0).key, 1_000, 0), undefined, 'a late LEAVE from the old relay');
  assert.equal(t.leave(B, member(1, 0).key, 1_999, 0), undefined, 'another admission');
  assert.equal(t.leave(B, member(1, 0).key, 2_000, 0)?.relayId, B);
  assert.equal(t.size, 0);
});

test('a full list replaces what the table held for that relay', () => {
  const t = new RemotePresence(limits);
  t.upsert(A, member(1, 1), 0);
  t.upsert(A, member(2, 1), 0);
  t.beginSync(A, 7, 0);
  t.upsert(A, member(2, 1), 0);
  t.upsert(A, member(4, 1), 0);
  assert.deepEqual(t.endSync(A, 6, 0), [], 'another sync id is ignored');
  t.beginSync(A, 8, 0);
  t.upsert(A, member(2, 1), 0);
  t.upsert(A, member(4, 1), 0);
  const gone = t.endSync(A, 8, 0);
  assert.deepEqual(gone.map((m) => m.key), [member(1, 0).key]);
  assert.equal(t.size, 2);
});

test('bounds: past maxRelays and maxMembers newcomers are refused and nobody is evicted', () => {
  const t = new RemotePresence({ maxRelays: 2, maxMembers: 2, downAfterMs: 1_000 });
  assert.equal(t.upsert(A, member(1, 1), 0).result, 'up');
  assert.equal(t.upsert(B, member(2, 1), 0).result, 'up');
  assert.equal(t.upsert(C, member(3, 1), 0).result, 'relays-full');
  assert.equal(t.heard(C, 0), null);
  assert.equal(t.upsert(A, member(3, 1), 0).result, 'members-full');
  // Replacing an existing member needs no free slot.
  assert.equal(t.upsert(A, member(2, 5), 0).result, 'updated');
  assert.equal(t.size, 2);
  assert.equal(t.relayCount, 2);
});

test('entries keep their own copies of peer ids and certificates', () => {
  const t = new RemotePresence(limits);
  const m = member(9, 1);
  t.upsert(A, m, 0);
  m.cert.fill(0);
  m.peerId.fill(0);
  assert.deepEqual([...(t.owner(Buffer.alloc(32, 9).toString('hex'))?.cert ?? [])], [9, 1, 2, 3]);
});
