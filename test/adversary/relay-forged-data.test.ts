/**
 * A malicious relay forging DATA frames against real ShadowNodes whose
 * sessions seal and open with the AEAD context addon (docs/architecture.md
 * "Native AEAD contexts"; docs/threat-model.md §3). A relay sees every DATA
 * header in the clear, so it knows a live receiver index and the counters in
 * use, and it may name any sender: that is as close to the native opener as
 * anyone without the key gets. Every forgery carries the genuine sender id
 * and a live receiver index, so each one reaches the session:
 *
 *   - a seen frame moved to a counter not yet used (so the replay window lets
 *     it through to the opener), as it was or with one bit of its ciphertext
 *     or tag flipped;
 *   - a counter far ahead with random ciphertext of a random length;
 *   - a frame cut to fewer bytes than a tag, or to exactly a tag;
 *   - 64 KiB of random ciphertext (the largest peer frame);
 *   - a seen frame replayed as it was.
 *
 * Claims: nothing forged opens (no forged payload reaches the application),
 * the drops are counted by reason, the genuine stream interleaved with the
 * flood arrives whole, the replay window is not moved by a forgery (a genuine
 * frame sent after the flood still opens), and what JavaScript holds after a
 * full collection does not grow with the flood (the addon allocates nothing
 * per frame; RSS is kept as a loose bound for native memory).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startInProcessMesh, waitUntil } from '../../testkit/in-process-mesh.js';
import { liveBytes } from '../../testkit/forced-gc.js';
import { nativeAeadAvailable, nativeAeadUnavailableReason } from '../../src/crypto/native-aead.js';
import { equalBytes } from '../../src/crypto/bytes.js';
import { AEAD_TAG_BYTES } from '../../src/crypto/aead.js';
import { DATA_COUNTER_OFFSET, DATA_HEADER_BYTES, FrameType, MAX_PEER_FRAME_BYTES } from '../../src/wire/constants.js';
import type { ShadowNode } from '../../src/node/node.js';

/** Forged frames in all: six kinds, one in six of them 64 KiB. */
const FORGED = 3_000;
/** A genuine payload goes out after this many forgeries. */
const GENUINE_EVERY = 50;
/** The flood yields to the event loop this often, so it stays within the relay's bounded queue towards bob
 *  (a full queue drops frames, genuine ones included: that is the relay's bound, not what is tested here). */
const YIELD_EVERY = 6;
/** What JavaScript may still hold after the flood and a full collection: far below 500 × 64 KiB forged. */
const MAX_LIVE_GROWTH_BYTES = 8 * 1024 * 1024;
/** Loose: the allocator keeps freed pages; a native leak of 64 KiB per forged frame would pass it. */
const MAX_RSS_GROWTH_BYTES = 128 * 1024 * 1024;

const enc = (s: string) => new TextEncoder().encode(s);

function inbox(node: ShadowNode): string[] {
  const got: string[] = [];
  node.on('payload', (_p: Uint8Array, body: Uint8Array) => got.push(Buffer.from(body).toString()));
  return got;
}

function counterOf(frame: Uint8Array): bigint {
  return new DataView(frame.buffer, frame.byteOffset, frame.length).getBigUint64(DATA_COUNTER_OFFSET, true);
}

function withCounter(header: Uint8Array, counter: bigint, sealed: Uint8Array): Uint8Array {
  const f = new Uint8Array(DATA_HEADER_BYTES + sealed.length);
  f.set(header.subarray(0, DATA_HEADER_BYTES));
  new DataView(f.buffer).setBigUint64(DATA_COUNTER_OFFSET, counter, true);
  f.set(sealed, DATA_HEADER_BYTES);
  return f;
}

test('a relay forging DATA under a live receiver index (flipped bits, counters ahead, cut frames, 64 KiB of garbage, replays) opens nothing, keeps nothing, and stops no genuine frame', async () => {
  assert.ok(nativeAeadAvailable(), `the sessions should run on the AEAD context addon: ${nativeAeadUnavailableReason()}`);
  const mesh = await startInProcessMesh(['alice', 'bob']);
  try {
    const a = mesh.node('alice', { direct: false });
    const b = mesh.node('bob', { direct: false });
    a.start();
    b.start();
    const alice = mesh.net.member('alice').peerId;
    const bob = mesh.net.member('bob').peerId;
    await waitUntil('both listed', () => a.directory.get(bob) !== undefined && b.directory.get(alice) !== undefined);
    const got = inbox(b);
    a.send(bob, enc('genuine-first'));
    await waitUntil('a session and a first payload', () => got.includes('genuine-first'), 30_000);

    const seen = mesh.relay.seen.filter((f) => equalBytes(f.dst, bob) && f.payload[1] === FrameType.Data);
    assert.ok(seen.length > 0, 'the relay saw a DATA frame to bob');
    const template = seen[seen.length - 1]!.payload;
    const base = counterOf(template);
    const sealed = template.subarray(DATA_HEADER_BYTES);
    // Counters the sender will not reach during the test, one per forgery: each passes the replay check.
    const ahead = (i: number): bigint => base + 1_000_000n + BigInt(i);
    const makers: Array<(i: number) => Uint8Array> = [
      (i) => withCounter(template, ahead(i), sealed),
      (i) => {
        const f = withCounter(template, ahead(i), sealed);
        const bit = DATA_HEADER_BYTES * 8 + ((i * 7919) % (sealed.length * 8));
        f[bit >> 3]! ^= 1 << (bit & 7);
        return f;
      },
      (i) => withCounter(template, ahead(i), randomBytes(AEAD_TAG_BYTES + 1 + (i % 1400))),
      (i) => template.slice(0, DATA_HEADER_BYTES + (i % (AEAD_TAG_BYTES + 1))),
      (i) => withCounter(template, ahead(i), randomBytes(MAX_PEER_FRAME_BYTES - DATA_HEADER_BYTES)),
      () => Uint8Array.from(template),
    ];

    const dropsBefore = { ...b.peers.peers().find((p) => p.name === 'alice')!.drops };
    const liveBefore = liveBytes();
    const rssBefore = process.memoryUsage().rss;
    const genuine: string[] = [];
    let refused = 0;
    for (let i = 0; i < FORGED; i++) {
      if (!mesh.relay.deliverAs(bob, alice, makers[i % makers.length]!(i))) refused++;
      if (i % GENUINE_EVERY === GENUINE_EVERY - 1) {
        const msg = `genuine-${i}`;
        genuine.push(msg);
        assert.notEqual(a.send(bob, enc(msg)), 'dropped');
      }
      if (i % YIELD_EVERY === YIELD_EVERY - 1) await new Promise((r) => setTimeout(r, 1));
    }
    assert.equal(refused, 0, 'the relay delivered every forgery');
    await waitUntil('every genuine payload sent during the flood', () => genuine.every((m) => got.includes(m)), 60_000);
    a.send(bob, enc('genuine-last'));
    await waitUntil('a genuine frame after the flood', () => got.includes('genuine-last'), 30_000);
    const liveAfter = liveBytes();
    const rssAfter = process.memoryUsage().rss;

    assert.deepEqual(got.filter((m) => !m.startsWith('genuine-')), [], 'no forged payload reached the application');
    assert.equal(got.length, genuine.length + 2, 'each genuine payload once');
    const drops = b.peers.peers().find((p) => p.name === 'alice')!.drops;
    const delta = (k: keyof typeof drops): number => drops[k] - dropsBefore[k];
    const perKind = FORGED / makers.length;
    // Moved, flipped, random and 64 KiB frames reach the opener and fail the tag; a replay is refused before
    // opening; a cut frame is too short for the session, or for the frame decoder before it. The relay link
    // keeps order, so every forgery was handled before the genuine payloads that followed it arrived.
    assert.equal(delta('auth_failed'), 4 * perKind, JSON.stringify(drops));
    assert.equal(delta('replay'), perKind, JSON.stringify(drops));
    assert.ok(delta('too_short') <= perKind, JSON.stringify(drops));
    assert.ok(liveAfter - liveBefore < MAX_LIVE_GROWTH_BYTES, `JavaScript holds ${((liveAfter - liveBefore) / 1048576).toFixed(1)} MiB more after the flood`);
    assert.ok(rssAfter - rssBefore < MAX_RSS_GROWTH_BYTES, `RSS grew ${((rssAfter - rssBefore) / 1048576).toFixed(1)} MiB over the flood`);
  } finally {
    await mesh.stop();
  }
});
