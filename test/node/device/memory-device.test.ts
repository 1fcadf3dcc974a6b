/**
 * MemoryDevice: the Device compliance suite (with a kernel stand-in that
 * answers ICMP echo and ARP), with and without virtio-net headers, plus its
 * own test hooks: bounded queues, pair(), reused views, option validation.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryDevice } from '../../../src/node/device/memory-device.js';
import { DeviceCode } from '../../../src/node/device/device-errors.js';
import { VNET_HDR_BYTES } from '../../../src/node/device/vnet-header.js';
import { VNET_HDR_GSO_TCPV4, VNET_HDR_F_NEEDS_CSUM, writeVnetHeader } from '../../../src/node/device/vnet-header.js';
import { kernelResponder, runDeviceCompliance } from '../../../testkit/device-compliance.js';

const OWN_MAC = Uint8Array.of(0x02, 0x53, 0x4d, 0, 0, 1);

for (const vnetHdr of [false, true]) {
  runDeviceCompliance(`MemoryDevice${vnetHdr ? ' with vnet headers' : ''}`, async (kind) => {
    let self: MemoryDevice | undefined;
    const device = new MemoryDevice({ kind, vnetHdr, onWrite: kernelResponder(kind, vnetHdr, '10.99.0.1', OWN_MAC, () => self as MemoryDevice) });
    self = device;
    return { device, ownIPv4: '10.99.0.1', peerIPv4: '10.99.0.2', cleanup: () => device.close() };
  });
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const ipv4 = (len: number, fill = 0): Uint8Array => {
  const p = new Uint8Array(len).fill(fill);
  p[0] = 0x45;
  return p;
};

test('MemoryDevice: inject is bounded by maxQueued and counts what it drops', async () => {
  const d = new MemoryDevice({ kind: 'tun', maxQueued: 4 });
  assert.equal(d.inject([ipv4(40), ipv4(40), ipv4(40), ipv4(40), ipv4(40), ipv4(40)]), 4);
  assert.equal(d.extra.injectDropped, 2);
  assert.equal(d.queued, 4);
  await d.close();
  assert.equal(d.queued, 0);
  assert.equal(d.extra.injectDropped, 6);
});

test('MemoryDevice: delivers in batches of readBatch, reusing the same slots', async () => {
  const d = new MemoryDevice({ kind: 'tun', readBatch: 3 });
  const counts: number[] = [];
  const kept: Uint8Array[] = [];
  d.start((packets, count) => {
    counts.push(count);
    kept.push(packets[0] as Uint8Array);
    assert.equal((packets[0] as Uint8Array)[1], counts.length, 'the view holds this batch\'s packet during the call');
  });
  d.inject([ipv4(40, 1), ipv4(40, 1), ipv4(40, 1), ipv4(40, 2), ipv4(40, 2)]);
  for (let i = 0; i < 10 && counts.length < 2; i++) await tick();
  assert.deepEqual(counts, [3, 2]);
  assert.equal(kept[0]?.buffer, kept[1]?.buffer, 'slot 0 is reused');
  assert.notEqual(kept[0]?.[1], 1, 'a kept view no longer holds its packet after the call');
  assert.deepEqual(d.stats, { rxPackets: 5, rxBytes: 200, txPackets: 0, txBytes: 0, txErrors: 0, rxErrors: 0 });
  await d.close();
});

test('MemoryDevice: written keeps copies, bounded by maxWritten, evicting the oldest', async () => {
  const d = new MemoryDevice({ kind: 'tun', maxWritten: 2 });
  const p = ipv4(40, 7);
  assert.equal(d.write([p, ipv4(40, 8), ipv4(40, 9)], 3), 3);
  p.fill(0);
  assert.equal(d.written.length, 2);
  assert.equal(d.written[0]?.[1], 8);
  assert.equal(d.extra.writtenEvicted, 1);
  assert.equal(d.stats.txBytes, 120);
});

test('MemoryDevice: refuses what the kernel would (size, version, missing or bad vnet header) and accepts a GSO segment over the MTU', async () => {
  const plain = new MemoryDevice({ kind: 'tun', mtu: 1400 });
  assert.equal(plain.write([ipv4(1401)], 1), 0, 'over MTU without GSO');
  assert.equal(plain.write([Uint8Array.of(0x60, 0, 0)], 1), 0, 'IPv6 shorter than its header');
  assert.equal(plain.write([ipv4(1400)], 1), 1);
  const tap = new MemoryDevice({ kind: 'tap', mtu: 1400 });
  assert.equal(tap.write([new Uint8Array(13)], 1), 0, 'shorter than an Ethernet header');
  assert.equal(tap.write([new Uint8Array(1418)], 1), 1, 'MTU plus Ethernet and VLAN header');
  const vnet = new MemoryDevice({ kind: 'tun', mtu: 1400, vnetHdr: true });
  const seg = new Uint8Array(VNET_HDR_BYTES + 40_000);
  seg[VNET_HDR_BYTES] = 0x45;
  writeVnetHeader(seg, { flags: VNET_HDR_F_NEEDS_CSUM, gsoType: VNET_HDR_GSO_TCPV4, hdrLen: 40, gsoSize: 1360, csumStart: 20, csumOffset: 16 });
  assert.equal(vnet.write([seg], 1), 1, 'GSO segment of 40 kB');
  writeVnetHeader(seg, { flags: VNET_HDR_F_NEEDS_CSUM, gsoType: VNET_HDR_GSO_TCPV4, hdrLen: 40, gsoSize: 0, csumStart: 20, csumOffset: 16 });
  assert.equal(vnet.write([seg], 1), 0, 'GSO with gso_size 0');
  assert.equal(vnet.write([new Uint8Array(VNET_HDR_BYTES + 70_000)], 1), 0, 'over 64 KiB');
  assert.equal(vnet.stats.txErrors, 2);
});

test('MemoryDevice.pair: what one writes the other reads', async () => {
  const [a, b] = MemoryDevice.pair({ kind: 'tap' });
  const got: number[] = [];
  b.start((packets, count) => {
    for (let i = 0; i < count; i++) got.push((packets[i] as Uint8Array)[0] as number);
  });
  const frames = [1, 2, 3].map((n) => new Uint8Array(60).fill(n));
  assert.equal(a.write(frames, 3), 3);
  for (let i = 0; i < 10 && got.length < 3; i++) await tick();
  assert.deepEqual(got, [1, 2, 3]);
  await a.close();
  await b.close();
});

test('MemoryDevice: options are validated, unknown keys refused', () => {
  const code = (e: unknown): boolean => (e as { code?: string }).code === DeviceCode.OPTION;
  assert.throws(() => new MemoryDevice({ kind: 'bogus' as 'tun' }), code);
  assert.throws(() => new MemoryDevice({ kind: 'tun', mtu: 0 }), code);
  assert.throws(() => new MemoryDevice({ kind: 'tun', readBatch: 1.5 }), code);
  assert.throws(() => new MemoryDevice({ kind: 'tun', colour: 'red' } as never), code);
});
