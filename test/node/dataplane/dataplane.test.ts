import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dataplane, VNET_HEADER_BYTES, MAX_PENDING_DEVICE_WRITES, type DataplaneDevice, type DataplaneMember } from '../../../src/node/dataplane/dataplane.js';
import { InnerType } from '../../../src/wire/constants.js';
import { FakeClock } from '../../../src/testkit/fake-clock.js';

const A = new Uint8Array(32).fill(0xa1);
const B = new Uint8Array(32).fill(0xb2);
const C = new Uint8Array(32).fill(0xc3);
const hex = (id: Uint8Array) => Buffer.from(id).toString('hex');
const ip = (s: string) => new Uint8Array(s.split('.').map(Number));

function member(id: Uint8Array, addr: string): DataplaneMember {
  return { peerId: id, hex: hex(id), addresses: [{ family: 4, bytes: ip(addr) }] };
}
const members = [member(B, '10.10.10.4'), member(C, '10.10.10.5')];
const directory = {
  byAddress: (a: Uint8Array) => members.find((m) => m.addresses.some((x) => Buffer.compare(x.bytes, a) === 0)),
  get: (id: Uint8Array | string) => members.find((m) => m.hex === (typeof id === 'string' ? id : hex(id))),
  list: () => members,
};

class FakeDevice implements DataplaneDevice {
  written: Uint8Array[] = [];
  onBatch: ((p: readonly Uint8Array[], n: number) => void) | null = null;
  writeLimit = Infinity;
  constructor(readonly kind: 'tap' | 'tun', readonly vnetHdr: boolean) {}
  start(cb: (p: readonly Uint8Array[], n: number) => void): void { this.onBatch = cb; }
  write(p: readonly Uint8Array[], n: number): number {
    const k = Math.min(n, this.writeLimit);
    for (let i = 0; i < k; i++) this.written.push(new Uint8Array(p[i]!));
    return k;
  }
  read(...packets: Uint8Array[]): void { this.onBatch!(packets, packets.length); }
}

function setup(kind: 'tap' | 'tun', vnetHdr = true) {
  const device = new FakeDevice(kind, vnetHdr);
  const sent: Array<{ to: string; type: number; body: Uint8Array }> = [];
  const peers = { sendInner: (id: Uint8Array, type: number, body: Uint8Array) => { sent.push({ to: hex(id), type, body: new Uint8Array(body) }); return 'sent' as const; } };
  const dp = new Dataplane({ device, peers, members: directory, clock: new FakeClock() });
  dp.start();
  return { device, sent, dp };
}

function ipv4(src: string, dst: string, withVnet = true, payload = 8): Uint8Array {
  const off = withVnet ? VNET_HEADER_BYTES : 0;
  const p = new Uint8Array(off + 20 + payload);
  p[off] = 0x45;
  p.set(ip(src), off + 12);
  p.set(ip(dst), off + 16);
  return p;
}

function eth(dst: number[], src: number[], withVnet = true): Uint8Array {
  const off = withVnet ? VNET_HEADER_BYTES : 0;
  const p = new Uint8Array(off + 60);
  p.set(dst, off);
  p.set(src, off + 6);
  p[off + 12] = 0x08;
  return p;
}

const flush = () => new Promise<void>((r) => queueMicrotask(r));

test('TUN: packets go to the member whose certificate holds the destination; others are counted', () => {
  const { device, sent, dp } = setup('tun');
  device.read(ipv4('10.10.10.3', '10.10.10.4'), ipv4('10.10.10.3', '10.10.10.5'), ipv4('10.10.10.3', '10.10.10.99'), new Uint8Array(VNET_HEADER_BYTES + 30));
  assert.deepEqual(sent.map((s) => s.to), [hex(B), hex(C)]);
  assert.ok(sent.every((s) => s.type === InnerType.DeviceFrame));
  assert.equal(sent[0]!.body.length, VNET_HEADER_BYTES + 28, 'the unit crosses whole, header included');
  assert.equal(dp.stats.drops.no_route, 1);
  assert.equal(dp.stats.drops.not_ip, 1);
  assert.equal(dp.stats.toPeers, 2);
});

test('TUN: a member may only send from its own certificate addresses', async () => {
  const { device, dp } = setup('tun');
  dp.fromPeer(B, ipv4('10.10.10.4', '10.10.10.3'));
  dp.fromPeer(B, ipv4('10.10.10.5', '10.10.10.3')); // C's address, sent by B
  dp.fromPeer(A, ipv4('10.10.10.9', '10.10.10.3')); // not a known member
  dp.fromPeer(B, new Uint8Array(12));
  assert.equal(device.written.length, 0, 'writes wait for the flush');
  await flush();
  assert.equal(device.written.length, 1);
  assert.equal(dp.stats.drops.spoofed_source, 1);
  assert.equal(dp.stats.drops.unknown_peer, 1);
  assert.equal(dp.stats.drops.runt, 1);
});

test('TAP: broadcast floods, learned MACs go to one peer, group MACs are never learned', async () => {
  const { device, sent, dp } = setup('tap');
  const bcast = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
  const macA = [0x02, 0, 0, 0, 0, 0xa1];
  const macB = [0x02, 0, 0, 0, 0, 0xb2];
  device.read(eth(bcast, macA));
  assert.deepEqual(sent.map((s) => s.to).sort(), [hex(B), hex(C)].sort());
  sent.length = 0;
  device.read(eth(macB, macA));
  assert.equal(sent.length, 2, 'unknown unicast is flooded');
  sent.length = 0;
  dp.fromPeer(B, eth(macA, macB)); // learn macB behind B
  await flush();
  device.read(eth(macB, macA));
  assert.deepEqual(sent.map((s) => s.to), [hex(B)]);
  sent.length = 0;
  dp.fromPeer(C, eth(macA, [0x01, 0, 0x5e, 0, 0, 1])); // a group source must not be learned
  device.read(eth([0x01, 0, 0x5e, 0, 0, 1], macA));
  assert.equal(sent.length, 2);
  dp.forgetPeer(hex(B));
  sent.length = 0;
  device.read(eth(macB, macA));
  assert.equal(sent.length, 2, 'forgotten with its peer');
  assert.equal(dp.stats.floods, 4);
});

test('a device without virtio-net headers gets a zero header out and loses it in; GSO units it cannot take are dropped', async () => {
  const { device, sent, dp } = setup('tun', false);
  device.read(ipv4('10.10.10.3', '10.10.10.4', false));
  assert.equal(sent[0]!.body.length, VNET_HEADER_BYTES + 28);
  assert.ok(sent[0]!.body.subarray(0, VNET_HEADER_BYTES).every((b) => b === 0));
  dp.fromPeer(B, ipv4('10.10.10.4', '10.10.10.3'));
  const gso = ipv4('10.10.10.4', '10.10.10.3');
  gso[1] = 1; // VIRTIO_NET_HDR_GSO_TCPV4
  dp.fromPeer(B, gso);
  await flush();
  assert.equal(device.written.length, 1);
  assert.equal(device.written[0]!.length, 28);
  assert.equal(dp.stats.drops.gso_unsupported, 1);
});

test('device writes are bounded per turn and failures counted', async () => {
  const { device, dp } = setup('tun');
  device.writeLimit = 10;
  for (let i = 0; i < MAX_PENDING_DEVICE_WRITES + 5; i++) dp.fromPeer(B, ipv4('10.10.10.4', '10.10.10.3'));
  await flush();
  assert.equal(dp.stats.drops.device_queue_full, 5);
  assert.equal(device.written.length, 10);
  assert.equal(dp.stats.drops.device_write_failed, MAX_PENDING_DEVICE_WRITES - 10);
});

test('TAP: frames from a peer that is not a listed member never reach the segment', async () => {
  const { device, dp } = setup('tap');
  dp.fromPeer(A, eth([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], [0x02, 0, 0, 0, 0, 0xa1]));
  await flush();
  assert.equal(device.written.length, 0);
  assert.equal(dp.stats.drops.unknown_peer, 1);
});
