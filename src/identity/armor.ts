/**
 * PEM-like text armor for ShadowMesh binary objects (keys, certificates,
 * revocation lists), so they can be pasted into a terminal, a chat or a
 * config-management tool:
 *
 *     -----BEGIN SHADOWMESH CERTIFICATE-----
 *     <standard base64 (RFC 4648 §4), padded, lines of 64 characters>
 *     -----END SHADOWMESH CERTIFICATE-----
 *
 * `label` is the part after "SHADOWMESH ": upper-case words separated by
 * single spaces ("CERTIFICATE", "CA CERTIFICATE", "PUBLIC KEY").
 *
 * Decoding is strict: exactly one block, nothing but whitespace around it,
 * the expected label on both lines, and canonical base64 (no stray
 * characters, correct padding, zero pad bits). Line breaks may be LF or CRLF
 * and line length is not enforced when reading. Errors are IdentityError
 * SM_ERR_ID_ARMOR. The decoded bytes are a fresh copy.
 */
import { ConfigError, IdentityError } from '../errors.js';
import { IdentityCode } from './identity-errors.js';

/** Labels we emit and accept. */
export const ArmorLabel = {
  MEMBER_CERTIFICATE: 'CERTIFICATE',
  CA_CERTIFICATE: 'CA CERTIFICATE',
  REVOCATION_LIST: 'REVOCATION LIST',
  PUBLIC_KEY: 'PUBLIC KEY',
  PRIVATE_KEY: 'PRIVATE KEY',
} as const;

/** Base64 line length, as in PEM (RFC 7468 §2). */
const ARMOR_LINE_CHARS = 64;
/** Largest armored text we try to decode; our largest object (a CRL) stays well below. */
export const MAX_ARMOR_TEXT_CHARS = 4 * 1024 * 1024;

const LABEL_SHAPE = /^[A-Z]+( [A-Z]+)*$/;
const BASE64_SHAPE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const ANY_ARMOR_BEGIN = /-----BEGIN SHADOWMESH ([A-Z ]+)-----/;

function checkLabel(label: string): void {
  if (typeof label !== 'string' || !LABEL_SHAPE.test(label)) {
    throw new ConfigError('SM_ERR_CONFIG_ARMOR_LABEL', `armor label: expected upper-case words, got ${JSON.stringify(label)}`);
  }
}

function armorError(label: string, why: string): IdentityError {
  return new IdentityError(IdentityCode.ARMOR, `not a SHADOWMESH ${label} block: ${why}`);
}

/** Wraps bytes in an armor block; the text ends with a newline. */
export function encodeArmor(label: string, bytes: Uint8Array): string {
  checkLabel(label);
  if (!(bytes instanceof Uint8Array)) throw new ConfigError('SM_ERR_CONFIG_ARMOR_BYTES', 'armor bytes: expected a Uint8Array');
  const b64 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  const lines: string[] = [`-----BEGIN SHADOWMESH ${label}-----`];
  for (let i = 0; i < b64.length; i += ARMOR_LINE_CHARS) lines.push(b64.slice(i, i + ARMOR_LINE_CHARS));
  lines.push(`-----END SHADOWMESH ${label}-----`, '');
  return lines.join('\n');
}

/** Returns the label of the first armor block in `text`, or undefined when there is none. */
export function peekArmorLabel(text: string): string | undefined {
  if (typeof text !== 'string') return undefined;
  const m = ANY_ARMOR_BEGIN.exec(text.slice(0, 256));
  return m?.[1];
}

/** Decodes an armor block with exactly this label. Throws IdentityError SM_ERR_ID_ARMOR. */
export function decodeArmor(text: string, label: string): Uint8Array {
  checkLabel(label);
  if (typeof text !== 'string') throw armorError(label, 'expected text');
  if (text.length > MAX_ARMOR_TEXT_CHARS) throw armorError(label, `longer than ${MAX_ARMOR_TEXT_CHARS} characters`);
  const lines = text.trim().split(/\r?\n/).map((l) => l.trim());
  const begin = `-----BEGIN SHADOWMESH ${label}-----`;
  const end = `-----END SHADOWMESH ${label}-----`;
  if (lines[0] !== begin) {
    const found = peekArmorLabel(lines[0] ?? '');
    throw armorError(label, found !== undefined ? `found a SHADOWMESH ${found} block instead` : 'missing BEGIN line');
  }
  if (lines.length < 2 || lines[lines.length - 1] !== end) throw armorError(label, 'missing END line or text after it');
  const body = lines.slice(1, -1).join('');
  if (body.length === 0) throw armorError(label, 'empty body');
  if (body.includes('-----')) throw armorError(label, 'more than one block');
  if (!BASE64_SHAPE.test(body)) throw armorError(label, 'invalid base64');
  const bytes = Buffer.from(body, 'base64');
  // Non-zero pad bits decode "successfully" but would let two texts mean the same bytes.
  if (bytes.toString('base64') !== body) throw armorError(label, 'non-canonical base64');
  return new Uint8Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}
