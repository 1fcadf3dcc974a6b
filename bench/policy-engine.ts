/**
 * Micro benchmark for the network policy engine (src/policy/;
 * docs/architecture.md "Network policy"): what one packet's check costs
 * with a 100-rule policy, before the engine is wired into the data plane.
 *
 * Cases: decide() for a flow no rule matches (all 100 rules tried, the
 * worst case), decide() for a flow the first rule matches, check() of a
 * packet of a tracked connection (the common case: one table lookup), and
 * check() of a new flow each time (decision, then tracking it in a full
 * 65,536-entry table, evicting the oldest).
 *
 * Run: npx tsc -p tsconfig.json && node dist/bench/policy-engine.js
 * Prints one line per case: checks per second, and the equivalent Gbit/s
 * at 1400-byte packets. Not part of the test suite; numbers depend on the
 * machine and its load.
 */
import { CompiledPolicy, type Flow } from '../src/policy/compiled-policy.js';
import { PolicyEngine } from '../src/policy/policy-engine.js';
import { systemClock } from '../src/util/clock.js';

const RUN_MS = 1_000;
const PACKET_BYTES = 1400;

function measure(name: string, op: (i: number) => void): void {
  for (let i = 0; i < 10_000; i++) op(i);
  let n = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(RUN_MS) * 1_000_000n;
  let now = start;
  while (now < deadline) {
    op(n);
    n++;
    if ((n & 255) === 0) now = process.hrtime.bigint();
  }
  now = process.hrtime.bigint();
  const rate = n / (Number(now - start) / 1e9);
  console.log(`${name.padEnd(58)} ${rate.toFixed(0).padStart(10)} checks/s ${((rate * PACKET_BYTES * 8) / 1e9).toFixed(1).padStart(6)} Gbit/s at ${PACKET_BYTES} B`);
}

function hundredRules(): string {
  const lines = ['rules:'];
  for (let i = 0; i < 100; i++) {
    const kind = i % 3;
    const from = kind === 0 ? `group:g${i}` : kind === 1 ? `10.${i}.0.0/16` : `member:m${i}`;
    lines.push(`  - name: r${i}`, `    from: ${from}`, `    to: group:db`, `    proto: tcp`, `    ports: [${1000 + i}, ${2000 + i}-${2100 + i}]`);
  }
  return `${lines.join('\n')}\n`;
}

const policy = CompiledPolicy.fromText(hundredRules());
const first: Flow = { direction: 'inbound', protocol: 'tcp', from: { ip: '10.200.0.2', name: 'w', groups: ['g0'] }, to: { ip: '10.10.0.3', name: 'db1', groups: ['db'] }, srcPort: 40000, dstPort: 1000 };
const none: Flow = { ...first, from: { ip: '10.200.0.2', name: 'w', groups: ['web'] }, dstPort: 5432 };

measure('decide, 100 rules, no match (all tried)', () => { policy.decide(none); });
measure('decide, 100 rules, first rule matches', () => { policy.decide(first); });
const tracked = new PolicyEngine(policy, systemClock);
tracked.check(first);
measure('check, tracked connection (conntrack hit)', () => { tracked.check(first); });
const flood = new PolicyEngine(policy, systemClock);
measure('check, a new flow every packet (decide + track, 64 Ki table)', (i) => { flood.check({ ...first, srcPort: i & 0xffff, from: { ...first.from, ip: `10.200.${(i >> 16) & 0xff}.2` } }); });
