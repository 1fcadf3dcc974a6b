/**
 * The stateful side of the policy engine (src/policy/policy-engine.ts,
 * src/policy/conntrack.ts) on virtual time (testkit/fake-clock.ts): return
 * traffic of an allowed flow passes, entries expire after their protocol's
 * idle timeout, the table stays within its bound under a flood of distinct
 * flows from one peer, and drops are counted by rule name.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CompiledPolicy, type Flow, type FlowEnd } from '../../src/policy/compiled-policy.js';
import { ConnectionTable, DEFAULT_CONNTRACK_TIMEOUTS } from '../../src/policy/conntrack.js';
import { PolicyEngine } from '../../src/policy/policy-engine.js';
import { FakeClock } from '../../testkit/fake-clock.js';

const POLICY = CompiledPolicy.fromText(`
rules:
  - name: web-to-db
    from: group:web
    to: group:db
    proto: tcp
    ports: 5432
  - name: dns
    from: any
    to: group:db
    proto: udp
    ports: 53
  - name: ping-db
    from: any
    to: group:db
    proto: icmp
  - name: deny-telnet
    action: deny
    from: any
    to: any
    proto: tcp
    ports: 23
`);

const web: FlowEnd = { ip: '10.10.0.2', name: 'web1', groups: ['web'] };
const db: FlowEnd = { ip: '10.10.0.3', name: 'db1', groups: ['db'] };

function packet(from: FlowEnd, to: FlowEnd, protocol: Flow['protocol'], srcPort: number, dstPort: number, direction: Flow['direction'] = 'inbound'): Flow {
  return { direction, protocol, from, to, srcPort, dstPort };
}

test('return traffic of an allowed flow passes through the connection table; unsolicited traffic the other way does not', () => {
  // At db: web's connection comes in, db's replies go out, more of web's packets come in.
  const clock = new FakeClock();
  const engine = new PolicyEngine(CompiledPolicy.fromText('outbound: true\nrules:\n  - name: web-to-db\n    from: group:web\n    to: group:db\n    proto: tcp\n    ports: 5432\n'), clock);
  assert.deepEqual(engine.check(packet(web, db, 'tcp', 40000, 5432)), { allowed: true, rule: 'web-to-db', via: 'rule' });
  assert.deepEqual(engine.check(packet(db, web, 'tcp', 5432, 40000, 'outbound')), { allowed: true, rule: 'web-to-db', via: 'conntrack' }, 'the reply');
  assert.deepEqual(engine.check(packet(web, db, 'tcp', 40000, 5432)), { allowed: true, rule: 'web-to-db', via: 'conntrack' });
  // db opening its own connection to web is not a reply: outbound is enforced and no rule allows it.
  assert.deepEqual(engine.check(packet(db, web, 'tcp', 5432, 40001, 'outbound')), { allowed: false, rule: 'default-deny', via: 'rule' });
});

test('at the client: outbound not enforced, the reply to what this node sent passes inbound, an unsolicited packet does not', () => {
  const clock = new FakeClock();
  const engine = new PolicyEngine(POLICY, clock);
  // At web: web sends to db (outbound), db answers (inbound at web: no rule lets db reach web).
  assert.deepEqual(engine.check(packet(web, db, 'tcp', 40000, 5432, 'outbound')), { allowed: true, rule: 'outbound-not-enforced', via: 'rule' });
  assert.equal(engine.check(packet(db, web, 'tcp', 5432, 40000)).allowed, true);
  assert.deepEqual(engine.check(packet(db, web, 'tcp', 5432, 40999)), { allowed: false, rule: 'default-deny', via: 'rule' });
});

test('entries expire after their protocol idle timeout (tcp 12 min, udp 3 min, icmp 10 s); traffic refreshes them', () => {
  const clock = new FakeClock();
  const engine = new PolicyEngine(POLICY, clock);
  assert.deepEqual(DEFAULT_CONNTRACK_TIMEOUTS, { tcpMs: 720_000, udpMs: 180_000, icmpMs: 10_000, otherMs: 10_000 });
  const cases: Array<[Flow['protocol'], number, number]> = [['tcp', 5432, 720_000], ['udp', 53, 180_000], ['icmp', 0, 10_000]];
  for (const [proto, port, timeout] of cases) {
    const srcPort = proto === 'icmp' ? 0 : 41000;
    assert.equal(engine.check(packet(web, db, proto, srcPort, port)).allowed, true);
    const reply = packet(db, web, proto, port, srcPort, 'outbound');
    clock.advance(timeout - 1);
    assert.equal(engine.check(reply).via, 'conntrack', `${String(proto)}: still tracked just before the timeout`);
    clock.advance(timeout - 1);
    assert.equal(engine.check(reply).via, 'conntrack', `${String(proto)}: refreshed by the reply`);
    clock.advance(timeout);
    // Expired: an outbound reply is not enforced, so it passes again by "rule", which re-tracks it; check the table saw it gone first.
    const inbound = packet(db, web, proto, port, srcPort);
    assert.deepEqual(engine.check(inbound), { allowed: false, rule: 'default-deny', via: 'rule' }, `${String(proto)}: gone after the timeout`);
  }
});

test('the table never exceeds its bound under a flood of distinct flows from one peer, and the oldest go first', () => {
  const clock = new FakeClock();
  const engine = new PolicyEngine(POLICY, clock, { maxEntries: 100, maxEntriesPerOwner: 100 });
  // One established connection, then a flood.
  assert.equal(engine.check(packet(web, db, 'tcp', 40000, 5432)).allowed, true);
  let maxSeen = 0;
  for (let i = 0; i < 5_000; i++) {
    assert.equal(engine.check(packet(web, db, 'udp', 1024 + i, 53)).allowed, true);
    maxSeen = Math.max(maxSeen, engine.conntrack.size);
  }
  assert.equal(maxSeen, 100);
  assert.equal(engine.conntrack.size, 100);
  assert.equal(engine.conntrack.evicted, 4_901);
  // The old connection was pushed out: its next packet must match a rule again (and does).
  assert.deepEqual(engine.check(packet(web, db, 'tcp', 40000, 5432)), { allowed: true, rule: 'web-to-db', via: 'rule' });
  // The most recent flood entries are still there.
  assert.equal(engine.check(packet(db, web, 'udp', 53, 1024 + 4_999, 'outbound')).via, 'conntrack');
});

test('one peer flooding new flows pushes out only its own connections: its share is bounded, other peers keep theirs', () => {
  const clock = new FakeClock();
  const engine = new PolicyEngine(POLICY, clock, { maxEntries: 100 });
  assert.equal(engine.conntrack.maxEntriesPerOwner, 25);
  const other: FlowEnd = { ip: '10.10.0.7', name: 'web2', groups: ['web'] };
  for (let i = 0; i < 20; i++) assert.equal(engine.check(packet(other, db, 'tcp', 30000 + i, 5432)).allowed, true);
  for (let i = 0; i < 5_000; i++) assert.equal(engine.check(packet(web, db, 'udp', 1024 + i, 53)).allowed, true);
  assert.equal(engine.conntrack.ownerSize(web.ip), 25);
  assert.equal(engine.conntrack.ownerSize(other.ip), 20);
  assert.equal(engine.conntrack.size, 45);
  for (let i = 0; i < 20; i++) assert.equal(engine.check(packet(db, other, 'tcp', 5432, 30000 + i, 'outbound')).via, 'conntrack', `web2's connection ${i} survived the flood`);
  // A node's own outbound connections are owned by the peer they go to.
  engine.check(packet(db, other, 'udp', 5000, 53, 'outbound'));
  assert.equal(engine.conntrack.ownerSize(other.ip), 21);
  assert.throws(() => new ConnectionTable(clock, { maxEntries: 10, maxEntriesPerOwner: 11 }), { code: 'SM_ERR_CONFIG_CONNTRACK' });
});

test('a full table drops expired entries before live ones', () => {
  const clock = new FakeClock();
  const table = new ConnectionTable(clock, { maxEntries: 3, maxEntriesPerOwner: 3 });
  table.track({ protocol: 'icmp', srcIp: 'a', srcPort: 0, dstIp: 'b', dstPort: 0 }, 'x', 'b');
  table.track({ protocol: 'tcp', srcIp: 'a', srcPort: 1, dstIp: 'b', dstPort: 2 }, 'y', 'b');
  table.track({ protocol: 'tcp', srcIp: 'a', srcPort: 3, dstIp: 'b', dstPort: 4 }, 'z', 'b');
  clock.advance(11_000);
  table.track({ protocol: 'tcp', srcIp: 'a', srcPort: 5, dstIp: 'b', dstPort: 6 }, 'w', 'b');
  assert.equal(table.size, 3);
  assert.equal(table.evicted, 0, 'the expired icmp entry made room');
  assert.equal(table.lookup({ protocol: 'tcp', srcIp: 'b', srcPort: 2, dstIp: 'a', dstPort: 1 }), 'y', 'b');
  assert.equal(table.sweep(), 0);
  clock.advance(720_000);
  assert.equal(table.sweep(), 3);
  assert.equal(table.size, 0);
});

test('drops are counted under the name of the rule that dropped them; a new policy clears the table', () => {
  const clock = new FakeClock();
  const engine = new PolicyEngine(POLICY, clock);
  for (let i = 0; i < 3; i++) engine.check(packet(web, db, 'tcp', 40000 + i, 23));
  for (let i = 0; i < 2; i++) engine.check(packet(db, web, 'tcp', 40000 + i, 80));
  engine.check(packet(web, db, 'tcp', 40000, 5432));
  assert.deepEqual(engine.dropsByRule(), { 'deny-telnet': 3, 'default-deny': 2 });
  assert.equal(engine.droppedPackets, 5);
  assert.equal(engine.allowedPackets, 1);
  engine.setPolicy(CompiledPolicy.fromText('rules: []'));
  assert.equal(engine.conntrack.size, 0);
  assert.deepEqual(engine.check(packet(web, db, 'tcp', 40000, 5432)), { allowed: false, rule: 'default-deny', via: 'rule' }, 'the old connection must pass the new policy');
  assert.deepEqual(engine.dropsByRule(), { 'deny-telnet': 3, 'default-deny': 3 });
});

test('bad table options are refused', () => {
  assert.throws(() => new ConnectionTable(new FakeClock(), { maxEntries: 0 }), { code: 'SM_ERR_CONFIG_CONNTRACK' });
  assert.throws(() => new ConnectionTable(new FakeClock(), { timeouts: { udpMs: -1 } }), { code: 'SM_ERR_CONFIG_CONNTRACK' });
});
