/**
 * The Device compliance suite (docs/conventions.md §15): one set of node:test cases
 * every Device implementation must pass, run against MemoryDevice
 * (test/node/device/memory-device.test.ts) and the native TAP/TUN inside a
 * network namespace (test/node/device/native-device.test.ts).
 *
 * The suite plays the remote end of the link and needs the device's side to
 * behave like a Linux host holding `ownIPv4`: answer ICMP echo on a TUN,
 * answer ARP on a TAP. A native device gets that from the kernel; a
 * MemoryDevice gets it from attachKernelResponder() below.
 *
 * What factories must know: each case calls the factory once and cleanup()
 * in a finally, so a failing case leaves nothing behind. Cases ignore
 * unrelated packets the kernel sends on its own (IPv6 router solicitations,
 * MLD reports).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Device, DeviceKind } from '../src/node/device/device.js';
import { VNET_HDR_BYTES } from '../src/node/device/vnet-header.js';
import { DeviceCode } from '../src/node/device/device-errors.js';
import type { MemoryDevice } from '../src/node/device/memory-device.js';

export interface DeviceUnderTest {
  device: Device;
  /** The device side's address (assigned to the device). */
  ownIPv4: string;
  /** An address on the same subnet the suite pretends to be. */
  peerIPv4: string;
  cleanup(): Promise<void>;
}

export type DeviceFactory = (kind: DeviceKind) => Promise<DeviceUnderTest>;

/** How long to wait for the kernel's answer: it answers in microseconds; generous for loaded CI. */
export const ANSWER_TIMEOUT_MS = 3_000;
/** The MAC address the suite uses as the remote end of a TAP link (locally administered). */
export const PEER_MAC = Uint8Array.of(0x02, 0x53, 0x4d, 0x00, 0x00, 0x02);

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_ARP = 0x0806;
const IPPROTO_ICMP = 1;
const ICMP_ECHO_REPLY = 0;
const ICMP_ECHO_REQUEST = 8;

// ---------------------------------------------------------------- packet helpers

export function parseIPv4(text: string): Uint8Array {
  const parts = text.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`bad IPv4 ${text}`);
  return Uint8Array.from(parts);
}

/** RFC 1071 Internet checksum of b[start..end). */
export function internetChecksum(b: Uint8Array, start = 0, end = b.length): number {
  let sum = 0;
  for (let i = start; i + 1 < end; i += 2) sum += ((b[i] as number) << 8) | (b[i + 1] as number);
  if ((end - start) % 2 === 1) sum += (b[end - 1] as number) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An IPv4 header (20 bytes, checksum filled) at b[off..off+20). */
export function writeIPv4Header(b: Uint8Array, off: number, src: Uint8Array, dst: Uint8Array, protocol: number, totalLength: number, id = 0): void {
  b[off] = 0x45;
  b[off + 1] = 0;
  b[off + 2] = totalLength >> 8;
  b[off + 3] = totalLength & 0xff;
  b[off + 4] = id >> 8;
  b[off + 5] = id & 0xff;
  b[off + 6] = 0x40; // DF
  b[off + 7] = 0;
  b[off + 8] = 64;
  b[off + 9] = protocol;
  b[off + 10] = 0;
  b[off + 11] = 0;
  b.set(src, off + 12);
  b.set(dst, off + 16);
  const c = internetChecksum(b, off, off + 20);
  b[off + 10] = c >> 8;
  b[off + 11] = c & 0xff;
}

/** An IPv4 ICMP echo request/reply packet (no link header, no vnet header). */
export function buildIcmpEcho(type: number, src: Uint8Array, dst: Uint8Array, id: number, seq: number, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(20 + 8 + payload.length);
  writeIPv4Header(p, 0, src, dst, IPPROTO_ICMP, p.length, seq);
  p[20] = type;
  p[24] = id >> 8;
  p[25] = id & 0xff;
  p[26] = seq >> 8;
  p[27] = seq & 0xff;
  p.set(payload, 28);
  const c = internetChecksum(p, 20, p.length);
  p[22] = c >> 8;
  p[23] = c & 0xff;
  return p;
}

export interface IcmpEcho { type: number; src: string; dst: string; id: number; seq: number; payload: Uint8Array; ipChecksumOk: boolean; icmpChecksumOk: boolean }

/** Parse an IPv4 ICMP echo packet (no link header); null if it is something else. */
export function parseIcmpEcho(p: Uint8Array): IcmpEcho | null {
  if (p.length < 28 || (p[0] as number) >> 4 !== 4) return null;
  const ihl = ((p[0] as number) & 0x0f) * 4;
  if (p[9] !== IPPROTO_ICMP || p.length < ihl + 8) return null;
  const total = ((p[2] as number) << 8) | (p[3] as number);
  if (total > p.length || total < ihl + 8) return null;
  const type = p[ihl] as number;
  if (type !== ICMP_ECHO_REPLY && type !== ICMP_ECHO_REQUEST) return null;
  return {
    type,
    src: p.subarray(12, 16).join('.'),
    dst: p.subarray(16, 20).join('.'),
    id: ((p[ihl + 4] as number) << 8) | (p[ihl + 5] as number),
    seq: ((p[ihl + 6] as number) << 8) | (p[ihl + 7] as number),
    payload: p.slice(ihl + 8, total),
    ipChecksumOk: internetChecksum(p, 0, ihl) === 0,
    icmpChecksumOk: internetChecksum(p, ihl, total) === 0,
  };
}

/** An Ethernet + ARP frame (RFC 826) for IPv4. op 1 = request, 2 = reply. */
export function buildArp(op: 1 | 2, dstMac: Uint8Array, senderMac: Uint8Array, senderIp: Uint8Array, targetMac: Uint8Array, targetIp: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + 28);
  f.set(dstMac, 0);
  f.set(senderMac, 6);
  f[12] = ETHERTYPE_ARP >> 8;
  f[13] = ETHERTYPE_ARP & 0xff;
  f.set([0, 1, 0x08, 0x00, 6, 4, 0, op], 14);
  f.set(senderMac, 22);
  f.set(senderIp, 28);
  f.set(targetMac, 32);
  f.set(targetIp, 38);
  return f;
}

export interface Arp { op: number; senderMac: Uint8Array; senderIp: string; targetIp: string }

/** Parse an Ethernet ARP frame; null if it is something else. */
export function parseArp(f: Uint8Array): Arp | null {
  if (f.length < 42 || (((f[12] as number) << 8) | (f[13] as number)) !== ETHERTYPE_ARP) return null;
  return { op: ((f[20] as number) << 8) | (f[21] as number), senderMac: f.slice(22, 28), senderIp: f.subarray(28, 32).join('.'), targetIp: f.subarray(38, 42).join('.') };
}

/** Prefix an all-zero virtio-net header when the device uses them. */
export function framed(device: Device, packet: Uint8Array): Uint8Array {
  if (!device.vnetHdr) return packet;
  const out = new Uint8Array(VNET_HDR_BYTES + packet.length);
  out.set(packet, VNET_HDR_BYTES);
  return out;
}

/** Strip the virtio-net header, if any (a view). */
export function unframed(device: Device, packet: Uint8Array): Uint8Array {
  return device.vnetHdr ? packet.subarray(VNET_HDR_BYTES) : packet;
}

// ---------------------------------------------------------------- a kernel stand-in for MemoryDevice

/**
 * Make `device` answer like a host with `ownIPv4` (and `ownMac` on a TAP):
 * ICMP echo requests to ownIPv4 get replies (TUN), ARP requests for ownIPv4
 * get ARP replies (TAP). Returns the onWrite hook to pass to MemoryDevice.
 */
export function kernelResponder(kind: DeviceKind, vnetHdr: boolean, ownIPv4: string, ownMac: Uint8Array, target: () => MemoryDevice): (packet: Uint8Array) => void {
  const own = parseIPv4(ownIPv4);
  const off = vnetHdr ? VNET_HDR_BYTES : 0;
  return (packet) => {
    const frame = packet.subarray(off);
    let answer: Uint8Array | null = null;
    if (kind === 'tun') {
      const echo = parseIcmpEcho(frame);
      if (echo !== null && echo.type === ICMP_ECHO_REQUEST && echo.dst === ownIPv4 && echo.icmpChecksumOk && echo.ipChecksumOk) {
        answer = buildIcmpEcho(ICMP_ECHO_REPLY, own, parseIPv4(echo.src), echo.id, echo.seq, echo.payload);
      }
    } else {
      const arp = parseArp(frame);
      if (arp !== null && arp.op === 1 && arp.targetIp === ownIPv4) {
        answer = buildArp(2, arp.senderMac, ownMac, own, arp.senderMac, parseIPv4(arp.senderIp));
      }
    }
    if (answer === null) return;
    const out = new Uint8Array(off + answer.length);
    out.set(answer, off);
    target().inject([out]);
  };
}

// ---------------------------------------------------------------- the suite

/** Collects copies of packets read, and waits for one matching a predicate. */
class Collector {
  readonly packets: Uint8Array[] = [];
  #waiters: Array<{ match: (p: Uint8Array) => boolean; resolve: (p: Uint8Array) => void }> = [];
  /** Bound the copies kept: the kernel's own chatter must not grow this without limit. */
  static readonly MAX_KEPT = 4_096;

  readonly onBatch = (packets: readonly Uint8Array[], count: number): void => {
    for (let i = 0; i < count; i++) {
      const copy = (packets[i] as Uint8Array).slice();
      if (this.packets.length < Collector.MAX_KEPT) this.packets.push(copy);
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.match(copy)) return true;
        w.resolve(copy);
        return false;
      });
    }
  };

  waitFor(what: string, match: (p: Uint8Array) => boolean, timeoutMs = ANSWER_TIMEOUT_MS): Promise<Uint8Array> {
    const seen = this.packets.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; read ${this.packets.length} other packet(s)`));
      }, timeoutMs);
      const done = (p: Uint8Array): void => {
        clearTimeout(timer);
        resolve(p);
      };
      this.#waiters.push({ match, resolve: done });
    });
  }
}

async function withDevice(factory: DeviceFactory, kind: DeviceKind, body: (dut: DeviceUnderTest) => Promise<void>): Promise<void> {
  const dut = await factory(kind);
  try {
    await body(dut);
  } finally {
    await dut.cleanup();
  }
}

function isEchoReply(device: Device, dut: DeviceUnderTest, id: number, seq: number): (p: Uint8Array) => boolean {
  return (p) => {
    const e = parseIcmpEcho(unframed(device, p));
    return e !== null && e.type === ICMP_ECHO_REPLY && e.id === id && e.seq === seq && e.src === dut.ownIPv4 && e.dst === dut.peerIPv4;
  };
}

/** Register the compliance cases under `name` (call at module top level of a test file). */
export function runDeviceCompliance(name: string, factory: DeviceFactory, kinds: readonly DeviceKind[] = ['tun', 'tap']): void {
  for (const kind of kinds) {
    test(`${name} [${kind}]: reports kind, name, MTU, vnetHdr and zeroed write stats`, () =>
      withDevice(factory, kind, async ({ device }) => {
        assert.equal(device.kind, kind);
        assert.ok(device.name.length > 0 && device.name.length <= 15, `name ${device.name}`);
        assert.ok(Number.isInteger(device.mtu) && device.mtu >= 1280, `mtu ${device.mtu}`);
        assert.equal(typeof device.vnetHdr, 'boolean');
        const s = device.stats;
        assert.deepEqual([s.txPackets, s.txBytes, s.txErrors], [0, 0, 0]);
        for (const v of Object.values(s)) assert.ok(Number.isInteger(v) && v >= 0);
      }));

    test(`${name} [${kind}]: malformed writes are refused and counted, never thrown`, () =>
      withDevice(factory, kind, async ({ device }) => {
        assert.equal(device.write([], 0), 0);
        const tooShort = new Uint8Array(device.vnetHdr ? VNET_HDR_BYTES - 1 : 0);
        const batch = kind === 'tun' ? [tooShort, framed(device, Uint8Array.of(0x00, 1, 2, 3, 4, 5, 6, 7))] : [tooShort, framed(device, Uint8Array.of(1, 2, 3))];
        assert.equal(device.write(batch, batch.length), 0);
        assert.equal(device.stats.txErrors, 2);
        assert.equal(device.stats.txPackets, 0);
        // count larger than the array is clamped, not a crash
        assert.equal(device.write(batch, 99), 0);
        assert.equal(device.stats.txErrors, 4);
      }));

    if (kind === 'tun') {
      test(`${name} [tun]: an injected ICMP echo request gets the host's echo reply, checksums correct`, () =>
        withDevice(factory, kind, async (dut) => {
          const { device } = dut;
          const rx = new Collector();
          device.start(rx.onBatch);
          const payload = Uint8Array.from({ length: 56 }, (_, i) => i);
          const req = framed(device, buildIcmpEcho(ICMP_ECHO_REQUEST, parseIPv4(dut.peerIPv4), parseIPv4(dut.ownIPv4), 0x5353, 1, payload));
          assert.equal(device.write([req], 1), 1);
          assert.equal(device.stats.txPackets, 1);
          assert.equal(device.stats.txBytes, req.length);
          const reply = parseIcmpEcho(unframed(device, await rx.waitFor('the echo reply', isEchoReply(device, dut, 0x5353, 1)))) as IcmpEcho;
          assert.ok(reply.ipChecksumOk, 'IPv4 header checksum');
          assert.ok(reply.icmpChecksumOk, 'ICMP checksum');
          assert.deepEqual(reply.payload, payload);
          assert.ok(device.stats.rxPackets >= 1 && device.stats.rxBytes >= 84);
        }));

      test(`${name} [tun]: a batch of 16 requests is written in one call and every reply is read`, () =>
        withDevice(factory, kind, async (dut) => {
          const { device } = dut;
          const rx = new Collector();
          device.start(rx.onBatch);
          const batch: Uint8Array[] = [];
          for (let seq = 1; seq <= 16; seq++) batch.push(framed(device, buildIcmpEcho(ICMP_ECHO_REQUEST, parseIPv4(dut.peerIPv4), parseIPv4(dut.ownIPv4), 7, seq, new Uint8Array(32).fill(seq))));
          // a bad packet in the middle costs only itself
          batch.splice(8, 0, framed(device, Uint8Array.of(0xf0, 0, 0)));
          assert.equal(device.write(batch, batch.length), 16);
          assert.equal(device.stats.txErrors, 1);
          for (let seq = 1; seq <= 16; seq++) await rx.waitFor(`echo reply ${seq}`, isEchoReply(device, dut, 7, seq));
        }));

      test(`${name} [tun]: a handler that throws loses its batch, not the device`, () =>
        withDevice(factory, kind, async (dut) => {
          const { device } = dut;
          const rx = new Collector();
          let throwNext = true;
          device.start((packets, count) => {
            if (throwNext) {
              throwNext = false;
              throw new Error('handler bug');
            }
            rx.onBatch(packets, count);
          });
          const send = (seq: number): number => device.write([framed(device, buildIcmpEcho(ICMP_ECHO_REQUEST, parseIPv4(dut.peerIPv4), parseIPv4(dut.ownIPv4), 9, seq, new Uint8Array(8)))], 1);
          send(1);
          // wait until the throwing call happened, then the device must still deliver
          for (let i = 0; i < 300 && throwNext; i++) await new Promise((r) => setTimeout(r, 10));
          assert.equal(throwNext, false, 'the handler was never called');
          assert.ok(device.stats.rxErrors >= 1);
          send(2);
          await rx.waitFor('echo reply 2 after the throw', isEchoReply(device, dut, 9, 2));
        }));
    } else {
      test(`${name} [tap]: an ARP request for the device's address gets the host's ARP reply`, () =>
        withDevice(factory, kind, async (dut) => {
          const { device } = dut;
          const rx = new Collector();
          device.start(rx.onBatch);
          const broadcast = new Uint8Array(6).fill(0xff);
          const req = framed(device, buildArp(1, broadcast, PEER_MAC, parseIPv4(dut.peerIPv4), new Uint8Array(6), parseIPv4(dut.ownIPv4)));
          assert.equal(device.write([req], 1), 1);
          const got = await rx.waitFor('the ARP reply', (p) => {
            const a = parseArp(unframed(device, p));
            return a !== null && a.op === 2 && a.senderIp === dut.ownIPv4 && a.targetIp === dut.peerIPv4;
          });
          const frame = unframed(device, got);
          assert.deepEqual(frame.subarray(0, 6), PEER_MAC, 'sent to the asking MAC');
        }));
    }

    test(`${name} [${kind}]: start twice or after close is refused; close is idempotent; writes after close are counted`, () =>
      withDevice(factory, kind, async ({ device }) => {
        device.start(() => undefined);
        assert.throws(() => device.start(() => undefined), (e: unknown) => (e as { code?: string }).code === DeviceCode.STATE);
        await device.close();
        await device.close();
        assert.throws(() => device.start(() => undefined), (e: unknown) => (e as { code?: string }).code === DeviceCode.STATE);
        const before = device.stats.txErrors;
        assert.equal(device.write([new Uint8Array(64)], 1), 0);
        assert.equal(device.stats.txErrors, before + 1);
      }));
  }
}
