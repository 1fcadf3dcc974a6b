/**
 * Chat envelope codec (src/messaging/chat-envelope.ts): round trips, every
 * refusal a ChatError with its code, and a fuzz pass that decoding arbitrary
 * bytes only ever throws ChatError.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CHAT_HEADER_BYTES,
  ChatKind,
  decodeChatEnvelope,
  encodeChatEnvelope,
  MAX_CHAT_REASON_BYTES,
  MAX_CHAT_TEXT_BYTES,
  type ChatEnvelope,
} from '../../src/messaging/chat-envelope.js';
import { ChatCode } from '../../src/messaging/messaging-errors.js';

const A = new Uint8Array(32).fill(0xaa);
const B = new Uint8Array(32).fill(0xbb);
const ID = new Uint8Array(16).fill(7);

function env(over: Partial<ChatEnvelope> = {}): ChatEnvelope {
  return { kind: ChatKind.Message, sender: A, recipient: B, conversationId: ID, seq: 1, text: 'héllo ✓', ...over };
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.equal((err as Error).name, 'ChatError', String(err));
    return (err as { code: string }).code;
  }
  assert.fail('expected a ChatError');
}

test('every kind round-trips with its layout', () => {
  const cases: ChatEnvelope[] = [
    env({ kind: ChatKind.Request, seq: 0, text: '' }),
    env({ kind: ChatKind.Accept, seq: 0, text: '' }),
    env({ kind: ChatKind.Decline, seq: 0, text: 'busy' }),
    env({ kind: ChatKind.Message, seq: 0xffff_ffff }),
    env({ kind: ChatKind.Ack, seq: 0, text: '' }),
    env({ kind: ChatKind.Ack, seq: 42, text: '' }),
    env({ kind: ChatKind.Terminate, seq: 0, text: 'bye' }),
  ];
  for (const e of cases) {
    const bytes = encodeChatEnvelope(e);
    assert.equal(bytes[0], 1);
    assert.equal(bytes[1], e.kind);
    assert.deepEqual(bytes.subarray(4, 36), A);
    assert.deepEqual(bytes.subarray(36, 68), B);
    assert.deepEqual(bytes.subarray(68, 84), ID);
    const d = decodeChatEnvelope(bytes);
    assert.deepEqual(d, { ...e, sender: Uint8Array.from(A), recipient: Uint8Array.from(B), conversationId: Uint8Array.from(ID) });
  }
});

test('the text limit is exact and the error names it', () => {
  encodeChatEnvelope(env({ text: 'x'.repeat(MAX_CHAT_TEXT_BYTES) }));
  assert.equal(code(() => encodeChatEnvelope(env({ text: 'x'.repeat(MAX_CHAT_TEXT_BYTES + 1) }))), ChatCode.TOO_LARGE);
  assert.throws(() => encodeChatEnvelope(env({ text: 'é'.repeat(MAX_CHAT_TEXT_BYTES / 2 + 1) })), /8194 bytes of UTF-8; the limit is 8192/);
  assert.equal(code(() => encodeChatEnvelope(env({ kind: ChatKind.Decline, seq: 0, text: 'r'.repeat(MAX_CHAT_REASON_BYTES + 1) }))), ChatCode.TOO_LARGE);
  // A hand-built oversized message is refused by the decoder too.
  const big = new Uint8Array(CHAT_HEADER_BYTES + MAX_CHAT_TEXT_BYTES + 1).fill(0x41);
  big.set(encodeChatEnvelope(env({ text: '' })));
  assert.equal(code(() => decodeChatEnvelope(big)), ChatCode.TOO_LARGE);
});

test('malformed envelopes are refused with a code, and the input is unchanged', () => {
  const good = encodeChatEnvelope(env());
  const copy = Uint8Array.from(good);
  const mutate = (f: (b: Uint8Array) => void): Uint8Array => {
    const b = Uint8Array.from(good);
    f(b);
    return b;
  };
  assert.equal(code(() => decodeChatEnvelope(good.subarray(0, CHAT_HEADER_BYTES - 1))), ChatCode.MALFORMED);
  assert.equal(code(() => decodeChatEnvelope(mutate((b) => { b[0] = 2; }))), ChatCode.VERSION);
  assert.equal(code(() => decodeChatEnvelope(mutate((b) => { b[1] = 9; }))), ChatCode.KIND);
  assert.equal(code(() => decodeChatEnvelope(mutate((b) => { b[2] = 1; }))), ChatCode.MALFORMED);
  assert.equal(code(() => decodeChatEnvelope(mutate((b) => { b.fill(0, 84, 88); }))), ChatCode.MALFORMED, 'message seq 0');
  assert.equal(code(() => decodeChatEnvelope(mutate((b) => { b[1] = ChatKind.Request; }))), ChatCode.MALFORMED, 'request with seq and text');
  assert.equal(code(() => decodeChatEnvelope(mutate((b) => { b[b.length - 1] = 0xff; }))), ChatCode.MALFORMED, 'bad UTF-8');
  assert.deepEqual(good, copy);
});

test('fuzz: arbitrary bytes only ever throw ChatError', () => {
  let seed = 12345;
  const rnd = (): number => { seed = (seed * 1103515245 + 12345) >>> 0; return seed; };
  const base = encodeChatEnvelope(env());
  for (let i = 0; i < 5_000; i++) {
    const b = Uint8Array.from(rnd() % 3 === 0 ? new Uint8Array(rnd() % 200) : base);
    for (let k = 0; k < 1 + (rnd() % 4); k++) if (b.length > 0) b[rnd() % b.length] = rnd() & 0xff;
    try {
      const d = decodeChatEnvelope(b);
      assert.deepEqual(encodeChatEnvelope(d), b, 're-encoding a decoded envelope reproduces it');
    } catch (err) {
      assert.equal((err as Error).name, 'ChatError', String(err));
    }
  }
});
