/**
 * Chat envelopes: the body of the CHAT inner type (0x07) inside an
 * end-to-end session (docs/protocol.md §4; docs/architecture.md "Chat").
 *
 *     CHAT envelope, little-endian (after the inner-type byte)
 *     | 0 version u8 (=1) | 1 kind u8 | 2..3 reserved u16 (=0) |
 *     | 4..35 sender peer id | 36..67 recipient peer id |
 *     | 68..83 conversation id [16] | 84..87 seq u32 | 88.. text (UTF-8) |
 *
 *     kind           seq                          text
 *     1 REQUEST      0                            empty
 *     2 ACCEPT       0                            empty
 *     3 DECLINE      0                            reason, 0..MAX_CHAT_REASON_BYTES
 *     4 MESSAGE      1, 2, 3 … per conversation   the message, 0..MAX_CHAT_TEXT_BYTES
 *     5 ACK          highest seq delivered in     empty
 *                    order (cumulative; 0: none)
 *     6 TERMINATE    0                            reason, 0..MAX_CHAT_REASON_BYTES
 *
 * Associated data: the whole envelope travels inside the session's AEAD
 * (ChaCha20-Poly1305 or AES-256-GCM, keyed by the hybrid X25519 + ML-KEM-1024
 * handshake both identities signed), so every byte of it (sender,
 * recipient, conversation id, kind, seq, text) is authenticated as coming
 * from the session's peer. No second MAC is layered on top; instead the
 * binding is checked on receipt (chat-service.ts): the sender field must be
 * the session's authenticated peer, the recipient field must be us, and the
 * conversation id must belong to a conversation with that peer. An envelope
 * cut from one conversation or session and replayed into another therefore
 * fails one of those checks, and the session's replay window stops a replay
 * inside the same session.
 *
 * The decoder checks lengths first, never throws anything but ChatError,
 * and returns `text` as a decoded string (no view of the input survives).
 */
import { SmError } from '../errors.js';
import { PEER_ID_BYTES } from '../wire/constants.js';
import { ChatCode } from './messaging-errors.js';

/** Envelope format version; a receiver refuses any other. */
export const CHAT_ENVELOPE_VERSION = 1;
/** Random conversation id: 128 bits, so ids never collide and cannot be guessed. */
export const CONVERSATION_ID_BYTES = 16;
/** Fixed part of every envelope. */
export const CHAT_HEADER_BYTES = 4 + 2 * PEER_ID_BYTES + CONVERSATION_ID_BYTES + 4;
/** Largest message text in UTF-8 bytes: a chat line (or a pasted paragraph),
 *  not a file transfer; small enough that a control request carrying it
 *  (16 KiB lines) and one session frame (64 KiB) always fit. */
export const MAX_CHAT_TEXT_BYTES = 8 * 1024;
/** Largest decline / terminate reason: a sentence (as wire MAX_TEXT_BYTES). */
export const MAX_CHAT_REASON_BYTES = 512;
/** Largest sequence number; a conversation that reaches it must be reopened. */
export const MAX_CHAT_SEQ = 0xffff_ffff;

export const ChatKind = { Request: 1, Accept: 2, Decline: 3, Message: 4, Ack: 5, Terminate: 6 } as const;
export type ChatKind = (typeof ChatKind)[keyof typeof ChatKind];

export const CHAT_KIND_NAMES: Readonly<Record<ChatKind, string>> = Object.freeze({
  1: 'request', 2: 'accept', 3: 'decline', 4: 'message', 5: 'ack', 6: 'terminate',
});

export class ChatError extends SmError {
  override name = 'ChatError';
}

export interface ChatEnvelope {
  kind: ChatKind;
  /** 32 bytes. */
  sender: Uint8Array;
  /** 32 bytes. */
  recipient: Uint8Array;
  /** 16 bytes. */
  conversationId: Uint8Array;
  seq: number;
  text: string;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

function textLimit(kind: ChatKind): number {
  if (kind === ChatKind.Message) return MAX_CHAT_TEXT_BYTES;
  if (kind === ChatKind.Decline || kind === ChatKind.Terminate) return MAX_CHAT_REASON_BYTES;
  return 0;
}

function isKind(k: number): k is ChatKind {
  return Number.isInteger(k) && k >= ChatKind.Request && k <= ChatKind.Terminate;
}

/** Checks seq against its kind; a message string, or null when fine. */
function seqProblem(kind: ChatKind, seq: number): string | null {
  if (!Number.isInteger(seq) || seq < 0 || seq > MAX_CHAT_SEQ) return `seq ${seq} is not a u32`;
  if (kind === ChatKind.Message && seq === 0) return 'a message starts at seq 1';
  if (kind !== ChatKind.Message && kind !== ChatKind.Ack && seq !== 0) return `${CHAT_KIND_NAMES[kind]} carries seq 0, got ${seq}`;
  return null;
}

/** UTF-8 bytes of a message text, or ChatError TOO_LARGE naming the limit. */
export function encodeChatText(text: string, limit = MAX_CHAT_TEXT_BYTES): Uint8Array {
  const bytes = utf8Encoder.encode(text);
  if (bytes.length > limit) {
    throw new ChatError(ChatCode.TOO_LARGE, `message is ${bytes.length} bytes of UTF-8; the limit is ${limit}`);
  }
  return bytes;
}

/** The envelope's bytes (a fresh buffer). Throws ChatError on a field out of range: a caller bug or a too-long text. */
export function encodeChatEnvelope(e: ChatEnvelope): Uint8Array {
  if (!isKind(e.kind)) throw new ChatError(ChatCode.KIND, `chat envelope kind: unknown ${String(e.kind)}`);
  if (e.sender.length !== PEER_ID_BYTES || e.recipient.length !== PEER_ID_BYTES) throw new ChatError(ChatCode.MALFORMED, 'chat envelope: peer ids are 32 bytes');
  if (e.conversationId.length !== CONVERSATION_ID_BYTES) throw new ChatError(ChatCode.MALFORMED, `chat envelope: conversation id is ${CONVERSATION_ID_BYTES} bytes`);
  const problem = seqProblem(e.kind, e.seq);
  if (problem !== null) throw new ChatError(ChatCode.MALFORMED, `chat envelope: ${problem}`);
  const text = encodeChatText(e.text, textLimit(e.kind));
  const out = new Uint8Array(CHAT_HEADER_BYTES + text.length);
  const dv = new DataView(out.buffer);
  out[0] = CHAT_ENVELOPE_VERSION;
  out[1] = e.kind;
  out.set(e.sender, 4);
  out.set(e.recipient, 4 + PEER_ID_BYTES);
  out.set(e.conversationId, 4 + 2 * PEER_ID_BYTES);
  dv.setUint32(CHAT_HEADER_BYTES - 4, e.seq, true);
  out.set(text, CHAT_HEADER_BYTES);
  return out;
}

/** Decodes an envelope; ChatError MALFORMED / VERSION / KIND / TOO_LARGE otherwise. The result owns copies of every field. */
export function decodeChatEnvelope(b: Uint8Array): ChatEnvelope {
  if (!(b instanceof Uint8Array) || b.length < CHAT_HEADER_BYTES) {
    throw new ChatError(ChatCode.MALFORMED, `chat envelope: ${b?.length ?? 0} bytes, at least ${CHAT_HEADER_BYTES} expected`);
  }
  if (b[0] !== CHAT_ENVELOPE_VERSION) throw new ChatError(ChatCode.VERSION, `chat envelope version ${b[0]}; only ${CHAT_ENVELOPE_VERSION} is known`);
  const kind = b[1]!;
  if (!isKind(kind)) throw new ChatError(ChatCode.KIND, `chat envelope kind ${kind} is unknown`);
  if (b[2] !== 0 || b[3] !== 0) throw new ChatError(ChatCode.MALFORMED, 'chat envelope: reserved bytes must be zero');
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const seq = dv.getUint32(CHAT_HEADER_BYTES - 4, true);
  const problem = seqProblem(kind, seq);
  if (problem !== null) throw new ChatError(ChatCode.MALFORMED, `chat envelope: ${problem}`);
  const textBytes = b.subarray(CHAT_HEADER_BYTES);
  const limit = textLimit(kind);
  if (textBytes.length > limit) {
    throw new ChatError(limit === 0 ? ChatCode.MALFORMED : ChatCode.TOO_LARGE, `chat envelope: ${CHAT_KIND_NAMES[kind]} text of ${textBytes.length} bytes, at most ${limit}`);
  }
  let text: string;
  try {
    text = utf8Decoder.decode(textBytes);
  } catch {
    throw new ChatError(ChatCode.MALFORMED, 'chat envelope: text is not valid UTF-8');
  }
  return {
    kind,
    sender: b.slice(4, 4 + PEER_ID_BYTES),
    recipient: b.slice(4 + PEER_ID_BYTES, 4 + 2 * PEER_ID_BYTES),
    conversationId: b.slice(4 + 2 * PEER_ID_BYTES, 4 + 2 * PEER_ID_BYTES + CONVERSATION_ID_BYTES),
    seq,
    text,
  };
}
