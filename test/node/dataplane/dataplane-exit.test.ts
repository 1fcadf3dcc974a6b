/**
 * The data plane's exit-node rules (src/node/dataplane/dataplane.ts,
 * docs/architecture.md "Exit nodes"): what goes to the chosen exit node,
 * what is dropped when it cannot carry traffic (fail closed), which
 * sources it may use inbound, and what a node serving as an exit takes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dataplane, type DataplaneMember } from '../../../src/node/dataplane/dataplane.js';
import { VNET_HDR_BYTES } from '../../../src/node/device/vnet-header.js';
import { FakeClock } from '../../../testkit/fake-clock.js';
import { FakeDevice, hex, ip4, memberDirectory } from '../../../testkit/dataplane-fakes.js';

const B = new Uint8Array(32).fill(0xb2);
const X = new Uint8Array(32).fill(0xe1);
const Y = new Uint8Array(32).fill(0xe2);

function member(id: Uint8Array, addr: string, exit: boolean): DataplaneMember {
  return { peerId: id, hex: hex(id), addresses: [{ family: 4, bytes: ip4(addr) }], name: hex(id).slice(0, 4), cert: { groups: [], exit } };
}

function ipv4(src: string, dst: string): Uint8Array {
  const p = new Uint8Array(VNET_HDR_BYTES + 28);
  p[VNET_HDR_BYTES] = 0x45;
  p.set(ip4(src), VNET_HDR_BYTES + 12);
  p.set(ip4(dst), VNET_HDR_BYTES + 16);
  return p;
}

function setup(list: DataplaneMember[], options: { serveExit?: boolean; inboundDestinations?: Array<{ bytes: Uint8Array; prefix: number }> } = {}) {
  const device = new FakeDevice('tun', true);
  const sent: string[] = [];
  const members = memberDirectory(list);
  const dp = new Dataplane({ device, peers: { sendInner: (id: Uint8Array) => { sent.push(hex(id)); return 'sent' as const; } }, members, clock: new FakeClock(), ...options });
  dp.start();
  return { device, sent, dp };
}

const flush = () => new Promise((r) => setImmediate(r));

test('no exit node chosen: an internet destination is no_route, as before', () => {
  const { device, sent, dp } = setup([member(X, '10.10.10.2', true)]);
  device.read(ipv4('10.10.10.3', '203.0.113.10'));
  assert.deepEqual(sent, []);
  assert.equal(dp.stats.drops.no_route, 1);
});

test('exit node chosen: what no member holds goes to it; members still go to themselves', () => {
  const { device, sent, dp } = setup([member(X, '10.10.10.2', true), member(B, '10.10.10.4', false)]);
  dp.setExitNode(hex(X));
  device.read(ipv4('10.10.10.3', '203.0.113.10'), ipv4('10.10.10.3', '10.10.10.4'), ipv4('10.10.10.3', '172.31.0.11'));
  assert.deepEqual(sent, [hex(X), hex(B), hex(X)]);
  assert.equal(dp.stats.drops.no_route, 0);
});

test('fail closed: an exit node that is not listed, or whose certificate lacks the mark, gets nothing and nothing goes elsewhere', () => {
  const listed = [member(Y, '10.10.10.5', false), member(B, '10.10.10.4', false)];
  const { device, sent, dp } = setup(listed);
  dp.setExitNode(hex(X)); // not listed (its daemon is gone)
  device.read(ipv4('10.10.10.3', '203.0.113.10'));
  dp.setExitNode(hex(Y)); // listed, no exit mark
  device.read(ipv4('10.10.10.3', '203.0.113.10'));
  assert.deepEqual(sent, []);
  assert.equal(dp.stats.drops.no_exit_node, 2);
  assert.equal(dp.stats.drops.no_route, 0);
  // Switching back to none restores the old rule.
  dp.setExitNode(null);
  device.read(ipv4('10.10.10.3', '203.0.113.10'));
  assert.equal(dp.stats.drops.no_route, 1);
});

test('inbound: the chosen exit node may bring any source no member holds; not a member\'s address; another member never', async () => {
  const { device, dp } = setup([member(X, '10.10.10.2', true), member(B, '10.10.10.4', false), member(Y, '10.10.10.5', true)]);
  dp.fromPeer(X, ipv4('203.0.113.10', '10.10.10.3'));
  await flush();
  assert.equal(device.written.length, 0, 'not chosen yet: spoofed');
  dp.setExitNode(hex(X));
  dp.fromPeer(X, ipv4('203.0.113.10', '10.10.10.3')); // the internet's answer
  dp.fromPeer(X, ipv4('10.10.10.4', '10.10.10.3')); // B's address: the exit cannot speak for B
  dp.fromPeer(Y, ipv4('203.0.113.10', '10.10.10.3')); // marked, but not our exit node
  dp.fromPeer(B, ipv4('203.0.113.10', '10.10.10.3'));
  await flush();
  assert.equal(device.written.length, 1);
  assert.equal(dp.stats.drops.spoofed_source, 4);
});

test('inbound: an exit node whose certificate lost the mark brings no foreign source', async () => {
  const list = [member(X, '10.10.10.2', false)];
  const { device, dp } = setup(list);
  dp.setExitNode(hex(X));
  dp.fromPeer(X, ipv4('203.0.113.10', '10.10.10.3'));
  await flush();
  assert.equal(device.written.length, 0);
  assert.equal(dp.stats.drops.spoofed_source, 1);
});

test('serving as an exit: members\' packets for any destination pass, where serving routes alone drops them', async () => {
  const routesOnly = [{ bytes: ip4('10.10.10.0'), prefix: 24 }];
  for (const serveExit of [false, true]) {
    const { device, dp } = setup([member(B, '10.10.10.4', false)], { inboundDestinations: routesOnly, serveExit });
    dp.fromPeer(B, ipv4('10.10.10.4', '203.0.113.10'));
    dp.fromPeer(B, ipv4('10.10.10.4', '10.10.10.1'));
    await flush();
    assert.equal(device.written.length, serveExit ? 2 : 1, `serveExit=${serveExit}`);
    assert.equal(dp.stats.drops.unserved_destination, serveExit ? 0 : 1);
  }
});

test('an exit node whose renewal dropped the mark (setServeExit(false)) takes members\' packets only for its served destinations again', async () => {
  const served = [{ bytes: ip4('10.10.10.0'), prefix: 24 }];
  const { device, dp } = setup([member(B, '10.10.10.4', false)], { inboundDestinations: served, serveExit: true });
  dp.fromPeer(B, ipv4('10.10.10.4', '203.0.113.10'));
  await flush();
  assert.equal(device.written.length, 1, 'serving: an internet destination passes');
  dp.setServeExit(false);
  dp.fromPeer(B, ipv4('10.10.10.4', '203.0.113.10'));
  dp.fromPeer(B, ipv4('10.10.10.4', '10.10.10.1'));
  await flush();
  assert.equal(device.written.length, 2, 'only the mesh destination passes');
  assert.equal(dp.stats.drops.unserved_destination, 1);
});
