/**
 * Decisions of a compiled policy (src/policy/compiled-policy.ts), by
 * example and as properties over random rule sets (fast-check): decide()
 * never throws, the first matching rule decides, and with no matching rule
 * the answer is deny under default-deny. The oracle below re-states the
 * documented matching rules independently (addresses compared as BigInts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { CompiledPolicy, type Flow, type FlowEnd, type PairEnd } from '../../src/policy/compiled-policy.js';

const POLICY = CompiledPolicy.fromText(`
rules:
  - name: web-to-db
    from: group:web
    to: group:db
    proto: tcp
    ports: 5432
  - name: no-ssh-from-lab
    action: deny
    from: 10.20.0.0/16
    to: any
    proto: tcp
    ports: 22
  - name: ops-anything
    from: group:ops
    to: any
    proto: any
  - name: ssh-from-admins
    from: member:carol
    to: any
    proto: tcp
    ports: 22
chat:
  - name: no-web-db-chat
    action: deny
    from: group:web
    to: group:db
  - name: chat-rest
    from: any
    to: any
`);

const web: FlowEnd = { ip: '10.10.0.2', name: 'web1', groups: ['web'] };
const db: FlowEnd = { ip: '10.10.0.3', name: 'db1', groups: ['db'] };
const ops: FlowEnd = { ip: '10.20.0.9', name: 'ops1', groups: ['ops'] };
const carol: FlowEnd = { ip: '10.20.0.7', name: 'carol', groups: [] };

function flow(from: FlowEnd, to: FlowEnd, protocol: Flow['protocol'], dstPort: number, direction: Flow['direction'] = 'inbound'): Flow {
  return { direction, protocol, from, to, srcPort: 40000, dstPort };
}

test('web -> db tcp/5432 is allowed by its rule; other ports, protocols and directions of groups are denied by default', () => {
  assert.deepEqual(POLICY.decide(flow(web, db, 'tcp', 5432)), { allowed: true, rule: 'web-to-db' });
  assert.deepEqual(POLICY.decide(flow(web, db, 'tcp', 5433)), { allowed: false, rule: 'default-deny' });
  assert.deepEqual(POLICY.decide(flow(web, db, 'udp', 5432)), { allowed: false, rule: 'default-deny' });
  assert.deepEqual(POLICY.decide(flow(db, web, 'tcp', 5432)), { allowed: false, rule: 'default-deny' });
  assert.deepEqual(POLICY.decide(flow({ ip: '10.10.0.99' }, db, 'tcp', 5432)), { allowed: false, rule: 'default-deny' }, 'no certificate, no group');
});

test('first match wins: a deny listed before an allow decides, and later allows still apply to what it does not cover', () => {
  assert.deepEqual(POLICY.decide(flow(ops, db, 'tcp', 22)), { allowed: false, rule: 'no-ssh-from-lab' });
  assert.deepEqual(POLICY.decide(flow(ops, db, 'icmp', 0)), { allowed: true, rule: 'ops-anything' });
  assert.deepEqual(POLICY.decide(flow(ops, db, 47, 0)), { allowed: true, rule: 'ops-anything' }, 'proto any takes other IP protocols');
  assert.deepEqual(POLICY.decide(flow(carol, db, 'tcp', 22)), { allowed: false, rule: 'no-ssh-from-lab' }, 'carol is in 10.20/16: the earlier deny wins');
  assert.deepEqual(POLICY.decide(flow({ ...carol, ip: '10.30.0.7' }, db, 'tcp', 22)), { allowed: true, rule: 'ssh-from-admins' });
});

test('outbound flows are decided only with outbound: true', () => {
  assert.deepEqual(POLICY.decide(flow(db, web, 'tcp', 80, 'outbound')), { allowed: true, rule: 'outbound-not-enforced' });
  const strict = CompiledPolicy.fromText('outbound: true\nrules: []\n');
  assert.deepEqual(strict.decide(flow(db, web, 'tcp', 80, 'outbound')), { allowed: false, rule: 'default-deny' });
});

test('chat: a deny between groups, the rest allowed; without a chat section chat is not governed; with an empty one it is denied', () => {
  assert.deepEqual(POLICY.decideChat({ name: 'web1', groups: ['web'] }, { name: 'db1', groups: ['db'] }), { allowed: false, rule: 'no-web-db-chat' });
  assert.deepEqual(POLICY.decideChat({ name: 'db1', groups: ['db'] }, { name: 'web1', groups: ['web'] }), { allowed: true, rule: 'chat-rest' });
  assert.deepEqual(CompiledPolicy.fromText('rules: []').decideChat({ name: 'a' }, { name: 'b' }), { allowed: true, rule: 'chat-not-governed' });
  assert.deepEqual(CompiledPolicy.fromText('rules: []\nchat: []').decideChat({ name: 'a' }, { name: 'b' }), { allowed: false, rule: 'default-deny' });
});

// --- properties ------------------------------------------------------------------

interface GenRule { action: 'allow' | 'deny'; from: string[]; to: string[]; proto: string[]; ports: string[] }

const SELECTORS = ['any', 'group:a', 'group:b', 'group:c', 'member:m1', 'member:m2', 'member:m3', '10.0.0.0/16', '10.1.0.0/16', '10.1.2.0/24', '10.1.2.3', '10.0.0.0/8', 'fd00::/64', 'fd00::2', '0.0.0.0/0'];
const arbSelectors = fc.uniqueArray(fc.constantFrom(...SELECTORS), { minLength: 1, maxLength: 3 });
const arbRule: fc.Arbitrary<GenRule> = fc.record({
  action: fc.constantFrom('allow' as const, 'deny' as const),
  from: arbSelectors,
  to: arbSelectors,
  proto: fc.constantFrom<string[]>(['any'], ['tcp'], ['udp'], ['icmp'], ['tcp', 'udp']),
  ports: fc.array(fc.tuple(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 0, max: 20 })).map(([a, n]) => (n === 0 ? String(a) : `${a}-${a + n}`)), { maxLength: 3 }),
}).map((r) => (r.proto.includes('any') || r.proto.includes('icmp') ? { ...r, ports: [] } : r));

function yamlOf(rules: GenRule[]): string {
  const lines = ['rules:'];
  if (rules.length === 0) return 'rules: []\n';
  rules.forEach((r, i) => {
    lines.push(`  - name: r${i}`, `    action: ${r.action}`, `    from: [${r.from.map((s) => JSON.stringify(s)).join(', ')}]`, `    to: [${r.to.map((s) => JSON.stringify(s)).join(', ')}]`, `    proto: [${r.proto.join(', ')}]`);
    if (r.ports.length > 0) lines.push(`    ports: [${r.ports.join(', ')}]`);
  });
  return `${lines.join('\n')}\n`;
}

const arbEnd: fc.Arbitrary<FlowEnd> = fc.record({
  ip: fc.oneof(
    fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 4 })).map(([b, c, d]) => `10.${b}.${c}.${d}`),
    fc.constantFrom('fd00::2', 'fd00::9', 'fd01::1', '192.168.1.1', 'not-an-address', '', '10.1.2.3.4', '::ffff:10.1.2.3'),
  ),
  name: fc.option(fc.constantFrom('m1', 'm2', 'm3', 'm4'), { nil: undefined }),
  groups: fc.option(fc.subarray(['a', 'b', 'c', 'd']), { nil: undefined }),
}).map((e) => Object.fromEntries(Object.entries(e).filter(([, v]) => v !== undefined)) as unknown as FlowEnd);

const arbFlow: fc.Arbitrary<Flow> = fc.record({
  direction: fc.constant('inbound' as const),
  protocol: fc.oneof(fc.constantFrom('tcp' as const, 'udp' as const, 'icmp' as const), fc.integer({ min: 0, max: 255 })),
  from: arbEnd,
  to: arbEnd,
  srcPort: fc.integer({ min: 0, max: 65535 }),
  dstPort: fc.oneof(fc.integer({ min: 0, max: 130 }), fc.integer({ min: 0, max: 65535 })),
});

function v4(ip: string): bigint | null {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
  if (m === null || m.slice(1).some((x) => Number(x) > 255)) return null;
  return m.slice(1).reduce((acc, x) => (acc << 8n) | BigInt(Number(x)), 0n);
}

/** The documented matching rules, restated: an oracle for one selector. */
function oracleSelector(sel: string, end: FlowEnd): boolean {
  if (sel === 'any') return true;
  if (sel.startsWith('group:')) return (end.groups ?? []).includes(sel.slice(6));
  if (sel.startsWith('member:')) return end.name === sel.slice(7);
  if (sel.includes(':')) {
    // the IPv6 selectors used here: fd00::/64 and the host fd00::2
    if (sel === 'fd00::2') return end.ip === 'fd00::2';
    return /^fd00::[0-9a-f]{1,4}$/.test(end.ip) || end.ip === 'fd00::';
  }
  const [addr, prefixText] = sel.split('/');
  const prefix = BigInt(prefixText ?? '32');
  const a = v4(end.ip);
  const s = v4(addr!);
  if (a === null || s === null) return false;
  const shift = 32n - prefix;
  return a >> shift === s >> shift;
}

function oracle(rules: GenRule[], f: Flow): { allowed: boolean; rule: string } {
  for (const [i, r] of rules.entries()) {
    if (!r.proto.includes('any') && (typeof f.protocol !== 'string' || !r.proto.includes(f.protocol))) continue;
    if (r.ports.length > 0) {
      if (f.protocol !== 'tcp' && f.protocol !== 'udp') continue;
      const inRange = r.ports.some((p) => { const [lo, hi] = p.split('-').map(Number); return f.dstPort >= lo! && f.dstPort <= (hi ?? lo!); });
      if (!inRange) continue;
    }
    if (!r.from.some((s) => oracleSelector(s, f.from))) continue;
    if (!r.to.some((s) => oracleSelector(s, f.to))) continue;
    return { allowed: r.action === 'allow', rule: `r${i}` };
  }
  return { allowed: false, rule: 'default-deny' };
}

test('property: over random rule sets and flows, decide() never throws and equals the first matching rule, else default-deny', () => {
  fc.assert(
    fc.property(fc.array(arbRule, { maxLength: 12 }), fc.array(arbFlow, { minLength: 1, maxLength: 20 }), (rules, flows) => {
      const policy = CompiledPolicy.fromText(yamlOf(rules));
      for (const f of flows) assert.deepEqual(policy.decide(f), oracle(rules, f));
    }),
    { numRuns: 300 },
  );
});

test('property: with no rule that can match, every flow is denied under default-deny', () => {
  // Rules only about group z and member zz, which no generated flow carries.
  const arbUnmatchable = arbRule.map((r) => ({ ...r, from: ['group:z', 'member:zz'] }));
  fc.assert(
    fc.property(fc.array(arbUnmatchable, { maxLength: 12 }), arbFlow, (rules, f) => {
      assert.deepEqual(CompiledPolicy.fromText(yamlOf(rules)).decide(f), { allowed: false, rule: 'default-deny' });
    }),
    { numRuns: 200 },
  );
});

test('property: a rule listed first that matches the flow decides it, whatever follows', () => {
  fc.assert(
    fc.property(fc.constantFrom('allow' as const, 'deny' as const), fc.array(arbRule, { maxLength: 12 }), arbFlow, (action, rest, f) => {
      const first: GenRule = { action, from: ['any'], to: ['any'], proto: ['any'], ports: [] };
      assert.deepEqual(CompiledPolicy.fromText(yamlOf([first, ...rest])).decide(f), { allowed: action === 'allow', rule: 'r0' });
    }),
    { numRuns: 200 },
  );
});

test('decide() does not throw on hostile flow values', () => {
  const hostile = [{ ip: 'x'.repeat(10_000) }, { ip: '::::' }, { ip: '1.2.3.4', groups: [] }, { ip: '1.2.3.4', name: '' }];
  for (const from of hostile) for (const to of hostile) {
    for (const protocol of ['tcp', 'udp', 'icmp', -1, 300, Number.NaN] as Flow['protocol'][]) {
      const d = POLICY.decide({ direction: 'inbound', protocol, from, to, srcPort: -5, dstPort: Number.NaN });
      assert.equal(typeof d.allowed, 'boolean');
    }
  }
});

// ---- pairRule: may two members exchange any flow at all (direct-path control traffic) ----

const pWeb: PairEnd = { name: 'web1', groups: ['web'], addresses: ['10.10.0.2'] };
const pDb: PairEnd = { name: 'db1', groups: ['db'], addresses: ['10.10.0.3'] };
const pLab: PairEnd = { name: 'lab1', groups: ['lab'], addresses: ['10.20.0.8'] };
const pCarol: PairEnd = { name: 'carol', groups: [], addresses: ['10.30.0.7'] };

test('pairRule: a pair some allow rule covers in either direction may talk; a pair no allow rule covers is kept apart', () => {
  assert.equal(POLICY.pairRule(pWeb, pDb), 'web-to-db');
  assert.equal(POLICY.pairRule(pDb, pWeb), 'web-to-db', 'symmetric: db -> web has no rule, web -> db has');
  assert.equal(POLICY.pairRule(pCarol, pDb), 'ssh-from-admins', 'a member: selector with to: any');
  assert.equal(POLICY.pairRule(pDb, pLab), null, 'no allow rule names db or lab as a sender; the deny is not an allow');
  const byCidr = CompiledPolicy.fromText('rules:\n  - name: lab-net\n    from: 10.20.0.0/16\n    to: group:db\n    proto: udp\n    ports: 53\n');
  assert.equal(byCidr.pairRule(pDb, pLab), 'lab-net', "the sender's host address inside the CIDR");
  assert.equal(byCidr.pairRule(pDb, pWeb), null, 'web is outside 10.20.0.0/16');
  const toCidr = CompiledPolicy.fromText('rules:\n  - name: to-multicast\n    from: group:web\n    to: 224.0.0.0/4\n    proto: any\n');
  assert.equal(toCidr.pairRule(pDb, pWeb), 'to-multicast', 'a receiver CIDR may match any destination the sender writes');
  assert.equal(toCidr.pairRule(pDb, pLab), null, 'but the sender must still match');
  assert.equal(CompiledPolicy.fromText('rules: []\n').pairRule(pWeb, pDb), null, 'an empty policy keeps everyone apart');
});

const arbPairEnd: fc.Arbitrary<PairEnd> = fc.record({
  name: fc.constantFrom('m1', 'm2', 'm3', 'm4'),
  groups: fc.subarray(['a', 'b', 'c', 'd']),
  addresses: fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 4 })).map(([b, c, d]) => `10.${b}.${c}.${d}`), { minLength: 1, maxLength: 2 }),
});

test('property: when pairRule keeps a pair apart, decide() denies every flow between them, either way, any protocol, port and destination', () => {
  const arbDst = fc.oneof(fc.constant(null), fc.constantFrom('10.0.0.255', '224.0.0.1', '10.2.3.4', 'fd00::2'));
  fc.assert(
    fc.property(fc.array(arbRule, { maxLength: 12 }), arbPairEnd, arbPairEnd, fc.array(fc.tuple(fc.boolean(), arbFlow, fc.nat(1), arbDst), { minLength: 1, maxLength: 20 }), (rules, a, b, samples) => {
      const policy = CompiledPolicy.fromText(yamlOf(rules));
      if (policy.pairRule(a, b) !== null) return;
      for (const [aSends, f, srcIdx, dst] of samples) {
        const [s, r] = aSends ? [a, b] : [b, a];
        const from: FlowEnd = { ip: s.addresses[srcIdx % s.addresses.length]!, name: s.name, groups: s.groups };
        const to: FlowEnd = { ip: dst ?? r.addresses[0]!, name: r.name, groups: r.groups };
        assert.equal(policy.decide({ ...f, from, to }).allowed, false);
      }
    }),
    { numRuns: 300 },
  );
});
