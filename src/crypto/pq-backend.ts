/**
 * ML-KEM-1024 (FIPS 203) and ML-DSA-87 (FIPS 204) behind one interface, with
 * two interchangeable backends (docs/conventions.md §6):
 *
 *  - 'node':  node:crypto (OpenSSL >= 3.5), present in Node >= 24;
 *  - 'noble': @noble/post-quantum, pure JavaScript, present everywhere.
 *
 * Both produce the same bytes for the same inputs; test/crypto checks this
 * against vectors generated with OpenSSL and by running both backends side by
 * side under Node 24.
 *
 * Callers must know:
 *  - Keys are always derived from seeds (FIPS 203 KeyGen_internal(d, z) with
 *    seed = d || z; FIPS 204 KeyGen_internal(xi)). Secret keys are opaque
 *    PqSecretKey objects that hold the seed and lazily the backend's key form;
 *    any backend accepts a secret key made by any backend.
 *  - destroySecretKey() wipes the seed and the noble key bytes. A native
 *    KeyObject cannot be overwritten from JavaScript; OpenSSL cleanses it when
 *    it is garbage-collected. The wrapper drops its reference.
 *  - The node backend delegates the deterministic cases (ML-KEM encapsulation
 *    with a given m, ML-DSA signing with a given rnd) to noble, because
 *    node:crypto exposes no way to pass them. Same bytes either way.
 *  - Signing is pure ML-DSA with an empty context string (FIPS 204 §5.2);
 *    domain separation is done by the caller (hybrid-sign.ts).
 *  - SHADOWMESH_PQ_BACKEND=node|noble changes the default backend; an
 *    explicit name passed to getPqBackend() wins over the environment.
 */

import * as nodeCrypto from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import { ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';
import { ConfigError, CryptoError } from '../errors.js';
import { CryptoCode } from './crypto-errors.js';
import { concatBytes, copyOut, wipe } from './bytes.js';
import {
  checkAnyBytes,
  checkBytes,
} from './checks.js';

export type PqBackendName = 'node' | 'noble';

/** FIPS 203 Table 3, ML-KEM-1024. */
export const MLKEM1024_SEED_BYTES = 64;
export const MLKEM1024_EK_BYTES = 1568;
export const MLKEM1024_CT_BYTES = 1568;
export const MLKEM1024_SS_BYTES = 32;
/** FIPS 203 Algorithm 17: the encapsulation randomness m. */
export const MLKEM1024_M_BYTES = 32;
/** FIPS 204 Table 2, ML-DSA-87. */
export const MLDSA87_SEED_BYTES = 32;
export const MLDSA87_PK_BYTES = 2592;
export const MLDSA87_SIG_BYTES = 4627;
/** FIPS 204 Algorithm 2: rnd, 32 bytes (all zero = deterministic variant). */
export const MLDSA87_RND_BYTES = 32;

/** Environment variable that selects the default backend. */
export const PQ_BACKEND_ENV = 'SHADOWMESH_PQ_BACKEND';

export interface PqBackend {
  readonly name: PqBackendName;
  mlkemKeygen(seed64: Uint8Array): { publicKey: Uint8Array; secretKey: unknown };
  mlkemEncapsulate(publicKey: Uint8Array, m32?: Uint8Array): { cipherText: Uint8Array; sharedSecret: Uint8Array };
  mlkemDecapsulate(cipherText: Uint8Array, secretKey: unknown): Uint8Array;
  mldsaKeygen(seed32: Uint8Array): { publicKey: Uint8Array; secretKey: unknown };
  mldsaSign(secretKey: unknown, message: Uint8Array, rnd32?: Uint8Array): Uint8Array;
  mldsaVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
  /** Wipes what can be wiped of a secret key from either backend; later use throws. */
  destroySecretKey(secretKey: unknown): void;
}

type PqAlgorithm = 'ml-kem-1024' | 'ml-dsa-87';

/**
 * The opaque secret key. Holds the seed (the canonical private key form, as
 * in the PKCS#8 seed encoding) and caches each backend's working form.
 */
class PqSecretKey {
  readonly algorithm: PqAlgorithm;
  seed: Uint8Array;
  nobleKey: Uint8Array | undefined;
  nodeKey: KeyObject | undefined;
  destroyed = false;
  constructor(algorithm: PqAlgorithm, seed: Uint8Array) {
    this.algorithm = algorithm;
    this.seed = Uint8Array.from(seed);
  }
}

function asSecret(name: string, value: unknown, algorithm: PqAlgorithm): PqSecretKey {
  if (!(value instanceof PqSecretKey) || value.algorithm !== algorithm) {
    throw new CryptoError(CryptoCode.ARG, `${name}: expected an ${algorithm} secret key made by a PqBackend`);
  }
  if (value.destroyed) throw new CryptoError(CryptoCode.DESTROYED, `${name}: secret key used after destroy`);
  return value;
}

function nobleMlkemKey(sk: PqSecretKey): Uint8Array {
  sk.nobleKey ??= ml_kem1024.keygen(sk.seed).secretKey;
  return sk.nobleKey;
}

function nobleMldsaKey(sk: PqSecretKey): Uint8Array {
  sk.nobleKey ??= ml_dsa87.keygen(sk.seed).secretKey;
  return sk.nobleKey;
}

function destroySecret(value: unknown): void {
  if (!(value instanceof PqSecretKey)) {
    throw new CryptoError(CryptoCode.ARG, 'destroySecretKey secretKey: expected a secret key made by a PqBackend');
  }
  wipe(value.seed, value.nobleKey);
  value.nobleKey = undefined;
  value.nodeKey = undefined;
  value.destroyed = true;
}

function kemFailure(what: string, cause: unknown): CryptoError {
  return new CryptoError(CryptoCode.KEM, `${what}: rejected by ML-KEM-1024 (invalid encapsulation key?)`, { cause });
}

// ---------------------------------------------------------------- noble

const nobleBackend: PqBackend = Object.freeze({
  name: 'noble' as const,

  mlkemKeygen(seed64: Uint8Array) {
    checkBytes('mlkemKeygen seed64', seed64, MLKEM1024_SEED_BYTES);
    const { publicKey, secretKey } = ml_kem1024.keygen(seed64);
    const sk = new PqSecretKey('ml-kem-1024', seed64);
    sk.nobleKey = secretKey;
    return { publicKey, secretKey: sk };
  },

  mlkemEncapsulate(publicKey: Uint8Array, m32?: Uint8Array) {
    checkBytes('mlkemEncapsulate publicKey', publicKey, MLKEM1024_EK_BYTES);
    if (m32 !== undefined) checkBytes('mlkemEncapsulate m32', m32, MLKEM1024_M_BYTES);
    try {
      // FIPS 203 §7.2: noble runs the encapsulation key modulus check.
      return m32 === undefined ? ml_kem1024.encapsulate(publicKey) : ml_kem1024.encapsulate(publicKey, m32);
    } catch (err) {
      throw kemFailure('mlkemEncapsulate publicKey', err);
    }
  },

  mlkemDecapsulate(cipherText: Uint8Array, secretKey: unknown) {
    checkBytes('mlkemDecapsulate cipherText', cipherText, MLKEM1024_CT_BYTES);
    const sk = asSecret('mlkemDecapsulate secretKey', secretKey, 'ml-kem-1024');
    // FIPS 203 §6.3: implicit rejection, a wrong ciphertext yields a pseudo-random secret.
    return ml_kem1024.decapsulate(cipherText, nobleMlkemKey(sk));
  },

  mldsaKeygen(seed32: Uint8Array) {
    checkBytes('mldsaKeygen seed32', seed32, MLDSA87_SEED_BYTES);
    const { publicKey, secretKey } = ml_dsa87.keygen(seed32);
    const sk = new PqSecretKey('ml-dsa-87', seed32);
    sk.nobleKey = secretKey;
    return { publicKey, secretKey: sk };
  },

  mldsaSign(secretKey: unknown, message: Uint8Array, rnd32?: Uint8Array) {
    const sk = asSecret('mldsaSign secretKey', secretKey, 'ml-dsa-87');
    checkAnyBytes('mldsaSign message', message);
    if (rnd32 !== undefined) checkBytes('mldsaSign rnd32', rnd32, MLDSA87_RND_BYTES);
    // FIPS 204 Algorithm 2 with ctx = empty; extraEntropy is rnd (random when omitted).
    return rnd32 === undefined
      ? ml_dsa87.sign(message, nobleMldsaKey(sk))
      : ml_dsa87.sign(message, nobleMldsaKey(sk), { extraEntropy: rnd32 });
  },

  mldsaVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) {
    checkBytes('mldsaVerify publicKey', publicKey, MLDSA87_PK_BYTES);
    checkAnyBytes('mldsaVerify message', message);
    checkBytes('mldsaVerify signature', signature, MLDSA87_SIG_BYTES);
    try {
      return ml_dsa87.verify(signature, message, publicKey);
    } catch {
      return false;
    }
  },

  destroySecretKey: destroySecret,
});

// ---------------------------------------------------------------- node

/** The node:crypto functions added in Node 24 that @types/node 20 does not declare. */
interface NativeKem {
  encapsulate(key: KeyObject): { sharedKey: Buffer; ciphertext: Buffer };
  decapsulate(key: KeyObject, ciphertext: Uint8Array): Buffer;
}

/*
 * Fixed DER prefixes (RFC 5280 SubjectPublicKeyInfo; PKCS#8 OneAsymmetricKey
 * with the "seed" CHOICE [0] IMPLICIT OCTET STRING of the IETF LAMPS ML-KEM /
 * ML-DSA certificate drafts). The key bytes follow each prefix. OIDs:
 * id-alg-ml-kem-1024 2.16.840.1.101.3.4.4.3, id-ml-dsa-87 2.16.840.1.101.3.4.3.19.
 */
const MLKEM_SPKI_PREFIX = Uint8Array.from(Buffer.from('30820632300b06096086480165030404030382062100', 'hex'));
const MLKEM_PKCS8_SEED_PREFIX = Uint8Array.from(Buffer.from('3054020100300b060960864801650304040304428040', 'hex'));
const MLDSA_SPKI_PREFIX = Uint8Array.from(Buffer.from('30820a32300b060960864801650304031303820a2100', 'hex'));
const MLDSA_PKCS8_SEED_PREFIX = Uint8Array.from(Buffer.from('3034020100300b060960864801650304031304228020', 'hex'));

function nativeKem(): NativeKem {
  const c = nodeCrypto as unknown as Partial<NativeKem>;
  if (typeof c.encapsulate !== 'function' || typeof c.decapsulate !== 'function') {
    throw new ConfigError(CryptoCode.PQ_BACKEND, 'pq backend node: this Node has no crypto.encapsulate (needs Node >= 24)');
  }
  return c as NativeKem;
}

function privateFromSeed(prefix: Uint8Array, seed: Uint8Array): KeyObject {
  const der = concatBytes(prefix, seed);
  try {
    return nodeCrypto.createPrivateKey({ key: Buffer.from(der.buffer, der.byteOffset, der.length), format: 'der', type: 'pkcs8' });
  } finally {
    wipe(der);
  }
}

function publicFromRaw(prefix: Uint8Array, raw: Uint8Array): KeyObject {
  const der = concatBytes(prefix, raw);
  return nodeCrypto.createPublicKey({ key: Buffer.from(der.buffer, der.byteOffset, der.length), format: 'der', type: 'spki' });
}

function rawPublic(prefix: Uint8Array, key: KeyObject, rawLength: number): Uint8Array {
  const der = nodeCrypto.createPublicKey(key).export({ format: 'der', type: 'spki' });
  const head = der.subarray(0, prefix.length);
  if (der.length !== prefix.length + rawLength || !head.equals(prefix)) {
    throw new CryptoError(CryptoCode.INTERNAL, 'pq backend node: unexpected SPKI encoding from node:crypto');
  }
  return copyOut(der.subarray(prefix.length));
}

function nodeMlkemKey(sk: PqSecretKey): KeyObject {
  sk.nodeKey ??= privateFromSeed(MLKEM_PKCS8_SEED_PREFIX, sk.seed);
  return sk.nodeKey;
}

function nodeMldsaKey(sk: PqSecretKey): KeyObject {
  sk.nodeKey ??= privateFromSeed(MLDSA_PKCS8_SEED_PREFIX, sk.seed);
  return sk.nodeKey;
}

const nodeBackend: PqBackend = Object.freeze({
  name: 'node' as const,

  mlkemKeygen(seed64: Uint8Array) {
    checkBytes('mlkemKeygen seed64', seed64, MLKEM1024_SEED_BYTES);
    const sk = new PqSecretKey('ml-kem-1024', seed64);
    const publicKey = rawPublic(MLKEM_SPKI_PREFIX, nodeMlkemKey(sk), MLKEM1024_EK_BYTES);
    return { publicKey, secretKey: sk };
  },

  mlkemEncapsulate(publicKey: Uint8Array, m32?: Uint8Array) {
    checkBytes('mlkemEncapsulate publicKey', publicKey, MLKEM1024_EK_BYTES);
    if (m32 !== undefined) return nobleBackend.mlkemEncapsulate(publicKey, m32);
    let r: { sharedKey: Buffer; ciphertext: Buffer };
    try {
      // OpenSSL runs the FIPS 203 §7.2 modulus check on import.
      r = nativeKem().encapsulate(publicFromRaw(MLKEM_SPKI_PREFIX, publicKey));
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw kemFailure('mlkemEncapsulate publicKey', err);
    }
    return { cipherText: copyOut(r.ciphertext), sharedSecret: copyOut(r.sharedKey) };
  },

  mlkemDecapsulate(cipherText: Uint8Array, secretKey: unknown) {
    checkBytes('mlkemDecapsulate cipherText', cipherText, MLKEM1024_CT_BYTES);
    const sk = asSecret('mlkemDecapsulate secretKey', secretKey, 'ml-kem-1024');
    return copyOut(nativeKem().decapsulate(nodeMlkemKey(sk), cipherText));
  },

  mldsaKeygen(seed32: Uint8Array) {
    checkBytes('mldsaKeygen seed32', seed32, MLDSA87_SEED_BYTES);
    const sk = new PqSecretKey('ml-dsa-87', seed32);
    const publicKey = rawPublic(MLDSA_SPKI_PREFIX, nodeMldsaKey(sk), MLDSA87_PK_BYTES);
    return { publicKey, secretKey: sk };
  },

  mldsaSign(secretKey: unknown, message: Uint8Array, rnd32?: Uint8Array) {
    const sk = asSecret('mldsaSign secretKey', secretKey, 'ml-dsa-87');
    checkAnyBytes('mldsaSign message', message);
    if (rnd32 !== undefined) return nobleBackend.mldsaSign(sk, message, rnd32);
    try {
      // OpenSSL's default: hedged signing with fresh rnd, empty context.
      return copyOut(nodeCrypto.sign(null, message, nodeMldsaKey(sk)));
    } catch (err) {
      throw new CryptoError(CryptoCode.INTERNAL, 'mldsaSign: node:crypto failed to sign', { cause: err });
    }
  },

  mldsaVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) {
    checkBytes('mldsaVerify publicKey', publicKey, MLDSA87_PK_BYTES);
    checkAnyBytes('mldsaVerify message', message);
    checkBytes('mldsaVerify signature', signature, MLDSA87_SIG_BYTES);
    try {
      return nodeCrypto.verify(null, message, publicFromRaw(MLDSA_SPKI_PREFIX, publicKey), signature);
    } catch {
      return false;
    }
  },

  destroySecretKey: destroySecret,
});

// ---------------------------------------------------------------- selection

let nativeChecked: boolean | undefined;

/** True when this Node's node:crypto can do ML-KEM-1024 and ML-DSA-87 (Node >= 24 with OpenSSL >= 3.5). */
export function nativePqAvailable(): boolean {
  if (nativeChecked === undefined) {
    try {
      nativeKem();
      privateFromSeed(MLKEM_PKCS8_SEED_PREFIX, new Uint8Array(MLKEM1024_SEED_BYTES));
      privateFromSeed(MLDSA_PKCS8_SEED_PREFIX, new Uint8Array(MLDSA87_SEED_BYTES));
      nativeChecked = true;
    } catch {
      nativeChecked = false;
    }
  }
  return nativeChecked;
}

/**
 * The backend to use. With no name: SHADOWMESH_PQ_BACKEND when set, else
 * 'node' when available, else 'noble'. Asking for 'node' (by name or
 * environment) where it is absent, or for an unknown name, throws
 * ConfigError SM_ERR_CONFIG_PQ_BACKEND.
 */
export function getPqBackend(name?: PqBackendName): PqBackend {
  let chosen: string | undefined = name;
  let source = 'getPqBackend name';
  if (chosen === undefined) {
    const env = process.env[PQ_BACKEND_ENV];
    if (env !== undefined && env !== '') {
      chosen = env;
      source = PQ_BACKEND_ENV;
    }
  }
  if (chosen === undefined) return nativePqAvailable() ? nodeBackend : nobleBackend;
  if (chosen === 'noble') return nobleBackend;
  if (chosen === 'node') {
    if (!nativePqAvailable()) {
      throw new ConfigError(
        CryptoCode.PQ_BACKEND,
        `${source}: 'node' asked for, but node:crypto ${process.version} has no ML-KEM/ML-DSA (needs Node >= 24); use 'noble'`,
      );
    }
    return nodeBackend;
  }
  throw new ConfigError(CryptoCode.PQ_BACKEND, `${source}: expected 'node' or 'noble', got ${JSON.stringify(chosen)}`);
}
