/**
 * Authentication of UDP probes (docs/protocol.md §3.5.1). A UDP path has no
 * TLS underneath, so every probe and ack carries a MAC under a key derived
 * from the end-to-end session's path-auth key:
 *
 *   K_udp = HKDF-SHA-256(ikm = k_path, salt = "", info = "shadowmesh v1 udp probe", 32)
 *   mac   = HMAC-SHA-256(K_udp, every byte of the probe before the mac)[0..16)
 *
 * A relay never holds k_path, so it can neither forge a probe nor make a
 * node believe a candidate answered. Freshness: a probe's timestamp must be
 * within ± skew of our clock, its txid is remembered while that holds
 * (replay cache), and an ACK must echo a txid we sent and still wait for.
 *
 * What callers must know: keys are derived per call and wiped; `verify`
 * tries each key it is given (current, then previous: the two ends of a
 * re-key do not switch at the same instant) and never throws.
 */
import { equalBytes, toHex, wipe } from '../../crypto/bytes.js';
import { hkdf, hmacSha256 } from '../../crypto/hkdf.js';
import { UDP_PROBE_MAC_BYTES } from '../../wire/constants.js';
import { encodeUdpProbe, type UdpProbe, type UdpProbeFields } from '../../wire/udp-frames.js';

/** HKDF info of K_udp. */
export const UDP_PROBE_KEY_INFO = 'shadowmesh v1 udp probe';
const EMPTY = new Uint8Array(0);

function macOf(pathAuthKey: Uint8Array, signed: Uint8Array): Uint8Array {
  const k = hkdf(pathAuthKey, EMPTY, UDP_PROBE_KEY_INFO, 32);
  const full = hmacSha256(k, signed);
  wipe(k);
  const mac = full.slice(0, UDP_PROBE_MAC_BYTES);
  wipe(full);
  return mac;
}

/** Encode a probe and write its MAC under `pathAuthKey`. Throws WireError for bad fields. */
export function sealUdpProbe(fields: UdpProbeFields, pathAuthKey: Uint8Array): Uint8Array {
  const bytes = encodeUdpProbe(fields);
  const signedLength = bytes.length - UDP_PROBE_MAC_BYTES;
  bytes.set(macOf(pathAuthKey, bytes.subarray(0, signedLength)), signedLength);
  return bytes;
}

/** True when `probe`'s MAC verifies under one of `pathAuthKeys`. */
export function verifyUdpProbe(probe: UdpProbe, pathAuthKeys: readonly Uint8Array[]): boolean {
  for (const key of pathAuthKeys) {
    try {
      if (equalBytes(macOf(key, probe.signed), probe.mac)) return true;
    } catch {
      // a malformed key cannot verify anything
    }
  }
  return false;
}

/**
 * txids of one peer's probes we accepted, remembered while fresh (docs/protocol.md §3.5.1).
 * A probe's timestamp is within ± skew of our clock, so its txid must be remembered until
 * timestamp + skew; after that the timestamp check refuses it anyway.
 *
 * Sized per path, not per node: a node-wide table of a few thousand txids held only a few
 * dozen peer-paths' liveness traffic, and a txid evicted while fresh could be replayed.
 * The owner passes the capacity with each check (UDP_REPLAY_ENTRIES_PER_PATH times the
 * peer's paths plus one for punching), so the total is bounded by the paths. Should a peer
 * ever send more fresh txids than that, the oldest is evicted and its timestamp becomes a
 * floor: a probe of that peer timestamped at or below it is refused too. An overflow can
 * then cost a genuine probe (counted as a replay), never admit a replayed one.
 */
export class UdpReplayCache {
  readonly #skewMs: number;
  /** hex(txid) -> the probe's timestampMs, in insertion order. */
  readonly #seen = new Map<string, number>();
  #floorMs = Number.NEGATIVE_INFINITY;

  constructor(skewMs: number) {
    this.#skewMs = skewMs;
  }

  get size(): number {
    return this.#seen.size;
  }

  /** True (nothing recorded) when `txid` was seen while fresh or `timestampMs` is at or below the eviction floor; otherwise records it. */
  checkAndRecord(txid: Uint8Array, timestampMs: number, nowMs: number, capacity: number): boolean {
    const key = toHex(txid);
    if (timestampMs <= this.#floorMs) return true;
    const seenAt = this.#seen.get(key);
    if (seenAt !== undefined && seenAt + this.#skewMs >= nowMs) return true;
    this.#seen.delete(key);
    for (const [k, ts] of this.#seen) {
      const fresh = ts + this.#skewMs >= nowMs;
      if (fresh && this.#seen.size < capacity) break;
      this.#seen.delete(k);
      if (fresh && ts > this.#floorMs) this.#floorMs = ts;
    }
    this.#seen.set(key, timestampMs);
    return false;
  }
}
