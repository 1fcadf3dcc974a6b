/**
 * Datagrams handed to the kernel without dgram's send (native/tuntap.cc
 * socketAddress, sendDatagram and sendSegments, src/node/path/udp-native-send.ts,
 * the UDP transport's sendDatagram and sendDatagrams): the addon's calls
 * against real sockets on loopback and their refusals, the sockaddr table,
 * the segmentation offload's batches and how it turns itself off, and the
 * transport's fallback to dgram (a refused native send still delivers).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:dgram';
import { openSync, closeSync } from 'node:fs';

import { randomBytes, toHex } from '../../../src/crypto/bytes.js';
import { loadNativeTun } from '../../../src/node/device/native-loader.js';
import { dgramFd } from '../../../src/node/path/udp-socket-buffers.js';
import { UdpNativeSend, UDP_GSO_MAX_BYTES, UDP_GSO_MAX_SEGMENTS, UDP_NATIVE_ADDRESS_CACHE_MAX, type NativeDatagramAddon } from '../../../src/node/path/udp-native-send.js';
import { UdpTransport } from '../../../src/node/path/udp-transport.js';
import type { UdpPath } from '../../../src/node/path/udp-path.js';
import { next, until } from '../../../testkit/direct-transport-fixture.js';
import { boundUdpSocket } from '../../../testkit/udp-socket.js';

const EAGAIN = 11;
const EIO = 5;
const EINVAL = 22;

async function boundSocket(type: 'udp4' | 'udp6', host: string): Promise<{ s: Socket; port: number; got: Buffer[] }> {
  const s = await boundUdpSocket(type, host);
  const got: Buffer[] = [];
  s.on('message', (m) => got.push(m));
  return { s, port: s.address().port, got };
}

test('addon socketAddress: sockaddr_in for IPv4, sockaddr_in6 for IPv6 and IPv4-mapped, null for other text; bad family or port throw', () => {
  const addon = loadNativeTun();
  assert.equal(addon.socketAddress(4, '127.0.0.1', 9)?.length, 16);
  assert.equal(addon.socketAddress(6, '::1', 9)?.length, 28);
  assert.equal(addon.socketAddress(6, '::ffff:127.0.0.1', 65535)?.length, 28);
  for (const [family, text] of [[4, '::1'], [4, 'localhost'], [6, '127.0.0.1'], [6, 'fe80::1%eth0'], [4, ''], [4, '1.2.3.4\0junk']] as const) {
    assert.equal(addon.socketAddress(family, text, 9), null, `${family} ${JSON.stringify(text)}`);
  }
  for (const [family, port] of [[5, 9], [4, 0], [4, 65536], [4, 1.5], [6, -1], [4, Number.NaN]] as const) {
    assert.throws(() => addon.socketAddress(family as 4, '127.0.0.1', port), TypeError, `${family} ${port}`);
  }
  assert.throws(() => (addon.socketAddress as (...a: unknown[]) => unknown)(4, 7, 9), TypeError);
});

test('addon sendDatagram: the view\'s bytes arrive whole on IPv4, IPv6 and IPv4-mapped; a bad fd or address is a negative errno, bad arguments throw', async () => {
  const addon = loadNativeTun();
  const rx4 = await boundSocket('udp4', '127.0.0.1');
  const rx6 = await boundSocket('udp6', '::1');
  const tx4 = await boundSocket('udp4', '127.0.0.1');
  const tx6 = await boundSocket('udp6', '::');
  try {
    const fd4 = dgramFd(tx4.s)!;
    const fd6 = dgramFd(tx6.s)!;
    assert.ok(fd4 >= 0 && fd6 >= 0);
    const backing = randomBytes(1_500);
    const view = backing.subarray(100, 1_300); // only the view leaves, not the buffer around it
    assert.equal(addon.sendDatagram(fd4, view, addon.socketAddress(4, '127.0.0.1', rx4.port)!), 1_200);
    assert.equal(addon.sendDatagram(fd6, view.subarray(0, 64), addon.socketAddress(6, '::1', rx6.port)!), 64);
    assert.equal(addon.sendDatagram(fd6, view.subarray(64, 65), addon.socketAddress(6, '::ffff:127.0.0.1', rx4.port)!), 1);
    await until(() => rx4.got.length === 2 && rx6.got.length === 1, 5_000, 'three datagrams');
    assert.deepEqual(new Uint8Array(rx4.got[0]!), view);
    assert.deepEqual(new Uint8Array(rx6.got[0]!), view.subarray(0, 64));
    assert.deepEqual(new Uint8Array(rx4.got[1]!), view.subarray(64, 65));

    // Refusals come back as -errno, never as a throw: an IPv6 destination on an IPv4 socket, a file, a closed fd.
    assert.ok(addon.sendDatagram(fd4, view, addon.socketAddress(6, '::1', rx6.port)!) < 0);
    const file = openSync('/dev/null', 'r');
    try {
      assert.equal(addon.sendDatagram(file, view, addon.socketAddress(4, '127.0.0.1', rx4.port)!), -88, 'ENOTSOCK');
    } finally {
      closeSync(file);
    }
    assert.ok(addon.sendDatagram(1_000_000, view, addon.socketAddress(4, '127.0.0.1', rx4.port)!) < 0, 'EBADF');
    // Arguments are checked before anything is read: no length is trusted that the views do not have.
    const send = addon.sendDatagram as (...a: unknown[]) => unknown;
    assert.throws(() => send(-1, view, addon.socketAddress(4, '127.0.0.1', 9)), TypeError);
    assert.throws(() => send(fd4, view, new Uint8Array(15)), TypeError);
    assert.throws(() => send(fd4, view, new Uint8Array(29)), TypeError);
    assert.throws(() => send(fd4, new Uint16Array(4), addon.socketAddress(4, '127.0.0.1', 9)), TypeError);
    assert.throws(() => send(fd4, 'text', addon.socketAddress(4, '127.0.0.1', 9)), TypeError);
    assert.throws(() => send(fd4, view), TypeError);
    assert.equal(rx4.got.length, 2, 'nothing refused was sent');
  } finally {
    for (const x of [rx4, rx6, tx4, tx6]) x.s.close();
  }
});

test('addon sendSegments: one send becomes datagrams of the segment size, the last shorter, on IPv4 and IPv4-mapped; refusals are -errno, bad arguments throw', async () => {
  const addon = loadNativeTun();
  const rx4 = await boundSocket('udp4', '127.0.0.1');
  const tx4 = await boundSocket('udp4', '127.0.0.1');
  const tx6 = await boundSocket('udp6', '::');
  try {
    const fd4 = dgramFd(tx4.s)!;
    const fd6 = dgramFd(tx6.s)!;
    const bytes = randomBytes(3 * 1_400 + 333);
    assert.equal(addon.sendSegments(fd4, bytes, addon.socketAddress(4, '127.0.0.1', rx4.port)!, 1_400), bytes.length);
    await until(() => rx4.got.length === 4, 5_000, 'four datagrams from one send');
    assert.deepEqual(rx4.got.map((d) => d.length), [1_400, 1_400, 1_400, 333]);
    assert.deepEqual(new Uint8Array(Buffer.concat(rx4.got)), bytes, 'in order, byte for byte');
    rx4.got.length = 0;
    const many = randomBytes(UDP_GSO_MAX_SEGMENTS * 100);
    assert.equal(addon.sendSegments(fd6, many, addon.socketAddress(6, '::ffff:127.0.0.1', rx4.port)!, 100), many.length);
    await until(() => rx4.got.length === UDP_GSO_MAX_SEGMENTS, 5_000, 'the segments through the dual-stack socket');
    assert.deepEqual(new Uint8Array(Buffer.concat(rx4.got)), many);

    // Past one IP datagram's worth of bytes the kernel refuses (EMSGSIZE): -errno, nothing sent.
    rx4.got.length = 0;
    assert.ok(addon.sendSegments(fd4, new Uint8Array(47 * 1_400), addon.socketAddress(4, '127.0.0.1', rx4.port)!, 1_400) < 0);
    assert.equal(addon.sendSegments(1_000_000, bytes, addon.socketAddress(4, '127.0.0.1', rx4.port)!, 1_400) < 0, true, 'EBADF');
    const send = addon.sendSegments as (...a: unknown[]) => unknown;
    const to = addon.socketAddress(4, '127.0.0.1', rx4.port);
    for (const segment of [0, -1, 65_536, 1.5, Number.NaN]) assert.throws(() => send(fd4, bytes, to, segment), TypeError, String(segment));
    assert.throws(() => send(fd4, bytes, new Uint8Array(15), 1_400), TypeError);
    assert.throws(() => send(fd4, new Uint16Array(8), to, 1_400), TypeError);
    assert.throws(() => send(fd4, bytes, to), TypeError);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(rx4.got.length, 0, 'nothing refused was sent');
  } finally {
    for (const x of [rx4, tx4, tx6]) x.s.close();
  }
});

/** An addon that records its calls; sendDatagram answers from `answer` (bytes.length by default). */
function recordingAddon(answer?: (bytes: Uint8Array) => number): NativeDatagramAddon & { addresses: string[]; sends: number } {
  const rec = {
    addresses: [] as string[],
    sends: 0,
    socketAddress(family: 4 | 6, address: string, port: number): Uint8Array | null {
      rec.addresses.push(`${family} ${address} ${port}`);
      return address.includes('%') ? null : new Uint8Array(family === 4 ? 16 : 28);
    },
    sendDatagram(_fd: number, bytes: Uint8Array): number {
      rec.sends++;
      return answer === undefined ? bytes.length : answer(bytes);
    },
  };
  return rec;
}

test('UdpNativeSend: one sockaddr per destination, remembered and bounded; true only when the kernel took every byte', () => {
  const addon = recordingAddon((bytes) => (bytes.length === 3 ? 2 : bytes[0] === 0xee ? -EAGAIN : bytes.length));
  const n = new UdpNativeSend(7, 6, addon);
  const d = new Uint8Array([1, 2, 3, 4]);
  for (let i = 0; i < 5; i++) assert.equal(n.send(d, '::ffff:10.0.0.1', 4000), true);
  assert.equal(n.send(d, '::ffff:10.0.0.1', 4001), true);
  assert.deepEqual(addon.addresses, ['6 ::ffff:10.0.0.1 4000', '6 ::ffff:10.0.0.1 4001'], 'built once per address and port');
  assert.equal(n.send(new Uint8Array(3), '::1', 1), false, 'a short send is not a send');
  assert.equal(n.send(new Uint8Array([0xee]), '::1', 1), false, 'EAGAIN');
  const sends = addon.sends;
  assert.equal(n.send(d, 'fe80::1%eth0', 9), false, 'no sockaddr: dgram sends it');
  assert.equal(n.send(d, 'fe80::1%eth0', 9), false);
  assert.equal(addon.sends, sends, 'nothing handed to the kernel without a sockaddr');
  assert.equal(addon.addresses.filter((a) => a.includes('%')).length, 1, 'the refusal is remembered too');

  // Bounded: past UDP_NATIVE_ADDRESS_CACHE_MAX destinations the table starts over.
  const before = addon.addresses.length;
  for (let i = 0; i < UDP_NATIVE_ADDRESS_CACHE_MAX + 10; i++) n.send(d, '::1', 1 + (i % 65535));
  assert.equal(addon.addresses.length - before, UDP_NATIVE_ADDRESS_CACHE_MAX + 10 - 1, 'port 1 was known; every other destination built once');
  const after = addon.addresses.length;
  n.send(d, '::ffff:10.0.0.1', 4000);
  assert.equal(addon.addresses.length, after + 1, 'an entry from before the restart is built again');
});

test('UdpNativeSend.sendSegments: batches within the kernel\'s limits; a refusal returns what was taken; EAGAIN keeps the offload, any other error turns it off for that destination', () => {
  const calls: Array<[number, number]> = [];
  let answer = (bytes: Uint8Array): number => bytes.length;
  const addon: NativeDatagramAddon = {
    ...recordingAddon(),
    sendSegments: (_fd, bytes, _to, segment) => { calls.push([bytes.length, segment]); return answer(bytes); },
  };
  const n = new UdpNativeSend(7, 6, addon);
  assert.equal(n.segmentsOff('::1', 9), 0);
  // 1,472-byte segments: 44 fit in one IP datagram's worth of bytes.
  const per = Math.floor(UDP_GSO_MAX_BYTES / 1_472);
  assert.equal(per, 44);
  const frame = new Uint8Array(100 * 1_472 + 10);
  assert.equal(n.sendSegments(frame, 1_472, '::1', 9), frame.length);
  assert.deepEqual(calls, [[per * 1_472, 1_472], [per * 1_472, 1_472], [12 * 1_472 + 10, 1_472]]);
  // Small segments: at most UDP_GSO_MAX_SEGMENTS per send.
  calls.length = 0;
  assert.equal(n.sendSegments(new Uint8Array(130 * 100), 100, '::1', 9), 13_000);
  assert.deepEqual(calls.map((c) => c[0] / 100), [UDP_GSO_MAX_SEGMENTS, UDP_GSO_MAX_SEGMENTS, 2]);
  // EAGAIN on the second batch: the first batch's bytes are reported taken, the offload stays on.
  calls.length = 0;
  answer = (bytes) => (calls.length === 2 ? -EAGAIN : bytes.length);
  assert.equal(n.sendSegments(frame, 1_472, '::1', 9), per * 1_472);
  assert.equal(n.segmentsOff('::1', 9), 0);
  // EIO (no checksum offload on the route to ::1 port 9): nothing taken, and the offload is off there for good...
  answer = () => -EIO;
  assert.equal(n.sendSegments(frame, 1_472, '::1', 9), 0);
  assert.equal(n.segmentsOff('::1', 9), EIO);
  calls.length = 0;
  answer = (bytes) => bytes.length;
  assert.equal(n.sendSegments(frame, 1_472, '::1', 9), 0);
  assert.equal(calls.length, 0, 'not asked again');
  // ...and only there: another destination of the same socket keeps it.
  assert.equal(n.sendSegments(frame, 1_472, '::ffff:10.0.0.2', 9), frame.length);
  assert.equal(calls.length, 3);
  assert.equal(n.segmentsOff('::ffff:10.0.0.2', 9), 0);
  // EINVAL (a segment and its headers above the route's MTU) towards a third: off there, still on for the second.
  answer = () => -EINVAL;
  assert.equal(n.sendSegments(frame, 1_472, '::ffff:10.0.0.3', 9), 0);
  assert.equal(n.segmentsOff('::ffff:10.0.0.3', 9), EINVAL);
  answer = (bytes) => bytes.length;
  assert.equal(n.sendSegments(frame, 1_472, '::ffff:10.0.0.2', 9), frame.length);
  // Without the addon call, or without a sockaddr: nothing taken.
  assert.equal(new UdpNativeSend(7, 6, recordingAddon()).sendSegments(frame, 1_472, '::1', 9), 0);
  assert.equal(new UdpNativeSend(7, 6, recordingAddon()).segmentsOff('::1', 9), -1);
  assert.equal(n.segmentsOff('fe80::1%eth0', 9), -1);
  assert.equal(new UdpNativeSend(7, 6, { ...recordingAddon(), sendSegments: () => 0 }).sendSegments(frame, 1_472, 'fe80::1%eth0', 9), 0);
});

test('UdpNativeSend.forSocket: the dgram socket\'s own fd; an addon without the calls gives null (dgram alone)', async () => {
  const x = await boundSocket('udp4', '127.0.0.1');
  try {
    const rx = await boundSocket('udp4', '127.0.0.1');
    try {
      const n = UdpNativeSend.forSocket(x.s, 4);
      assert.ok(n !== null);
      assert.equal(n.send(new Uint8Array([9, 8, 7]), '127.0.0.1', rx.port), true);
      await until(() => rx.got.length === 1, 5_000, 'the datagram from the dgram socket\'s fd');
      assert.deepEqual([...rx.got[0]!], [9, 8, 7]);
    } finally {
      rx.s.close();
    }
    assert.equal(UdpNativeSend.forSocket(x.s, 4, {} as NativeDatagramAddon), null);
  } finally {
    x.s.close();
  }
});

/** Two transports on 127.0.0.1 with a path between them; `addonOfA` is a's datagramAddon. */
async function pair(addonOfA: NativeDatagramAddon | null | undefined): Promise<{ a: UdpTransport; b: UdpTransport; pa: UdpPath; pb: UdpPath; stop(): Promise<void> }> {
  const idA = randomBytes(32);
  const idB = randomBytes(32);
  const key = randomBytes(32);
  const keysOf = (self: Uint8Array) => (p: Uint8Array): Uint8Array[] => (toHex(p) === toHex(self) ? [] : [key]);
  const a = new UdpTransport({ localPeerId: idA, pathAuthKeys: keysOf(idA), ...(addonOfA !== undefined ? { datagramAddon: addonOfA } : {}) }, { listenHost: '127.0.0.1' });
  const b = new UdpTransport({ localPeerId: idB, pathAuthKeys: keysOf(idB) }, { listenHost: '127.0.0.1' });
  await a.start();
  await b.start();
  a.setPeerCandidates(idB, b.localCandidates());
  b.setPeerCandidates(idA, a.localCandidates());
  const gotA = next<[Uint8Array, UdpPath]>(a, 'path');
  const gotB = next<[Uint8Array, UdpPath]>(b, 'path');
  a.connect(idB);
  b.connect(idA);
  const [[, pa], [, pb]] = await Promise.all([gotA, gotB]);
  return { a, b, pa, pb, stop: async () => { await a.stop(); await b.stop(); } };
}

function frame(n: number, size: number): Uint8Array {
  const f = new Uint8Array(size);
  f[0] = 1;
  f[1] = 0x24;
  f.fill(n & 0xff, 2);
  return f;
}

test('UdpTransport: with the addon every datagram goes to the kernel at once, probes and frames alike, fragments by segmentation offload; without it (null) all go through dgram', async () => {
  for (const addon of [undefined, null] as const) {
    const { a, b, pa, pb, stop } = await pair(addon);
    try {
      const got: Uint8Array[] = [];
      pb.onFrame = (f) => got.push(new Uint8Array(f));
      for (let i = 0; i < 10; i++) assert.equal(pa.send(frame(i, i % 2 === 0 ? 200 : 9_000)), true);
      await until(() => got.length === 10, 5_000, 'ten frames');
      assert.deepEqual(got.map((f) => f[2]), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      const { native, segmented, dgram } = a.stats.sends;
      // The receiving side (b, default addon) reads in batches; nothing reaches it through dgram.
      assert.ok(b.stats.receives.native >= 10 && b.stats.receives.dgram === 0, `b reads natively: ${JSON.stringify(b.stats.receives)}`);
      if (addon === null) assert.ok(a.stats.receives.native === 0 && a.stats.receives.dgram > 0, `a reads through dgram: ${JSON.stringify(a.stats.receives)}`);
      if (addon === null) assert.ok(native === 0 && segmented === 0 && dgram > 10, `dgram alone: ${native} / ${segmented} / ${dgram}`);
      // Fragments of the 9,000-byte frames go by segmentation offload, whole frames and probes one by one.
      else assert.ok(native > 5 && segmented >= 5 * Math.ceil(9_000 / pa.maxDatagram) && dgram === 0, `native while nothing queued: ${native} / ${segmented} / ${dgram}`);
    } finally {
      await stop();
    }
  }
});

test('UdpTransport: a native send the kernel refuses (EAGAIN, or EIO for the offload) goes through dgram instead, whole frames and fragments alike', async () => {
  const real = loadNativeTun();
  let refuse = false;
  const addon: NativeDatagramAddon = {
    socketAddress: (f, address, port) => real.socketAddress(f, address, port),
    sendDatagram: (fd, bytes, to) => (refuse ? -EAGAIN : real.sendDatagram(fd, bytes, to)),
    sendSegments: (fd, bytes, to, segment) => (refuse ? -EIO : real.sendSegments(fd, bytes, to, segment)),
  };
  const { a, pa, pb, stop } = await pair(addon);
  try {
    const got: Uint8Array[] = [];
    pb.onFrame = (f) => got.push(new Uint8Array(f));
    refuse = true;
    const before = { ...a.stats.sends };
    const sent = [frame(1, 300), frame(2, 300), frame(3, 20_000)];
    for (const f of sent) assert.equal(pa.send(f), true, 'refused by the kernel, taken by dgram');
    await until(() => got.length === 3, 5_000, 'three frames through dgram');
    assert.deepEqual(got.map((f) => [f[2], f.length, f.every((v, i) => i < 2 || v === f[2])]), [[1, 300, true], [2, 300, true], [3, 20_000, true]]);
    assert.equal(a.stats.sends.native, before.native);
    assert.equal(a.stats.sends.segmented, before.segmented);
    assert.ok(a.stats.sends.dgram >= before.dgram + 2 + Math.ceil(20_000 / pa.maxDatagram), 'every fragment one by one');
    assert.equal(a.stats.drops.socket_error, 0);
  } finally {
    await stop();
  }
});
