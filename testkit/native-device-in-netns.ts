/**
 * The native TAP/TUN checks, meant to run INSIDE a network namespace the
 * caller created: test/node/device/native-device.test.ts runs `ip netns exec sm-dev-… node
 * dist/testkit/native-device-in-netns.js` (Node cannot setns itself) and
 * fails with this script's output unless it exits 0. Not named *.test.ts on
 * purpose: run in the host namespace it would create devices there.
 *
 * Covers the compliance suite with and without offloads, then what only a
 * real kernel shows: MTU and addresses as `ip -j addr` sees them, the ARP
 * request a TAP reads when the host talks to a neighbour, accepted offloads,
 * GSO segments above the MTU written with a virtio header (UDP: the kernel
 * splits one 4000-byte segment into four datagrams; TCP: accepted), close()
 * removing the interface, a device deleted under a running reader, and the
 * coded errors for a busy name, a duplicate address and a missing privilege.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { VNET_HDR_BYTES } from '../src/node/device/vnet-header.js';
import { DeviceError, DeviceCode } from '../src/node/device/device-errors.js';
import { openDevice } from '../src/node/device/open-device.js';
import type { NativeDevice } from '../src/node/device/native-device.js';
import {
  VNET_HDR_F_NEEDS_CSUM,
  VNET_HDR_GSO_TCPV4,
  VNET_HDR_GSO_UDP_L4,
  writeVnetHeader,
} from '../src/node/device/vnet-header.js';
import { internetChecksum, parseArp, parseIPv4, runDeviceCompliance, writeIPv4Header } from './device-compliance.js';

const TUN_F_CSUM = 0x01;
const TUN_F_TSO4 = 0x02;
const TUN_F_TSO6 = 0x04;
const WAIT_MS = 3_000;

for (const offloads of [true, false]) {
  runDeviceCompliance(`NativeDevice${offloads ? ' with offloads' : ' without offloads'}`, async (kind) => {
    const device = await openDevice({ kind, addresses: ['10.99.0.1/24'], offloads });
    return { device, ownIPv4: '10.99.0.1', peerIPv4: '10.99.0.2', cleanup: () => device.close() };
  });
}

interface IpAddr { ifname: string; mtu: number; flags: string[]; addr_info: Array<{ family: string; local: string; prefixlen: number; label?: string }> }

function ipAddr(name: string): IpAddr | undefined {
  const r = spawnSync('ip', ['-j', 'addr', 'show', 'dev', name], { encoding: 'utf8', timeout: 5_000 });
  if (r.status !== 0) return undefined;
  return (JSON.parse(r.stdout) as IpAddr[])[0];
}

async function until(what: string, cond: () => boolean, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const codeIs = (code: string) => (e: unknown): boolean => {
  assert.equal((e as { code?: string }).code, code, String(e));
  return true;
};

test('native: MTU, IPv4 (with a second label) and IPv6 addresses are set and the link is up, as ip -j addr sees it', async () => {
  const d = await openDevice({ kind: 'tun', name: 'smcfg%d', mtu: 1500, addresses: ['10.99.1.1/24', '10.98.1.1/16', 'fd99::1/64'] });
  try {
    assert.match(d.name, /^smcfg\d+$/);
    const a = ipAddr(d.name) as IpAddr;
    assert.equal(a.mtu, 1500);
    assert.ok(a.flags.includes('UP'), a.flags.join(','));
    const addrs = a.addr_info.map((i) => `${i.local}/${i.prefixlen}`);
    for (const want of ['10.99.1.1/24', '10.98.1.1/16', 'fd99::1/64']) assert.ok(addrs.includes(want), `${want} in ${addrs.join(' ')}`);
    assert.ok(a.addr_info.some((i) => i.label === `${d.name}:1`), 'the second IPv4 address carries the name:1 label');
  } finally {
    await d.close();
  }
});

test('native: offloads are requested and reported; without them no virtio header', async () => {
  const on = await openDevice({ kind: 'tun', addresses: [] });
  const off = await openDevice({ kind: 'tap', offloads: false });
  try {
    assert.equal(on.vnetHdr, true);
    const want = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
    assert.equal(on.offloads & want, want, `accepted 0x${on.offloads.toString(16)}`);
    assert.equal(on.slotBytes >= VNET_HDR_BYTES + 65_535, true);
    assert.equal(off.vnetHdr, false);
    assert.equal(off.offloads, 0);
    assert.ok(off.slotBytes >= off.mtu + 14 && off.slotBytes < 4096);
  } finally {
    await on.close();
    await off.close();
  }
});

test('native: a TAP reads the ARP request the host sends for a neighbour', async () => {
  const d = await openDevice({ kind: 'tap', addresses: ['10.97.0.1/24'] });
  const sock = createSocket('udp4');
  try {
    let arp: ReturnType<typeof parseArp> = null;
    d.start((packets, count) => {
      for (let i = 0; i < count && arp === null; i++) {
        const a = parseArp((packets[i] as Uint8Array).subarray(VNET_HDR_BYTES));
        if (a !== null && a.op === 1 && a.targetIp === '10.97.0.2') arp = { ...a, senderMac: a.senderMac.slice() };
      }
    });
    sock.send(Uint8Array.of(1), 9, '10.97.0.2');
    await until('the ARP request for 10.97.0.2', () => arp !== null);
    assert.equal((arp as unknown as { senderIp: string }).senderIp, '10.97.0.1');
  } finally {
    sock.close();
    await d.close();
  }
});

/** UDP checksum field for NEEDS_CSUM: the folded, not complemented, pseudo-header sum (what the stack leaves for the device). */
function pseudoHeaderSum(src: Uint8Array, dst: Uint8Array, proto: number, length: number): number {
  const b = new Uint8Array(12);
  b.set(src, 0);
  b.set(dst, 4);
  b[9] = proto;
  b[10] = length >> 8;
  b[11] = length & 0xff;
  return ~internetChecksum(b) & 0xffff;
}

test('native: a 4000-byte UDP GSO segment (MTU 1400) written with a virtio header arrives as four 1000-byte datagrams', async () => {
  const d = await openDevice({ kind: 'tun', addresses: ['10.96.0.1/24'] });
  const sock = createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(0, '10.96.0.1', () => resolve());
    });
    const port = sock.address().port;
    const sizes: number[] = [];
    sock.on('message', (m) => sizes.push(m.length));
    const payload = 4_000;
    const seg = new Uint8Array(VNET_HDR_BYTES + 28 + payload);
    const src = parseIPv4('10.96.0.2');
    const dst = parseIPv4('10.96.0.1');
    writeIPv4Header(seg, VNET_HDR_BYTES, src, dst, 17, 28 + payload);
    const u = VNET_HDR_BYTES + 20;
    seg[u] = 4_000 >> 8;
    seg[u + 1] = 4_000 & 0xff;
    seg[u + 2] = port >> 8;
    seg[u + 3] = port & 0xff;
    seg[u + 4] = (8 + payload) >> 8;
    seg[u + 5] = (8 + payload) & 0xff;
    const c = pseudoHeaderSum(src, dst, 17, 8 + payload);
    seg[u + 6] = c >> 8;
    seg[u + 7] = c & 0xff;
    seg.fill(0x5a, u + 8);
    writeVnetHeader(seg, { flags: VNET_HDR_F_NEEDS_CSUM, gsoType: VNET_HDR_GSO_UDP_L4, hdrLen: 28, gsoSize: 1_000, csumStart: 20, csumOffset: 6 });
    assert.ok(seg.length - VNET_HDR_BYTES > d.mtu);
    assert.equal(d.write([seg], 1), 1, `write failed: ${JSON.stringify(d.stats)}`);
    await until('four datagrams', () => sizes.length >= 4);
    assert.deepEqual(sizes, [1_000, 1_000, 1_000, 1_000]);
  } finally {
    sock.close();
    await d.close();
  }
});

test('native: a 20000-byte TCP GSO segment (TSO4) written with a virtio header is accepted', async () => {
  const d = await openDevice({ kind: 'tun', addresses: ['10.95.0.1/24'] });
  try {
    const payload = 20_000;
    const seg = new Uint8Array(VNET_HDR_BYTES + 40 + payload);
    const src = parseIPv4('10.95.0.2');
    const dst = parseIPv4('10.95.0.1');
    writeIPv4Header(seg, VNET_HDR_BYTES, src, dst, 6, 40 + payload);
    const t = VNET_HDR_BYTES + 20;
    seg.set([0x9c, 0x40, 0x00, 0x09, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff], t); // ports 40000 -> 9, seq 1, PSH|ACK
    const c = pseudoHeaderSum(src, dst, 6, 20 + payload);
    seg[t + 16] = c >> 8;
    seg[t + 17] = c & 0xff;
    writeVnetHeader(seg, { flags: VNET_HDR_F_NEEDS_CSUM, gsoType: VNET_HDR_GSO_TCPV4, hdrLen: 40, gsoSize: 1_360, csumStart: 20, csumOffset: 16 });
    assert.equal(d.write([seg], 1), 1, `write failed: ${JSON.stringify(d.stats)}`);
    assert.equal(d.stats.txBytes, seg.length);
    // The same bytes with gso_size 0 are not a valid GSO segment: refused and counted.
    writeVnetHeader(seg, { flags: VNET_HDR_F_NEEDS_CSUM, gsoType: VNET_HDR_GSO_TCPV4, hdrLen: 40, gsoSize: 0, csumStart: 20, csumOffset: 16 });
    assert.equal(d.write([seg], 1), 0);
    assert.equal(d.stats.txErrors, 1);
  } finally {
    await d.close();
  }
});

test('native: close() removes the interface and is idempotent', async () => {
  const d = await openDevice({ kind: 'tap', name: 'smgone0' });
  d.start(() => undefined);
  assert.ok(ipAddr('smgone0') !== undefined);
  await d.close();
  await d.close();
  await until('smgone0 to disappear', () => ipAddr('smgone0') === undefined);
});

test('native: a device deleted under a running reader reports one coded failure', async () => {
  const errors: DeviceError[] = [];
  const d = await openDevice({ kind: 'tun', name: 'smdel0', onError: (e) => errors.push(e) });
  try {
    d.start(() => undefined);
    execFileSync('ip', ['link', 'del', 'smdel0'], { timeout: 5_000 });
    await until('the failure report', () => errors.length > 0);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.code, DeviceCode.OPEN);
    assert.equal(d.failure, errors[0]);
  } finally {
    await d.close();
  }
});

test('native: coded errors for a busy name, a duplicate address and a bad name; a failed open leaves no interface', async () => {
  const first = await openDevice({ kind: 'tun', name: 'smbusy0' });
  try {
    await assert.rejects(openDevice({ kind: 'tun', name: 'smbusy0' }), codeIs(DeviceCode.BUSY));
    await assert.rejects(openDevice({ kind: 'tap', name: 'smbusy0' }), codeIs(DeviceCode.BUSY));
  } finally {
    await first.close();
  }
  await assert.rejects(openDevice({ kind: 'tun', name: 'smdup0', addresses: ['fd98::1/64', 'fd98::1/64'] }), codeIs(DeviceCode.ADDRESS));
  await until('smdup0 to be gone after the failed open', () => ipAddr('smdup0') === undefined);
  await assert.rejects(openDevice({ kind: 'tun', name: 'bad/name' }), codeIs(DeviceCode.OPTION));
  await assert.rejects(openDevice({ kind: 'tun', name: 'this-name-is-too-long' }), codeIs(DeviceCode.OPTION));
});

test('native: without CAP_NET_ADMIN the error says what privilege is needed', (t) => {
  const setpriv = spawnSync('setpriv', ['--version'], { encoding: 'utf8' });
  if (setpriv.status !== 0) {
    t.skip('setpriv (util-linux) not installed');
    return;
  }
  const openDeviceUrl = new URL('../src/node/device/open-device.js', import.meta.url).href;
  const script = `import(${JSON.stringify(openDeviceUrl)}).then((m) => m.openDevice({ kind: 'tun' })).then(() => console.log('opened'), (e) => console.log(JSON.stringify({ code: e.code, message: e.message })))`;
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', process.execPath, '-e', script], {
    encoding: 'utf8',
    timeout: 15_000,
    cwd: fileURLToPath(new URL('.', import.meta.url)),
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim()) as { code: string; message: string };
  assert.equal(out.code, 'SM_ERR_DEVICE_PERMISSION');
  assert.match(out.message, /needs CAP_NET_ADMIN \(run as root or grant the capability/);
});
