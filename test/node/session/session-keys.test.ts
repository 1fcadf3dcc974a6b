/**
 * Tests for src/node/session/session-keys.ts: the hand-over checks accept
 * well-formed keys without touching them and name the bad field otherwise.
 */
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { hasCode } from '../../../src/errors.js';
import { checkSessionKeys, type SessionKeys } from '../../../src/node/session/session-keys.js';
import { SessionCode } from '../../../src/node/session/session-errors.js';
import { matchingKeys } from '../../../testkit/session-fixtures.js';

describe('checkSessionKeys', () => {
  it('accepts well-formed keys and leaves their bytes unchanged', () => {
    const k = matchingKeys(0, 0, 0xffff_ffff).a;
    const copy = [Uint8Array.from(k.sendKey), Uint8Array.from(k.recvKey), Uint8Array.from(k.pathAuthKey)];
    checkSessionKeys(k);
    assert.deepEqual([k.sendKey, k.recvKey, k.pathAuthKey], copy);
  });

  it('rejects each malformed field with SessionCode.KEYS, naming it', () => {
    const good = matchingKeys(0, 1, 2).a;
    const shared = new Uint8Array(64);
    const cases: Array<[string, Partial<Record<keyof SessionKeys, unknown>>]> = [
      ['localIndex', { localIndex: 1.5 }],
      ['localIndex', { localIndex: 2 ** 32 }],
      ['remoteIndex', { remoteIndex: -1 }],
      ['sendKey', { sendKey: new Uint8Array(31) }],
      ['recvKey', { recvKey: new Uint8Array(33) }],
      ['pathAuthKey', { pathAuthKey: 'x'.repeat(32) }],
      ['overlap', { sendKey: shared.subarray(0, 32), pathAuthKey: shared.subarray(31, 63) }],
      ['isInitiator', { isInitiator: 1 }],
      ['establishedAtMs', { establishedAtMs: Number.POSITIVE_INFINITY }],
    ];
    for (const [name, patch] of cases) {
      assert.throws(
        () => checkSessionKeys({ ...good, ...patch } as SessionKeys),
        (e: unknown) => hasCode(e, SessionCode.KEYS) && (e as Error).message.includes(name === 'overlap' ? 'overlap' : name),
        name,
      );
    }
    // Adjacent views of one buffer are fine: they do not overlap.
    checkSessionKeys({ ...good, sendKey: shared.subarray(0, 32), recvKey: shared.subarray(32, 64) });
  });
});
