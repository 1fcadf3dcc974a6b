/**
 * Codec for end-to-end peer frames (docs/protocol.md §2), carried as the
 * payload of SEND / DELIVER on the relay, or directly on a direct path.
 *
 * What callers must know:
 *  - decodePeerFrame throws only WireError (SM_ERR_WIRE_*), checks lengths
 *    before anything else and accepts no trailing bytes, except HS_INIT's
 *    optional cookie (exactly HS_COOKIE_MAC_BYTES after the certificate,
 *    handshake.md §6). Its byte fields (nonce, kemPublic, kemCiphertext,
 *    cert, signature, cookie, DATA header and sealed) are `subarray` VIEWS
 *    of the input: they alias it. Copy what you keep past the input
 *    buffer's lifetime. An HS_INIT without a cookie has no `cookie` key.
 *  - Relay frame types (0x01..0x10) are rejected with SM_ERR_WIRE_TYPE.
 *  - A peer frame is at most MAX_PEER_FRAME_BYTES so that it always fits one
 *    SEND payload; bigger input is SM_ERR_WIRE_TOO_LARGE.
 *  - DATA: `header` is the first DATA_HEADER_BYTES (16) bytes, exactly the
 *    AEAD associated data; `sealed` is ciphertext ‖ tag (>= 16 bytes). The
 *    encoder ignores the `header` field and builds it from receiverIndex and
 *    counter. On the hot path, build DATA in place instead: writeDataHeader,
 *    then the sealer writes the counter at DATA_COUNTER_OFFSET and seals.
 *  - Encoders validate every field (fixed sizes: SM_ERR_WIRE_LENGTH;
 *    limits: SM_ERR_WIRE_TOO_LARGE; ranges, empty cert: SM_ERR_WIRE_FIELD).
 *  - timestampMs above Number.MAX_SAFE_INTEGER is SM_ERR_WIRE_FIELD; counter
 *    is a full u64 bigint; indices are u32.
 *  - readDataFrame is decodePeerFrame's DATA case for the per-packet path:
 *    the same checks, no exception and no object per frame (it fills the
 *    caller's view); false means "not a well-formed DATA frame", and the
 *    caller hands the bytes to decodePeerFrame for the verdict.
 */

import {
  AEAD_TAG_BYTES,
  DATA_COUNTER_OFFSET,
  DATA_HEADER_BYTES,
  DATA_MIN_BYTES,
  DATA_RECEIVER_INDEX_OFFSET,
  FrameType,
  HEADER_BYTES,
  HEADER_RESERVED_OFFSET,
  HEADER_TYPE_OFFSET,
  HEADER_VERSION_OFFSET,
  HS_COOKIE_BYTES,
  HS_COOKIE_MAC_BYTES,
  HS_FINISH_BYTES,
  HS_INIT_FIXED_BYTES,
  HS_RESP_FIXED_BYTES,
  HYBRID_KEM_CIPHERTEXT_BYTES,
  HYBRID_KEM_PUBLIC_BYTES,
  HYBRID_SIGNATURE_BYTES,
  MAX_CERT_BYTES,
  MAX_PEER_FRAME_BYTES,
  NONCE_BYTES,
  PROTOCOL_VERSION,
  U32_MAX,
} from './constants.js';
import { ByteReader, getU32, getU64 } from './byte-reader.js';
import { ByteWriter, checkUint, checkVarBytes, putU32 } from './byte-writer.js';
import { checkFrameHeader, checkRoom, frameTypeName, isPeerFrameType, putFrameHeader } from './frame-header.js';
import { WireCode, wireFail } from './wire-errors.js';

/** A DATA frame's fields (decodePeerFrame's DATA case; readDataFrame fills one in place). */
export interface DataFrameView {
  receiverIndex: number;
  counter: bigint;
  /** The first 16 bytes of the frame (the AEAD associated data), a view. Ignored by the encoder. */
  header: Uint8Array;
  /** Ciphertext ‖ tag, a view. */
  sealed: Uint8Array;
}

/** An empty view for readDataFrame to fill. */
export function newDataFrameView(): DataFrameView {
  return { receiverIndex: 0, counter: 0n, header: new Uint8Array(0), sealed: new Uint8Array(0) };
}

export type PeerFrame =
  | {
      type: typeof FrameType.HsInit;
      senderIndex: number;
      timestampMs: number;
      nonce: Uint8Array;
      kemPublic: Uint8Array;
      cert: Uint8Array;
      /** HS_COOKIE_MAC_BYTES echoed from an HS_COOKIE (handshake.md §6); absent on a first INIT. Not part of the transcript. */
      cookie?: Uint8Array;
    }
  | {
      type: typeof FrameType.HsResp;
      senderIndex: number;
      receiverIndex: number;
      kemCiphertext: Uint8Array;
      cert: Uint8Array;
      signature: Uint8Array;
    }
  | { type: typeof FrameType.HsFinish; receiverIndex: number; signature: Uint8Array }
  | { type: typeof FrameType.HsCookie; receiverIndex: number; cookie: Uint8Array }
  | ({ type: typeof FrameType.Data } & DataFrameView);

const CONTEXT = 'peer frame';

/** Largest DATA sealed part: the whole frame stays within MAX_PEER_FRAME_BYTES. */
const MAX_SEALED_BYTES = MAX_PEER_FRAME_BYTES - DATA_HEADER_BYTES;

// ---- layouts (offsets from the start of the frame, little-endian) ----------
//
// HS_INIT 0x21, 1652 + certLen bytes, or 1668 + certLen with a cookie
// | 0..3 header | 4..7 senderIndex u32 | 8..15 timestampMs u64 (<= 2^53-1) | 16..47 nonce |
// | 48..1647 kemPublic (1600) | 1648..1651 certLen u32 | 1652.. cert (1..8192) | [cookie (16)] |
//
// HS_RESP 0x22, 6307 + certLen bytes
// | 0..3 header | 4..7 senderIndex u32 | 8..11 receiverIndex u32 | 12..1611 kemCiphertext (1600) |
// | 1612..1615 certLen u32 | 1616.. cert (1..8192) | last 4691 bytes: signature |
//
// HS_FINISH 0x23, exactly 4699 bytes
// | 0..3 header | 4..7 receiverIndex u32 | 8..4698 signature (4691) |
//
// HS_COOKIE 0x2d, exactly 24 bytes
// | 0..3 header | 4..7 receiverIndex u32 (the INIT's senderIndex) | 8..23 cookie (16) |
//
// DATA 0x24, 32..65756 bytes; bytes 0..15 are the AEAD associated data
// | 0..3 header | 4..7 receiverIndex u32 | 8..15 counter u64 | 16.. sealed: ciphertext ‖ tag(16) |

/**
 * Exact encoded size of `frame`, validating what the size depends on.
 * Throws SM_ERR_WIRE_TYPE for a type that is not a peer frame.
 */
export function peerFrameSize(frame: PeerFrame): number {
  switch (frame.type) {
    case FrameType.HsInit:
      checkVarBytes(frame.cert, 'HS_INIT cert', MAX_CERT_BYTES, 1);
      return HS_INIT_FIXED_BYTES + frame.cert.length + (frame.cookie === undefined ? 0 : HS_COOKIE_MAC_BYTES);
    case FrameType.HsResp:
      checkVarBytes(frame.cert, 'HS_RESP cert', MAX_CERT_BYTES, 1);
      return HS_RESP_FIXED_BYTES + frame.cert.length;
    case FrameType.HsFinish:
      return HS_FINISH_BYTES;
    case FrameType.HsCookie:
      return HS_COOKIE_BYTES;
    case FrameType.Data:
      checkVarBytes(frame.sealed, 'DATA sealed', MAX_SEALED_BYTES, AEAD_TAG_BYTES);
      return DATA_HEADER_BYTES + frame.sealed.length;
    default:
      return wireFail(
        WireCode.Type,
        `encode ${CONTEXT}: type ${frameTypeName((frame as { type: number }).type)} is not a peer frame`,
      );
  }
}

/**
 * Encode `frame` into `buf` at `offset`; returns the number of bytes written.
 * `buf` must have room for peerFrameSize(frame) bytes (SM_ERR_WIRE_LENGTH
 * otherwise). On error, bytes of `buf` after `offset` may have been written.
 */
export function encodePeerFrameInto(frame: PeerFrame, buf: Uint8Array, offset: number): number {
  const size = peerFrameSize(frame);
  checkRoom(buf, offset, size, `encode ${CONTEXT}`);
  putFrameHeader(buf, offset, frame.type);
  const w = new ByteWriter(buf, offset + HEADER_BYTES);
  switch (frame.type) {
    case FrameType.HsInit:
      w.u32(frame.senderIndex, 'HS_INIT senderIndex');
      w.u64Number(frame.timestampMs, 'HS_INIT timestampMs');
      w.fixedBytes(frame.nonce, NONCE_BYTES, 'HS_INIT nonce');
      w.fixedBytes(frame.kemPublic, HYBRID_KEM_PUBLIC_BYTES, 'HS_INIT kemPublic');
      w.u32Bytes(frame.cert, 'HS_INIT cert', MAX_CERT_BYTES, 1);
      if (frame.cookie !== undefined) w.fixedBytes(frame.cookie, HS_COOKIE_MAC_BYTES, 'HS_INIT cookie');
      break;
    case FrameType.HsResp:
      w.u32(frame.senderIndex, 'HS_RESP senderIndex');
      w.u32(frame.receiverIndex, 'HS_RESP receiverIndex');
      w.fixedBytes(frame.kemCiphertext, HYBRID_KEM_CIPHERTEXT_BYTES, 'HS_RESP kemCiphertext');
      w.u32Bytes(frame.cert, 'HS_RESP cert', MAX_CERT_BYTES, 1);
      w.fixedBytes(frame.signature, HYBRID_SIGNATURE_BYTES, 'HS_RESP signature');
      break;
    case FrameType.HsFinish:
      w.u32(frame.receiverIndex, 'HS_FINISH receiverIndex');
      w.fixedBytes(frame.signature, HYBRID_SIGNATURE_BYTES, 'HS_FINISH signature');
      break;
    case FrameType.HsCookie:
      w.u32(frame.receiverIndex, 'HS_COOKIE receiverIndex');
      w.fixedBytes(frame.cookie, HS_COOKIE_MAC_BYTES, 'HS_COOKIE cookie');
      break;
    case FrameType.Data:
      w.u32(frame.receiverIndex, 'DATA receiverIndex');
      w.u64(frame.counter, 'DATA counter');
      w.bytes(frame.sealed, 'DATA sealed');
      break;
  }
  return HEADER_BYTES + w.length;
}

/** The bytes of an encoded HS_INIT without its cookie: what the transcript hashes and the cookie MACs (handshake.md §6). A view. */
export function initWithoutCookie(init: Extract<PeerFrame, { type: typeof FrameType.HsInit }>, bytes: Uint8Array): Uint8Array {
  return init.cookie === undefined ? bytes : bytes.subarray(0, bytes.length - HS_COOKIE_MAC_BYTES);
}

/** Encode `frame` into a new buffer of exactly its size. */
export function encodePeerFrame(frame: PeerFrame): Uint8Array {
  const out = new Uint8Array(peerFrameSize(frame));
  encodePeerFrameInto(frame, out, 0);
  return out;
}

/**
 * Hot path for DATA: write version, type, zero reserved bytes and
 * receiverIndex (bytes 0..7 of the frame) at `offset`. The counter at
 * offset + DATA_COUNTER_OFFSET is left for the sealer, which owns it.
 * Throws SM_ERR_WIRE_FIELD for an index outside u32, SM_ERR_WIRE_LENGTH if
 * the 16-byte header does not fit.
 */
export function writeDataHeader(buf: Uint8Array, offset: number, receiverIndex: number): void {
  checkUint(receiverIndex, U32_MAX, 'DATA receiverIndex');
  checkRoom(buf, offset, DATA_HEADER_BYTES, 'writeDataHeader');
  putFrameHeader(buf, offset, FrameType.Data);
  putU32(buf, offset + DATA_RECEIVER_INDEX_OFFSET, receiverIndex);
}

function lengthError(bytes: Uint8Array, type: number, expected: string): never {
  return wireFail(WireCode.Length, `${frameTypeName(type)}: ${bytes.length} bytes, expected ${expected}`);
}

/**
 * Fill `view` from `bytes` when they are a well-formed DATA frame (header
 * version, type and reserved bytes, DATA_MIN_BYTES..MAX_PEER_FRAME_BYTES) and
 * return true; false otherwise, `view` then unspecified. The views alias `bytes`.
 */
export function readDataFrame(bytes: Uint8Array, view: DataFrameView): boolean {
  if (bytes.length < DATA_MIN_BYTES || bytes.length > MAX_PEER_FRAME_BYTES) return false;
  if (bytes[HEADER_VERSION_OFFSET] !== PROTOCOL_VERSION || bytes[HEADER_TYPE_OFFSET] !== FrameType.Data) return false;
  if (bytes[HEADER_RESERVED_OFFSET] !== 0 || bytes[HEADER_RESERVED_OFFSET + 1] !== 0) return false;
  dataFields(bytes, view);
  return true;
}

/** Fill `view` with the DATA fields of `bytes`, whose header and length the caller checked; returns `view`. */
function dataFields(bytes: Uint8Array, view: DataFrameView): DataFrameView {
  view.receiverIndex = getU32(bytes, DATA_RECEIVER_INDEX_OFFSET);
  view.counter = getU64(bytes, DATA_COUNTER_OFFSET);
  view.header = bytes.subarray(0, DATA_HEADER_BYTES);
  view.sealed = bytes.subarray(DATA_HEADER_BYTES);
  return view;
}

/**
 * Decode one peer frame. Byte fields are VIEWS into `bytes` (see the module
 * header). Throws only WireError with an SM_ERR_WIRE_* code.
 */
export function decodePeerFrame(bytes: Uint8Array): PeerFrame {
  const type = checkFrameHeader(bytes, MAX_PEER_FRAME_BYTES, isPeerFrameType, CONTEXT);
  switch (type) {
    case FrameType.Data:
      // The upper bound was checked by the header. (The per-packet path reads DATA with readDataFrame.)
      if (bytes.length < DATA_MIN_BYTES) lengthError(bytes, type, `at least ${DATA_MIN_BYTES}`);
      return { type, ...dataFields(bytes, newDataFrameView()) };
    case FrameType.HsInit: {
      if (bytes.length < HS_INIT_FIXED_BYTES + 1) lengthError(bytes, type, `at least ${HS_INIT_FIXED_BYTES + 1}`);
      const r = new ByteReader(bytes, HEADER_BYTES);
      const senderIndex = r.u32('HS_INIT senderIndex');
      const timestampMs = r.u64Number('HS_INIT timestampMs');
      const nonce = r.bytes(NONCE_BYTES, 'HS_INIT nonce');
      const kemPublic = r.bytes(HYBRID_KEM_PUBLIC_BYTES, 'HS_INIT kemPublic');
      const cert = r.u32Bytes('HS_INIT cert', MAX_CERT_BYTES, 1);
      // handshake.md §6: the only trailer a v1 frame may carry, of exactly one size.
      if (r.remaining === HS_COOKIE_MAC_BYTES) {
        return { type, senderIndex, timestampMs, nonce, kemPublic, cert, cookie: r.bytes(HS_COOKIE_MAC_BYTES, 'HS_INIT cookie') };
      }
      r.end('HS_INIT');
      return { type, senderIndex, timestampMs, nonce, kemPublic, cert };
    }
    case FrameType.HsResp: {
      if (bytes.length < HS_RESP_FIXED_BYTES + 1) lengthError(bytes, type, `at least ${HS_RESP_FIXED_BYTES + 1}`);
      // The signature is the fixed-size tail; the cert must fill exactly the rest.
      const head = new ByteReader(bytes.subarray(0, bytes.length - HYBRID_SIGNATURE_BYTES), HEADER_BYTES);
      const senderIndex = head.u32('HS_RESP senderIndex');
      const receiverIndex = head.u32('HS_RESP receiverIndex');
      const kemCiphertext = head.bytes(HYBRID_KEM_CIPHERTEXT_BYTES, 'HS_RESP kemCiphertext');
      const cert = head.u32Bytes('HS_RESP cert', MAX_CERT_BYTES, 1);
      head.end('HS_RESP');
      const signature = bytes.subarray(bytes.length - HYBRID_SIGNATURE_BYTES);
      return { type, senderIndex, receiverIndex, kemCiphertext, cert, signature };
    }
    case FrameType.HsFinish:
      if (bytes.length !== HS_FINISH_BYTES) lengthError(bytes, type, `exactly ${HS_FINISH_BYTES}`);
      return {
        type,
        receiverIndex: getU32(bytes, HEADER_BYTES),
        signature: bytes.subarray(HEADER_BYTES + 4),
      };
    case FrameType.HsCookie:
      if (bytes.length !== HS_COOKIE_BYTES) lengthError(bytes, type, `exactly ${HS_COOKIE_BYTES}`);
      return {
        type,
        receiverIndex: getU32(bytes, HEADER_BYTES),
        cookie: bytes.subarray(HEADER_BYTES + 4),
      };
    default:
      // Unreachable: checkFrameHeader admitted only peer types.
      return wireFail(WireCode.Type, `${CONTEXT}: type ${frameTypeName(type)}`);
  }
}
