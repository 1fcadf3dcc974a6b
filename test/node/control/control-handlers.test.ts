import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromHex, sha256, toHex } from '../../../src/crypto/bytes.js';
import { SmError } from '../../../src/errors.js';
import { ChatCode } from '../../../src/messaging/messaging-errors.js';
import type { ChatEvent, ConversationInfo } from '../../../src/messaging/chat-service.js';
import {
  NodeControlHandlers,
  type ControlChatService,
  type ControlMember,
  type ControlPathInfo,
  type ControlPeerInfo,
  type NodeControlSource,
} from '../../../src/node/control/control-handlers.js';
import { parseNetcheckParams, type PingProgress } from '../../../src/node/control/control-protocol.js';
import { ControlCode } from '../../../src/node/control/control-errors.js';
import { FakeClock } from '../../../testkit/fake-clock.js';
import { certExpiry } from '../../../src/identity/cert-expiry.js';
import { rejectsWithCode, throwsWithCode } from '../../../testkit/expect-code.js';

const ALICE = 'a1'.repeat(32);
// bob and bobby share the id prefix b0b0: four digits name neither.
const BOB = 'b0b0b0' + '11'.repeat(29);
const BOBBY = 'b0b0c0' + '22'.repeat(29);
const CAROL = 'ca'.repeat(32);
const STRANGER = '5e'.repeat(32);

function member(hex: string, name: string, cidrs: string[], onlineSinceMs = 1_000): ControlMember {
  return { peerId: fromHex(hex), hex, name, addresses: cidrs.map((text) => ({ text })), onlineSinceMs, cert: { publicKey: new Uint8Array([hex.charCodeAt(0), 1, 2, 3]), groups: name === 'bob' ? ['web', 'ops'] : [], notAfterMs: 2_000_000_000_000 } };
}

function peer(hex: string, over: Partial<ControlPeerInfo> = {}): ControlPeerInfo {
  return {
    peerId: hex, name: null, established: true,
    stats: { sessionStartedAtMs: null, lastHandshakeAtMs: null, framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0 },
    drops: {}, ...over,
  };
}

function conversation(id: string, peerHex: string): ConversationInfo {
  return { conversationId: id, peerId: peerHex, name: null, state: 'active', role: 'initiator', unacked: 0, ackedThrough: 0, deliveredThrough: 0, reason: null };
}

/** A chat service that records what it was asked and opens nothing on its own. */
function fakeChat(): ControlChatService & { calls: string[]; open: Map<string, ConversationInfo> } {
  const open = new Map<string, ConversationInfo>();
  const calls: string[] = [];
  return {
    calls, open, drops: {},
    request(peerHex) { calls.push(`request ${peerHex}`); const c = conversation(`c-${peerHex.slice(0, 4)}`, peerHex); open.set(peerHex, c); return c; },
    openWith: (peerHex) => open.get(peerHex),
    respond(id, accept) { calls.push(`respond ${id} ${accept}`); return conversation(id, BOB); },
    send(id, text) { calls.push(`send ${id} ${text}`); return { seq: 7 }; },
    terminate(id, reason) { calls.push(`terminate ${id} ${reason}`); return conversation(id, BOB); },
    conversation: (id) => conversation(id, BOB),
    list: () => [...open.values()],
    waitAccepted: async () => undefined,
    waitDelivered: async () => undefined,
  };
}

interface Fake extends NodeControlSource {
  clock: FakeClock;
  members: ControlMember[];
  online: Set<string>;
  peersHeld: ControlPeerInfo[];
  pathInfos: Map<string, ControlPathInfo>;
  revoked: Set<string>;
  pinged: string[];
  pingAnswers: Array<number | Error>;
  inbox: ChatEvent[];
  subscribers: number;
  maxSubscribers: number;
  chat: ReturnType<typeof fakeChat>;
  startedAt: number;
  dev: { kind: 'tap' | 'tun'; name: string; mtu: number } | null;
  dp: { stats: { drops: Record<string, number> } } | null;
  stopRequests: number;
  linkState: { established: { observedAddress: string; observedPort: number } | null; stats: { connects: number; reconnects: number; drops: Record<string, number> } };
}

function fakeSource(): Fake {
  const clock = new FakeClock(50_000);
  const members = [member(BOB, 'bob', ['10.1.0.3/24']), member(BOBBY, 'bobby', ['10.1.0.4/24', 'fd00::4/64']), member(CAROL, 'carol', ['10.1.0.5/24'])];
  const byHex = (id: Uint8Array | string): ControlMember | undefined => {
    const hex = typeof id === 'string' ? id : toHex(id);
    return f.members.find((m) => m.hex === hex);
  };
  const chat = fakeChat();
  const f: Fake = {
    clock, members, online: new Set([BOB, BOBBY, CAROL]), peersHeld: [], pathInfos: new Map(), revoked: new Set(),
    pinged: [], pingAnswers: [], inbox: [], subscribers: 0, maxSubscribers: 1, chat, startedAt: 0, dev: null, dp: null, stopRequests: 0,
    linkState: { established: null, stats: { connects: 0, reconnects: 0, drops: {} } },
    self: { peerId: fromHex(ALICE), name: 'alice', addresses: ['10.1.0.2/24'], groups: ['admin'], notAfterMs: 1_900_000_000_000 },
    relayUrl: 'wss://relay.example:7443/',
    startedAtMs: () => f.startedAt,
    device: () => f.dev,
    get link() { return f.linkState; },
    udp: null,
    sessions: { drops: {} },
    peerList: () => f.peersHeld,
    directory: {
      get: byHex,
      isOnline: (hex) => f.online.has(hex),
      list: () => f.members,
      byAddress: (addr) => f.members.find((m) => m.addresses.some((a) => a.text.startsWith(addr.length === 4 ? `${addr.join('.')}/` : '\0'))),
    },
    paths: { stats: { drops: {} }, pathInfo: (id) => f.pathInfos.get(toHex(id)) ?? null },
    pinger: {
      drops: {},
      async ping(peerId) {
        f.pinged.push(toHex(peerId));
        const a = f.pingAnswers.shift() ?? new SmError('SM_ERR_PING_TIMEOUT', 'no pong');
        if (a instanceof Error) throw a;
        return { rttMs: a };
      },
    },
    chatService: chat,
    chatInbox: {
      drops: {},
      drain: (fn) => { const n = f.inbox.length; for (const e of f.inbox.splice(0)) fn(e); return n; },
      subscribe: (fn, backlog) => {
        if (f.subscribers >= f.maxSubscribers) return null;
        f.subscribers++;
        if (backlog) for (const e of f.inbox.splice(0)) fn(e);
        return () => { f.subscribers--; };
      },
    },
    dataplane: () => f.dp,
    isRevoked: (hex) => f.revoked.has(hex),
    requestStop: () => { f.stopRequests++; },
  };
  return f;
}

const never = new AbortController().signal;

/** Runs a ping to the end, moving the fake clock past each interval as the loop waits. */
async function runPing(f: Fake, h: NodeControlHandlers, peer: string, count: number, intervalMs = 1_000, signal = never): Promise<{ result: Awaited<ReturnType<NodeControlHandlers['ping']>>; progress: PingProgress[] }> {
  const progress: PingProgress[] = [];
  let done = false;
  const p = h.ping({ peer, count, intervalMs }, (x) => progress.push(x), signal).finally(() => { done = true; });
  for (let i = 0; i < count * 4 && !done; i++) {
    await new Promise((r) => setImmediate(r));
    f.clock.advance(intervalMs);
  }
  return { result: await p, progress };
}

test('status reads every field from its source: identity, device, relay link, UDP, uptime, peer count', () => {
  const f = fakeSource();
  const h = new NodeControlHandlers(f);
  f.startedAt = 50_000;
  f.clock.advance(1_234);
  let s = h.status();
  assert.deepEqual(s, {
    peerId: ALICE, name: 'alice', addresses: ['10.1.0.2/24'], device: null,
    relay: { url: 'wss://relay.example:7443/', connected: false, observedAddress: null, observedPort: null, connects: 0, reconnects: 0,
      switches: 0, relays: [{ url: 'wss://relay.example:7443/', state: 'unknown', rttMs: null, failures: 0, lastError: null }] },
    udp: null, uptimeMs: 1_234, peers: 0, drops: {}, certificates: {}, policyVersion: null, policyRefused: {},
  });
  assert.notEqual(s.addresses, f.self.addresses, 'the addresses are a copy, not the source\'s array');

  // What changes after construction shows on the next request.
  f.dev = { kind: 'tap', name: 'sm0', mtu: 1400 };
  f.linkState = { established: { observedAddress: '198.51.100.7', observedPort: 40_001 }, stats: { connects: 3, reconnects: 2, drops: {} } };
  (f as { udp: NodeControlSource['udp'] }).udp = { port: 41_641, natMapping: 'endpoint-dependent', reflexive: [{ address: '203.0.113.9', port: 5000 }, { address: '2001:db8::9', port: 6000 }], stats: { drops: {} } };
  f.peersHeld = [peer(BOB), peer(CAROL, { established: false })];
  s = h.status();
  assert.deepEqual(s.device, { kind: 'tap', name: 'sm0', mtu: 1400 });
  assert.deepEqual(s.relay, { url: 'wss://relay.example:7443/', connected: true, observedAddress: '198.51.100.7', observedPort: 40_001, connects: 3, reconnects: 2,
    switches: 0, relays: [{ url: 'wss://relay.example:7443/', state: 'current', rttMs: null, failures: 0, lastError: null }] });
  assert.deepEqual(s.udp, { port: 41_641, nat: 'endpoint-dependent', reflexive: ['203.0.113.9:5000', '[2001:db8::9]:6000'] });
  assert.equal(s.peers, 2, 'every entry of the session table counts, established or not');

  // A clock behind the start time never gives a negative uptime.
  f.startedAt = f.clock.now() + 10_000;
  assert.equal(h.status().uptimeMs, 0);
});

test('status certificates: the source\'s expiry decisions keyed by certificate, read at each request', () => {
  const f = fakeSource();
  let now = 0;
  (f as { certificates?: NodeControlSource['certificates'] }).certificates = () => [certExpiry('member', f.clock.now() + 10 * 86_400_000 - now, f.clock.now()), certExpiry('ca', f.clock.now() + 3650 * 86_400_000, f.clock.now())];
  const h = new NodeControlHandlers(f);
  let s = h.status();
  assert.deepEqual(Object.keys(s.certificates), ['member', 'ca']);
  assert.equal(s.certificates['member']!.state, 'expiring');
  assert.equal(s.certificates['ca']!.state, 'ok');
  now = 11 * 86_400_000;
  s = h.status();
  assert.equal(s.certificates['member']!.state, 'expired');
});

test('status drops: each component under its prefix, zeros left out, chat service and inbox summed, data plane only with one', () => {
  const f = fakeSource();
  f.linkState.stats.drops = { bad_frame: 2, oversize: 0 };
  (f as { sessions: NodeControlSource['sessions'] }).sessions = { drops: { unknown_index: 5 } };
  (f.pinger as { drops: Record<string, number> }).drops = { unsolicited: 1 };
  (f.paths as { stats: { drops: Record<string, number> } }).stats = { drops: { probe_auth: 4 } };
  (f.chatService as { drops: Record<string, number> }).drops = { malformed: 1, inbox_full: 2 };
  (f.chatInbox as { drops: Record<string, number> }).drops = { backlog_full: 3, inbox_full: 1 };
  const h = new NodeControlHandlers(f);
  assert.deepEqual(h.status().drops, {
    'link.bad_frame': 2, 'peers.unknown_index': 5, 'ping.unsolicited': 1, 'paths.probe_auth': 4,
    'chat.malformed': 1, 'chat.inbox_full': 3, 'chat.backlog_full': 3,
  });
  (f as { udp: NodeControlSource['udp'] }).udp = { port: 1, natMapping: 'unknown', reflexive: [], stats: { drops: { bad_mac: 6 } } };
  f.dp = { stats: { drops: { spoofed_source: 9 } } };
  const drops = h.status().drops;
  assert.equal(drops['udp.bad_mac'], 6);
  assert.equal(drops['dataplane.spoofed_source'], 9);
  assert.deepEqual(Object.keys(drops), ['link.bad_frame', 'peers.unknown_index', 'ping.unsolicited', 'paths.probe_auth', 'udp.bad_mac', 'chat.malformed', 'chat.inbox_full', 'chat.backlog_full', 'dataplane.spoofed_source'], 'the order the status has always had');
});

test('shutdown names this node and its process, and asks the daemon to stop only once the answer is written', () => {
  const f = fakeSource();
  const h = new NodeControlHandlers(f);
  assert.deepEqual(h.shutdown(), { name: 'alice', peerId: ALICE, pid: process.pid });
  assert.equal(f.stopRequests, 0);
  h.shutdownAnswered();
  assert.equal(f.stopRequests, 1);
});

test('web: the console URL and its login link with the token; without a console SM_ERR_CONTROL_NO_WEB', () => {
  const f = fakeSource();
  const h = new NodeControlHandlers(f);
  throwsWithCode(() => h.web(), 'SM_ERR_CONTROL_NO_WEB');
  const withWeb = new NodeControlHandlers({ ...f, web: () => ({ url: 'http://127.0.0.1:9470/', token: 'a-b_c' }) } as never);
  assert.deepEqual(withWeb.web(), { url: 'http://127.0.0.1:9470/', link: 'http://127.0.0.1:9470/?token=a-b_c' });
  const stopped = new NodeControlHandlers({ ...f, web: () => null } as never);
  throwsWithCode(() => stopped.web(), 'SM_ERR_CONTROL_NO_WEB');
});

test('peers: session entries with their directory names, paths and ages, then directory-only members; revoked ones are not listed; sorted by name', () => {
  const f = fakeSource();
  f.startedAt = 0;
  const now = f.clock.now();
  f.online.delete(CAROL);
  f.peersHeld = [
    peer(CAROL, { stats: { sessionStartedAtMs: now - 9_000, lastHandshakeAtMs: now - 2_000, framesIn: 1, framesOut: 2, bytesIn: 3, bytesOut: 4 }, drops: { replay: 2, auth_failed: 0 } }),
    peer(STRANGER, { name: 'zed', established: false }),
    peer(BOBBY),
  ];
  f.revoked.add(BOBBY);
  f.pathInfos.set(CAROL, { path: 'direct', carrier: 'udp', remote: '192.0.2.5:41641', rttMs: 1.5, migrations: { to_direct: 2, to_relay: 1 }, fallbacks: 1, migrationMs: 12, mirroring: true, directs: [{ carrier: 'udp', remote: '192.0.2.5:41641', rttMs: 1.5, selected: true }, { carrier: 'wss', remote: '192.0.2.5:443', rttMs: 2, selected: false }] });
  const h = new NodeControlHandlers(f);
  const { peers } = h.peers();
  assert.deepEqual(peers.map((p) => p.name), ['bob', 'carol', 'zed'], 'bobby is revoked: neither his session nor his directory entry is listed');
  const [bob, carol, zed] = peers;
  assert.deepEqual(carol, {
    peerId: CAROL, name: 'carol', addresses: ['10.1.0.5/24'], online: false,
    path: 'direct', carrier: 'udp', remote: '192.0.2.5:41641', rttMs: 1.5, migrations: { to_direct: 2, to_relay: 1 }, fallbacks: 1, migrationMs: 12, mirroring: true,
    directs: [{ carrier: 'udp', remote: '192.0.2.5:41641', rttMs: 1.5, selected: true }, { carrier: 'wss', remote: '192.0.2.5:443', rttMs: 2, selected: false }],
    session: { established: true, ageMs: 9_000, lastHandshakeAgoMs: 2_000 },
    stats: { framesIn: 1, framesOut: 2, bytesIn: 3, bytesOut: 4 },
    drops: { replay: 2 },
  });
  assert.deepEqual(bob, {
    peerId: BOB, name: 'bob', addresses: ['10.1.0.3/24'], online: true,
    path: 'relay', carrier: 'relay', remote: 'relay', rttMs: null, migrations: { to_direct: 0, to_relay: 0 }, fallbacks: 0, migrationMs: null, mirroring: false, directs: [],
    session: { established: false, ageMs: null, lastHandshakeAgoMs: null },
    stats: { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0 },
    drops: {},
  });
  assert.equal(zed!.online, false, 'a peer outside the directory is never online');
  assert.deepEqual(zed!.addresses, []);
  assert.equal(zed!.session.established, false);
});

test('the peer selector: a name, a unique id prefix, a mesh address with or without its prefix length, a full id', async () => {
  const f = fakeSource();
  const h = new NodeControlHandlers(f);
  for (const [selector, hex] of [['bob', BOB], ['  bobby ', BOBBY], ['B0B0B', BOB], ['b0b0c', BOBBY], ['10.1.0.5', CAROL], ['10.1.0.4/24', BOBBY], [CAROL.toUpperCase(), CAROL]] as const) {
    f.pingAnswers.push(1);
    const { result } = await runPing(f, h, selector, 1);
    assert.equal(result.peer.peerId, hex, `selector ${JSON.stringify(selector)}`);
  }
  assert.deepEqual(f.pinged, [BOB, BOBBY, BOB, BOBBY, CAROL, BOBBY, CAROL], 'the pinger was asked for the member the selector named');

  // A full id needs no directory entry: the ping goes out all the same.
  f.pingAnswers.push(2);
  const { result } = await runPing(f, h, STRANGER, 1);
  assert.deepEqual(result.peer, { peerId: STRANGER, name: null, addresses: [] });
});

test('the peer selector refuses an ambiguous prefix, an unknown name or address, and this node itself, with their codes', async () => {
  const f = fakeSource();
  const h = new NodeControlHandlers(f);
  await rejectsWithCode(() => h.ping({ peer: 'b0b0', count: 1, intervalMs: 10 }, () => undefined, never), ControlCode.UNKNOWN_PEER, /prefix b0b0 is ambiguous \(2 members\)/);
  await rejectsWithCode(() => h.ping({ peer: 'dave', count: 1, intervalMs: 10 }, () => undefined, never), ControlCode.UNKNOWN_PEER, /no known member matches "dave"/);
  await rejectsWithCode(() => h.ping({ peer: '10.9.9.9', count: 1, intervalMs: 10 }, () => undefined, never), ControlCode.UNKNOWN_PEER);
  await rejectsWithCode(() => h.ping({ peer: 'b0b', count: 1, intervalMs: 10 }, () => undefined, never), ControlCode.UNKNOWN_PEER, undefined);
  await rejectsWithCode(() => h.ping({ peer: ALICE, count: 1, intervalMs: 10 }, () => undefined, never), ControlCode.PARAMS, /this node itself/);
  assert.deepEqual(f.pinged, [], 'nothing was pinged');
});

test('ping: replies with the path in use, losses with their coded error, a summary; the interval runs on the source clock', async () => {
  const f = fakeSource();
  const h = new NodeControlHandlers(f);
  f.pingAnswers.push(1.2346, new SmError('SM_ERR_PING_TIMEOUT', 'no pong within 5000 ms'), 2.765);
  f.pathInfos.set(BOB, { path: 'direct', carrier: 'wss', remote: '192.0.2.3:443', rttMs: 1, migrations: { to_direct: 1, to_relay: 0 }, fallbacks: 0, migrationMs: 3, mirroring: false });
  const t0 = f.clock.now();
  const { result, progress } = await runPing(f, h, 'bob', 3, 1_000);
  assert.deepEqual(result, {
    peer: { peerId: BOB, name: 'bob', addresses: ['10.1.0.3/24'] },
    replies: [{ seq: 1, rttMs: 1.235, path: 'direct' }, { seq: 3, rttMs: 2.765, path: 'direct' }],
    lost: [{ seq: 2, error: { code: 'SM_ERR_PING_TIMEOUT', message: 'no pong within 5000 ms' } }],
    summary: { sent: 3, received: 2, lossPercent: 33.333, minMs: 1.235, avgMs: 2, maxMs: 2.765 },
  });
  assert.deepEqual(progress.map((p) => p.seq), [1, 2, 3]);
  assert.ok(f.clock.now() - t0 >= 2_000, 'three pings 1 s apart wait two intervals on the source clock');
  assert.equal(f.clock.pendingCount, 0, 'no timer left behind');
});

test('ping sends on its schedule as ping(8) does: an unanswered ping holds back neither the next ones nor their replies', async () => {
  const f = fakeSource();
  const h = new NodeControlHandlers(f);
  // Ping 1 waits 5 s for a pong that never comes (the pinger's timeout, on the source clock); 2..4 are answered at once.
  const sentAt: number[] = [];
  f.pinger.ping = (peerId) => {
    f.pinged.push(toHex(peerId));
    sentAt.push(f.clock.now());
    if (sentAt.length > 1) return Promise.resolve({ rttMs: 1 });
    return new Promise((_resolve, reject) => f.clock.schedule(5_000, () => reject(new SmError('SM_ERR_PING_TIMEOUT', 'no pong within 5000 ms'))));
  };
  const t0 = f.clock.now();
  const progress: PingProgress[] = [];
  let done = false;
  const p = h.ping({ peer: 'bob', count: 4, intervalMs: 100 }, (x) => progress.push(x), never).finally(() => { done = true; });
  for (let i = 0; i < 200 && !done; i++) { await new Promise((r) => setImmediate(r)); f.clock.advance(100); }
  const r = await p;
  assert.deepEqual(sentAt.map((t) => t - t0), [0, 100, 200, 300], 'one ping per interval, not one per timeout');
  assert.deepEqual(progress.map((x) => x.seq), [2, 3, 4, 1], 'replies reported as they arrive');
  assert.deepEqual(r.replies.map((x) => x.seq), [2, 3, 4]);
  assert.deepEqual(r.lost.map((x) => [x.seq, x.error.code]), [[1, 'SM_ERR_PING_TIMEOUT']], 'the result waits for the late one and lists it in order');
  assert.equal(r.summary.sent, 4);
  assert.equal(f.clock.pendingCount, 0, 'no timer left behind');
});

test('ping stops when its request is aborted', async () => {
  const f = fakeSource();
  const h = new NodeControlHandlers(f);
  f.pingAnswers.push(1, 1, 1, 1, 1);
  const ac = new AbortController();
  const progress: PingProgress[] = [];
  const p = h.ping({ peer: 'carol', count: 5, intervalMs: 1_000 }, (x) => { progress.push(x); if (x.seq === 2) ac.abort(); }, ac.signal);
  for (let i = 0; i < 3; i++) { await new Promise((r) => setImmediate(r)); f.clock.advance(1_000); }
  const r = await p;
  assert.equal(r.summary.sent, 2);
  assert.equal(f.pinged.length, 2);
  assert.equal(f.clock.pendingCount, 0, 'the interval timer was cancelled');
});

test('users: the directory\'s members sorted by name, with key fingerprints, full keys only when asked; self from the source', () => {
  const f = fakeSource();
  f.members = [member(CAROL, 'carol', ['10.1.0.5/24'], 3), member(BOB, 'bob', [], 2)];
  const h = new NodeControlHandlers(f);
  const r = h.chat.users({ keys: false });
  assert.deepEqual(r.self, { peerId: ALICE, name: 'alice' });
  assert.deepEqual(r.users.map((u) => u.name), ['bob', 'carol']);
  assert.deepEqual(r.users[1], { peerId: CAROL, name: 'carol', addresses: ['10.1.0.5/24'], groups: [], onlineSinceMs: 3, publicKeySha256: toHex(sha256(f.members[0]!.cert.publicKey)) });
  const withKeys = h.chat.users({ keys: true });
  assert.equal(withKeys.users[0]!.publicKey, Buffer.from(f.members[1]!.cert.publicKey).toString('base64'));
});

test('chat to an unknown member is OFFLINE, not UNKNOWN_PEER, and opens nothing; an oversized text is refused first', async () => {
  const f = fakeSource();
  const h = new NodeControlHandlers(f);
  await rejectsWithCode(() => h.chat.send({ peer: 'dave', text: 'hi', wait: false, timeoutMs: 1_000 }, never), ChatCode.OFFLINE, /"dave"/);
  await rejectsWithCode(() => h.chat.request({ peer: 'b0b0', wait: false, timeoutMs: 1_000 }, never), ChatCode.OFFLINE);
  throwsWithCode(() => h.chat.terminate({ peer: 'dave', reason: 'bye' }), ChatCode.OFFLINE);
  await rejectsWithCode(() => h.chat.send({ peer: 'bob', text: 'x'.repeat(100_000), wait: false, timeoutMs: 1_000 }, never), ChatCode.TOO_LARGE);
  assert.deepEqual(f.chat.calls, [], 'no conversation was requested');
});

test('chat send opens a conversation with the named member once and reuses it; terminate by peer needs an open one', async () => {
  const f = fakeSource();
  const h = new NodeControlHandlers(f);
  throwsWithCode(() => h.chat.terminate({ peer: 'bob', reason: 'bye' }), ChatCode.UNKNOWN_CONVERSATION);
  const first = await h.chat.send({ peer: 'bob', text: 'one', wait: false, timeoutMs: 1_000 }, never);
  assert.deepEqual({ id: first.conversationId, seq: first.seq, delivered: first.delivered }, { id: 'c-b0b0', seq: 7, delivered: false });
  const second = await h.chat.send({ peer: 'b0b0b', text: 'two', wait: true, timeoutMs: 1_000 }, never);
  assert.equal(second.delivered, true);
  h.chat.terminate({ peer: 'bob', reason: 'bye' });
  assert.deepEqual(f.chat.calls, [`request ${BOB}`, 'send c-b0b0 one', 'send c-b0b0 two', 'terminate c-b0b0 bye']);
  assert.deepEqual(h.chat.list(), { conversations: [f.chat.open.get(BOB)] });
});

test('chat events: drained from the inbox without follow; followed until the request ends; BUSY past the subscriber bound', async () => {
  const f = fakeSource();
  const h = new NodeControlHandlers(f);
  const ev = (seq: number): ChatEvent => ({ type: 'message', seq, text: `m${seq}`, conversationId: 'c', peerId: BOB, name: 'bob', atMs: seq });
  f.inbox.push(ev(1), ev(2));
  assert.deepEqual(await h.chat.events({ follow: false }, () => undefined, never), { events: [ev(1), ev(2)] });
  assert.equal(f.inbox.length, 0, 'the inbox was drained');

  f.inbox.push(ev(3));
  const ac = new AbortController();
  const streamed: ChatEvent[] = [];
  const following = h.chat.events({ follow: true }, (e) => streamed.push(e), ac.signal);
  assert.deepEqual(streamed, [ev(3)], 'the backlog is streamed first');
  assert.equal(f.subscribers, 1);
  await rejectsWithCode(() => h.chat.events({ follow: true }, () => undefined, never), ChatCode.BUSY);
  ac.abort();
  assert.deepEqual(await following, { events: [] });
  assert.equal(f.subscribers, 0, 'unsubscribed when the request ended');
});

test('whois: a member by address (with or without prefix), name or full id, with groups, certificate expiry, online and path; this node itself', () => {
  const f = fakeSource();
  const h = new NodeControlHandlers(f);
  f.online.delete(CAROL);
  f.pathInfos.set(BOB, { path: 'direct', carrier: 'udp', remote: '192.0.2.7:41641', rttMs: 1.5, migrations: { to_direct: 1, to_relay: 0 }, fallbacks: 0, migrationMs: 3, mirroring: false });
  const bob = {
    self: false, name: 'bob', peerId: BOB, addresses: ['10.1.0.3/24'], groups: ['web', 'ops'],
    certExpires: new Date(2_000_000_000_000).toISOString(), certExpiresMs: 2_000_000_000_000, online: true, path: 'direct', carrier: 'udp', remote: '192.0.2.7:41641',
  };
  assert.deepEqual(h.whois({ target: '10.1.0.3' }), bob);
  assert.deepEqual(h.whois({ target: '10.1.0.3/24' }), bob);
  assert.deepEqual(h.whois({ target: 'bob' }), bob);
  assert.deepEqual(h.whois({ target: BOB.toUpperCase() }), bob);
  const carol = h.whois({ target: 'carol' });
  assert.equal(carol.online, false);
  assert.equal(carol.path, 'relay');
  const self = {
    self: true, name: 'alice', peerId: ALICE, addresses: ['10.1.0.2/24'], groups: ['admin'],
    certExpires: new Date(1_900_000_000_000).toISOString(), certExpiresMs: 1_900_000_000_000, online: true, path: null, carrier: null, remote: null,
  };
  assert.deepEqual(h.whois({ target: 'alice' }), self);
  assert.deepEqual(h.whois({ target: '10.1.0.2' }), self);
  assert.deepEqual(h.whois({ target: ALICE }), self);
});

test('whois: an address no one holds is UNKNOWN_ADDRESS, an unknown name or id UNKNOWN_NAME; a revoked member is unknown', () => {
  const f = fakeSource();
  const h = new NodeControlHandlers(f);
  assert.throws(() => h.whois({ target: '10.1.0.99' }), { code: ControlCode.UNKNOWN_ADDRESS });
  assert.throws(() => h.whois({ target: 'fd00::99' }), { code: ControlCode.UNKNOWN_ADDRESS });
  assert.throws(() => h.whois({ target: 'mallory' }), { code: ControlCode.UNKNOWN_NAME });
  assert.throws(() => h.whois({ target: STRANGER }), { code: ControlCode.UNKNOWN_NAME });
  f.revoked.add(BOB);
  assert.throws(() => h.whois({ target: 'bob' }), { code: ControlCode.UNKNOWN_NAME });
  assert.throws(() => h.whois({ target: '10.1.0.3' }), { code: ControlCode.UNKNOWN_ADDRESS });
});

test('netcheck: the source\'s runner answers (fresh passed on only when true); a daemon without one says the method is unknown; params are checked', async () => {
  const f = fakeSource();
  assert.throws(() => new NodeControlHandlers(f).netcheck({}), (e: unknown) => (e as SmError).code === ControlCode.METHOD);
  const asked: Array<{ fresh?: boolean }> = [];
  const run = { udp: false, localPort: 0, stun: [], reflexive: [], mapping: 'unknown' as const, filtering: 'unknown' as const, filteringNote: '', relays: [{ url: 'wss://relay.example:7443', ok: true as const, latencyMs: 7 }], preferredRelay: 'wss://relay.example:7443', measuredAtMs: 1, cached: false };
  const h = new NodeControlHandlers({ ...f, netcheck: { run: async (o) => { asked.push(o); return run; } } });
  assert.deepEqual(await h.netcheck({}), run);
  await h.netcheck({ fresh: true });
  await h.netcheck({ fresh: false });
  assert.deepEqual(asked, [{}, { fresh: true }, {}]);
  assert.deepEqual(parseNetcheckParams({ fresh: true }), { fresh: true });
  assert.deepEqual(parseNetcheckParams({}), {});
  throwsWithCode(() => parseNetcheckParams({ fresh: 'yes' }), ControlCode.PARAMS);
  throwsWithCode(() => parseNetcheckParams({ target: 'x' }), ControlCode.PARAMS);
});

test('subnet routes: whois of an address inside a member\'s certified route names that member and lists its routes; peers shows them; status has a routes line only with routes on', () => {
  const f = fakeSource();
  const gw: ControlMember = { ...member(CAROL, 'carol', ['10.1.0.5/24']), cert: { publicKey: new Uint8Array([1]), groups: [], notAfterMs: 2_000_000_000_000, routes: ['192.168.50.0/24'] } };
  f.members[2] = gw;
  (f.directory as { byRoute?: (addr: Uint8Array) => ControlMember | undefined }).byRoute = (addr) => (addr.length === 4 && addr[0] === 192 && addr[1] === 168 && addr[2] === 50 ? gw : undefined);
  const h = new NodeControlHandlers(f);
  const w = h.whois({ target: '192.168.50.10' });
  assert.equal(w.name, 'carol');
  assert.deepEqual(w.routes, ['192.168.50.0/24']);
  assert.equal(h.whois({ target: 'bob' }).routes, undefined);
  assert.deepEqual(h.peers().peers.find((p) => p.name === 'carol')?.routes, ['192.168.50.0/24']);
  assert.equal(h.status().routes, undefined);
  f.subnetRoutes = () => ({ advertised: ['192.168.60.0/24'], options: { accept: true, snat: true }, accepted: () => [{ route: '192.168.50.0/24', peer: CAROL, name: 'carol' }], installFailures: 0 });
  assert.deepEqual(h.status().routes, { advertised: ['192.168.60.0/24'], accepting: true, snat: true, accepted: [{ route: '192.168.50.0/24', peer: CAROL, name: 'carol' }], installFailures: 0 });
});
