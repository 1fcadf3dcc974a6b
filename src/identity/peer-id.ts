/**
 * Peer ids (docs/architecture.md "Identity and membership"): a peer id is
 *
 *     SHA-256(PEER_ID_LABEL || hybrid public key)
 *
 * where the hybrid public key is Ed25519 || ML-DSA-87 (2624 bytes), so the id
 * commits to both halves: forging a member needs both keys broken. The label
 * separates this hash from every other SHA-256 we take over a public key.
 *
 * Text form: 64 lower-case hex digits. parsePeerId also accepts upper case
 * (people copy ids from many places) but nothing else: no prefix, no spaces.
 * shortId is for logs only (docs/conventions.md §13), never for identification.
 * Every function returns a fresh array.
 */
import { ConfigError, IdentityError } from '../errors.js';
import { sha256, toHex, utf8 } from '../crypto/bytes.js';
import { HYBRID_SIGN_PUBLIC_BYTES } from '../crypto/hybrid-sign.js';
import { IdentityCode } from './identity-errors.js';

export const PEER_ID_LABEL = 'shadowmesh peer id v1';
/** Length of a peer id: one SHA-256 output. */
export const PEER_ID_BYTES = 32;
/** Hex digits shortId keeps: 32 bits tell peers of one network apart in a log line. */
export const SHORT_ID_HEX_CHARS = 8;

const PEER_ID_LABEL_BYTES = utf8(PEER_ID_LABEL);
const PEER_ID_TEXT = /^[0-9a-fA-F]{64}$/;

/** The peer id of a hybrid public key (32 bytes). */
export function peerIdFromPublicKey(publicKey: Uint8Array): Uint8Array {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== HYBRID_SIGN_PUBLIC_BYTES) {
    const got = publicKey instanceof Uint8Array ? `${publicKey.length} bytes` : typeof publicKey;
    throw new ConfigError('SM_ERR_CONFIG_PUBLIC_KEY', `peerIdFromPublicKey publicKey: expected ${HYBRID_SIGN_PUBLIC_BYTES} bytes, got ${got}`);
  }
  return sha256(PEER_ID_LABEL_BYTES, publicKey);
}

function checkId(name: string, id: Uint8Array): void {
  if (!(id instanceof Uint8Array) || id.length !== PEER_ID_BYTES) {
    const got = id instanceof Uint8Array ? `${id.length} bytes` : typeof id;
    throw new ConfigError('SM_ERR_CONFIG_PEER_ID', `${name} id: expected ${PEER_ID_BYTES} bytes, got ${got}`);
  }
}

/** 64 lower-case hex digits. */
export function formatPeerId(id: Uint8Array): string {
  checkId('formatPeerId', id);
  return toHex(id);
}

/** Parses 64 hex digits (surrounding whitespace ignored); IdentityError SM_ERR_ID_PEER_ID otherwise. */
export function parsePeerId(text: string): Uint8Array {
  if (typeof text !== 'string') throw new IdentityError(IdentityCode.PEER_ID, `peer id: expected a string, got ${typeof text}`);
  const t = text.trim();
  if (!PEER_ID_TEXT.test(t)) {
    const shown = t.length > 80 ? `${t.slice(0, 80)}…` : t;
    throw new IdentityError(IdentityCode.PEER_ID, `invalid peer id ${JSON.stringify(shown)}: expected 64 hex digits`);
  }
  return Uint8Array.from(Buffer.from(t, 'hex'));
}

/** First 8 hex digits, for log lines. */
export function shortId(id: Uint8Array): string {
  checkId('shortId', id);
  return toHex(id.subarray(0, SHORT_ID_HEX_CHARS / 2));
}
