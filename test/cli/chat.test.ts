/**
 * End-to-end chat as users and scripts meet it (issue 6): a real relay
 * process (with a tap recording everything it receives) and three real
 * `shadowmesh up --dev none --no-direct` daemons, driven through their
 * control sockets and the `users` / `send` / `recv` commands. A fourth
 * member runs in this process as a bare ShadowNode to forge chat envelopes
 * from its own, genuine session.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256, toHex } from '../../src/crypto/bytes.js';
import { MembershipVerifier } from '../../src/identity/membership.js';
import { formatPeerId } from '../../src/identity/peer-id.js';
import { ChatKind, encodeChatEnvelope } from '../../src/messaging/chat-envelope.js';
import type { ChatEvent } from '../../src/messaging/chat-service.js';
import { ControlClient } from '../../src/node/control/control-client.js';
import type { ChatListResult, ChatSendResult, ConversationInfo, StatusResult, UsersResult } from '../../src/node/control/control-protocol.js';
import { ShadowNode } from '../../src/node/node.js';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';
import { InnerType } from '../../src/wire/constants.js';
import { runCliAsync, startDaemon, waitFor, type DaemonProcess } from '../../testkit/daemon-process.js';

const TAP = fileURLToPath(new URL('../../testkit/relay-tap.js', import.meta.url));
const MARKER = 'CHAT-PLAINTEXT-MARKER-7f3a';
/** Long enough for 1,000 messages each way over a loaded CI machine's relay. */
const BULK_TIMEOUT_MS = 60_000;

let net: TestNetwork;
let relay: RelayProcess;
let work: string;
let relayData: string;
let relayPort = 0;
const daemons: Record<string, DaemonProcess> = {};
const subs: Subscription[] = [];

function sock(name: string): string {
  return join(work, `${name}.sock`);
}

function client(name: string): ControlClient {
  return new ControlClient({ path: sock(name), timeoutMs: 30_000 });
}

function hex(name: string): string {
  return formatPeerId(net.member(name).peerId);
}

async function startRelay(tapFile: string): Promise<RelayProcess> {
  return startRelayProcess({
    caFile: net.caFile,
    crlFile: net.crlFile,
    dataDir: relayData,
    ...(relayPort !== 0 ? { port: relayPort } : {}),
    env: { NODE_OPTIONS: `--import ${new URL(`file://${TAP}`).href}`, SHADOWMESH_TAP_FILE: tapFile, SHADOWMESH_LOG_LEVEL: 'debug' },
  });
}

/** A `chat_events` follow subscription on one daemon, collecting events. */
class Subscription {
  readonly events: ChatEvent[] = [];
  readonly #socket: Socket;
  constructor(name: string) {
    this.#socket = connect(sock(name));
    this.#socket.setEncoding('utf8');
    let buf = '';
    this.#socket.on('data', (c: string) => {
      buf += c;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const msg = JSON.parse(buf.slice(0, nl)) as { progress?: ChatEvent; error?: unknown };
        buf = buf.slice(nl + 1);
        if (msg.error !== undefined) throw new Error(`subscription error: ${JSON.stringify(msg.error)}`);
        if (msg.progress !== undefined) this.events.push(msg.progress);
      }
    });
    this.#socket.on('error', () => undefined);
    this.#socket.write(JSON.stringify({ id: 1, method: 'chat_events', params: { follow: true } }) + '\n');
    subs.push(this);
  }
  of(type: ChatEvent['type'], conversationId?: string): ChatEvent[] {
    return this.events.filter((e) => e.type === type && (conversationId === undefined || e.conversationId === conversationId));
  }
  texts(conversationId: string): string[] {
    return this.of('message', conversationId).map((e) => (e as { text: string }).text);
  }
  until<T>(what: string, fn: () => T | undefined, timeoutMs = 15_000): Promise<T> {
    return waitFor(what, async () => fn(), timeoutMs, 20);
  }
  close(): void {
    this.#socket.destroy();
  }
}

async function drops(name: string): Promise<Record<string, number>> {
  return (await client(name).status()).drops;
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as { code: string }).code;
  }
  assert.fail('expected an error');
}

before(async () => {
  net = await createTestNetwork({ members: ['alice', 'bob', 'carol', 'dave'] });
  work = await mkdtemp(join(tmpdir(), 'sm-chat-'));
  relayData = await mkdtemp(join(tmpdir(), 'sm-chat-relay-'));
  relay = await startRelay(join(work, 'tap-1.bin'));
  relayPort = relay.port;
  const up = (m: string): string[] => {
    const x = net.member(m);
    return ['--relay', relay.url, '--pin', relay.pin, '--ca', net.caFile, '--crl', net.crlFile, '--cert', x.certFile, '--dir', x.dir, '--dev', 'none', '--no-direct', '--control', sock(m)];
  };
  const [a, b, c] = await Promise.all([startDaemon(up('alice')), startDaemon(up('bob')), startDaemon(up('carol'))]);
  daemons['alice'] = a!;
  daemons['bob'] = b!;
  daemons['carol'] = c!;
  for (const n of ['alice', 'bob', 'carol']) {
    await waitFor(`${n} sees the others`, async () => ((await client(n).call('users', {})) as UsersResult).users.length === 2 ? true : undefined);
  }
});

after(async () => {
  for (const s of subs) s.close();
  for (const d of Object.values(daemons)) await d.stop();
  await relay?.stop();
  await net?.cleanup();
  if (work) await rm(work, { recursive: true, force: true });
  if (relayData) await rm(relayData, { recursive: true, force: true });
});

test('users lists the online members with CA-verified names and key fingerprints', async () => {
  const r = await runCliAsync(['users', '--json', '--control', sock('alice')]);
  assert.equal(r.status, 0, r.stderr);
  const u = JSON.parse(r.stdout) as UsersResult;
  assert.deepEqual(u.self, { peerId: hex('alice'), name: 'alice' });
  assert.deepEqual(u.users.map((x) => x.name), ['bob', 'carol']);
  for (const x of u.users) {
    assert.equal(x.peerId, hex(x.name));
    assert.equal(x.publicKeySha256, toHex(sha256(net.member(x.name).publicKey)));
    assert.deepEqual(x.addresses, net.member(x.name).certificate.addresses);
  }
  const table = await runCliAsync(['users', '--control', sock('alice')]);
  assert.match(table.stdout, /^NAME +PEER +ADDRESSES +ONLINE +KEY SHA-256\nbob +[0-9a-f]{16} /);
});

let conv = '';

test('A requests, B accepts, 1,000 messages each way arrive once and in order; C sees nothing and cannot use the id', async () => {
  const subA = new Subscription('alice');
  const subB = new Subscription('bob');
  const subC = new Subscription('carol');
  await new Promise((r) => setTimeout(r, 100));
  const req = (await client('alice').call('chat_request', { peer: 'bob' })) as ConversationInfo;
  conv = req.conversationId;
  assert.equal(req.state, 'requested');
  const request = await subB.until('the request at bob', () => subB.of('request', conv)[0]);
  assert.equal(request.peerId, hex('alice'));
  assert.equal(request.name, 'alice');
  await client('bob').call('chat_respond', { conversationId: conv, accept: true });
  await subA.until('accepted at alice', () => subA.of('accepted', conv)[0]);

  const N = 1_000;
  const t0 = performance.now();
  const pump = async (from: string, to: string): Promise<void> => {
    const c = client(from);
    for (let i = 1; i <= N; i++) {
      const r = (await c.call('chat_send', { conversationId: conv, text: `${MARKER} ${from}->${to} ${i}` })) as ChatSendResult;
      assert.equal(r.seq, i);
    }
  };
  await Promise.all([pump('alice', 'bob'), pump('bob', 'alice')]);
  await subB.until('1,000 at bob', () => (subB.texts(conv).length >= N ? true : undefined), BULK_TIMEOUT_MS);
  await subA.until('1,000 at alice', () => (subA.texts(conv).length >= N ? true : undefined), BULK_TIMEOUT_MS);
  await subA.until('all acked at alice', () => (subA.of('ack', conv).length >= N ? true : undefined), BULK_TIMEOUT_MS);
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(`# 2 x ${N} chat messages through the relay in ${seconds.toFixed(2)} s (${Math.round((2 * N) / seconds)} msg/s incl. one control call each)\n`);
  await new Promise((r) => setTimeout(r, 300)); // room for any duplicate to show up
  assert.deepEqual(subB.texts(conv), Array.from({ length: N }, (_, i) => `${MARKER} alice->bob ${i + 1}`));
  assert.deepEqual(subA.texts(conv), Array.from({ length: N }, (_, i) => `${MARKER} bob->alice ${i + 1}`));
  assert.deepEqual(subA.of('ack', conv).map((e) => (e as { seq: number }).seq), Array.from({ length: N }, (_, i) => i + 1), 'one tick per message, in order');
  assert.deepEqual(subC.events, [], 'carol hears nothing of it');
  assert.equal(await code(client('carol').call('chat_send', { conversationId: conv, text: 'let me in' })), 'SM_ERR_CHAT_UNKNOWN_CONVERSATION');
  assert.equal(await code(client('carol').call('chat_terminate', { conversationId: conv, reason: 'x' })), 'SM_ERR_CHAT_UNKNOWN_CONVERSATION');
  for (const s of [subA, subB, subC]) s.close();
});

test("a member's forged envelopes with A's conversation id are refused and counted at B", async () => {
  assert.ok(conv, 'needs the conversation of the previous test');
  const dave = net.member('dave');
  const node = new ShadowNode(
    { signer: dave.signer, peerId: dave.peerId, certificate: dave.certificate, verifier: new MembershipVerifier(net.ca) },
    { relay: { url: relay.url, pin: relay.pin }, direct: false },
  );
  const subB = new Subscription('bob');
  try {
    node.start();
    await waitFor('dave sees bob', async () => (node.directory.get(hex('bob')) ? true : undefined));
    const bob = net.member('bob').peerId;
    const id = Buffer.from(conv, 'hex');
    const env = (kind: number, sender: Uint8Array, seq: number, text: string): Uint8Array =>
      encodeChatEnvelope({ kind: kind as ChatKind, sender, recipient: bob, conversationId: id, seq, text });
    const before = await drops('bob');
    node.peers.sendInner(bob, InnerType.Chat, env(ChatKind.Message, dave.peerId, 1001, 'forged as dave'));
    node.peers.sendInner(bob, InnerType.Chat, env(ChatKind.Message, net.member('alice').peerId, 1001, 'forged as alice'));
    node.peers.sendInner(bob, InnerType.Chat, env(ChatKind.Terminate, dave.peerId, 0, 'forged terminate'));
    node.peers.sendInner(bob, InnerType.Chat, new Uint8Array([1, 4, 0]));
    const after = await waitFor('drops counted at bob', async () => {
      const d = await drops('bob');
      return (d['chat.wrong_peer'] ?? 0) - (before['chat.wrong_peer'] ?? 0) >= 2 && (d['chat.sender_mismatch'] ?? 0) > (before['chat.sender_mismatch'] ?? 0) && (d['chat.malformed'] ?? 0) > (before['chat.malformed'] ?? 0) ? d : undefined;
    });
    assert.ok(after);
    const list = (await client('bob').call('chat_list', {})) as ChatListResult;
    assert.equal(list.conversations.find((c) => c.conversationId === conv)?.state, 'active', 'the forged TERMINATE did nothing');
    assert.equal(list.conversations.find((c) => c.conversationId === conv)?.deliveredThrough, 1000);
    assert.deepEqual(subB.of('message'), [], 'nothing forged was delivered');
  } finally {
    subB.close();
    await node.stop();
  }
});

test('send and recv: a request C declines is reported to A; recv --accept and send deliver with an ack', async () => {
  const declined = runCliAsync(['send', 'carol', 'hello', 'carol', '--control', sock('alice')]);
  const subC = new Subscription('carol');
  const req = await subC.until('request at carol', () => subC.of('request')[0]);
  await client('carol').call('chat_respond', { conversationId: req.conversationId, accept: false, reason: 'busy right now' });
  const r = await declined;
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^shadowmesh: the chat request was declined \(busy right now\) \(SM_ERR_CHAT_DECLINED\)\n$/);
  subC.close();

  // No one listening at carol: recv --accept accepts the request waiting in her backlog.
  const sent = runCliAsync(['send', 'carol', `${MARKER} for carol`, '--json', '--control', sock('alice')]);
  await waitFor('request waiting at carol', async () => ((await client('carol').call('chat_list', {})) as ChatListResult).conversations.some((c) => c.state === 'requested') ? true : undefined);
  const recv1 = await runCliAsync(['recv', '--accept', '--control', sock('carol')]);
  assert.equal(recv1.status, 0, recv1.stderr);
  assert.match(recv1.stdout, /^\* alice asks to chat \(conversation [0-9a-f]{8}\)\n/);
  const s = await sent;
  assert.equal(s.status, 0, s.stderr);
  const res = JSON.parse(s.stdout) as ChatSendResult;
  assert.equal(res.delivered, true);
  assert.equal(res.seq, 1);
  const recv2 = await runCliAsync(['recv', '--json', '--control', sock('carol')]);
  const evs = recv2.stdout.trim().split('\n').map((l) => JSON.parse(l) as ChatEvent);
  assert.deepEqual(evs.filter((e) => e.type === 'message').map((e) => (e as { text: string }).text), [`${MARKER} for carol`]);
  const recv3 = await runCliAsync(['recv', '--control', sock('carol')]);
  assert.equal(recv3.stdout, '', 'each message is handed out once');
  // Offline and oversized are clear errors.
  const off = await runCliAsync(['send', 'nobody', 'x', '--control', sock('alice')]);
  assert.match(off.stderr, /is online at the relay; messages are not stored for later.*\(SM_ERR_CHAT_OFFLINE\)/);
  const big = await runCliAsync(['send', 'carol', 'x'.repeat(8193), '--control', sock('alice')]);
  assert.match(big.stderr, /^shadowmesh: message is 8193 bytes of UTF-8; the limit is 8192 \(SM_ERR_CHAT_TOO_LARGE\)\n$/);
});

test('terminate from either side resets both; a later message is refused with a clear status', async () => {
  for (const [ender, other] of [['alice', 'bob'], ['bob', 'alice']] as const) {
    const subO = new Subscription(other);
    const id = ((await client('alice').call('chat_send', { peer: 'bob', text: 'before', wait: true, timeoutMs: 30_000 })) as ChatSendResult).conversationId;
    await client(ender).call('chat_terminate', { peer: ender === 'alice' ? 'bob' : 'alice', reason: 'done here' });
    const t = await subO.until('termination seen by the other side', () => subO.of('terminated', id)[0]);
    assert.deepEqual({ by: (t as { by: string }).by, reason: (t as { reason: string }).reason }, { by: 'remote', reason: 'done here' });
    for (const n of ['alice', 'bob']) {
      assert.equal(await code(client(n).call('chat_send', { conversationId: id, text: 'after' })), 'SM_ERR_CHAT_TERMINATED');
      const list = (await client(n).call('chat_list', {})) as ChatListResult;
      assert.equal(list.conversations.filter((c) => c.conversationId === id).length, 0, `${n}: nothing open`);
    }
    subO.close();
    if (ender === 'alice') {
      // Open a fresh one for the reverse case; bob accepts. Bob's pending request is read from chat_list,
      // not from a new subscription, which could attach after the request event was handed out.
      const next = client('alice').call('chat_send', { peer: 'bob', text: 'again', wait: true, timeoutMs: 30_000 });
      next.catch(() => undefined); // awaited below; a rejection must not surface as unhandled before that
      const rq = await waitFor('the new request at bob', async () =>
        ((await client('bob').call('chat_list', {})) as ChatListResult).conversations.find((c) => c.state === 'requested'), 15_000);
      await client('bob').call('chat_respond', { conversationId: rq.conversationId, accept: true });
      await next;
    }
  }
});

test('relay killed and restarted mid-conversation: the conversation resumes, nothing lost or duplicated', async () => {
  const subA = new Subscription('alice');
  const subB = new Subscription('bob');
  const open = client('alice').call('chat_request', { peer: 'bob' }) as Promise<ConversationInfo>;
  const rq = await subB.until('request', () => subB.of('request').at(-1));
  await client('bob').call('chat_respond', { conversationId: rq.conversationId, accept: true });
  const id = (await open).conversationId;
  await subA.until('accepted', () => subA.of('accepted', id)[0]);
  const N = 300;
  for (let i = 1; i <= 100; i++) await client('alice').call('chat_send', { conversationId: id, text: `r ${i}` });
  await relay.stop();
  // Sent while the relay is down: queued in the daemon, retried after the restart.
  for (let i = 101; i <= 200; i++) await client('alice').call('chat_send', { conversationId: id, text: `r ${i}` });
  relay = await startRelay(join(work, 'tap-2.bin'));
  // Re-admitted first (the member list from before the restart is cleared at re-admission and re-sent), then bob listed again.
  await waitFor('alice back at the relay with bob listed', async () => {
    const st = (await client('alice').status()) as StatusResult;
    if (!st.relay.connected || st.relay.reconnects < 1) return undefined;
    return ((await client('alice').call('users', {})) as UsersResult).users.some((u) => u.name === 'bob') ? true : undefined;
  }, 30_000);
  for (let i = 201; i <= N; i++) await client('alice').call('chat_send', { conversationId: id, text: `r ${i}` });
  await subB.until('all at bob', () => (subB.texts(id).length >= N ? true : undefined), 60_000);
  await subA.until('all acked', () => (subA.of('ack', id).at(-1) as { seq: number } | undefined)?.seq === N ? true : undefined, 60_000);
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(subB.texts(id), Array.from({ length: N }, (_, i) => `r ${i + 1}`));
  const st = (await client('alice').status()) as StatusResult;
  assert.ok(st.relay.reconnects >= 1, 'the daemon really reconnected');
  subA.close();
  subB.close();
});

test('the relay saw the traffic but never the message content', async () => {
  const seen = Buffer.concat([await readFile(join(work, 'tap-1.bin')), await readFile(join(work, 'tap-2.bin'))]);
  assert.ok(seen.includes(Buffer.from('alice')), 'positive control: the tap records what the relay receives (certificates name members)');
  assert.ok(seen.length > 2_000 * MARKER.length, 'the tap captured the chat frames');
  assert.ok(!seen.includes(Buffer.from(MARKER)), 'no message text reaches the relay');
  assert.ok(!seen.includes(Buffer.from(conv, 'hex')), 'no conversation id reaches the relay');
});
