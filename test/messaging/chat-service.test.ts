/**
 * ChatService and the Conversation machine on virtual time, three members
 * wired through an in-memory "session layer" that can lose and duplicate
 * envelopes (a loss makes later ones arrive past a gap): ordering, exactly-once delivery, retries with backoff,
 * request / accept / decline / terminate, the sender / recipient / peer
 * binding, and every kind of bad input counted, never thrown (a 1-in-23
 * loss, 1-in-5 duplication link for the bulk test).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toHex } from '../../src/crypto/bytes.js';
import { ChatInbox } from '../../src/messaging/chat-inbox.js';
import { ChatKind, decodeChatEnvelope, encodeChatEnvelope, MAX_CHAT_TEXT_BYTES } from '../../src/messaging/chat-envelope.js';
import { ChatCode } from '../../src/messaging/messaging-errors.js';
import { ChatService, MAX_LIVE_CONVERSATIONS, MAX_LIVE_CONVERSATIONS_PER_PEER, type ChatEvent } from '../../src/messaging/chat-service.js';
import { DELIVERY_GIVE_UP_MS, RETRY_INITIAL_MS } from '../../src/messaging/conversation.js';
import { FakeClock } from '../../testkit/fake-clock.js';
import { InnerType } from '../../src/wire/constants.js';

interface Member {
  id: Uint8Array;
  hex: string;
  chat: ChatService;
  inbox: ChatInbox;
  events: ChatEvent[];
}

interface Lab {
  clock: FakeClock;
  m: Record<'a' | 'b' | 'c', Member>;
  /** Envelopes in flight: delivered by flush(). */
  wire: Array<{ from: Uint8Array; to: Uint8Array; body: Uint8Array }>;
  /** Per envelope: 'deliver' | 'drop' | 'dup'. */
  policy: (n: number) => 'deliver' | 'drop' | 'dup';
  online: Set<string>;
  flush(): void;
  run(ms: number): void;
}

function lab(): Lab {
  const clock = new FakeClock();
  const online = new Set<string>();
  const wire: Lab['wire'] = [];
  let n = 0;
  const l = { clock, wire, online, policy: () => 'deliver' } as unknown as Lab;
  const make = (seed: number): Member => {
    const id = new Uint8Array(32).fill(seed);
    const hex = toHex(id);
    online.add(hex);
    const inbox = new ChatInbox();
    const events: ChatEvent[] = [];
    inbox.subscribe((e) => events.push(e), false);
    const chat = new ChatService({
      localPeerId: id,
      clock,
      sink: inbox,
      members: { get: (h: string) => (online.has(h) ? { name: `m${h.slice(0, 2)}` } : undefined) },
      sessions: {
        sendInner: (to, type, body) => {
          assert.equal(type, InnerType.Chat);
          wire.push({ from: id, to, body: Uint8Array.from(body) });
          return 'sent';
        },
      },
    });
    chat.start();
    return { id, hex, chat, inbox, events };
  };
  l.m = { a: make(1), b: make(2), c: make(3) };
  const byHex = new Map(Object.values(l.m).map((m) => [m.hex, m]));
  l.flush = () => {
    for (let guard = 0; guard < 100_000 && wire.length > 0; guard++) {
      const f = wire.shift()!;
      const p = l.policy(n++);
      if (p === 'drop') continue;
      byHex.get(toHex(f.to))!.chat.onEnvelope(f.from, f.body);
      if (p === 'dup') byHex.get(toHex(f.to))!.chat.onEnvelope(f.from, f.body);
    }
  };
  l.run = (ms: number) => {
    for (let t = 0; t < ms; t += 50) {
      clock.advance(50);
      l.flush();
    }
  };
  return l;
}

function messages(m: Member, conv: string): string[] {
  return m.events.filter((e) => e.type === 'message' && e.conversationId === conv).map((e) => (e as { text: string }).text);
}

function open(l: Lab): string {
  const { a, b } = l.m;
  const conv = a.chat.request(b.hex).conversationId;
  l.flush();
  assert.ok(b.events.some((e) => e.type === 'request' && e.conversationId === conv && e.peerId === a.hex));
  b.chat.respond(conv, true);
  l.flush();
  assert.ok(a.events.some((e) => e.type === 'accepted' && e.conversationId === conv));
  assert.equal(a.chat.conversation(conv).state, 'active');
  return conv;
}

test('request, accept, and 1,000 messages each way in order, exactly once, through loss, duplication and retries', () => {
  const l = lab();
  const { a, b } = l.m;
  const conv = open(l);
  // Lose every 23rd envelope and duplicate every 5th, in both directions (messages and acks).
  l.policy = (n) => (n % 23 === 3 ? 'drop' : n % 5 === 1 ? 'dup' : 'deliver');
  const N = 1_000;
  const sent: string[] = [];
  for (let i = 1; i <= N; i++) {
    for (;;) {
      try {
        a.chat.send(conv, `a->b ${i}`);
        b.chat.send(conv, `b->a ${i}`);
        break;
      } catch (err) {
        assert.equal((err as { code: string }).code, ChatCode.BUSY);
        l.run(100);
      }
    }
    sent.push(String(i));
    if (i % 50 === 0) l.flush();
  }
  l.run(120_000);
  assert.deepEqual(messages(b, conv), sent.map((i) => `a->b ${i}`));
  assert.deepEqual(messages(a, conv), sent.map((i) => `b->a ${i}`));
  assert.equal(a.chat.conversation(conv).ackedThrough, N);
  assert.equal(b.chat.conversation(conv).ackedThrough, N);
  assert.ok(a.chat.stats.retries > 0 && b.chat.drops.duplicate > 0, 'the lossy link really forced retries and duplicates');
  const acks = a.events.filter((e) => e.type === 'ack').map((e) => (e as { seq: number }).seq);
  assert.deepEqual(acks, Array.from({ length: N }, (_, i) => i + 1), 'one delivery tick per message, in order');
});

test('a lost REQUEST is retried with backoff; an unanswered one ends after the give-up time', () => {
  const l = lab();
  const { a, b } = l.m;
  l.policy = () => 'drop';
  const conv = a.chat.request(b.hex).conversationId;
  l.flush();
  l.run(RETRY_INITIAL_MS * 8);
  const retriesEarly = a.chat.stats.retries;
  assert.ok(retriesEarly >= 2 && retriesEarly <= 5, `backoff: ${retriesEarly} retries in 8 s`);
  l.run(DELIVERY_GIVE_UP_MS);
  assert.equal(a.chat.conversation(conv).state, 'terminated');
  assert.match(a.chat.conversation(conv).reason ?? '', /no answer/);
});

test('decline is reported to the requester with its reason; sending on it is refused', async () => {
  const l = lab();
  const { a, c } = l.m;
  const conv = a.chat.request(c.hex).conversationId;
  const answered = a.chat.waitAccepted(conv, 10_000);
  l.flush();
  c.chat.respond(conv, false, 'not now');
  l.flush();
  await assert.rejects(answered, (err: { code: string; message: string }) => err.code === ChatCode.DECLINED && /not now/.test(err.message));
  assert.ok(a.events.some((e) => e.type === 'declined' && e.reason === 'not now'));
  assert.throws(() => a.chat.send(conv, 'hi'), (err: { code: string }) => err.code === ChatCode.TERMINATED);
});

test('terminate from either side resets both; a later message is refused with TERMINATED, a stale one answered with TERMINATE', () => {
  for (const side of ['a', 'b'] as const) {
    const l = lab();
    const { a, b } = l.m;
    const conv = open(l);
    a.chat.send(conv, 'one');
    l.flush();
    l.m[side].chat.terminate(conv, 'bye');
    l.flush();
    assert.equal(a.chat.conversation(conv).state, 'terminated');
    assert.equal(b.chat.conversation(conv).state, 'terminated');
    const other = side === 'a' ? b : a;
    assert.ok(other.events.some((e) => e.type === 'terminated' && e.by === 'remote' && e.reason === 'bye'));
    assert.throws(() => a.chat.send(conv, 'two'), (err: { code: string }) => err.code === ChatCode.TERMINATED);
    assert.throws(() => b.chat.send(conv, 'two'), (err: { code: string }) => err.code === ChatCode.TERMINATED);
    assert.equal(a.chat.openWith(b.hex), undefined, 'state reset: nothing open between them');
    // A message that was in flight when the TERMINATE crossed it is refused, not delivered.
    b.chat.onEnvelope(a.id, encodeChatEnvelope({ kind: ChatKind.Message, sender: a.id, recipient: b.id, conversationId: Buffer.from(conv, 'hex'), seq: 2, text: 'late' }));
    assert.equal(b.chat.drops.not_active, 1);
    assert.deepEqual(messages(b, conv), ['one']);
  }
});

test('the retry tick runs only while a conversation is live: none in an idle service, one per side in a conversation, none after it ends', () => {
  const l = lab();
  const { a, b } = l.m;
  assert.equal(l.clock.pendingCount, 0, 'three started services, no conversation: nothing armed');
  const conv = open(l);
  assert.equal(l.clock.pendingCount, 2, 'one tick on each side of the conversation');
  // A lost message is still retried by the tick.
  l.policy = () => 'drop';
  a.chat.send(conv, 'lost once');
  l.flush();
  l.policy = () => 'deliver';
  l.run(RETRY_INITIAL_MS * 2);
  assert.deepEqual(messages(b, conv), ['lost once']);
  a.chat.terminate(conv, 'bye');
  l.flush();
  l.run(1_000);
  assert.equal(l.clock.pendingCount, 0, 'the conversation ended on both sides: no tick left');
  const again = a.chat.request(b.hex).conversationId;
  assert.equal(l.clock.pendingCount, 1, 'a new request arms it again');
  l.flush();
  assert.equal(l.clock.pendingCount, 2);
  a.chat.stop();
  b.chat.stop();
  assert.equal(l.clock.pendingCount, 0, 'stopped: nothing armed');
  assert.equal(a.chat.conversation(again).state, 'requested');
});

test('a third member cannot inject into a conversation; bad input is counted, never thrown', () => {
  const l = lab();
  const { a, b, c } = l.m;
  const conv = open(l);
  const idBytes = Buffer.from(conv, 'hex');
  const forged = (kind: number, sender: Uint8Array, recipient: Uint8Array, seq: number, text = ''): Uint8Array =>
    encodeChatEnvelope({ kind: kind as ChatKind, sender, recipient, conversationId: idBytes, seq, text });
  // c's session, a's conversation id: as itself, and pretending to be a.
  b.chat.onEnvelope(c.id, forged(ChatKind.Message, c.id, b.id, 1, 'injected'));
  b.chat.onEnvelope(c.id, forged(ChatKind.Message, a.id, b.id, 1, 'injected'));
  b.chat.onEnvelope(c.id, forged(ChatKind.Terminate, c.id, b.id, 0, 'injected'));
  b.chat.onEnvelope(a.id, forged(ChatKind.Message, a.id, c.id, 1, 'misaddressed'));
  b.chat.onEnvelope(a.id, new Uint8Array([1, 2, 3]));
  b.chat.onEnvelope(a.id, new Uint8Array(200));
  const big = new Uint8Array(88 + MAX_CHAT_TEXT_BYTES + 1);
  big.set(forged(ChatKind.Message, a.id, b.id, 1));
  b.chat.onEnvelope(a.id, big);
  b.chat.onEnvelope(a.id, encodeChatEnvelope({ kind: ChatKind.Message, sender: a.id, recipient: b.id, conversationId: new Uint8Array(16).fill(9), seq: 1, text: 'x' }));
  b.chat.onEnvelope(a.id, forged(ChatKind.Ack, a.id, b.id, 77));
  const d = b.chat.drops;
  assert.equal(d.wrong_peer, 2);
  assert.equal(d.sender_mismatch, 1);
  assert.equal(d.recipient_mismatch, 1);
  assert.equal(d.malformed, 1);
  assert.equal(d.version, 1);
  assert.equal(d.too_large, 1);
  assert.equal(d.unknown_conversation, 1);
  assert.equal(d.bad_ack, 1);
  assert.equal(b.chat.conversation(conv).state, 'active', 'the injected TERMINATE did nothing');
  assert.deepEqual(messages(b, conv), []);
  l.wire.length = 0;
  a.chat.send(conv, 'real');
  l.flush();
  assert.deepEqual(messages(b, conv), ['real']);
});

test('offline members get OFFLINE; oversized texts TOO_LARGE; a full backlog with no listener is not acked and arrives later', () => {
  const l = lab();
  const { a, b, c } = l.m;
  l.online.delete(c.hex);
  assert.throws(() => a.chat.request(c.hex), (err: { code: string }) => err.code === ChatCode.OFFLINE);
  const conv = open(l);
  assert.throws(() => a.chat.send(conv, 'x'.repeat(MAX_CHAT_TEXT_BYTES + 1)), (err: { code: string; message: string }) => err.code === ChatCode.TOO_LARGE && /limit is 8192/.test(err.message));
  // b has no listener and room for 2 events.
  const small = new ChatInbox(2);
  const b2 = new ChatService({ localPeerId: b.id, clock: l.clock, sink: small, members: { get: () => ({ name: 'a' }) }, sessions: { sendInner: () => 'sent' } });
  b2.onEnvelope(a.id, encodeChatEnvelope({ kind: ChatKind.Request, sender: a.id, recipient: b.id, conversationId: new Uint8Array(16).fill(4), seq: 0, text: '' }));
  const id = toHex(new Uint8Array(16).fill(4));
  b2.respond(id, true);
  const msg = (seq: number): Uint8Array => encodeChatEnvelope({ kind: ChatKind.Message, sender: a.id, recipient: b.id, conversationId: new Uint8Array(16).fill(4), seq, text: `m${seq}` });
  b2.onEnvelope(a.id, msg(1));
  b2.onEnvelope(a.id, msg(2));
  assert.equal(b2.conversation(id).deliveredThrough, 1, 'request + m1 fill the backlog; m2 is refused');
  assert.equal(b2.drops.inbox_full, 1);
  const got: ChatEvent[] = [];
  small.subscribe((e) => got.push(e), true);
  b2.onEnvelope(a.id, msg(2));
  assert.deepEqual(got.map((e) => e.type === 'message' ? e.text : e.type), ['request', 'm1', 'm2']);
});

test('one member opening conversations up to the limit does not stop another from opening one', () => {
  const l = lab();
  const { a, b, c } = l.m;
  // c floods b with REQUESTs (each a fresh conversation id), as many as b could ever hold.
  for (let i = 0; i < MAX_LIVE_CONVERSATIONS + 10; i++) {
    const id = new Uint8Array(16);
    new DataView(id.buffer).setUint32(0, i + 1, true);
    b.chat.onEnvelope(c.id, encodeChatEnvelope({ kind: ChatKind.Request, sender: c.id, recipient: b.id, conversationId: id, seq: 0, text: '' }));
  }
  const fromC = b.chat.list().filter((i) => i.peerId === c.hex).length;
  assert.ok(fromC < MAX_LIVE_CONVERSATIONS, `c holds ${fromC} of b's conversations`);
  assert.equal(fromC, MAX_LIVE_CONVERSATIONS_PER_PEER);
  assert.equal(b.chat.drops.peer_conversation_limit, MAX_LIVE_CONVERSATIONS + 10 - MAX_LIVE_CONVERSATIONS_PER_PEER);
  // Each refused REQUEST was answered with DECLINE 'busy', as at the global limit.
  const declines = l.wire.filter((f) => toHex(f.to) === c.hex && decodeChatEnvelope(f.body).kind === ChatKind.Decline).length;
  assert.equal(declines, MAX_LIVE_CONVERSATIONS + 10 - MAX_LIVE_CONVERSATIONS_PER_PEER);
  l.wire.length = 0;
  // a still gets through, and b can still open one of its own.
  const conv = a.chat.request(b.hex).conversationId;
  l.flush();
  assert.ok(b.events.some((e) => e.type === 'request' && e.conversationId === conv && e.peerId === a.hex), 'a\'s request reached b');
  b.chat.respond(conv, true);
  l.flush();
  assert.equal(a.chat.conversation(conv).state, 'active');
  assert.equal(b.chat.request(a.hex).state, 'requested');
});
