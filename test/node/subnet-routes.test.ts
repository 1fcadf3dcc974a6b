/**
 * src/node/subnet-routes.ts with a recording Routing: kernel routes follow
 * the directory's members (added on up, changed with a newer certificate,
 * removed on down and at stop); serving turns forwarding on and adds
 * masquerade rules that stop removes again and restores; a setup failure
 * undoes what was done and says SM_ERR_DAEMON_ROUTES_SETUP.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import type { DirectoryEntry } from '../../src/node/directory.js';
import { SubnetRoutes } from '../../src/node/subnet-routes.js';
import { silentLogger } from '../../src/util/logger.js';
import { fixtureNetwork } from '../../testkit/member-fixture.js';
import { rejectsWithCode } from '../../testkit/expect-code.js';
import { RecordingRouting } from '../../testkit/recording-routing.js';

const net = fixtureNetwork();

function entryOf(m: ReturnType<typeof net.member>, routes: string[]): DirectoryEntry {
  return { peerId: m.peerId, hex: Buffer.from(m.peerId).toString('hex'), name: m.name, cert: m.cert, addresses: [], onlineSinceMs: 0,
    routes: routes.map((text) => ({ family: text.includes(':') ? 6 : 4, bytes: new Uint8Array(text.includes(':') ? 16 : 4), prefix: 24, text })) } as DirectoryEntry;
}

function directory(entries: DirectoryEntry[] = []) {
  const d = new EventEmitter() as EventEmitter & { list(): DirectoryEntry[] };
  d.list = () => entries;
  return d;
}

test('accept: routes installed for listed members, changed with a newer certificate, removed on down and at stop', async () => {
  const self = net.member('self', '10.10.10.1/24').cert;
  const r = net.member('r', '10.10.10.2/24');
  const early = entryOf(net.member('early', '10.10.10.9/24'), ['192.168.70.0/24']);
  const listed: DirectoryEntry[] = [early];
  const dir = directory(listed);
  const routing = new RecordingRouting();
  const sr = new SubnetRoutes({ accept: true, advertise: false, snat: true }, { device: 'sm0', directory: dir, self, routing, logger: silentLogger });
  await sr.start();
  await sr.settled();
  assert.deepEqual(routing.log, ['add 192.168.70.0/24 sm0']);
  const first = entryOf(r, ['192.168.50.0/24', '192.168.60.0/24']);
  listed.push(first);
  dir.emit('up', first, undefined);
  await sr.settled();
  const second = entryOf(r, ['192.168.50.0/24']);
  listed[1] = second;
  dir.emit('up', second, first);
  await sr.settled();
  assert.deepEqual(sr.accepted().map((a) => a.route).sort(), ['192.168.50.0/24', '192.168.70.0/24']);
  listed.pop();
  dir.emit('down', second);
  await sr.settled();
  assert.deepEqual(sr.accepted().map((a) => a.route), ['192.168.70.0/24']);
  await sr.stop();
  assert.deepEqual(routing.log, [
    'add 192.168.70.0/24 sm0', 'add 192.168.50.0/24 sm0', 'add 192.168.60.0/24 sm0', 'del 192.168.60.0/24 sm0', 'del 192.168.50.0/24 sm0', 'del 192.168.70.0/24 sm0',
  ]);
  assert.equal(sr.accepted().length, 0);
  // After stop the directory's events change nothing.
  listed.push(first);
  dir.emit('up', first, undefined);
  await sr.settled();
  assert.equal(routing.log.length, 6);
});

test('accept: a relay flapping a member 1000 times costs a few passes, not a backlog of commands; members without routes cost none', async () => {
  const self = net.member('self', '10.10.10.1/24').cert;
  const r = entryOf(net.member('r', '10.10.10.2/24'), ['192.168.50.0/24']);
  const plain = entryOf(net.member('p', '10.10.10.3/24'), []);
  const listed: DirectoryEntry[] = [];
  const dir = directory(listed);
  const routing = new RecordingRouting();
  const sr = new SubnetRoutes({ accept: true, advertise: false, snat: true }, { device: 'sm0', directory: dir, self, routing, logger: silentLogger });
  await sr.start();
  await sr.settled();
  const passesBefore = sr.passes;
  for (let i = 0; i < 1000; i++) {
    listed.push(r);
    dir.emit('up', r, undefined);
    listed.pop();
    dir.emit('down', r);
    dir.emit('up', plain, undefined);
  }
  listed.push(r);
  dir.emit('up', r, undefined);
  await sr.settled();
  assert.ok(sr.passes - passesBefore <= 2, `${sr.passes - passesBefore} passes for 2001 events`);
  assert.ok(routing.log.length <= 2, routing.log.join(', '));
  assert.deepEqual(sr.accepted().map((a) => a.route), ['192.168.50.0/24']);
  await sr.stop();
});

test('advertise: forwarding on and one masquerade rule per (mesh subnet, route) of a family; stop undoes both', async () => {
  const self = net.member('router', '10.10.10.2/24', { routes: ['192.168.50.0/24'] }).cert;
  const routing = new RecordingRouting();
  const sr = new SubnetRoutes({ accept: false, advertise: true, snat: true }, { device: 'sm0', directory: directory(), self, routing, logger: silentLogger });
  await sr.start();
  assert.deepEqual(routing.log, ['fwd4=1', 'masq add v4 10.10.10.0/24 -> 192.168.50.0/24']);
  assert.deepEqual(sr.advertised, ['192.168.50.0/24']);
  await sr.stop();
  assert.deepEqual(routing.log.slice(2), ['masq delete v4 10.10.10.0/24 -> 192.168.50.0/24', 'fwd4=0']);
});

test('advertise without snat adds no rule; forwarding already on is left on at stop', async () => {
  const self = net.member('router', '10.10.10.2/24', { routes: ['192.168.50.0/24'] }).cert;
  const routing = new RecordingRouting();
  routing.forwarding[4] = '1';
  const sr = new SubnetRoutes({ accept: false, advertise: true, snat: false }, { device: 'sm0', directory: directory(), self, routing, logger: silentLogger });
  await sr.start();
  await sr.stop();
  assert.deepEqual(routing.log, []);
});

test('advertise: a masquerade failure undoes forwarding and throws SM_ERR_DAEMON_ROUTES_SETUP', async () => {
  const self = net.member('router', '10.10.10.2/24', { routes: ['192.168.50.0/24'] }).cert;
  const routing = new RecordingRouting();
  routing.failMasquerade = true;
  const sr = new SubnetRoutes({ accept: false, advertise: true, snat: true }, { device: 'sm0', directory: directory(), self, routing, logger: silentLogger });
  await rejectsWithCode(() => sr.start(), 'SM_ERR_DAEMON_ROUTES_SETUP', /not allowed/);
  assert.deepEqual(routing.log, ['fwd4=1', 'fwd4=0']);
});
