/**
 * Loads the native AEAD context addon (native/aead.cc, built by node-gyp
 * during `npm ci` into native/build/Release/shadowmesh_aead.node) and
 * describes what it exports (docs/architecture.md "Native AEAD contexts").
 *
 * The addon is an optimisation, never a requirement: aead.ts falls back to
 * node:crypto when it is absent, and both give the same bytes (tested). So
 * unlike the TAP/TUN loader this one never throws: loadNativeAead() returns
 * null and remembers why (nativeAeadUnavailableReason()).
 *
 * What callers must know:
 *  - The addon is loaded once and cached, success or failure.
 *  - SHADOWMESH_NATIVE_AEAD overrides the path (tests, packagers);
 *    SHADOWMESH_NATIVE_AEAD=off keeps node:crypto (a comparison run, or a
 *    way out should the addon misbehave on some platform).
 *  - The functions trust no length: a wrong call throws a TypeError from
 *    the addon. aead.ts checks every argument first with coded errors, so
 *    only a bug there could reach one.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** An opaque context handle made by create(). */
export type NativeAeadHandle = object & { readonly __nativeAeadHandle: unique symbol };

/** The addon's surface, exactly as native/aead.cc exports it. */
export interface NativeAeadAddon {
  /** alg 0 = chacha20-poly1305, 1 = aes-256-gcm; one context per key and direction. */
  create(alg: 0 | 1, key: Uint8Array, encrypt: boolean): NativeAeadHandle;
  /** In place: aad = buf[offset, +aadLength), plaintext after it becomes ciphertext, the tag follows. False when OpenSSL failed. */
  seal(handle: NativeAeadHandle, nonce: Uint8Array, buf: Uint8Array, offset: number, aadLength: number, plaintextLength: number): boolean;
  /** Plaintext length written to out (which may alias sealed), or -1 when the tag fails (those bytes are zeroed). */
  open(handle: NativeAeadHandle, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array, out: Uint8Array): number;
  /** Frees the context (OpenSSL cleanses its key schedule). Later seal/open throw. */
  destroy(handle: NativeAeadHandle): void;
}

/** Environment variable: a path to the addon, or `off` for node:crypto only. */
export const NATIVE_AEAD_ENV = 'SHADOWMESH_NATIVE_AEAD';

/** Where node-gyp puts the addon, relative to this file in dist/src/crypto/ (or src/crypto/). */
export const NATIVE_AEAD_PATH = fileURLToPath(new URL('../../../native/build/Release/shadowmesh_aead.node', import.meta.url));

const EXPORTED_FUNCTIONS = ['create', 'seal', 'open', 'destroy'] as const;

let loaded = false;
let cached: NativeAeadAddon | null = null;
let reason = '';

/** The addon, or null when it is switched off, missing or does not load (see nativeAeadUnavailableReason()). */
export function loadNativeAead(): NativeAeadAddon | null {
  if (loaded) return cached;
  loaded = true;
  const setting = process.env[NATIVE_AEAD_ENV];
  if (setting === 'off') {
    reason = `${NATIVE_AEAD_ENV}=off`;
    return null;
  }
  const path = setting !== undefined && setting !== '' ? setting : NATIVE_AEAD_PATH;
  if (!existsSync(path)) {
    reason = `not built (${path} is missing; \`npm rebuild shadowmesh\` builds it)`;
    return null;
  }
  let mod: unknown;
  try {
    mod = createRequire(import.meta.url)(path);
  } catch (err) {
    reason = `does not load (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`;
    return null;
  }
  for (const fn of EXPORTED_FUNCTIONS) {
    if (typeof (mod as Record<string, unknown>)[fn] !== 'function') {
      reason = `stale build at ${path}: it lacks ${fn}()`;
      return null;
    }
  }
  cached = mod as NativeAeadAddon;
  return cached;
}

/** True when sealers and openers made with impl 'auto' use the addon. */
export function nativeAeadAvailable(): boolean {
  return loadNativeAead() !== null;
}

/** Why the addon is not used ('' when it is). */
export function nativeAeadUnavailableReason(): string {
  loadNativeAead();
  return reason;
}
