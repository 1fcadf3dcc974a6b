/**
 * src/node/device/linux-routing.ts with a recording command runner: the
 * exact ip/iptables argv, a missing tool reported as such, and a rule left
 * behind by a killed daemon adopted rather than appended twice.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LinuxRouting, type RoutingRun } from '../../../src/node/device/linux-routing.js';

function recorder(answer: (cmd: string, args: readonly string[]) => { code: number; stderr: string } | null) {
  const calls: string[] = [];
  const run: RoutingRun = async (cmd, args) => {
    calls.push(`${cmd} ${args.join(' ')}`);
    return answer(cmd, args);
  };
  return { calls, run };
}

test('routes and masquerade rules: exact commands; failures and a missing tool come back as text', async () => {
  const ok = recorder(() => ({ code: 0, stderr: '' }));
  const r = new LinuxRouting(ok.run);
  assert.equal(await r.addRoute('sm0', '192.168.50.0/24'), null);
  assert.equal(await r.deleteRoute('sm0', 'fd50::/64'), null);
  assert.deepEqual(ok.calls, ['ip route replace 192.168.50.0/24 dev sm0', 'ip route del fd50::/64 dev sm0']);
  const missing = new LinuxRouting(recorder(() => null).run);
  assert.match((await missing.addRoute('sm0', '192.168.50.0/24')) ?? '', /ip not found/);
  const refused = new LinuxRouting(recorder(() => ({ code: 2, stderr: 'RTNETLINK answers: Operation not permitted\n' })).run);
  assert.match((await refused.addRoute('sm0', '192.168.50.0/24')) ?? '', /Operation not permitted$/);
});

test('masquerade add checks first: a rule already there is adopted, not appended again; delete deletes', async () => {
  const present = recorder((_cmd, args) => ({ code: args.includes('-C') ? 0 : 1, stderr: '' }));
  assert.equal(await new LinuxRouting(present.run).masquerade('add', 6, 'fd00::/64', 'fd50::/64'), null);
  assert.equal(present.calls.length, 1);
  assert.match(present.calls[0]!, /^ip6tables -w 5 -t nat -C POSTROUTING -s fd00::\/64 -d fd50::\/64 -m comment --comment shadowmesh subnet routes -j MASQUERADE$/);
  const absent = recorder((_cmd, args) => ({ code: args.includes('-C') ? 1 : 0, stderr: '' }));
  const r = new LinuxRouting(absent.run);
  assert.equal(await r.masquerade('add', 4, '10.10.10.0/24', '192.168.50.0/24'), null);
  assert.equal(await r.masquerade('delete', 4, '10.10.10.0/24', '192.168.50.0/24'), null);
  assert.deepEqual(absent.calls.map((c) => c.split(' ').slice(0, 7).join(' ')), [
    'iptables -w 5 -t nat -C POSTROUTING', 'iptables -w 5 -t nat -A POSTROUTING', 'iptables -w 5 -t nat -D POSTROUTING',
  ]);
});
