/**
 * A node's identity on disk (docs/architecture.md "Identity and membership"):
 *
 *     DIR/              mode 0700 when we create it
 *     DIR/identity.key  mode 0600, armored "SHADOWMESH PRIVATE KEY", the
 *                       64-byte hybrid seed (format: sealed-seed.ts),
 *                       optionally encrypted with a passphrase
 *     DIR/identity.pub  armored "SHADOWMESH PUBLIC KEY", the 2624-byte
 *                       hybrid public key: the file a CA signs
 *
 * The identity is created once and then only loaded: loadIdentity never
 * generates, createIdentity refuses to replace an existing key unless
 * `force` is set (an identity regenerated at every start was a flaw of an
 * earlier design). Files are written atomically and the key file is created
 * 0600 from its first byte. loadIdentity refuses a key file that group or
 * others can access, and a public key file that does not match the key.
 *
 * The returned Identity owns its HybridSigner: call identity.signer.destroy()
 * when done. Seeds are wiped as soon as the signer holds them.
 */
import { join } from 'node:path';
import { ConfigError, IdentityError } from '../errors.js';
import { equalBytes, wipe } from '../crypto/bytes.js';
import { HybridSigner, HYBRID_SIGN_PUBLIC_BYTES } from '../crypto/hybrid-sign.js';
import { ArmorLabel, decodeArmor, encodeArmor } from './armor.js';
import { IdentityCode } from './identity-errors.js';
import { peerIdFromPublicKey } from './peer-id.js';
import { openSeed, sealSeed, SeedKind } from './sealed-seed.js';
import {
  ensurePrivateDir,
  pathExists,
  PRIVATE_FILE_MODE,
  PUBLIC_FILE_MODE,
  readPrivateFile,
  readPublicFile,
  writeFileAtomic,
} from './secure-files.js';

export const IDENTITY_KEY_FILE = 'identity.key';
export const IDENTITY_PUB_FILE = 'identity.pub';

export interface Identity {
  signer: HybridSigner;
  publicKey: Uint8Array;
  peerId: Uint8Array;
}

function checkDir(name: string, dir: string): void {
  if (typeof dir !== 'string' || dir.length === 0) throw new ConfigError('SM_ERR_CONFIG_DIR', `${name} dir: expected a non-empty path`);
}

function identityFrom(signer: HybridSigner): Identity {
  const publicKey = Uint8Array.from(signer.publicKey);
  return { signer, publicKey, peerId: peerIdFromPublicKey(publicKey) };
}

/** Armored text of a hybrid public key, as written to identity.pub. */
export function encodePublicKey(publicKey: Uint8Array): string {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== HYBRID_SIGN_PUBLIC_BYTES) {
    throw new ConfigError('SM_ERR_CONFIG_PUBLIC_KEY', `publicKey: expected ${HYBRID_SIGN_PUBLIC_BYTES} bytes`);
  }
  return encodeArmor(ArmorLabel.PUBLIC_KEY, publicKey);
}

/** Decodes identity.pub text; SM_ERR_ID_ARMOR or SM_ERR_ID_CORRUPT (wrong length). `what` names the source. */
export function decodePublicKey(text: string, what: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = decodeArmor(text, ArmorLabel.PUBLIC_KEY);
  } catch (err) {
    throw new IdentityError((err as IdentityError).code ?? IdentityCode.ARMOR, `${what}: ${(err as Error).message}`, { cause: err });
  }
  if (bytes.length !== HYBRID_SIGN_PUBLIC_BYTES) {
    throw new IdentityError(IdentityCode.CORRUPT, `${what}: public key is ${bytes.length} bytes, expected ${HYBRID_SIGN_PUBLIC_BYTES}`);
  }
  return bytes;
}

/** Reads an armored public key file (identity.pub). */
export async function readPublicKeyFile(path: string): Promise<Uint8Array> {
  if (typeof path !== 'string' || path.length === 0) throw new ConfigError('SM_ERR_CONFIG_PATH', 'readPublicKeyFile path: expected a non-empty path');
  const data = await readPublicFile(path);
  return decodePublicKey(data.toString('utf8'), path);
}

/**
 * Generates a new identity in `dir`. Refuses (SM_ERR_ID_EXISTS) when
 * identity.key exists, unless `force`, which replaces it: the old peer id
 * is gone for good.
 */
export async function createIdentity(dir: string, options: { passphrase?: string; force?: boolean } = {}): Promise<Identity> {
  checkDir('createIdentity', dir);
  const keyPath = join(dir, IDENTITY_KEY_FILE);
  if (options.force !== true && (await pathExists(keyPath))) {
    throw new IdentityError(IdentityCode.EXISTS, `an identity already exists at ${keyPath}; refusing to replace it without force`);
  }
  await ensurePrivateDir(dir);
  const signer = HybridSigner.generate();
  let seed: Uint8Array | undefined;
  try {
    seed = signer.exportSeed();
    const body = await sealSeed(seed, SeedKind.Identity, options.passphrase);
    const text = encodeArmor(ArmorLabel.PRIVATE_KEY, body);
    wipe(body);
    try {
      await writeFileAtomic(keyPath, text, { mode: PRIVATE_FILE_MODE, noClobber: options.force !== true });
    } catch (err) {
      if ((err as IdentityError).code === IdentityCode.EXISTS) {
        throw new IdentityError(IdentityCode.EXISTS, `an identity already exists at ${keyPath}; refusing to replace it without force`);
      }
      throw err;
    }
    const identity = identityFrom(signer);
    await writeFileAtomic(join(dir, IDENTITY_PUB_FILE), encodePublicKey(identity.publicKey), { mode: PUBLIC_FILE_MODE });
    return identity;
  } catch (err) {
    signer.destroy();
    throw err;
  } finally {
    wipe(seed);
  }
}

/**
 * Loads the identity in `dir`. Never generates one.
 * SM_ERR_ID_MISSING (no identity.key), SM_ERR_ID_PERMISSIONS (group/other
 * access), SM_ERR_ID_PASSPHRASE (needed and missing, or wrong),
 * SM_ERR_ID_CORRUPT (undecodable, or identity.pub belongs to another key).
 */
export async function loadIdentity(dir: string, options: { passphrase?: string } = {}): Promise<Identity> {
  checkDir('loadIdentity', dir);
  const keyPath = join(dir, IDENTITY_KEY_FILE);
  let file: Buffer;
  try {
    file = await readPrivateFile(keyPath);
  } catch (err) {
    if ((err as IdentityError).code === IdentityCode.MISSING) {
      throw new IdentityError(IdentityCode.MISSING, `no identity at ${keyPath}: create one first (shadowmesh keygen)`, { cause: err });
    }
    throw err;
  }
  let body: Uint8Array;
  try {
    body = decodeArmor(file.toString('utf8'), ArmorLabel.PRIVATE_KEY);
  } catch (err) {
    throw new IdentityError(IdentityCode.CORRUPT, `${keyPath}: ${(err as Error).message}`, { cause: err });
  } finally {
    file.fill(0);
  }
  let seed: Uint8Array | undefined;
  let signer: HybridSigner | undefined;
  try {
    seed = await openSeed(body, SeedKind.Identity, keyPath, options.passphrase);
    signer = HybridSigner.fromSeed(seed);
  } finally {
    wipe(seed, body);
  }
  const identity = identityFrom(signer);
  const pubPath = join(dir, IDENTITY_PUB_FILE);
  if (await pathExists(pubPath)) {
    try {
      const pub = await readPublicKeyFile(pubPath);
      if (!equalBytes(pub, identity.publicKey)) {
        throw new IdentityError(IdentityCode.CORRUPT, `${pubPath} does not match ${keyPath}: it holds another identity's public key`);
      }
    } catch (err) {
      signer.destroy();
      throw err;
    }
  }
  return identity;
}

/** Loads the identity in `dir`, creating it only when identity.key does not exist. */
export async function loadOrCreateIdentity(dir: string, options: { passphrase?: string } = {}): Promise<{ identity: Identity; created: boolean }> {
  checkDir('loadOrCreateIdentity', dir);
  try {
    return { identity: await loadIdentity(dir, options), created: false };
  } catch (err) {
    if ((err as IdentityError).code !== IdentityCode.MISSING || (await pathExists(join(dir, IDENTITY_KEY_FILE)))) throw err;
  }
  try {
    return { identity: await createIdentity(dir, options), created: true };
  } catch (err) {
    // Another process created it between our load and create: load theirs.
    if ((err as IdentityError).code === IdentityCode.EXISTS) return { identity: await loadIdentity(dir, options), created: false };
    throw err;
  }
}
