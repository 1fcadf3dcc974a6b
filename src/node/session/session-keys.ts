/**
 * What a finished peer handshake hands to the session layer
 * (src/handshake/peer-handshake.ts produces it; PeerSession.installKeys
 * consumes it), and the checks made at that hand-over.
 *
 * Ownership: installKeys takes ownership of the three key buffers. The
 * session zeroes these very buffers (fill(0)) when the key pair is dropped:
 * after the previous-key grace, at REJECT_AFTER_TIME, or at stop(). The caller
 * must not keep or reuse them.
 */
import type { HandshakeKeys } from '../../handshake/peer-handshake.js';
import { ConfigError } from '../../errors.js';
import { SessionCode } from './session-errors.js';

/** Both AEADs and the path-authentication MAC take 256-bit keys. */
export const SESSION_KEY_BYTES = 32;

/** What a finished handshake hands over: the handshake's own key type (src/handshake/peer-handshake.ts), documented there. */
export type SessionKeys = HandshakeKeys;

function fail(what: string, got: string): never {
  throw new ConfigError(SessionCode.KEYS, `session keys ${what}, got ${got}`);
}

function checkKey(name: string, k: unknown): asserts k is Uint8Array {
  if (!(k instanceof Uint8Array)) fail(`${name}: expected a Uint8Array`, typeof k);
  if (k.length !== SESSION_KEY_BYTES) fail(`${name}: expected ${SESSION_KEY_BYTES} bytes`, `${k.length}`);
}

function checkIndex(name: string, i: unknown): void {
  if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i > 0xffff_ffff) {
    fail(`${name}: expected a u32`, String(i));
  }
}

/** Throws ConfigError SessionCode.KEYS unless `keys` is well formed. Touches no key bytes. */
export function checkSessionKeys(keys: SessionKeys): void {
  if (typeof keys !== 'object' || keys === null) fail('expected an object', String(keys));
  checkIndex('localIndex', keys.localIndex);
  checkIndex('remoteIndex', keys.remoteIndex);
  checkKey('sendKey', keys.sendKey);
  checkKey('recvKey', keys.recvKey);
  checkKey('pathAuthKey', keys.pathAuthKey);
  // Overlapping views would mean the handshake derived less key material
  // than it claims; refuse rather than seal with aliased keys.
  const b = [keys.sendKey, keys.recvKey, keys.pathAuthKey];
  for (let i = 0; i < b.length; i++) {
    for (let j = i + 1; j < b.length; j++) {
      if (b[i]!.buffer === b[j]!.buffer && overlaps(b[i]!, b[j]!)) fail('buffers: sendKey, recvKey and pathAuthKey must not overlap', 'overlapping views');
    }
  }
  if (typeof keys.isInitiator !== 'boolean') fail('isInitiator: expected a boolean', typeof keys.isInitiator);
  if (typeof keys.establishedAtMs !== 'number' || !Number.isFinite(keys.establishedAtMs)) {
    fail('establishedAtMs: expected a finite number', String(keys.establishedAtMs));
  }
}

function overlaps(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteOffset < b.byteOffset + b.length && b.byteOffset < a.byteOffset + a.length;
}
