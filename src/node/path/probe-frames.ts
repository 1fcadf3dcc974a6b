/**
 * Path probes (DESIGN.md "Paths, migration, fallback": liveness), the one
 * place the path code touches their bytes. The frames belong to the wire
 * protocol as PATH_PROBE 0x28 / PATH_PROBE_ACK 0x29; until their codecs land
 * in src/wire/path-frames.ts this module carries a local encoding of the
 * same layout, and switching over is a change of the import below.
 *
 *   | 0 version u8 (=1) | 1 type u8 (0x28 / 0x29) | 2..3 reserved (0) | 4..11 id u64 | 12..19 sentAtMs u64 |
 *   little-endian, exactly 20 bytes
 *
 * Probes travel on a direct path outside the end-to-end session: the path
 * itself is authenticated (pinned TLS and the re-handshake), and a probe
 * carries nothing but an echo. An ACK copies the probe's id and sentAtMs.
 * decodeProbe returns null for anything that is not a well-formed probe;
 * isProbeType only looks at the type byte so the receive path can route
 * without decoding.
 */

/** PATH_PROBE type byte (protocol.md, path frames). */
export const PATH_PROBE_TYPE = 0x28;
/** PATH_PROBE_ACK type byte. */
export const PATH_PROBE_ACK_TYPE = 0x29;
/** Both probe frames are exactly this long: header 4 + id 8 + sentAtMs 8. */
export const PROBE_FRAME_BYTES = 20;
const VERSION = 1;
const TYPE_OFFSET = 1;

export interface ProbeFrame {
  ack: boolean;
  id: bigint;
  sentAtMs: number;
}

/** True when `frame`'s type byte names a probe or an ack (well-formed or not). */
export function isProbeType(frame: Uint8Array): boolean {
  const t = frame.length > TYPE_OFFSET ? frame[TYPE_OFFSET] : -1;
  return t === PATH_PROBE_TYPE || t === PATH_PROBE_ACK_TYPE;
}

/** A fresh 20-byte PATH_PROBE or PATH_PROBE_ACK. */
export function encodeProbe(p: ProbeFrame): Uint8Array {
  const out = new Uint8Array(PROBE_FRAME_BYTES);
  const v = new DataView(out.buffer);
  out[0] = VERSION;
  out[TYPE_OFFSET] = p.ack ? PATH_PROBE_ACK_TYPE : PATH_PROBE_TYPE;
  v.setBigUint64(4, BigInt.asUintN(64, p.id), true);
  v.setBigUint64(12, BigInt(p.sentAtMs), true);
  return out;
}

/** The probe in `frame`, or null when it is not exactly a v1 probe/ack (wrong length, version, reserved bytes, or a time beyond 2^53 - 1). */
export function decodeProbe(frame: Uint8Array): ProbeFrame | null {
  if (frame.length !== PROBE_FRAME_BYTES || frame[0] !== VERSION || frame[2] !== 0 || frame[3] !== 0) return null;
  const t = frame[TYPE_OFFSET];
  if (t !== PATH_PROBE_TYPE && t !== PATH_PROBE_ACK_TYPE) return null;
  const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const sent = v.getBigUint64(12, true);
  if (sent > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return { ack: t === PATH_PROBE_ACK_TYPE, id: v.getBigUint64(4, true), sentAtMs: Number(sent) };
}
