import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dataplane, MAX_PENDING_DEVICE_WRITES, type DataplaneMember } from '../../../src/node/dataplane/dataplane.js';
import { VNET_HDR_BYTES } from '../../../src/node/device/vnet-header.js';
import { InnerType } from '../../../src/wire/constants.js';
import { FakeClock } from '../../../testkit/fake-clock.js';
import { FakeDevice, hex, ip4, memberDirectory } from '../../../testkit/dataplane-fakes.js';
import { linkLocalForMac, macForPeer } from '../../../src/node/dataplane/tap-source.js';

const A = new Uint8Array(32).fill(0xa1);
const B = new Uint8Array(32).fill(0xb2);
const C = new Uint8Array(32).fill(0xc3);

/** An IPv6 address from 8 groups. */
const ip6 = (...g: number[]) => { const b = new Uint8Array(16); g.forEach((x, i) => { b[2 * i] = x >> 8; b[2 * i + 1] = x & 0xff; }); return b; };

function member(id: Uint8Array, addr: string, v6?: Uint8Array): DataplaneMember {
  return { peerId: id, hex: hex(id), addresses: [{ family: 4, bytes: ip4(addr) }, ...(v6 ? [{ family: 6 as const, bytes: v6 }] : [])] };
}
const B6 = ip6(0xfd00, 0, 0, 0, 0, 0, 0, 4);
const C6 = ip6(0xfd00, 0, 0, 0, 0, 0, 0, 5);
const members = [member(B, '10.10.10.4', B6), member(C, '10.10.10.5', C6)];
const directory = memberDirectory(members);

function setup(kind: 'tap' | 'tun', vnetHdr = true) {
  const device = new FakeDevice(kind, vnetHdr);
  const sent: Array<{ to: string; type: number; body: Uint8Array }> = [];
  const peers = { sendInner: (id: Uint8Array, type: number, body: Uint8Array) => { sent.push({ to: hex(id), type, body: new Uint8Array(body) }); return 'sent' as const; } };
  const dp = new Dataplane({ device, peers, members: directory, clock: new FakeClock() });
  dp.start();
  return { device, sent, dp };
}

function ipv4(src: string, dst: string, withVnet = true, payload = 8): Uint8Array {
  const off = withVnet ? VNET_HDR_BYTES : 0;
  const p = new Uint8Array(off + 20 + payload);
  p[off] = 0x45;
  p.set(ip4(src), off + 12);
  p.set(ip4(dst), off + 16);
  return p;
}

/** An Ethernet frame (virtio-net header first) carrying a minimal IPv4 header from `srcIp` (default: the member's own address). */
function eth(dst: ArrayLike<number>, src: ArrayLike<number>, srcIp = '10.10.10.3', dstIp = '10.10.10.9'): Uint8Array {
  return frame(dst, src, 0x0800, ipv4(srcIp, dstIp, false));
}

const BCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
const macA = macForPeer(A);
const macB = macForPeer(B);
const macC = macForPeer(C);

function frame(dst: ArrayLike<number>, src: ArrayLike<number>, etherType: number, payload: Uint8Array): Uint8Array {
  const off = VNET_HDR_BYTES;
  const p = new Uint8Array(off + 14 + payload.length);
  p.set(dst, off);
  p.set(src, off + 6);
  p[off + 12] = etherType >> 8;
  p[off + 13] = etherType & 0xff;
  p.set(payload, off + 14);
  return p;
}

/** ARP for Ethernet/IPv4 (RFC 826): op 1 request, 2 reply. */
function arp(src: ArrayLike<number>, op: 1 | 2, sha: ArrayLike<number>, spa: string, tpa: string, dst: ArrayLike<number> = BCAST): Uint8Array {
  const a = new Uint8Array(28);
  a.set([0, 1, 0x08, 0, 6, 4, 0, op]);
  a.set(sha, 8);
  a.set(ip4(spa), 14);
  a.set(ip4(tpa), 24);
  return frame(dst, src, 0x0806, a);
}

/** An IPv6 packet (RFC 8200) with `payload` after the fixed header. */
function ipv6(src: Uint8Array, dst: Uint8Array, nextHeader: number, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(40 + payload.length);
  p[0] = 0x60;
  p[4] = payload.length >> 8;
  p[5] = payload.length & 0xff;
  p[6] = nextHeader;
  p[7] = 255;
  p.set(src, 8);
  p.set(dst, 24);
  p.set(payload, 40);
  return p;
}

/** A neighbour discovery message (RFC 4861): NS 135 or NA 136 for `target`, with one link-layer address option (1 source, 2 target) when `lla` is given. */
function nd(type: 135 | 136, target: Uint8Array, lla?: { option: 1 | 2; mac: ArrayLike<number> }): Uint8Array {
  const m = new Uint8Array(24 + (lla ? 8 : 0));
  m[0] = type;
  if (type === 136) m[4] = 0x60; // solicited, override
  m.set(target, 8);
  if (lla) {
    m[24] = lla.option;
    m[25] = 1;
    m.set(lla.mac, 26);
  }
  return m;
}

const flush = () => new Promise<void>((r) => queueMicrotask(r));

test('TUN: packets go to the member whose certificate holds the destination; others are counted', () => {
  const { device, sent, dp } = setup('tun');
  device.read(ipv4('10.10.10.3', '10.10.10.4'), ipv4('10.10.10.3', '10.10.10.5'), ipv4('10.10.10.3', '10.10.10.99'), new Uint8Array(VNET_HDR_BYTES + 30));
  assert.deepEqual(sent.map((s) => s.to), [hex(B), hex(C)]);
  assert.ok(sent.every((s) => s.type === InnerType.DeviceFrame));
  assert.equal(sent[0]!.body.length, VNET_HDR_BYTES + 28, 'the unit crosses whole, header included');
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
  device.read(eth(BCAST, macA));
  assert.deepEqual(sent.map((s) => s.to).sort(), [hex(B), hex(C)].sort());
  sent.length = 0;
  device.read(eth(macB, macA));
  assert.equal(sent.length, 2, 'unknown unicast is flooded');
  sent.length = 0;
  dp.fromPeer(B, eth(macA, macB, '10.10.10.4')); // learn macB behind B
  await flush();
  device.read(eth(macB, macA));
  assert.deepEqual(sent.map((s) => s.to), [hex(B)]);
  sent.length = 0;
  dp.fromPeer(C, eth(macA, [0x01, 0, 0x5e, 0, 0, 1], '10.10.10.5')); // a group source must not be learned
  device.read(eth([0x01, 0, 0x5e, 0, 0, 1], macA));
  assert.equal(sent.length, 2);
  dp.forgetPeer(hex(B));
  sent.length = 0;
  device.read(eth(macB, macA));
  assert.equal(sent.length, 2, 'forgotten with its peer');
  assert.equal(dp.stats.floods, 4);
});

test('peers with sendDeviceFrame get each packet with the member hex (TUN, TAP unicast and floods); fromPeer looks members up by a given hex', async () => {
  for (const kind of ['tun', 'tap'] as const) {
    const device = new FakeDevice(kind, true);
    const sent: Array<{ id: string; hex: string }> = [];
    const peers = {
      sendInner: (): 'sent' => { throw new Error('sendInner must not be used when sendDeviceFrame exists'); },
      sendDeviceFrame: (id: Uint8Array, h: string, _body: Uint8Array) => { sent.push({ id: hex(id), hex: h }); return 'sent' as const; },
    };
    const dp = new Dataplane({ device, peers, members: directory, clock: new FakeClock() });
    dp.start();
    if (kind === 'tun') {
      device.read(ipv4('10.10.10.3', '10.10.10.4'), ipv4('10.10.10.3', '10.10.10.5'));
      assert.deepEqual(sent, [{ id: hex(B), hex: hex(B) }, { id: hex(C), hex: hex(C) }]);
      // The hex names the sender: B's address from the member the hex names (C) breaks the source rule.
      dp.fromPeer(B, ipv4('10.10.10.4', '10.10.10.3'), hex(C));
      dp.fromPeer(B, ipv4('10.10.10.4', '10.10.10.3'), hex(B));
      await flush();
      assert.equal(dp.stats.drops.spoofed_source, 1);
      assert.equal(device.written.length, 1);
    } else {
      device.read(eth(BCAST, macA));
      assert.deepEqual(sent.map((x) => x.hex).sort(), [hex(B), hex(C)].sort());
      dp.fromPeer(B, eth(macA, macB, '10.10.10.4'), hex(B));
      await flush();
      sent.length = 0;
      device.read(eth(macB, macA));
      assert.deepEqual(sent, [{ id: hex(B), hex: hex(B) }], 'a learned MAC: its member id and hex');
      dp.fromPeer(B, eth(macA, macB, '10.10.10.4'), hex(C));
      assert.equal(dp.stats.drops.spoofed_mac, 1, "B's MAC from the member the hex names (C)");
    }
  }
});

test('a device without virtio-net headers gets a zero header out and loses it in; GSO units it cannot take are dropped', async () => {
  const { device, sent, dp } = setup('tun', false);
  device.read(ipv4('10.10.10.3', '10.10.10.4', false));
  assert.equal(sent[0]!.body.length, VNET_HDR_BYTES + 28);
  assert.ok(sent[0]!.body.subarray(0, VNET_HDR_BYTES).every((b) => b === 0));
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
  dp.fromPeer(A, eth(BCAST, macA));
  await flush();
  assert.equal(device.written.length, 0);
  assert.equal(dp.stats.drops.unknown_peer, 1);
});

/** What reached our device from `peer`, and whether it was written. */
async function deliver(dp: Dataplane, device: FakeDevice, peer: Uint8Array, unit: Uint8Array): Promise<boolean> {
  const before = device.written.length;
  dp.fromPeer(peer, unit);
  await flush();
  return device.written.length === before + 1;
}

test('TAP: a member is accepted only from the MAC derived from its own peer id, and no other MAC is learned behind it', async () => {
  const { device, sent, dp } = setup('tap');
  assert.equal(await deliver(dp, device, C, eth(macA, macC, '10.10.10.5')), true, "C's own frame");
  assert.equal(await deliver(dp, device, B, eth(macA, macC, '10.10.10.4')), false, "B sending from C's MAC");
  assert.equal(await deliver(dp, device, B, eth(BCAST, [0x02, 0, 0, 0, 0, 0x99], '10.10.10.4')), false, 'B sending from a made-up MAC');
  assert.equal(dp.stats.drops.spoofed_mac, 2);
  device.read(eth(macC, macA));
  assert.deepEqual(sent.map((s) => s.to), [hex(C)], "unicast to C's MAC still goes to C only");
  sent.length = 0;
  device.read(eth([0x02, 0, 0, 0, 0, 0x99], macA));
  assert.equal(sent.length, 2, 'the made-up MAC was never learned (flooded as unknown)');
});

test('TAP: ARP must carry the sender MAC and a certificate address of the member that sent it', async () => {
  const { device, sent, dp } = setup('tap');
  assert.equal(await deliver(dp, device, B, arp(macB, 1, macB, '10.10.10.4', '10.10.10.3')), true, 'a request from B');
  assert.equal(await deliver(dp, device, B, arp(macB, 2, macB, '10.10.10.4', '10.10.10.3', macA)), true, 'a reply from B');
  assert.equal(await deliver(dp, device, B, arp(macB, 1, macB, '10.10.10.4', '10.10.10.4')), true, "B's gratuitous ARP for itself");
  assert.equal(await deliver(dp, device, B, arp(macB, 1, macB, '0.0.0.0', '10.10.10.4')), true, 'an ARP probe (RFC 5227): sender 0.0.0.0 claims nothing');
  assert.equal(await deliver(dp, device, B, arp(macB, 1, macB, '10.10.10.5', '10.10.10.5')), false, "a gratuitous ARP for C's address");
  assert.equal(await deliver(dp, device, B, arp(macB, 2, macB, '10.10.10.5', '10.10.10.3', macA)), false, "a reply claiming C's address");
  assert.equal(await deliver(dp, device, B, arp(macB, 2, macC, '10.10.10.4', '10.10.10.3', macA)), false, "a reply naming C's MAC as sender");
  assert.equal(await deliver(dp, device, B, arp(macB, 1, macB, '10.10.10.77', '10.10.10.3')), false, 'a sender address outside the certificate');
  assert.equal(dp.stats.drops.spoofed_arp, 4);
  device.read(eth(macB, macA));
  assert.deepEqual(sent.map((s) => s.to), [hex(B)], 'legitimate ARP from B taught the switch where macB is');
});

test('TAP: IPv4 and IPv6 sources must be the certificate addresses (IPv6 link-local: the one derived from the member MAC)', async () => {
  const { device, dp } = setup('tap');
  const mcast6 = ip6(0xff02, 0, 0, 0, 0, 0, 0, 1);
  const cases: Array<[string, Uint8Array, boolean]> = [
    ['IPv4 from B', eth(macA, macB, '10.10.10.4', '10.10.10.3'), true],
    ["IPv4 from C's address", eth(macA, macB, '10.10.10.5', '10.10.10.3'), false],
    ['IPv4 from an address no certificate holds', eth(macA, macB, '192.0.2.1', '10.10.10.3'), false],
    ['IPv4 from 0.0.0.0 to 255.255.255.255 (DHCP before an address)', eth(BCAST, macB, '0.0.0.0', '255.255.255.255'), true],
    ['IPv4 from 0.0.0.0 to a multicast group (IGMP before an address)', eth([0x01, 0, 0x5e, 0, 0, 0x16], macB, '0.0.0.0', '224.0.0.22'), true],
    ['IPv4 from 0.0.0.0 to a unicast address', eth(macA, macB, '0.0.0.0', '10.10.10.3'), false],
    ['IPv6 from B', frame(macA, macB, 0x86dd, ipv6(B6, ip6(0xfd00, 0, 0, 0, 0, 0, 0, 3), 17, new Uint8Array(8))), true],
    ["IPv6 from C's address", frame(macA, macB, 0x86dd, ipv6(C6, ip6(0xfd00, 0, 0, 0, 0, 0, 0, 3), 17, new Uint8Array(8))), false],
    ["IPv6 from B's link-local", frame(BCAST, macB, 0x86dd, ipv6(linkLocalForMac(macB), mcast6, 17, new Uint8Array(8))), true],
    ["IPv6 from C's link-local", frame(BCAST, macB, 0x86dd, ipv6(linkLocalForMac(macC), mcast6, 17, new Uint8Array(8))), false],
    ['IPv6 from :: to a multicast group (DAD, MLD)', frame(BCAST, macB, 0x86dd, ipv6(new Uint8Array(16), mcast6, 17, new Uint8Array(8))), true],
    ['IPv6 from :: to a unicast address', frame(macA, macB, 0x86dd, ipv6(new Uint8Array(16), ip6(0xfd00, 0, 0, 0, 0, 0, 0, 3), 17, new Uint8Array(8))), false],
  ];
  const got: boolean[] = [];
  for (const [, unit, ] of cases) got.push(await deliver(dp, device, B, unit));
  assert.deepEqual(cases.map(([name], i) => `${name}: ${got[i]}`), cases.map(([name, , ok]) => `${name}: ${ok}`));
  assert.equal(dp.stats.drops.spoofed_source, cases.filter(([, , ok]) => !ok).length);
});

test("TAP: neighbour discovery cannot claim another member's IPv6 address or MAC", async () => {
  const { device, dp } = setup('tap');
  const solicited = ip6(0xff02, 0, 0, 0, 0, 1, 0xff00, 5);
  const toA = ip6(0xfd00, 0, 0, 0, 0, 0, 0, 3);
  const ns = (m: Uint8Array) => frame(BCAST, macB, 0x86dd, ipv6(B6, solicited, 58, m));
  const na = (m: Uint8Array) => frame(macA, macB, 0x86dd, ipv6(B6, toA, 58, m));
  const cases: Array<[string, Uint8Array, boolean]> = [
    ['NS for C with B as source link-layer address', ns(nd(135, C6, { option: 1, mac: macB })), true],
    ['NA for B with B as target link-layer address', na(nd(136, B6, { option: 2, mac: macB })), true],
    ["NA for B's link-local", na(nd(136, linkLocalForMac(macB), { option: 2, mac: macB })), true],
    ['DAD NS from ::', frame(BCAST, macB, 0x86dd, ipv6(new Uint8Array(16), solicited, 58, nd(135, B6))), true],
    ["NA for C's address", na(nd(136, C6, { option: 2, mac: macB })), false],
    ["NA for C's link-local", na(nd(136, linkLocalForMac(macC), { option: 2, mac: macB })), false],
    ["NA for B naming C's MAC", na(nd(136, B6, { option: 2, mac: macC })), false],
    ["NS naming C's MAC as the source link-layer address", ns(nd(135, C6, { option: 1, mac: macC })), false],
  ];
  const got: boolean[] = [];
  for (const [, unit] of cases) got.push(await deliver(dp, device, B, unit));
  assert.deepEqual(cases.map(([name], i) => `${name}: ${got[i]}`), cases.map(([name, , ok]) => `${name}: ${ok}`));
  assert.equal(dp.stats.drops.spoofed_nd, 4);
});

test('TAP: VLAN-tagged frames (which would carry ARP and IP past these checks) are dropped', async () => {
  const { device, dp } = setup('tap');
  const inner = new Uint8Array(4 + 28);
  inner.set([0, 10, 0x08, 0x06]); // VLAN 10, then ARP
  inner.set([0, 1, 0x08, 0, 6, 4, 0, 2], 4);
  inner.set(macB, 12);
  inner.set(ip4('10.10.10.5'), 18);
  assert.equal(await deliver(dp, device, B, frame(macA, macB, 0x8100, inner)), false);
  assert.equal(await deliver(dp, device, B, frame(macA, macB, 0x88a8, inner)), false);
  assert.equal(dp.stats.drops.vlan_tagged, 2);
  assert.equal(await deliver(dp, device, B, frame(macA, macB, 0x88cc, new Uint8Array(46))), true, 'other EtherTypes (here LLDP) pass with the MAC check alone');
});

// --- Subnet routes (docs/architecture.md "Subnet routes") ---------------------

const R = new Uint8Array(32).fill(0xd4);
const router: DataplaneMember = { ...member(R, '10.10.10.6'), routes: [{ family: 4, bytes: ip4('192.168.50.0'), prefix: 24 }] };
/** Also holds a member whose own address lies in 192.168.50.0/24 would be a CA error; here B's address must beat R's route anyway. */
const routed = [...members, router];
const routedDirectory = {
  byAddress: (a: Uint8Array) => routed.find((m) => m.addresses.some((x) => Buffer.compare(x.bytes, a) === 0)),
  byRoute: (a: Uint8Array) => (a.length === 4 && a[0] === 192 && a[1] === 168 && a[2] === 50 ? router : undefined),
  get: (id: Uint8Array | string) => routed.find((m) => m.hex === (typeof id === 'string' ? id : hex(id))),
  list: () => routed,
};

function routedSetup(acceptRoutes: boolean) {
  const device = new FakeDevice('tun', true);
  const sent: Array<{ to: string; type: number; body: Uint8Array }> = [];
  const peers = { sendInner: (id: Uint8Array, type: number, body: Uint8Array) => { sent.push({ to: hex(id), type, body: new Uint8Array(body) }); return 'sent' as const; } };
  const dp = new Dataplane({ device, peers, members: routedDirectory, clock: new FakeClock(), acceptRoutes });
  dp.start();
  return { device, sent, dp };
}

test('TUN with acceptRoutes: a destination in a certified route goes to its member; a member address still goes to that member', () => {
  const { device, sent, dp } = routedSetup(true);
  device.read(ipv4('10.10.10.1', '192.168.50.10'), ipv4('10.10.10.1', '10.10.10.4'), ipv4('10.10.10.1', '192.168.51.1'));
  assert.deepEqual(sent.map((s) => s.to), [hex(R), hex(B)]);
  assert.equal(dp.stats.drops.no_route, 1);
});

test('TUN without acceptRoutes: a routed destination is no_route, nothing is sent', () => {
  const { device, sent, dp } = routedSetup(false);
  device.read(ipv4('10.10.10.1', '192.168.50.10'));
  assert.equal(sent.length, 0);
  assert.equal(dp.stats.drops.no_route, 1);
});

test('TUN source rule with routes: a source in the sender\'s certified route passes only with acceptRoutes; another member\'s route never', async () => {
  for (const accept of [true, false]) {
    const { device, dp } = routedSetup(accept);
    dp.fromPeer(R, ipv4('192.168.50.10', '10.10.10.1'));
    dp.fromPeer(R, ipv4('10.10.10.6', '10.10.10.1'));
    // B holds no route: a LAN source from B is spoofed whatever we accept.
    dp.fromPeer(B, ipv4('192.168.50.10', '10.10.10.1'));
    // R outside its route.
    dp.fromPeer(R, ipv4('192.168.51.10', '10.10.10.1'));
    await new Promise((r) => setImmediate(r));
    assert.equal(device.written.length, accept ? 2 : 1, `accept=${accept}`);
    assert.equal(dp.stats.drops.spoofed_source, accept ? 2 : 3, `accept=${accept}`);
  }
});

test('TAP never accepts routes (TUN-only), whatever the option says', () => {
  const device = new FakeDevice('tap', true);
  const dp = new Dataplane({ device, peers: { sendInner: () => 'sent' as const }, members: routedDirectory, clock: new FakeClock(), acceptRoutes: true });
  assert.equal(dp.acceptRoutes, false);
});

test('TUN serving routes: a member\'s packet must be for our mesh subnet, our routes, multicast or link-local; anything else is unserved_destination', async () => {
  const device = new FakeDevice('tun', true);
  const dp = new Dataplane({
    device, peers: { sendInner: () => 'sent' as const }, members: directory, clock: new FakeClock(),
    inboundDestinations: [{ bytes: ip4('10.10.10.0'), prefix: 24 }, { bytes: ip4('192.168.50.0'), prefix: 24 }, { bytes: ip4('224.0.0.0'), prefix: 4 }],
  });
  dp.start();
  dp.fromPeer(B, ipv4('10.10.10.4', '10.10.10.1'));
  dp.fromPeer(B, ipv4('10.10.10.4', '192.168.50.10'));
  dp.fromPeer(B, ipv4('10.10.10.4', '224.0.0.251'));
  dp.fromPeer(B, ipv4('10.10.10.4', '8.8.8.8')); // through our default route: an exit node, which this is not
  dp.fromPeer(B, ipv4('10.10.10.4', '192.168.51.1')); // another LAN of this machine
  await new Promise((r) => setImmediate(r));
  assert.equal(device.written.length, 3);
  assert.equal(dp.stats.drops.unserved_destination, 2);
});
