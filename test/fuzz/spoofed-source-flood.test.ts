/**
 * Issue 11 fuzz (docs/protocol.md §3.5, §3.5.6): a node's UDP port flooded
 * at full rate for 30 s by off-path spoofers (testkit/adversary/
 * off-path-spoofer.ts) — from the exact source address of one of its UDP
 * paths and from random loopback addresses — with random bytes, mutated
 * valid fragments, probe-typed frames (bare, fragmented, and as UDP probes
 * with forged MACs) and peer frames, while a numbered payload stream runs
 * over the same mesh. The UDP, path-frame and peer-frame decoders all see
 * the flood. Claims: nothing throws, memory stays bounded (what JavaScript
 * holds after a full collection, and the resident memory outside V8's heap
 * and JavaScript's buffers, where a native leak would show), the
 * legitimate stream keeps arriving throughout, and the drops are counted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startInProcessMesh, waitUntil } from '../../testkit/in-process-mesh.js';
import {
  OffPathSpoofer, forgedDataFrame, forgedProbe, forgedProbeAck, forgedUdpProbe, fragmentsOf, mutate,
} from '../../testkit/adversary/off-path-spoofer.js';
import { UdpProbePurpose } from '../../src/wire/constants.js';
import { liveBytes, nativeBytes } from '../../testkit/forced-gc.js';

const FLOOD_MS = 30_000;
/** What JavaScript may still hold after the flood, after a full collection (measured: under 1 MiB): over a
 *  million datagrams leaking even 8 bytes each would pass it. */
const MAX_LIVE_GROWTH_BYTES = 8 * 1024 * 1024;
/** Resident memory outside V8's heap and JavaScript's buffers (nativeBytes()) may grow over the flood while
 *  the allocator keeps freed pages and socket buffers fill (the spoofers run in this process too): measured
 *  35-55 MiB on Node 24 and 9-14 MiB on Node 20, nearly all of it in the first ten seconds. Whole RSS is not
 *  asserted: V8 grows its heap under this much garbage (RSS grew 35-150 MiB with under 1 MiB held by
 *  JavaScript), which says nothing about a leak. */
const MAX_NATIVE_GROWTH_BYTES = 96 * 1024 * 1024;
/** ...but a leak grows with every datagram, and retention levels off: over the last two thirds of the flood
 *  (1.5-1.9 million datagrams) it may grow this much (measured: -2 to 12 MiB), which a native leak of 24
 *  bytes per datagram would exceed. */
const MAX_LATE_NATIVE_GROWTH_BYTES = 32 * 1024 * 1024;
const LATE_FROM_MS = FLOOD_MS / 3;
const WINDOW_MS = 5_000;

function mib(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}

function sum(r: Record<string, number>): number {
  return Object.values(r).reduce((s, v) => s + v, 0);
}

test('30 s of spoofed-source UDP flood (path source and random sources; junk, mutated fragments, probe types, peer frames): no crash, RSS bounded, legit payloads keep arriving, drops counted', async () => {
  const mesh = await startInProcessMesh(['alice', 'bob', 'carol']);
  const { net } = mesh;
  const spoofers: OffPathSpoofer[] = [];
  let streaming = true;
  try {
    const a = mesh.node('alice');
    const b = mesh.node('bob');
    const c = mesh.node('carol');
    for (const n of [a, b, c]) n.start();
    const alice = net.member('alice').peerId;
    const bob = net.member('bob').peerId;
    const carol = net.member('carol').peerId;
    const got = new Map<number, number>(); // seq -> time received
    b.on('payload', (_p: Uint8Array, body: Uint8Array) => { got.set(Buffer.from(body).readUInt32LE(0), Date.now()); });
    let seq = 0;
    const sendOne = (): void => {
      const buf = Buffer.alloc(64);
      buf.writeUInt32LE(seq++, 0);
      a.send(bob, buf);
    };
    await waitUntil('relay admission', () => [a, b, c].every((n) => n.link.established !== null));
    await waitUntil('UDP paths alice-bob and alice-carol', () => {
      sendOne();
      a.send(carol, new Uint8Array(8));
      return a.paths.pathInfo(bob)?.carrier === 'udp' && a.paths.pathInfo(carol)?.carrier === 'udp' && b.paths.pathInfo(alice)?.carrier === 'udp';
    }, 30_000);

    // Carol's UDP socket falls silent; a spoofer takes its address:port. Others send from random loopback addresses.
    const carolPort = c.udp!.port;
    await c.udp!.stop();
    const asCarol = await OffPathSpoofer.as('127.0.0.1', carolPort);
    const anywhere = await OffPathSpoofer.randomSources(16);
    spoofers.push(asCarol, anywhere);
    const target = { address: '127.0.0.1', port: a.udp!.port };

    const validFragments = [...fragmentsOf(forgedDataFrame(3_000), 7, 3), ...fragmentsOf(forgedProbeAck(5n), 9)];
    let frameId = 0;
    const makers: (() => Uint8Array)[] = [
      () => randomBytes(1 + (randomBytes(2).readUInt16LE(0) % 1_472)),
      () => mutate(validFragments[randomBytes(1)[0]! % validFragments.length]!),
      () => fragmentsOf(forgedProbeAck(BigInt(1 + (frameId % 500))), frameId++)[frameId & 1]!,
      () => forgedProbeAck(BigInt(1 + (frameId++ % 500))),
      () => forgedProbe(BigInt(frameId++)),
      () => forgedUdpProbe([alice, bob, carol][frameId++ % 3]!, (frameId & 1) === 0, UdpProbePurpose.Liveness, forgedProbeAck(BigInt(frameId % 500))),
      () => forgedUdpProbe(carol, false, UdpProbePurpose.Punch),
      () => forgedDataFrame(24 + (randomBytes(1)[0]! * 4)),
      () => mutate(forgedDataFrame(200)),
      () => Uint8Array.of(1, 0x21 + (frameId++ % 3), 0, 0, ...randomBytes(64)), // handshake-typed peer frames
    ];
    let pick = 0;
    const make = (): Uint8Array => makers[pick++ % makers.length]!();

    const dropsBefore = sum(a.udp!.stats.drops);
    const liveBefore = liveBytes();
    const nativeBefore = nativeBytes();
    const rssBefore = process.memoryUsage().rss;
    const floodStart = Date.now();
    let nativeLate = 0;
    const lateSample = setTimeout(() => { nativeLate = nativeBytes(); }, LATE_FROM_MS);
    const sentAt = new Map<number, number>();
    const stream = (async () => {
      while (streaming && Date.now() - floodStart < FLOOD_MS + 1_000) {
        sentAt.set(seq, Date.now());
        sendOne();
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const [fromCarol, fromAnywhere] = await Promise.all([
      asCarol.flood(target, make, FLOOD_MS),
      anywhere.flood(target, make, FLOOD_MS),
    ]);
    streaming = false;
    clearTimeout(lateSample);
    await stream;
    const floodEnd = Date.now();
    const rssAfter = process.memoryUsage().rss;
    const liveAfter = liveBytes();
    const nativeAfter = nativeBytes();

    // Legitimate traffic continued: payloads sent in every 5 s window of the flood arrived.
    const windows = Math.floor((floodEnd - floodStart) / WINDOW_MS);
    await new Promise((r) => setTimeout(r, 1_000));
    for (let w = 0; w < windows; w++) {
      const lo = floodStart + w * WINDOW_MS;
      const hi = lo + WINDOW_MS;
      let arrived = 0;
      for (const [n, t] of sentAt) if (t >= lo && t < hi && got.has(n)) arrived++;
      assert.ok(arrived > 0, `payloads sent in flood window ${w} arrived: ${arrived}`);
    }
    // And after it, a fresh batch arrives whole.
    const from = seq;
    for (let i = 0; i < 50; i++) sendOne();
    await waitUntil('the batch after the flood', () => { for (let n = from; n < seq; n++) if (!got.has(n)) return false; return true; }, 20_000);

    const delivered = [...sentAt.keys()].filter((n) => got.has(n)).length;
    assert.ok(fromCarol + fromAnywhere > 10_000, `flood datagrams: ${fromCarol} from carol's address, ${fromAnywhere} from random addresses`);
    assert.ok(liveAfter - liveBefore < MAX_LIVE_GROWTH_BYTES, `live memory after a full collection grew ${((liveAfter - liveBefore) / 1048576).toFixed(1)} MiB`);
    assert.ok(nativeLate > 0, 'memory outside the heap sampled during the flood');
    assert.ok(nativeAfter - nativeBefore < MAX_NATIVE_GROWTH_BYTES, `memory outside V8's heap and JavaScript's buffers grew ${mib(nativeAfter - nativeBefore)} MiB`);
    assert.ok(nativeAfter - nativeLate < MAX_LATE_NATIVE_GROWTH_BYTES, `memory outside V8's heap and JavaScript's buffers grew ${mib(nativeAfter - nativeLate)} MiB over the last two thirds of the flood`);
    const drops = a.udp!.stats.drops;
    assert.ok(sum(drops) - dropsBefore > 0, `drops counted: ${JSON.stringify(drops)}`);
    assert.ok(drops.bad_mac + drops.rate_limited > 0, 'forged UDP probes refused');
    assert.ok(drops.unknown_source > 0, 'datagrams from addresses without a path refused');
    assert.ok(a.link.established !== null && b.link.established !== null, 'both still admitted');
    assert.equal(a.udp!.pathsTo(carol).length, 0, 'no UDP path to carol from the spoofed address');
    console.log(`# flood: ${fromCarol + fromAnywhere} datagrams; stream ${delivered}/${sentAt.size} delivered; RSS ${mib(rssAfter - rssBefore)} MiB, outside the heap ${mib(nativeAfter - nativeBefore)} MiB (${mib(nativeAfter - nativeLate)} after ${LATE_FROM_MS / 1000} s), live after GC ${mib(liveAfter - liveBefore)} MiB; udp drops ${JSON.stringify(drops)}`);
  } finally {
    streaming = false;
    for (const s of spoofers) await s.close();
    await mesh.stop();
  }
});
