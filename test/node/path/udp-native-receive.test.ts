/**
 * Datagrams read in batches by the addon instead of dgram (native/tuntap.cc
 * startDatagramReader and setUdpGro, src/node/path/udp-native-receive.ts,
 * the UDP transport's receive side): real sockets on loopback, runs the
 * kernel coalesced (UDP_GRO) cut back exactly, sources as the transport
 * keys them, a fatal read handing the socket back to dgram, and the batch
 * parsing against slots an addon stand-in fills (families, scopes, the
 * bounded table of source texts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { randomBytes } from '../../../src/crypto/bytes.js';
import { loadNativeTun } from '../../../src/node/device/native-loader.js';
import { dgramFd } from '../../../src/node/path/udp-socket-buffers.js';
import { UdpNativeReceive, UDP_READ_BATCH, UDP_SOURCE_TEXT_MAX, type NativeDatagramReadAddon } from '../../../src/node/path/udp-native-receive.js';
import { until } from '../../../testkit/direct-transport-fixture.js';
import { boundUdpSocket } from '../../../testkit/udp-socket.js';

const EBADF = 9;

type Got = Array<{ bytes: Buffer; address: string; port: number }>;

test('addon reader: datagrams from IPv4 and IPv6 senders arrive in order with their sources; a run sent with segmentation offload comes back cut exactly; dgram sees none of it', async () => {
  const addon = loadNativeTun();
  const rx = await boundUdpSocket('udp6', '::');
  const tx4 = await boundUdpSocket('udp4', '127.0.0.1');
  const tx6 = await boundUdpSocket('udp6', '::1');
  const got: Got = [];
  let dgramSaw = 0;
  rx.on('message', () => { dgramSaw++; });
  const r = UdpNativeReceive.forSocket(rx, (bytes, address, port) => got.push({ bytes, address, port }));
  try {
    assert.ok(r !== null, 'the addon reads this socket');
    assert.equal(r.reading, true);
    assert.equal(r.gro, true, 'UDP_GRO on (Linux 5.0 and later)');
    const port = rx.address().port;
    const run = randomBytes(5 * 1_300 + 77);
    assert.equal(addon.sendSegments(dgramFd(tx4)!, run, addon.socketAddress(4, '127.0.0.1', port)!, 1_300), run.length);
    const single = randomBytes(900);
    tx6.send(single, port, '::1');
    await until(() => got.length === 7, 5_000, 'six datagrams of the run and one from IPv6');
    assert.deepEqual(got.slice(0, 6).map((g) => g.bytes.length), [1_300, 1_300, 1_300, 1_300, 1_300, 77]);
    assert.deepEqual(new Uint8Array(Buffer.concat(got.slice(0, 6).map((g) => g.bytes))), run, 'byte for byte, in order');
    assert.ok(got.slice(0, 6).every((g) => g.address === '127.0.0.1' && g.port === tx4.address().port), 'the IPv4-mapped source unmapped');
    assert.deepEqual(got[6], { bytes: Buffer.from(single), address: '::1', port: tx6.address().port });
    assert.equal(r.stats.coalesced, 6, 'the run came as one coalesced read');
    assert.equal(r.stats.datagrams, 7);
    // Each datagram has a buffer of its own: the next read does not overwrite what was handed on.
    const first = Buffer.from(got[0]!.bytes);
    tx6.send(randomBytes(1_300), port, '::1');
    await until(() => got.length === 8, 5_000, 'one more');
    assert.deepEqual(got[0]!.bytes, first);
    assert.equal(dgramSaw, 0, 'dgram\'s reading is stopped');

    // stop(): nothing more is read by the addon (the socket itself stays dgram's to close).
    r.stop();
    r.stop();
    assert.equal(r.reading, false);
    tx6.send(randomBytes(10), port, '::1');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(got.length, 8);
  } finally {
    r?.stop();
    for (const s of [rx, tx4, tx6]) s.close();
  }
});

test('addon reader: a fatal read hands the socket back to dgram with GRO off; no addon, or one without the calls, leaves dgram reading', async () => {
  const real = loadNativeTun();
  let onBatch: ((count: number, errors: number) => void) | undefined;
  const groCalls: boolean[] = [];
  const addon: NativeDatagramReadAddon = {
    startDatagramReader: (fd, slab, lengths, sources, segments, slotBytes, batch, cb) => {
      onBatch = cb;
      return real.startDatagramReader(fd, slab, lengths, sources, segments, slotBytes, batch, cb);
    },
    setUdpGro: (fd, on) => { groCalls.push(on); return real.setUdpGro(fd, on); },
    close: (fd) => real.close(fd),
  };
  const rx = await boundUdpSocket('udp4', '127.0.0.1');
  const tx = await boundUdpSocket('udp4', '127.0.0.1');
  const viaDgram: Buffer[] = [];
  rx.on('message', (m) => viaDgram.push(m));
  const got: Got = [];
  const r = UdpNativeReceive.forSocket(rx, (bytes, address, port) => got.push({ bytes, address, port }), addon);
  try {
    assert.ok(r !== null && onBatch !== undefined);
    tx.send(Buffer.from('native'), rx.address().port, '127.0.0.1');
    await until(() => got.length === 1, 5_000, 'read by the addon');
    onBatch(-EBADF, 0);
    assert.equal(r.reading, false);
    assert.deepEqual(groCalls, [true, false], 'GRO off before dgram reads again');
    // A run sent now must reach dgram as separate datagrams, not one coalesced buffer.
    const run = randomBytes(3 * 500);
    assert.equal(real.sendSegments(dgramFd(tx)!, run, real.socketAddress(4, '127.0.0.1', rx.address().port)!, 500), run.length);
    await until(() => viaDgram.length === 3, 5_000, 'dgram reads again');
    assert.deepEqual(viaDgram.map((m) => m.length), [500, 500, 500]);
    assert.equal(got.length, 1);
  } finally {
    r?.stop();
    rx.close();
    tx.close();
  }

  const plain = await boundUdpSocket('udp4', '127.0.0.1');
  try {
    assert.equal(UdpNativeReceive.forSocket(plain, () => {}, {}), null, 'an addon without the calls');
    assert.equal(UdpNativeReceive.forSocket(plain, () => {}, { ...addon, startDatagramReader: () => { throw new TypeError('no'); } }), null, 'a reader that cannot start');
    const viaPlain: Buffer[] = [];
    plain.on('message', (m) => viaPlain.push(m));
    const tx2 = await boundUdpSocket('udp4', '127.0.0.1');
    tx2.send(Buffer.from('still dgram'), plain.address().port, '127.0.0.1');
    await until(() => viaPlain.length === 1, 5_000, 'dgram kept reading');
    tx2.close();
  } finally {
    plain.close();
  }
});

/** An addon stand-in that hands the reader's slots to `fill`, which writes datagrams and returns their count. */
function fillingAddon(): { addon: NativeDatagramReadAddon; deliver(slots: Array<{ sockaddr: Uint8Array; bytes: Uint8Array; segment?: number }>, errors?: number): void } {
  let slab: Uint8Array | undefined;
  let lengths: Uint32Array | undefined;
  let sources: Uint8Array | undefined;
  let segments: Uint16Array | undefined;
  let slotBytes = 0;
  let cb: ((count: number, errors: number) => void) | undefined;
  return {
    addon: {
      startDatagramReader: (_fd, s, l, src, seg, slot, _batch, onBatch) => {
        slab = new Uint8Array(s);
        lengths = l;
        sources = src;
        segments = seg;
        slotBytes = slot;
        cb = onBatch;
        return 1_000;
      },
      setUdpGro: () => 0,
      close: () => {},
    },
    deliver(slots, errors = 0) {
      slots.forEach((x, i) => {
        slab!.set(x.bytes, i * slotBytes);
        lengths![i] = x.bytes.length;
        sources!.fill(0, i * 28, i * 28 + 28);
        sources!.set(x.sockaddr, i * 28);
        segments![i] = x.segment ?? 0;
      });
      cb!(slots.length, errors);
    },
  };
}

function sockaddr4(a: number[], port: number): Uint8Array {
  return new Uint8Array([2, 0, port >> 8, port & 0xff, ...a]);
}

function sockaddr6(a: number[], port: number, scope = 0): Uint8Array {
  const s = new Uint8Array(28);
  s.set([10, 0, port >> 8, port & 0xff]);
  s.set(a, 8);
  new DataView(s.buffer).setUint32(24, scope, true);
  return s;
}

test('addon readers on an fd that cannot be polled (a regular file): both throw from uv_poll_init at once and leave no descriptor or reader behind', () => {
  const addon = loadNativeTun();
  const fd = openSync(fileURLToPath(import.meta.url), 'r');
  const open = (): number => readdirSync('/proc/self/fd').length;
  const byUvPollInit = (e: unknown): boolean => (e as { syscall?: string }).syscall === 'uv_poll_init';
  try {
    const before = open();
    const slot = 2_048;
    const slab = new ArrayBuffer(4 * slot);
    assert.throws(() => addon.startDatagramReader(fd, slab, new Uint32Array(4), new Uint8Array(4 * 28), new Uint16Array(4), slot, 4, () => {}), byUvPollInit);
    assert.equal(open(), before, 'the reader\'s dup of the fd is closed');
    assert.throws(() => addon.startReader(fd, slab, new Uint32Array(4), slot, 4, () => {}), byUvPollInit);
    assert.throws(() => addon.startReader(fd, slab, new Uint32Array(4), slot, 4, () => {}), byUvPollInit, 'nothing was registered for the fd');
    assert.equal(open(), before);
  } finally {
    closeSync(fd);
  }
});

test('batch parsing: IPv4, IPv4-mapped, IPv6 with and without a scope, an unknown family dropped and counted; a segment size cuts, one at or above the length does not; read errors counted', async () => {
  const socket = await boundUdpSocket('udp4', '127.0.0.1');
  const f = fillingAddon();
  const got: Array<[number, string, number]> = [];
  const r = UdpNativeReceive.forSocket(socket, (bytes, address, port) => got.push([bytes.length, address, port]), f.addon);
  try {
    assert.ok(r !== null);
    const mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7];
    const v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const linkLocal = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
    f.deliver([
      { sockaddr: sockaddr4([198, 51, 100, 1], 4000), bytes: new Uint8Array(10) },
      { sockaddr: sockaddr6(mapped, 4001), bytes: new Uint8Array(250), segment: 100 },
      { sockaddr: sockaddr6(v6, 443), bytes: new Uint8Array(5), segment: 5 },
      { sockaddr: new Uint8Array([1, 0, 0, 80]), bytes: new Uint8Array(3) },
      { sockaddr: sockaddr6(linkLocal, 65535, 3), bytes: new Uint8Array(1) },
    ], 2);
    assert.deepEqual(got, [
      [10, '198.51.100.1', 4000],
      [100, '192.0.2.7', 4001], [100, '192.0.2.7', 4001], [50, '192.0.2.7', 4001],
      [5, '2001:db8::1', 443],
      [1, 'fe80::9%3', 65535],
    ]);
    assert.deepEqual({ ...r.stats }, { batches: 1, datagrams: 6, coalesced: 3, readErrors: 2, unknownSource: 1 });

    // Sources beyond the table's bound: every text still right after it starts over.
    got.length = 0;
    for (let n = 0; n < UDP_SOURCE_TEXT_MAX + 40; n += UDP_READ_BATCH) {
      f.deliver(Array.from({ length: UDP_READ_BATCH }, (_, k) => ({ sockaddr: sockaddr4([10, (n + k) >> 16 & 0xff, (n + k) >> 8 & 0xff, (n + k) & 0xff], 1), bytes: new Uint8Array(1) })));
    }
    assert.ok(got.every(([, address], i) => address === `10.${i >> 16 & 0xff}.${i >> 8 & 0xff}.${i & 0xff}`));
    f.deliver([{ sockaddr: sockaddr4([198, 51, 100, 1], 4000), bytes: new Uint8Array(1) }]);
    assert.deepEqual(got.at(-1), [1, '198.51.100.1', 4000]);
  } finally {
    r?.stop();
    socket.close();
  }
});
