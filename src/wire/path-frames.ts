/**
 * Codec for direct-path frames (docs/protocol.md §3, "Direct paths"). They
 * travel only on a direct WSS path, one WebSocket binary message per frame,
 * beside the peer frames of §2; a relay never carries them.
 *
 * What callers must know:
 *  - decodePathFrame throws only WireError (SM_ERR_WIRE_*), checks lengths
 *    before anything else; every path frame has a fixed size and no
 *    trailing bytes. Peer frame types (0x21..0x24) and relay frame types are
 *    SM_ERR_WIRE_TYPE here: use isPathFrameType to route first.
 *  - Byte fields (sessionId, challenge, mac) are `subarray` VIEWS of the
 *    input: copy what you keep past the input buffer's lifetime.
 *  - Encoders validate every field: fixed sizes (SM_ERR_WIRE_LENGTH),
 *    timestamps up to 2^53 - 1 and u64 ranges (SM_ERR_WIRE_FIELD).
 */

import {
  HEADER_BYTES,
  PATH_CHALLENGE_BYTES,
  PATH_COMPLETE_BYTES,
  PATH_MAC_BYTES,
  PATH_PROBE_BYTES,
  PATH_REQUEST_BYTES,
  PATH_RESPONSE_BYTES,
  PATH_SESSION_ID_BYTES,
  PathFrameType,
} from './constants.js';
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import { checkFrameHeader, checkRoom, putFrameHeader } from './frame-header.js';
import { WireCode, wireFail } from './wire-errors.js';

export type PathFrame =
  | { type: typeof PathFrameType.PathRequest; sessionId: Uint8Array; challenge: Uint8Array; timestampMs: number }
  | {
      type: typeof PathFrameType.PathResponse;
      sessionId: Uint8Array;
      challenge: Uint8Array;
      timestampMs: number;
      mac: Uint8Array;
    }
  | { type: typeof PathFrameType.PathComplete; mac: Uint8Array }
  | { type: typeof PathFrameType.PathProbe; id: bigint; sentAtMs: number }
  | { type: typeof PathFrameType.PathProbeAck; id: bigint; sentAtMs: number };

const CONTEXT = 'path frame';

const NAMES: ReadonlyMap<number, string> = new Map([
  [PathFrameType.PathRequest, 'PATH_REQUEST'],
  [PathFrameType.PathResponse, 'PATH_RESPONSE'],
  [PathFrameType.PathComplete, 'PATH_COMPLETE'],
  [PathFrameType.PathProbe, 'PATH_PROBE'],
  [PathFrameType.PathProbeAck, 'PATH_PROBE_ACK'],
]);

const SIZES: ReadonlyMap<number, number> = new Map([
  [PathFrameType.PathRequest, PATH_REQUEST_BYTES],
  [PathFrameType.PathResponse, PATH_RESPONSE_BYTES],
  [PathFrameType.PathComplete, PATH_COMPLETE_BYTES],
  [PathFrameType.PathProbe, PATH_PROBE_BYTES],
  [PathFrameType.PathProbeAck, PATH_PROBE_BYTES],
]);

/** Largest path frame (PATH_RESPONSE). */
export const MAX_PATH_FRAME_BYTES = PATH_RESPONSE_BYTES;

/** True for 0x25..0x29, the direct-path frames of protocol.md §3. */
export function isPathFrameType(type: number): type is PathFrameType {
  return type >= PathFrameType.PathRequest && type <= PathFrameType.PathProbeAck;
}

/** True for the three re-handshake frames (0x25..0x27), which only the transport consumes. */
export function isPathAuthFrameType(type: number): boolean {
  return type >= PathFrameType.PathRequest && type <= PathFrameType.PathComplete;
}

/** The spec's name of a path frame type ("PATH_PROBE"), or hex; for logs. */
export function pathFrameTypeName(type: number): string {
  return NAMES.get(type) ?? `0x${type.toString(16).padStart(2, '0')}`;
}

// ---- layouts (offsets from the start of the frame, little-endian) ----------
//
// PATH_REQUEST 0x25, exactly 60 bytes
// | 0..3 header | 4..19 sessionId | 20..51 challenge | 52..59 timestampMs u64 (<= 2^53-1) |
//
// PATH_RESPONSE 0x26, exactly 92 bytes
// | 0..3 header | 4..19 sessionId | 20..51 challenge2 | 52..59 timestampMs u64 | 60..91 mac |
//
// PATH_COMPLETE 0x27, exactly 36 bytes
// | 0..3 header | 4..35 mac |
//
// PATH_PROBE 0x28 / PATH_PROBE_ACK 0x29, exactly 20 bytes
// | 0..3 header | 4..11 id u64 | 12..19 sentAtMs u64 (<= 2^53-1) |

/** Exact encoded size of `frame`; SM_ERR_WIRE_TYPE for a type that is not a path frame. */
export function pathFrameSize(frame: PathFrame): number {
  const size = SIZES.get((frame as { type: number }).type);
  if (size === undefined) {
    return wireFail(WireCode.Type, `encode ${CONTEXT}: type ${pathFrameTypeName((frame as { type: number }).type)} is not a path frame`);
  }
  return size;
}

/**
 * Encode `frame` into `buf` at `offset`; returns the bytes written. On error,
 * bytes of `buf` after `offset` may have been written.
 */
export function encodePathFrameInto(frame: PathFrame, buf: Uint8Array, offset: number): number {
  const size = pathFrameSize(frame);
  checkRoom(buf, offset, size, `encode ${CONTEXT}`);
  putFrameHeader(buf, offset, frame.type);
  const w = new ByteWriter(buf, offset + HEADER_BYTES);
  switch (frame.type) {
    case PathFrameType.PathRequest:
      w.fixedBytes(frame.sessionId, PATH_SESSION_ID_BYTES, 'PATH_REQUEST sessionId');
      w.fixedBytes(frame.challenge, PATH_CHALLENGE_BYTES, 'PATH_REQUEST challenge');
      w.u64Number(frame.timestampMs, 'PATH_REQUEST timestampMs');
      break;
    case PathFrameType.PathResponse:
      w.fixedBytes(frame.sessionId, PATH_SESSION_ID_BYTES, 'PATH_RESPONSE sessionId');
      w.fixedBytes(frame.challenge, PATH_CHALLENGE_BYTES, 'PATH_RESPONSE challenge');
      w.u64Number(frame.timestampMs, 'PATH_RESPONSE timestampMs');
      w.fixedBytes(frame.mac, PATH_MAC_BYTES, 'PATH_RESPONSE mac');
      break;
    case PathFrameType.PathComplete:
      w.fixedBytes(frame.mac, PATH_MAC_BYTES, 'PATH_COMPLETE mac');
      break;
    case PathFrameType.PathProbe:
    case PathFrameType.PathProbeAck:
      w.u64(frame.id, `${pathFrameTypeName(frame.type)} id`);
      w.u64Number(frame.sentAtMs, `${pathFrameTypeName(frame.type)} sentAtMs`);
      break;
  }
  return HEADER_BYTES + w.length;
}

/** Encode `frame` into a new buffer of exactly its size. */
export function encodePathFrame(frame: PathFrame): Uint8Array {
  const out = new Uint8Array(pathFrameSize(frame));
  encodePathFrameInto(frame, out, 0);
  return out;
}

/**
 * Decode one path frame. Byte fields are VIEWS into `bytes`. Throws only
 * WireError with an SM_ERR_WIRE_* code.
 */
export function decodePathFrame(bytes: Uint8Array): PathFrame {
  const type = checkFrameHeader(bytes, MAX_PATH_FRAME_BYTES, isPathFrameType, CONTEXT) as PathFrameType;
  const size = SIZES.get(type) as number;
  if (bytes.length !== size) {
    wireFail(WireCode.Length, `${pathFrameTypeName(type)}: ${bytes.length} bytes, expected exactly ${size}`);
  }
  const r = new ByteReader(bytes, HEADER_BYTES);
  switch (type) {
    case PathFrameType.PathRequest: {
      const sessionId = r.bytes(PATH_SESSION_ID_BYTES, 'PATH_REQUEST sessionId');
      const challenge = r.bytes(PATH_CHALLENGE_BYTES, 'PATH_REQUEST challenge');
      const timestampMs = r.u64Number('PATH_REQUEST timestampMs');
      r.end('PATH_REQUEST');
      return { type, sessionId, challenge, timestampMs };
    }
    case PathFrameType.PathResponse: {
      const sessionId = r.bytes(PATH_SESSION_ID_BYTES, 'PATH_RESPONSE sessionId');
      const challenge = r.bytes(PATH_CHALLENGE_BYTES, 'PATH_RESPONSE challenge');
      const timestampMs = r.u64Number('PATH_RESPONSE timestampMs');
      const mac = r.bytes(PATH_MAC_BYTES, 'PATH_RESPONSE mac');
      r.end('PATH_RESPONSE');
      return { type, sessionId, challenge, timestampMs, mac };
    }
    case PathFrameType.PathComplete: {
      const mac = r.bytes(PATH_MAC_BYTES, 'PATH_COMPLETE mac');
      r.end('PATH_COMPLETE');
      return { type, mac };
    }
    case PathFrameType.PathProbe:
    case PathFrameType.PathProbeAck: {
      const id = r.u64(`${pathFrameTypeName(type)} id`);
      const sentAtMs = r.u64Number(`${pathFrameTypeName(type)} sentAtMs`);
      r.end(pathFrameTypeName(type));
      return { type, id, sentAtMs };
    }
    default:
      return wireFail(WireCode.Type, `${CONTEXT}: type ${pathFrameTypeName(type)}`);
  }
}
