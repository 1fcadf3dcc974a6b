/**
 * Exit-node planning and its application with a recording Routing
 * (src/node/exit-routing-plan.ts, src/node/exit-node.ts): the rules and
 * their order, the table route per state (tunnel, fail closed, fallback),
 * cleanup of what a killed daemon left, switching at run time, serving,
 * and the refusals with their codes.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import type { DirectoryEntry } from '../../src/node/directory.js';
import { exitMemberState, findMember } from '../../src/names/member-selector.js';
import { ExitNode, UNRESOLVED_EXIT, type ExitNodeOptions } from '../../src/node/exit-node.js';
import { EXIT_PRIORITY_BYPASS, EXIT_PRIORITY_BYPASS_END, EXIT_PRIORITY_LAN, EXIT_PRIORITY_TABLE, EXIT_ROUTE_TABLE, planExitRules, planExitTable, tableRouteArgs } from '../../src/node/exit-routing-plan.js';
import { silentLogger } from '../../src/util/logger.js';
import { rejectsWithCode } from '../../testkit/expect-code.js';
import { fixtureNetwork } from '../../testkit/member-fixture.js';
import { RecordingRouting } from '../../testkit/recording-routing.js';

const net = fixtureNetwork();
const T = String(EXIT_ROUTE_TABLE);

test('plan: bypass rules (UDP socket, P2P listener, each relay of its family), each ended by an unreachable twin so our own packets never fall through into the tunnel, before the optional LAN rule, before our table; both families', () => {
  const rules = planExitRules({ udpPort: 41641, p2pPort: 8443, relayAddresses: ['172.31.0.10', 'fd00::10', '172.31.0.10'], allowLan: true });
  const text = rules.map((r) => `${r.family} ${r.args.join(' ')}`);
  assert.deepEqual(text, [
    `4 priority ${EXIT_PRIORITY_BYPASS} ipproto udp sport 41641 lookup main`,
    `4 priority ${EXIT_PRIORITY_BYPASS} ipproto tcp sport 8443 lookup main`,
    `4 priority ${EXIT_PRIORITY_BYPASS} to 172.31.0.10/32 lookup main`,
    `4 priority ${EXIT_PRIORITY_BYPASS_END} ipproto udp sport 41641 unreachable`,
    `4 priority ${EXIT_PRIORITY_BYPASS_END} ipproto tcp sport 8443 unreachable`,
    `4 priority ${EXIT_PRIORITY_BYPASS_END} to 172.31.0.10/32 unreachable`,
    `4 priority ${EXIT_PRIORITY_LAN} lookup main suppress_prefixlength 0`,
    `4 priority ${EXIT_PRIORITY_TABLE} lookup ${T}`,
    `6 priority ${EXIT_PRIORITY_BYPASS} ipproto udp sport 41641 lookup main`,
    `6 priority ${EXIT_PRIORITY_BYPASS} ipproto tcp sport 8443 lookup main`,
    `6 priority ${EXIT_PRIORITY_BYPASS} to fd00::10/128 lookup main`,
    `6 priority ${EXIT_PRIORITY_BYPASS_END} ipproto udp sport 41641 unreachable`,
    `6 priority ${EXIT_PRIORITY_BYPASS_END} ipproto tcp sport 8443 unreachable`,
    `6 priority ${EXIT_PRIORITY_BYPASS_END} to fd00::10/128 unreachable`,
    `6 priority ${EXIT_PRIORITY_LAN} lookup main suppress_prefixlength 0`,
    `6 priority ${EXIT_PRIORITY_TABLE} lookup ${T}`,
  ]);
  const bare = planExitRules({ udpPort: null, p2pPort: null, relayAddresses: [], allowLan: false }).map((r) => r.args.join(' '));
  assert.deepEqual(bare, [`priority ${EXIT_PRIORITY_TABLE} lookup ${T}`, `priority ${EXIT_PRIORITY_TABLE} lookup ${T}`]);
});

test('plan: table route per state: tunnel when usable, unreachable when not (fail closed), none with fallback; IPv6 tunnel only with an IPv6 mesh address', () => {
  const base = { device: 'sm0', fallback: false, ipv6: false };
  assert.deepEqual(tableRouteArgs(planExitTable({ ...base, usable: true }, 4)), ['default', 'dev', 'sm0', 'table', T]);
  assert.deepEqual(tableRouteArgs(planExitTable({ ...base, usable: true }, 6)), ['unreachable', 'default', 'table', T]);
  assert.deepEqual(tableRouteArgs(planExitTable({ ...base, usable: true, ipv6: true }, 6)), ['default', 'dev', 'sm0', 'table', T]);
  assert.deepEqual(tableRouteArgs(planExitTable({ ...base, usable: false }, 4)), ['unreachable', 'default', 'table', T]);
  assert.equal(tableRouteArgs(planExitTable({ ...base, usable: false, fallback: true }, 4)), null);
  assert.equal(tableRouteArgs(planExitTable({ ...base, usable: true, fallback: true }, 6)), null);
});

function entry(m: ReturnType<typeof net.member>): DirectoryEntry {
  return { peerId: m.peerId, hex: Buffer.from(m.peerId).toString('hex'), name: m.name, cert: m.cert, addresses: [], routes: [], onlineSinceMs: 0 } as DirectoryEntry;
}

function lab(options: Partial<ExitNodeOptions> = {}, selfExit = false, acceptRoutes = false) {
  const self = net.member('self', '10.10.10.3/24', { exit: selfExit }).cert;
  const listed: DirectoryEntry[] = [];
  const directory = new EventEmitter() as EventEmitter & { list(): DirectoryEntry[] };
  directory.list = () => listed;
  const routing = new RecordingRouting();
  const exits: Array<string | null> = [];
  const dataplane = { setExitNode: (h: string | null) => { exits.push(h); } };
  const node = new ExitNode({ use: 'x', allowLan: false, fallback: false, advertise: false, ...options }, {
    device: 'sm0', directory, self, dataplane, routing, logger: silentLogger, acceptRoutes,
    underlay: async () => ({ udpPort: 41641, p2pPort: null, relayAddresses: ['172.31.0.10'] }),
  });
  return { node, routing, listed, directory, exits };
}

const x = net.member('x', '10.10.10.2/24', { exit: true });

/** The default route of our table for a family (the mesh routes aside). */
function dflt(routing: RecordingRouting, family: 4 | 6): string[][] {
  return routing.tables[family].filter((r) => r[0] === 'default' || r[0] === 'unreachable');
}
const plain = net.member('p', '10.10.10.5/24');

test('findMember: by name or by mesh address, nothing else', () => {
  const list = [entry(x), entry(plain)];
  assert.equal(findMember(list, 'x')?.name, 'x');
  assert.equal(findMember(list, '10.10.10.5')?.name, 'p');
  assert.equal(findMember(list, '10.10.10.9'), undefined);
  assert.equal(findMember(list, 'nobody'), undefined);
  assert.equal(exitMemberState(findMember(list, 'x')), 'active');
  assert.equal(exitMemberState(findMember(list, 'p')), 'not_exit');
  assert.equal(exitMemberState(findMember(list, 'nobody')), 'offline');
});

test('use: fail closed until the exit node is listed, tunnel while it is, unreachable again when it leaves; stop removes everything', async () => {
  const { node, routing, listed, directory, exits } = lab();
  await node.start();
  await node.settled();
  assert.equal(node.state, 'offline');
  assert.deepEqual(dflt(routing, 4), [['unreachable', 'default', 'table', T]]);
  assert.deepEqual(dflt(routing, 6), [['unreachable', 'default', 'table', T]]);
  assert.equal(routing.rules[4].length, 5);
  assert.equal(exits.at(-1), UNRESOLVED_EXIT);
  const ex = entry(x);
  listed.push(ex);
  directory.emit('up', ex);
  await node.settled();
  assert.equal(node.state, 'active');
  assert.deepEqual(dflt(routing, 4), [['default', 'dev', 'sm0', 'table', T]]);
  assert.deepEqual(dflt(routing, 6), [['unreachable', 'default', 'table', T]], 'no IPv6 mesh address: IPv6 stays closed');
  assert.equal(exits.at(-1), ex.hex);
  listed.length = 0;
  directory.emit('down', ex);
  await node.settled();
  assert.equal(node.state, 'offline');
  assert.deepEqual(dflt(routing, 4), [['unreachable', 'default', 'table', T]]);
  assert.equal(exits.at(-1), UNRESOLVED_EXIT, 'no member holds that id: the data plane drops as no_exit_node');
  await node.stop();
  assert.deepEqual(routing.rules, { 4: [], 6: [] });
  assert.deepEqual(routing.tables, { 4: [], 6: [] });
  assert.equal(exits.at(-1), null);
});

test('fallback: no route of ours while the exit node is away, so the main table carries traffic directly', async () => {
  const { node, routing, listed, directory, exits } = lab({ fallback: true });
  await node.start();
  await node.settled();
  assert.deepEqual(dflt(routing, 4), []);
  assert.deepEqual(routing.tables[4], [['10.10.10.0/24', 'dev', 'sm0', 'table', T]], 'the mesh subnet is in our table in every state');
  assert.equal(exits.at(-1), null);
  listed.push(entry(x));
  directory.emit('up', listed[0]);
  await node.settled();
  assert.deepEqual(dflt(routing, 4), [['default', 'dev', 'sm0', 'table', T]]);
  listed.length = 0;
  directory.emit('down', entry(x));
  await node.settled();
  assert.deepEqual(dflt(routing, 4), []);
  assert.equal(node.status().route4, 'direct');
  await node.stop();
});

test('a listed member without the exit mark is not_exit: nothing goes through it', async () => {
  const { node, routing, listed, exits } = lab({ use: 'p' });
  listed.push(entry(plain));
  await node.start();
  await node.settled();
  assert.equal(node.state, 'not_exit');
  assert.deepEqual(dflt(routing, 4), [['unreachable', 'default', 'table', T]]);
  assert.equal(exits.at(-1), entry(plain).hex);
  await node.stop();
});

test('start cleans up what a killed daemon left (rules of our priorities, our table) before adding its own: one set, not two', async () => {
  const { node, routing } = lab();
  await routing.addRule(4, ['priority', String(EXIT_PRIORITY_TABLE), 'lookup', T]);
  await routing.addRule(4, ['priority', String(EXIT_PRIORITY_BYPASS), 'to', '192.0.2.1/32', 'lookup', 'main']);
  await routing.addRule(6, ['priority', String(EXIT_PRIORITY_LAN), 'lookup', 'main', 'suppress_prefixlength', '0']);
  await routing.replaceTableRoute(4, ['default', 'dev', 'old0', 'table', T]);
  await node.start();
  await node.settled();
  assert.deepEqual(routing.rules[4].map((r) => r.join(' ')), [
    `priority ${EXIT_PRIORITY_BYPASS} ipproto udp sport 41641 lookup main`,
    `priority ${EXIT_PRIORITY_BYPASS} to 172.31.0.10/32 lookup main`,
    `priority ${EXIT_PRIORITY_BYPASS_END} ipproto udp sport 41641 unreachable`,
    `priority ${EXIT_PRIORITY_BYPASS_END} to 172.31.0.10/32 unreachable`,
    `priority ${EXIT_PRIORITY_TABLE} lookup ${T}`,
  ]);
  assert.equal(routing.rules[6].length, 3);
  assert.deepEqual(dflt(routing, 4), [['unreachable', 'default', 'table', T]]);
  await node.stop();
});

test('select at run time: another member, then none (rules and table gone), then one again', async () => {
  const { node, routing, listed, exits } = lab({ use: 'p' });
  listed.push(entry(plain), entry(x));
  await node.start();
  await node.settled();
  assert.equal(node.state, 'not_exit');
  await node.select('10.10.10.2');
  assert.equal(node.state, 'active');
  assert.equal(exits.at(-1), entry(x).hex);
  await node.select(null);
  assert.equal(node.state, 'none');
  assert.deepEqual(routing.rules, { 4: [], 6: [] });
  assert.deepEqual(routing.tables, { 4: [], 6: [] });
  assert.equal(exits.at(-1), null);
  await node.select('x');
  assert.equal(node.state, 'active');
  assert.equal(routing.rules[4].length, 5);
  await node.stop();
});

test('a rule that cannot be added undoes the rest and says SM_ERR_DAEMON_EXIT_NODE_SETUP', async () => {
  const { node, routing } = lab();
  routing.fail('rule6 add');
  await rejectsWithCode(() => node.start(), 'SM_ERR_DAEMON_EXIT_NODE_SETUP');
  assert.deepEqual(routing.rules, { 4: [], 6: [] });
  assert.deepEqual(routing.tables, { 4: [], 6: [] });
});

test('serving: refused without the exit mark (SM_ERR_DAEMON_EXIT_NODE_NOT_EXIT); with it, forwarding on and a masquerade rule to everything, both undone at stop', async () => {
  const refused = lab({ use: null, advertise: true }, false);
  await rejectsWithCode(() => refused.node.start(), 'SM_ERR_DAEMON_EXIT_NODE_NOT_EXIT');
  const { node, routing } = lab({ use: null, advertise: true }, true);
  await node.start();
  assert.deepEqual(routing.log.filter((l) => !l.startsWith('rule') && !l.startsWith('route')), ['fwd4=1', 'masq add v4 10.10.10.0/24 -> 0.0.0.0/0']);
  await node.stop();
  assert.deepEqual(routing.log.filter((l) => !l.startsWith('rule') && !l.startsWith('route')).slice(2), ['masq delete v4 10.10.10.0/24 -> 0.0.0.0/0', 'fwd4=0']);
});

test('stopAdvertising (a renewal without the exit mark) undoes the NAT at once, once; stop afterwards undoes nothing twice', async () => {
  const { node, routing } = lab({ use: null, advertise: true }, true);
  await node.start();
  await node.stopAdvertising();
  assert.equal(node.status().advertising, false);
  const nat = () => routing.log.filter((l) => !l.startsWith('rule') && !l.startsWith('route'));
  assert.deepEqual(nat(), ['fwd4=1', 'masq add v4 10.10.10.0/24 -> 0.0.0.0/0', 'masq delete v4 10.10.10.0/24 -> 0.0.0.0/0', 'fwd4=0']);
  await node.stopAdvertising();
  await node.stop();
  assert.equal(nat().length, 4, 'nothing undone twice');
});

test('the mesh keeps its routes in our table (own subnet; members\' routes with acceptRoutes), so an unreachable default never cuts the mesh', async () => {
  const { node, routing, listed, directory } = lab({}, false, true);
  await node.start();
  await node.settled();
  assert.deepEqual(routing.tables[4].map((r) => r.join(' ')), [`10.10.10.0/24 dev sm0 table ${T}`, `unreachable default table ${T}`]);
  const router = entry(net.member('r', '10.10.10.6/24', { routes: ['192.168.50.0/24'] }));
  listed.push(router);
  directory.emit('up', router);
  await node.settled();
  assert.ok(routing.tables[4].some((r) => r.join(' ') === `192.168.50.0/24 dev sm0 table ${T}`), JSON.stringify(routing.tables[4]));
  listed.length = 0;
  directory.emit('down', router);
  await node.settled();
  assert.ok(!routing.tables[4].some((r) => r[0] === '192.168.50.0/24'));
  await node.stop();
  assert.deepEqual(routing.tables, { 4: [], 6: [] });
});

test('a relay flapping the exit node costs at most a pass in flight and one waiting, not one pass per event', async () => {
  const { node, routing, listed, directory } = lab();
  await node.start();
  await node.settled();
  const before = node.passes;
  const ex = entry(x);
  for (let i = 0; i < 1000; i++) {
    if (i % 2 === 0) { listed.push(ex); directory.emit('up', ex); } else { listed.length = 0; directory.emit('down', ex); }
  }
  await node.settled();
  assert.ok(node.passes - before <= 2, `${node.passes - before} passes for 1000 events`);
  // The last event left it offline: fail closed.
  assert.equal(node.state, 'offline');
  assert.deepEqual(dflt(routing, 4), [['unreachable', 'default', 'table', T]]);
  await node.stop();
});
