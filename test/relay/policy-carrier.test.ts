/**
 * PolicyCarrier (src/relay/policy-carrier.ts): one POLICY frame per blob,
 * the same bytes to every admitted member, nothing to members not admitted
 * or when no policy is carried, and a full send queue skipped and counted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PolicyCarrier, type PolicyReceiver } from '../../src/relay/policy-carrier.js';
import { FrameType } from '../../src/wire/constants.js';
import { decodeRelayFrame } from '../../src/wire/relay-frames.js';

function receiver(state: string, full = false): PolicyReceiver & { got: Uint8Array[] } {
  const got: Uint8Array[] = [];
  return { state, got, sendFrame: (bytes) => (full ? false : (got.push(bytes), true)) };
}

test('policy carrier: sends the blob as one POLICY frame to admitted members only, the same bytes to all, skips a full queue', () => {
  const carrier = new PolicyCarrier();
  const a = receiver('admitted');
  assert.equal(carrier.carrying, false);
  assert.equal(carrier.sendTo(a), false, 'nothing carried: nothing sent');
  assert.equal(a.got.length, 0);

  const b = receiver('admitted');
  const pending = receiver('handshaking');
  const full = receiver('admitted', true);
  const blob = Uint8Array.of(1, 4, 0, 0, 9);
  assert.equal(carrier.set(blob, 4, [a, b, pending, full]), 2);
  assert.equal(carrier.version, 4);
  assert.equal(carrier.carrying, true);
  assert.equal(pending.got.length, 0, 'a member not yet admitted gets it after ESTABLISHED, not before');
  assert.equal(a.got.length, 1);
  assert.equal(a.got[0], b.got[0], 'one encoding for every member');
  const f = decodeRelayFrame(a.got[0]!);
  assert.ok(f.type === FrameType.Policy);
  assert.deepEqual(f.blob, blob);
  assert.deepEqual(carrier.stats, { sent: 2, skipped: 1 });

  // Later admissions get the blob in force; a newer blob replaces it for everyone.
  const late = receiver('admitted');
  assert.equal(carrier.sendTo(late), true);
  carrier.set(Uint8Array.of(7), 5, [late]);
  const g = decodeRelayFrame(late.got[1]!);
  assert.ok(g.type === FrameType.Policy);
  assert.deepEqual(g.blob, Uint8Array.of(7));
  assert.throws(() => carrier.set(new Uint8Array(0), 6, []), { code: 'SM_ERR_WIRE_FIELD' });
  assert.equal(carrier.version, 5, 'a refused blob leaves the one carried');
});
