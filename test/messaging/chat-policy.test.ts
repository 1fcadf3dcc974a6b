/**
 * The network policy's chat section in ChatService (allowChat,
 * docs/architecture.md "Network policy"): envelopes from a member the policy
 * forbids are refused and counted as policy_denied; others are served;
 * without allowChat chat is not governed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toHex } from '../../src/crypto/bytes.js';
import { ChatInbox } from '../../src/messaging/chat-inbox.js';
import { ChatKind, encodeChatEnvelope } from '../../src/messaging/chat-envelope.js';
import { ChatService, type ChatEvent } from '../../src/messaging/chat-service.js';
import { CompiledPolicy } from '../../src/policy/compiled-policy.js';
import { FakeClock } from '../../testkit/fake-clock.js';

const US = new Uint8Array(32).fill(1);
const WEB = new Uint8Array(32).fill(2);
const OPS = new Uint8Array(32).fill(3);
const GROUPS: Record<string, string> = { [toHex(WEB)]: 'web', [toHex(OPS)]: 'ops' };
const POLICY = CompiledPolicy.fromText('rules: []\nchat:\n  - name: no-web-db-chat\n    action: deny\n    from: group:web\n    to: group:db\n  - name: chat-rest\n    from: any\n    to: any\n', 'policy.yaml');

function service(governed: boolean) {
  const inbox = new ChatInbox();
  const events: ChatEvent[] = [];
  inbox.subscribe((e) => events.push(e), false);
  const chat = new ChatService({
    localPeerId: US,
    clock: new FakeClock(),
    sink: inbox,
    members: { get: (h: string) => (GROUPS[h] !== undefined ? { name: GROUPS[h]! } : undefined) },
    sessions: { sendInner: () => 'sent' },
    ...(governed ? { allowChat: (h: string) => POLICY.decideChat({ name: GROUPS[h]!, groups: [GROUPS[h]!] }, { name: 'db1', groups: ['db'] }).allowed } : {}),
  });
  chat.start();
  return { chat, events };
}

const request = (from: Uint8Array, id: number) => encodeChatEnvelope({ kind: ChatKind.Request, sender: from, recipient: US, conversationId: new Uint8Array(16).fill(id), seq: 0, text: '' });

test('a chat request from a member the policy forbids is refused and counted; an allowed one arrives', () => {
  const { chat, events } = service(true);
  chat.onEnvelope(WEB, request(WEB, 1));
  chat.onEnvelope(OPS, request(OPS, 2));
  assert.equal(chat.drops.policy_denied, 1);
  assert.deepEqual(events.filter((e) => e.type === 'request').map((e) => (e as { peerId: string }).peerId), [toHex(OPS)]);
  chat.stop();
});

test('without allowChat, chat is not governed', () => {
  const { chat, events } = service(false);
  chat.onEnvelope(WEB, request(WEB, 1));
  assert.equal(chat.drops.policy_denied, 0);
  assert.equal(events.filter((e) => e.type === 'request').length, 1);
  chat.stop();
});
