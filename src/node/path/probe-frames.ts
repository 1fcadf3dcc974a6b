/**
 * Path probes (docs/architecture.md "Probes and trust windows"), the one
 * place the path code touches their bytes: PATH_PROBE 0x28 and
 * PATH_PROBE_ACK 0x29 of docs/protocol.md §3, encoded and decoded by
 * src/wire/path-frames.ts.
 *
 *   | 0 version u8 (=1) | 1 type u8 (0x28 / 0x29) | 2..3 reserved (0) | 4..11 id u64 | 12..19 sentAtMs u64 |
 *   little-endian, exactly 20 bytes
 *
 * Probes travel on a direct path outside the end-to-end session: the path
 * itself is authenticated (pinned TLS and the re-handshake), and a probe
 * carries nothing but an echo. An ACK copies the probe's id and sentAtMs.
 * decodeProbe returns null for anything that is not a well-formed probe
 * (the wire codec's WireError is the reason, counted by the caller);
 * isProbeType only looks at the type byte so the receive path can route
 * without decoding.
 */
import { HEADER_TYPE_OFFSET, PATH_PROBE_BYTES, PathFrameType } from '../../wire/constants.js';
import { decodePathFrame, encodePathFrame } from '../../wire/path-frames.js';

/** PATH_PROBE type byte (protocol.md §3). */
export const PATH_PROBE_TYPE = PathFrameType.PathProbe;
/** PATH_PROBE_ACK type byte. */
export const PATH_PROBE_ACK_TYPE = PathFrameType.PathProbeAck;
/** Both probe frames are exactly this long: header 4 + id 8 + sentAtMs 8. */
export const PROBE_FRAME_BYTES = PATH_PROBE_BYTES;

export interface ProbeFrame {
  ack: boolean;
  id: bigint;
  sentAtMs: number;
}

/** True when `frame`'s type byte names a probe or an ack (well-formed or not). */
export function isProbeType(frame: Uint8Array): boolean {
  const t = frame.length > HEADER_TYPE_OFFSET ? frame[HEADER_TYPE_OFFSET] : -1;
  return t === PATH_PROBE_TYPE || t === PATH_PROBE_ACK_TYPE;
}

/** A fresh 20-byte PATH_PROBE or PATH_PROBE_ACK (id wraps to u64). */
export function encodeProbe(p: ProbeFrame): Uint8Array {
  const id = BigInt.asUintN(64, p.id);
  return encodePathFrame(p.ack ? { type: PATH_PROBE_ACK_TYPE, id, sentAtMs: p.sentAtMs } : { type: PATH_PROBE_TYPE, id, sentAtMs: p.sentAtMs });
}

/** The probe in `frame`, or null when it is not exactly a v1 probe/ack (wrong length, version, reserved bytes, or a time beyond 2^53 - 1). */
export function decodeProbe(frame: Uint8Array): ProbeFrame | null {
  try {
    const f = decodePathFrame(frame);
    if (f.type !== PATH_PROBE_TYPE && f.type !== PATH_PROBE_ACK_TYPE) return null;
    return { ack: f.type === PATH_PROBE_ACK_TYPE, id: f.id, sentAtMs: f.sentAtMs };
  } catch {
    return null;
  }
}
