/**
 * fast-check arbitraries for wire frames, shared by the property tests in
 * test/fuzz/wire-*.test.ts.
 *
 * Large fixed fields (signatures, KEM keys) are built by tiling a short
 * random pattern: generating thousands of independent bytes per case would
 * make the default run slow without finding more codec bugs, since the
 * codecs never look inside those fields. Lengths are biased towards the
 * edges (minimum, small, maximum).
 */

import fc from 'fast-check';

import {
  FrameType,
  HS_COOKIE_MAC_BYTES,
  HYBRID_KEM_CIPHERTEXT_BYTES,
  HYBRID_KEM_PUBLIC_BYTES,
  HYBRID_SIGNATURE_BYTES,
  MAX_CERT_BYTES,
  MAX_PEER_FRAME_BYTES,
  MAX_POLICY_BLOB_BYTES,
  MAX_SEND_PAYLOAD_BYTES,
  MAX_TEXT_BYTES,
  NONCE_BYTES,
  PEER_ID_BYTES,
  CERT_DIGEST_BYTES,
  MAX_PRESENCE_ENTRIES,
  PresenceKind,
  SESSION_ID_BYTES,
  DATA_HEADER_BYTES,
  AEAD_TAG_BYTES,
  U64_MAX,
} from '../src/wire/constants.js';
import { formatIpAddress } from '../src/wire/ip-address.js';
import type { PeerFrame } from '../src/wire/peer-frames.js';
import type { RelayFrame } from '../src/wire/relay-frames.js';

/** fc.record with ordinary prototypes, so decoded frames deep-equal generated ones. */
function rec<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true });
}

/** `pattern` repeated to exactly `length` bytes. */
export function tile(pattern: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = pattern[i % pattern.length] as number;
  return out;
}

/** A length in min..max, biased to the minimum, small values and the maximum. */
export function lengthIn(min: number, max: number): fc.Arbitrary<number> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(min) },
    { weight: 1, arbitrary: fc.constant(max) },
    { weight: 4, arbitrary: fc.integer({ min, max: Math.min(max, min + 64) }) },
    { weight: 2, arbitrary: fc.integer({ min, max }) },
  );
}

/** Bytes whose length comes from `length`, content from a short random pattern. */
export function bytesOf(length: fc.Arbitrary<number>): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(length, fc.uint8Array({ minLength: 1, maxLength: 24 }))
    .map(([n, pattern]) => tile(pattern, n));
}

/** Exactly `n` bytes. Short fields are fully random, long ones tiled. */
export function fixedBytes(n: number): fc.Arbitrary<Uint8Array> {
  return n <= 64 ? fc.uint8Array({ minLength: n, maxLength: n }) : bytesOf(fc.constant(n));
}

export const u16 = fc.integer({ min: 0, max: 0xffff });
export const u32 = fc.oneof(fc.integer({ min: 0, max: 0xffff_ffff }), fc.constantFrom(0, 1, 0xffff_ffff));
export const u64 = fc.oneof(fc.bigInt({ min: 0n, max: U64_MAX }), fc.constantFrom(0n, 1n, U64_MAX));
export const safeMs = fc.oneof(fc.maxSafeNat(), fc.constantFrom(0, Number.MAX_SAFE_INTEGER));

/** Well-formed text of at most MAX_TEXT_BYTES UTF-8 bytes (a code point is at most 4 bytes). */
export const wireText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: MAX_TEXT_BYTES / 4 }),
  fc.string({ unit: 'binary-ascii', maxLength: MAX_TEXT_BYTES }),
  fc.string({ unit: 'binary', maxLength: 8 }).map((s) => `\ufeff${s}`),
);

/** 16 address bytes with many zero groups, so "::" placement is exercised. */
export const ipv6Bytes = fc
  .array(fc.oneof(fc.constant(0), fc.constant(0), fc.constant(0xffff), fc.integer({ min: 0, max: 0xffff })), {
    minLength: 8,
    maxLength: 8,
  })
  .chain((groups) =>
    fc.oneof(
      fc.constant(groups),
      fc.integer({ min: 0, max: 0xffff_ffff }).map((v4) => [0, 0, 0, 0, 0, 0xffff, v4 >>> 16, v4 & 0xffff]),
    ),
  )
  .map((groups) => {
    const out = new Uint8Array(16);
    groups.forEach((g, i) => {
      out[2 * i] = g >>> 8;
      out[2 * i + 1] = g & 0xff;
    });
    return out;
  });

export const ipBytes = fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), ipv6Bytes);

/** Canonical address text, as a decoder returns it. */
export const canonicalAddress = ipBytes.map((b) => formatIpAddress(b));

const cert = bytesOf(lengthIn(1, MAX_CERT_BYTES));

export const relayFrameArb: fc.Arbitrary<RelayFrame> = fc.oneof(
  rec({ type: fc.constant(FrameType.Hello), clientNonce: fixedBytes(NONCE_BYTES), cert }),
  rec({ type: fc.constant(FrameType.Challenge), serverNonce: fixedBytes(NONCE_BYTES), relayTimeMs: safeMs }),
  rec({ type: fc.constant(FrameType.Auth), signature: fixedBytes(HYBRID_SIGNATURE_BYTES) }),
  rec({
    type: fc.constant(FrameType.Established),
    sessionId: fixedBytes(SESSION_ID_BYTES),
    heartbeatMs: u32,
    idleTimeoutMs: u32,
    maxFrameBytes: u32,
    observedAddress: canonicalAddress,
    observedPort: u16,
  }),
  rec({ type: fc.constant(FrameType.Error), code: u16, message: wireText }),
  rec({ type: fc.constant(FrameType.Close), code: u16, reason: wireText }),
  rec({ type: fc.constant(FrameType.Ping), nonce: u64 }),
  rec({ type: fc.constant(FrameType.Pong), nonce: u64 }),
  rec({
    type: fc.constant(FrameType.Send),
    peerId: fixedBytes(PEER_ID_BYTES),
    payload: bytesOf(lengthIn(1, MAX_SEND_PAYLOAD_BYTES)),
  }),
  rec({
    type: fc.constant(FrameType.Deliver),
    peerId: fixedBytes(PEER_ID_BYTES),
    payload: bytesOf(lengthIn(1, MAX_SEND_PAYLOAD_BYTES)),
  }),
  rec({ type: fc.constant(FrameType.Unreachable), peerId: fixedBytes(PEER_ID_BYTES) }),
  rec({ type: fc.constant(FrameType.PeerUp), onlineSinceMs: safeMs, cert }),
  rec({ type: fc.constant(FrameType.PeerDown), peerId: fixedBytes(PEER_ID_BYTES) }),
  rec({ type: fc.constant(FrameType.Policy), blob: bytesOf(lengthIn(1, MAX_POLICY_BLOB_BYTES)) }),
  rec({
    type: fc.constant(FrameType.Presence),
    entries: fc.array(
      fc.oneof(
        rec({ kind: fc.constant(PresenceKind.Up), peerId: fixedBytes(PEER_ID_BYTES), certDigest: fixedBytes(CERT_DIGEST_BYTES), onlineSinceMs: safeMs }),
        rec({ kind: fc.constant(PresenceKind.Down), peerId: fixedBytes(PEER_ID_BYTES) }),
      ),
      // Mostly small; now and then the full MAX_PRESENCE_ENTRIES.
      { minLength: 1, maxLength: MAX_PRESENCE_ENTRIES, size: 'small' },
    ),
  }),
  rec({ type: fc.constant(FrameType.CertRequest), peerId: fixedBytes(PEER_ID_BYTES) }),
  rec({ type: fc.constant(FrameType.Cert), peerId: fixedBytes(PEER_ID_BYTES), cert }),
);

/** Peer frames; DATA carries an empty `header` (the encoder ignores it). */
export const peerFrameArb: fc.Arbitrary<PeerFrame> = fc.oneof(
  rec({
    type: fc.constant(FrameType.HsInit),
    senderIndex: u32,
    timestampMs: safeMs,
    nonce: fixedBytes(NONCE_BYTES),
    kemPublic: fixedBytes(HYBRID_KEM_PUBLIC_BYTES),
    cert,
  }),
  rec({
    type: fc.constant(FrameType.HsResp),
    senderIndex: u32,
    receiverIndex: u32,
    kemCiphertext: fixedBytes(HYBRID_KEM_CIPHERTEXT_BYTES),
    cert,
    signature: fixedBytes(HYBRID_SIGNATURE_BYTES),
  }),
  rec({
    type: fc.constant(FrameType.HsInit),
    senderIndex: u32,
    timestampMs: safeMs,
    nonce: fixedBytes(NONCE_BYTES),
    kemPublic: fixedBytes(HYBRID_KEM_PUBLIC_BYTES),
    cert,
    cookie: fixedBytes(HS_COOKIE_MAC_BYTES),
  }),
  rec({ type: fc.constant(FrameType.HsFinish), receiverIndex: u32, signature: fixedBytes(HYBRID_SIGNATURE_BYTES) }),
  rec({ type: fc.constant(FrameType.HsCookie), receiverIndex: u32, cookie: fixedBytes(HS_COOKIE_MAC_BYTES) }),
  rec({
    type: fc.constant(FrameType.Data),
    receiverIndex: u32,
    counter: u64,
    header: fc.constant(new Uint8Array(0)),
    sealed: bytesOf(lengthIn(AEAD_TAG_BYTES, MAX_PEER_FRAME_BYTES - DATA_HEADER_BYTES)),
  }),
);

/**
 * Bytes that look like frames: version mostly 1, a type from `types` or any
 * byte, reserved mostly zero, a body whose length is mostly one of `sizes`
 * (the sizes a decoder would accept) or small, content random.
 */
export function frameLikeBytes(types: readonly number[], bodySizes: readonly number[]): fc.Arbitrary<Uint8Array> {
  const version = fc.oneof({ weight: 9, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) });
  const type = fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...types) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) });
  const reserved = fc.oneof({ weight: 9, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) });
  const bodyLength = fc.oneof(fc.constantFrom(...bodySizes), fc.integer({ min: 0, max: 96 }));
  return fc
    .tuple(version, type, reserved, bodyLength, fc.uint8Array({ maxLength: 96 }), fc.uint8Array({ minLength: 1, maxLength: 8 }))
    .map(([v, t, r, n, head, pattern]) => {
      const out = tile(pattern, 4 + n);
      out.set(head.subarray(0, n));
      out[0] = v;
      out[1] = t;
      out[2] = r & 0xff;
      out[3] = r >>> 8;
      return out;
    });
}

/** `bytes` with a few bytes overwritten, biased to the first 48 bytes where headers and lengths live. */
export function mutate(bytes: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(
      bytes,
      fc.array(fc.tuple(fc.oneof(fc.integer({ min: 0, max: 47 }), fc.nat()), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 4,
      }),
    )
    .map(([b, edits]) => {
      const out = b.slice();
      for (const [at, value] of edits) if (out.length > 0) out[at % out.length] = value;
      return out;
    });
}
