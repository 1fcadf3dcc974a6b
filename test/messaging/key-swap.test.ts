/**
 * A relay that swaps a member's public key is detected (issue 6).
 *
 * A member's public identity reaches a node only as the CA-signed member
 * certificate the relay pushes in PEER_UP (RelayLink 'peer_up'), which the
 * node's Directory verifies. Here a real ShadowNode (not connected: its
 * RelayLink's 'peer_up' event is raised with what a malicious relay would
 * send) is fed certificates for "alice" carrying a key the relay chose:
 *   - alice's certificate with the key bytes replaced (peer id kept);
 *   - the same, re-encoded with the peer id of the new key (name, addresses
 *     and validity kept, the old CA signature left on it);
 *   - a certificate correctly signed by ANOTHER CA of the same name for
 *     "alice" with the relay's key, as is and with its caId rewritten to ours.
 * Each is refused and counted; the directory and the daemon's `users` view
 * of it keep alice's real key. A chat request to the relay's key is OFFLINE,
 * and a chat request to alice whose handshake the relay answers with its own
 * key and one of those certificates never establishes a session and never
 * carries a chat envelope; the same flow with the real alice succeeds (the
 * control that shows the harness would notice a broken check).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sha256, toHex } from '../../src/crypto/bytes.js';
import { HybridSigner } from '../../src/crypto/hybrid-sign.js';
import { issueMemberCertificate, type MemberCertificate } from '../../src/identity/certificate.js';
import { peerIdFromPublicKey } from '../../src/identity/peer-id.js';
import { ChatInbox } from '../../src/messaging/chat-inbox.js';
import { ChatCode } from '../../src/messaging/messaging-errors.js';
import { ChatService, type ChatEvent } from '../../src/messaging/chat-service.js';
import type { DirectoryEntry } from '../../src/node/directory.js';
import { ShadowNode } from '../../src/node/node.js';
import { PeerManager } from '../../src/node/session/peer-manager.js';
import { FakeClock } from '../../testkit/fake-clock.js';
import { MemoryRelay } from '../../testkit/memory-relay.js';
import { FIXTURE_EPOCH_MS, fixtureNetwork, type FixtureMember } from '../../testkit/member-fixture.js';
import { InnerType } from '../../src/wire/constants.js';

const net = fixtureNetwork({ name: 'test network' });
const other = fixtureNetwork({ name: 'test network' }); // another CA key, same CA name
const self = net.member('self', '10.10.10.1/24');
const alice = net.member('alice', '10.10.10.3/24');
/** The key the relay would like everyone to use for alice. */
const relayKey = HybridSigner.generate();

const KEY_OFFSET = 100; // certificate.ts: peerId at 68 (32 bytes), public key at 100
const PEER_ID_OFFSET = 68;
const CA_ID_OFFSET = 20;

/** alice's certificate with the relay's key in place of hers; the peer id too when `reencode`. */
function swappedKey(reencode: boolean): Uint8Array {
  const bytes = Uint8Array.from(alice.cert.raw);
  assert.deepEqual(bytes.subarray(KEY_OFFSET, KEY_OFFSET + alice.signer.publicKey.length), alice.signer.publicKey, 'key field located');
  bytes.set(relayKey.publicKey, KEY_OFFSET);
  if (reencode) bytes.set(peerIdFromPublicKey(relayKey.publicKey), PEER_ID_OFFSET);
  return bytes;
}

/** "alice" with the relay's key, correctly signed by the other CA. */
const otherCaAlice: MemberCertificate = issueMemberCertificate(other.caSigner, other.ca, {
  name: 'alice',
  addresses: ['10.10.10.3/24'],
  publicKey: relayKey.publicKey,
  notBeforeMs: alice.cert.notBeforeMs + 1_000, // "newer" than hers, so only the CA check can stop it
  notAfterMs: alice.cert.notAfterMs,
});

function otherCaWithOurCaId(): Uint8Array {
  const bytes = Uint8Array.from(otherCaAlice.raw);
  bytes.set(net.ca.caId, CA_ID_OFFSET);
  return bytes;
}

const SWAPS: Array<[string, () => Uint8Array]> = [
  ['key bytes replaced, peer id kept', () => swappedKey(false)],
  ['key replaced and re-encoded with its peer id', () => swappedKey(true)],
  ['signed by another CA of the same name', () => otherCaAlice.raw],
  ["another CA's certificate with our caId", otherCaWithOurCaId],
];

/** A node as the daemon builds it, never started: the relay's announcements arrive as RelayLink 'peer_up'. */
function node(): { node: ShadowNode; ups: DirectoryEntry[]; users: () => Array<{ peerId: string; name: string; publicKeySha256: string }> } {
  const clock = new FakeClock(FIXTURE_EPOCH_MS);
  const n = new ShadowNode(
    { signer: self.signer, peerId: self.peerId, certificate: self.cert, verifier: net.verifier, clock },
    { relay: { url: 'wss://127.0.0.1:9', pin: `sha256:${'0'.repeat(64)}` }, direct: false },
  );
  const ups: DirectoryEntry[] = [];
  n.on('member_up', (e: DirectoryEntry) => ups.push(e));
  // What `shadowmesh users` shows (src/node/daemon.ts `users`): the directory, with the key's hash.
  const users = (): Array<{ peerId: string; name: string; publicKeySha256: string }> =>
    n.directory.list().map((e) => ({ peerId: e.hex, name: e.name, publicKeySha256: toHex(sha256(e.cert.publicKey)) }));
  return { node: n, ups, users };
}

const ALICE_KEY_SHA = toHex(sha256(alice.signer.publicKey));
const RELAY_KEY_SHA = toHex(sha256(relayKey.publicKey));

test('a PEER_UP with a swapped key is refused and counted; nobody is listed', () => {
  const { node: n, ups, users } = node();
  for (const [what, bytes] of SWAPS) {
    const before = n.directory.drops.invalid_cert;
    n.link.emit('peer_up', bytes(), 1);
    assert.equal(n.directory.drops.invalid_cert, before + 1, `${what}: counted as invalid_cert`);
  }
  assert.equal(ups.length, 0);
  assert.equal(n.directory.size, 0);
  assert.equal(n.directory.get(alice.peerId), undefined);
  assert.equal(n.directory.get(peerIdFromPublicKey(relayKey.publicKey)), undefined);
  assert.equal(n.directory.byAddress(Uint8Array.of(10, 10, 10, 3)), undefined);
  assert.deepEqual(users(), []);
});

test('once alice is listed, a swapped-key PEER_UP does not replace her key or move her address', () => {
  const { node: n, ups, users } = node();
  n.link.emit('peer_up', alice.cert.raw, 1);
  const listed = n.directory.get(alice.peerId);
  assert.ok(listed, 'the real certificate is listed');
  for (const [what, bytes] of SWAPS) {
    n.link.emit('peer_up', bytes(), 2);
    const now = n.directory.get(alice.peerId);
    assert.equal(now, listed, `${what}: entry unchanged`);
    assert.deepEqual(now?.cert.publicKey, alice.signer.publicKey, `${what}: alice's own key`);
  }
  assert.equal(n.directory.drops.invalid_cert, SWAPS.length);
  assert.equal(ups.length, 1);
  assert.equal(n.directory.byAddress(Uint8Array.of(10, 10, 10, 3)), listed);
  const shown = users();
  assert.deepEqual(shown, [{ peerId: toHex(alice.peerId), name: 'alice', publicKeySha256: ALICE_KEY_SHA }]);
  assert.ok(!JSON.stringify(shown).includes(RELAY_KEY_SHA), "the relay's key never shows");
  assert.ok(!shown.some((u) => u.peerId === toHex(peerIdFromPublicKey(relayKey.publicKey))));
});

interface ChatLab {
  relay: MemoryRelay;
  pm: PeerManager<MemberCertificate>;
  chat: ChatService;
  events: ChatEvent[];
  /** Chat envelopes the party answering as alice opened. */
  answered: Uint8Array[];
  answerer: PeerManager<MemberCertificate>;
  answererChat: ChatService;
}

/**
 * Our node's chat, with a directory fed by the relay (the real alice
 * certificate, then the relay's swaps), over a MemoryRelay. Frames to
 * alice's peer id reach `answerer`: alice herself, or the relay answering
 * with its own key and `certificate`.
 */
function chatLab(answerAs: { signer: HybridSigner; certificate: Uint8Array } | FixtureMember): ChatLab {
  const clock = new FakeClock(FIXTURE_EPOCH_MS);
  const relay = new MemoryRelay();
  const { node: n } = node();
  n.link.emit('peer_up', alice.cert.raw, 1);
  for (const [, bytes] of SWAPS) n.link.emit('peer_up', bytes(), 2);
  const pm = new PeerManager<MemberCertificate>(
    { identity: { signer: self.signer, certificate: self.cert.raw, verifier: net.verifier }, localPeerId: self.peerId, transport: relay.transportFor(self.peerId), clock },
  );
  relay.attach(self.peerId, (src, frame) => pm.onFrame(src, frame));
  const inbox = new ChatInbox();
  const events: ChatEvent[] = [];
  inbox.subscribe((e) => events.push(e), false);
  const chat = new ChatService({ localPeerId: self.peerId, sessions: pm, members: { get: (hex: string) => n.directory.get(hex) }, sink: inbox, clock });
  pm.on('inner', (peerId: Uint8Array, type: number, body: Uint8Array) => { if (type === InnerType.Chat) chat.onEnvelope(peerId, body); });
  pm.start();
  chat.start();

  const identity = 'cert' in answerAs
    ? { signer: answerAs.signer, certificate: answerAs.cert.raw }
    : answerAs;
  // The answerer checks certificates against our CA, like any member (it is the relay's code, but it needs ours to accept us).
  const answerer = new PeerManager<MemberCertificate>(
    { identity: { ...identity, verifier: net.verifier }, localPeerId: alice.peerId, transport: relay.transportFor(alice.peerId), clock },
  );
  relay.attach(alice.peerId, (src, frame) => answerer.onFrame(src, frame));
  const answered: Uint8Array[] = [];
  const answererInbox = new ChatInbox();
  answererInbox.subscribe((e) => { if (e.type === 'request') answererChat.respond(e.conversationId, true); }, false);
  const answererChat = new ChatService({ localPeerId: alice.peerId, sessions: answerer, members: { get: (hex: string) => (hex === toHex(self.peerId) ? { name: 'self' } : undefined) }, sink: answererInbox, clock });
  answerer.on('inner', (peerId: Uint8Array, type: number, body: Uint8Array) => {
    if (type !== InnerType.Chat) return;
    answered.push(Uint8Array.from(body));
    answererChat.onEnvelope(peerId, body);
  });
  answerer.start();
  answererChat.start();
  return { relay, pm, chat, events, answered, answerer, answererChat };
}

function stop(l: ChatLab): void {
  l.chat.stop();
  l.answererChat.stop();
  l.pm.stop();
  l.answerer.stop();
}

test("a chat request to the relay's key is refused: that member is not online", () => {
  const { node: n } = node();
  for (const [, bytes] of SWAPS) n.link.emit('peer_up', bytes(), 2);
  const chat = new ChatService({
    localPeerId: self.peerId,
    sessions: { sendInner: () => assert.fail('nothing may be sent') },
    members: { get: (hex: string) => n.directory.get(hex) },
    sink: new ChatInbox(),
  });
  assert.throws(() => chat.request(toHex(peerIdFromPublicKey(relayKey.publicKey))), { code: ChatCode.OFFLINE });
  assert.throws(() => chat.request(toHex(alice.peerId)), { code: ChatCode.OFFLINE });
});

test('control: the real alice answers the chat request and the conversation opens', () => {
  const l = chatLab(alice);
  const info = l.chat.request(toHex(alice.peerId));
  l.relay.pump();
  assert.equal(l.chat.conversation(info.conversationId).state, 'active');
  assert.ok(l.events.some((e) => e.type === 'accepted'));
  assert.deepEqual(l.pm.peerCertificate(alice.peerId)?.publicKey, alice.signer.publicKey);
  assert.ok(l.answered.length > 0);
  stop(l);
});

for (const [what, certificate] of [
  ['signed by another CA of the same name', () => otherCaAlice.raw],
  ["another CA's certificate with our caId", otherCaWithOurCaId],
  ['alice\'s certificate with the key re-encoded', () => swappedKey(true)],
] as Array<[string, () => Uint8Array]>) {
  test(`a relay answering alice's handshake with its own key is refused (${what}); no chat envelope reaches it`, () => {
    const l = chatLab({ signer: relayKey, certificate: certificate() });
    const info = l.chat.request(toHex(alice.peerId));
    for (let i = 0; i < 5; i++) l.relay.pump();
    assert.ok(l.pm.drops.hs_invalid >= 1, 'the handshake answer is counted as invalid');
    assert.equal(l.pm.peerCertificate(alice.peerId), null, 'no session with a certificate the relay chose');
    assert.ok(!l.pm.peers().some((p) => p.established), 'no established session');
    assert.equal(l.answered.length, 0, 'the relay opened no chat envelope');
    assert.equal(l.chat.conversation(info.conversationId).state, 'requested');
    assert.ok(!l.events.some((e) => e.type === 'accepted'));
    stop(l);
  });
}
