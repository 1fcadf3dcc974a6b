/**
 * The private key file format, shared by identity.key and ca.key: the 64-byte
 * hybrid signing seed (Ed25519 seed || ML-DSA-87 seed, see
 * src/crypto/hybrid-sign.ts), versioned, optionally encrypted under a
 * passphrase. Stored armored as "SHADOWMESH PRIVATE KEY" by the callers.
 *
 * Layout (integers are single bytes):
 *
 * | offset | size | field                                                  |
 * |--------|------|--------------------------------------------------------|
 * | 0      | 4    | magic "SMSK"                                           |
 * | 4      | 1    | format version (= 1)                                   |
 * | 5      | 1    | kind: 1 node identity, 2 network CA                    |
 * | 6      | 1    | protection: 0 none, 1 scrypt + ChaCha20-Poly1305       |
 * | 7      | 1    | reserved, zero                                         |
 * | protection 0:                                                          |
 * | 8      | 64   | seed                                                   |
 * | protection 1:                                                          |
 * | 8      | 1    | scrypt log2(N)                                         |
 * | 9      | 1    | scrypt r                                               |
 * | 10     | 1    | scrypt p                                               |
 * | 11     | 1    | reserved, zero                                         |
 * | 12     | 32   | scrypt salt (random per file)                          |
 * | 44     | 12   | AEAD nonce (random per file)                           |
 * | 56     | 80   | ChaCha20-Poly1305(seed) = ciphertext 64 || tag 16      |
 *
 * With protection 1 the key is scrypt(NFC(passphrase), salt) (RFC 7914) and
 * bytes 0..55 (everything before the ciphertext: kind, parameters, salt,
 * nonce) are the associated data, so a parameter or kind edit fails like a
 * wrong passphrase. The nonce is random, which is right here: each key is
 * derived from a fresh random salt and seals exactly one message.
 *
 * The kind byte keeps a CA key from being loaded as a node identity and back.
 * Callers own the returned seed and must wipe it after use; this module wipes
 * every key and intermediate it creates.
 */
import { scrypt as scryptCb } from 'node:crypto';
import { ConfigError, IdentityError } from '../errors.js';
import { aeadOpenRaw, aeadSealRaw } from '../crypto/aead.js';
import { randomBytes, wipe } from '../crypto/bytes.js';
import { HYBRID_SIGN_SEED_BYTES } from '../crypto/hybrid-sign.js';
import { ByteReader } from '../wire/byte-reader.js';
import { IdentityCode, isWireError } from './identity-errors.js';

export const SeedKind = { Identity: 1, Ca: 2 } as const;
export type SeedKind = (typeof SeedKind)[keyof typeof SeedKind];

const MAGIC = Uint8Array.from([0x53, 0x4d, 0x53, 0x4b]); // "SMSK"
const FORMAT_VERSION = 1;
const PROTECTION_NONE = 0;
const PROTECTION_SCRYPT_CHACHA = 1;
const HEADER_BYTES = 8;
const SCRYPT_SALT_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
/** Offset of the ciphertext in a protected file; everything before it is the AAD. */
const PROTECTED_AAD_BYTES = HEADER_BYTES + 4 + SCRYPT_SALT_BYTES + NONCE_BYTES;
export const PLAIN_SEED_FILE_BYTES = HEADER_BYTES + HYBRID_SIGN_SEED_BYTES;
export const PROTECTED_SEED_FILE_BYTES = PROTECTED_AAD_BYTES + HYBRID_SIGN_SEED_BYTES + TAG_BYTES;

/**
 * scrypt cost for new files: N = 2^17, r = 8, p = 1, i.e. 128 MiB of memory
 * and about 0.4 s on one core of a 2020s server. This is the OWASP password
 * storage recommendation; the key is unlocked once per daemon start, so the
 * delay is paid rarely while every offline guess costs the same 128 MiB.
 */
export const SCRYPT_LOG_N = 17;
export const SCRYPT_R = 8;
export const SCRYPT_P = 1;
/** Largest scrypt memory (128·N·r bytes) a file may ask for: 256 MiB. A hostile file cannot make us allocate more. */
const SCRYPT_MAX_MEMORY_BYTES = 256 * 1024 * 1024;
/** Smallest log2(N) accepted when reading: below 2^14 a file offers no real protection, so it is treated as corrupt. */
const SCRYPT_MIN_LOG_N = 14;

function scrypt(passphrase: Uint8Array, salt: Uint8Array, logN: number, r: number, p: number): Promise<Uint8Array> {
  const N = 2 ** logN;
  // Node rejects jobs over maxmem; allow our bound plus headroom for its bookkeeping.
  const maxmem = 128 * N * r + 16 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    scryptCb(passphrase, salt, KEY_BYTES, { N, r, p, maxmem }, (err, key) => {
      if (err) reject(new IdentityError(IdentityCode.CORRUPT, `scrypt failed: ${err.message}`, { cause: err }));
      else {
        const out = Uint8Array.from(key);
        key.fill(0);
        resolve(out);
      }
    });
  });
}

function passphraseBytes(passphrase: string): Uint8Array {
  if (typeof passphrase !== 'string' || passphrase.length === 0) {
    throw new ConfigError('SM_ERR_CONFIG_PASSPHRASE', 'passphrase: must be a non-empty string');
  }
  // NFC, so the same passphrase typed on two systems gives the same key.
  return new TextEncoder().encode(passphrase.normalize('NFC'));
}

function checkKind(kind: number): void {
  if (kind !== SeedKind.Identity && kind !== SeedKind.Ca) throw new ConfigError('SM_ERR_CONFIG_SEED_KIND', `seed kind: expected 1 or 2, got ${String(kind)}`);
}

/** Encodes a seed as a key file body; encrypted when a passphrase is given. */
export async function sealSeed(seed: Uint8Array, kind: SeedKind, passphrase?: string): Promise<Uint8Array> {
  if (!(seed instanceof Uint8Array) || seed.length !== HYBRID_SIGN_SEED_BYTES) {
    throw new ConfigError('SM_ERR_CONFIG_SEED', `sealSeed seed: expected ${HYBRID_SIGN_SEED_BYTES} bytes`);
  }
  checkKind(kind);
  if (passphrase === undefined) {
    const out = new Uint8Array(PLAIN_SEED_FILE_BYTES);
    out.set(MAGIC, 0);
    out.set([FORMAT_VERSION, kind, PROTECTION_NONE, 0], 4);
    out.set(seed, HEADER_BYTES);
    return out;
  }
  const pw = passphraseBytes(passphrase);
  const out = new Uint8Array(PROTECTED_SEED_FILE_BYTES);
  out.set(MAGIC, 0);
  out.set([FORMAT_VERSION, kind, PROTECTION_SCRYPT_CHACHA, 0, SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P, 0], 4);
  const salt = randomBytes(SCRYPT_SALT_BYTES);
  const nonce = randomBytes(NONCE_BYTES);
  out.set(salt, 12);
  out.set(nonce, 12 + SCRYPT_SALT_BYTES);
  let key: Uint8Array | undefined;
  try {
    key = await scrypt(pw, salt, SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P);
    const sealed = aeadSealRaw('chacha20-poly1305', key, nonce, out.subarray(0, PROTECTED_AAD_BYTES), seed);
    out.set(sealed, PROTECTED_AAD_BYTES);
    return out;
  } finally {
    wipe(key, pw);
  }
}

/** True when a key file body is passphrase-protected (false for anything unrecognised). */
export function isSeedEncrypted(file: Uint8Array): boolean {
  return file.length >= HEADER_BYTES && file[6] === PROTECTION_SCRYPT_CHACHA;
}

/**
 * Decodes a key file body and returns a fresh copy of the seed.
 * `what` names the file in errors. SM_ERR_ID_CORRUPT for anything that does
 * not decode (including a key of the other kind), SM_ERR_ID_PASSPHRASE when
 * a passphrase is needed but missing, or does not open the file.
 */
export async function openSeed(file: Uint8Array, kind: SeedKind, what: string, passphrase?: string): Promise<Uint8Array> {
  checkKind(kind);
  const corrupt = (why: string): IdentityError => new IdentityError(IdentityCode.CORRUPT, `${what}: not a valid ShadowMesh private key (${why})`);
  const r = new ByteReader(file);
  try {
    const magic = r.bytes(4, 'magic');
    if (!magic.every((b, i) => b === MAGIC[i])) throw corrupt('bad magic');
    const version = r.u8('version');
    if (version !== FORMAT_VERSION) throw corrupt(`unsupported format version ${version}`);
    const fileKind = r.u8('kind');
    if (fileKind !== kind) {
      const name = (k: number): string => (k === SeedKind.Ca ? 'a network CA key' : k === SeedKind.Identity ? 'a node identity key' : `kind ${k}`);
      throw corrupt(`it is ${name(fileKind)}, expected ${name(kind)}`);
    }
    const protection = r.u8('protection');
    r.zeros(1, 'reserved');
    if (protection === PROTECTION_NONE) {
      const seed = r.bytes(HYBRID_SIGN_SEED_BYTES, 'seed');
      r.end('key file');
      return Uint8Array.from(seed);
    }
    if (protection !== PROTECTION_SCRYPT_CHACHA) throw corrupt(`unknown protection ${protection}`);
    const logN = r.u8('scrypt logN');
    const sr = r.u8('scrypt r');
    const sp = r.u8('scrypt p');
    r.zeros(1, 'reserved');
    const salt = r.bytes(SCRYPT_SALT_BYTES, 'salt');
    const nonce = r.bytes(NONCE_BYTES, 'nonce');
    const sealed = r.bytes(HYBRID_SIGN_SEED_BYTES + TAG_BYTES, 'sealed seed');
    r.end('key file');
    if (logN < SCRYPT_MIN_LOG_N || logN > 30 || sr < 1 || sp < 1 || sp > 16 || 128 * 2 ** logN * sr > SCRYPT_MAX_MEMORY_BYTES) {
      throw corrupt(`scrypt parameters out of range (log2 N ${logN}, r ${sr}, p ${sp})`);
    }
    if (passphrase === undefined) {
      throw new IdentityError(IdentityCode.PASSPHRASE, `${what} is encrypted: a passphrase is required`);
    }
    const pw = passphraseBytes(passphrase);
    let key: Uint8Array | undefined;
    try {
      key = await scrypt(pw, salt, logN, sr, sp);
      const seed = aeadOpenRaw('chacha20-poly1305', key, nonce, file.subarray(0, PROTECTED_AAD_BYTES), sealed);
      if (seed === null) throw new IdentityError(IdentityCode.PASSPHRASE, `${what}: wrong passphrase (or the file was modified)`);
      return seed;
    } finally {
      wipe(key, pw);
    }
  } catch (err) {
    if (isWireError(err)) throw corrupt(err.message);
    throw err;
  }
}
