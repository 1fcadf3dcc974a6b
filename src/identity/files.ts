/**
 * Certificates and revocation lists on disk. Files are armored text
 * (armor.ts: "SHADOWMESH CERTIFICATE", "SHADOWMESH CA CERTIFICATE",
 * "SHADOWMESH REVOCATION LIST"); raw binary encodings are accepted too, so
 * bytes captured from the wire can be inspected.
 *
 * Every error names the path: SM_ERR_ID_MISSING / SM_ERR_ID_FILE for I/O,
 * SM_ERR_ID_ARMOR for text that is not the expected block, and the
 * decoder's own code (SM_ERR_CERT_MALFORMED, SM_ERR_CRL_*) otherwise.
 * Writers replace the file atomically with mode 0644: these objects are
 * public.
 */
import { ConfigError, IdentityError } from '../errors.js';
import { ArmorLabel, decodeArmor, encodeArmor } from './armor.js';
import { decodeCaCertificate, decodeMemberCertificate, type CaCertificate, type MemberCertificate } from './certificate.js';
import { decodeRevocationList, type RevocationList } from './revocation.js';
import { PUBLIC_FILE_MODE, readPublicFile, writeFileAtomic } from './secure-files.js';

const ARMOR_PREFIX = '-----BEGIN ';

function checkPath(fn: string, path: string): void {
  if (typeof path !== 'string' || path.length === 0) throw new ConfigError('SM_ERR_CONFIG_PATH', `${fn} path: expected a non-empty path`);
}

/** The binary object in `data`: the body of an armor block with `label`, or the bytes themselves when not armored. */
export function unarmorIfText(data: Uint8Array, label: string): Uint8Array {
  const head = Buffer.from(data.buffer, data.byteOffset, Math.min(data.length, 64)).toString('latin1').trimStart();
  if (!head.startsWith(ARMOR_PREFIX)) return data;
  return decodeArmor(Buffer.from(data.buffer, data.byteOffset, data.length).toString('utf8'), label);
}

/** Reads `path` and decodes it, prefixing any IdentityError message with the path (the code is kept). */
async function loadWith<T>(path: string, label: string, decode: (bytes: Uint8Array) => T): Promise<T> {
  const data = await readPublicFile(path);
  try {
    return decode(unarmorIfText(data, label));
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && /^SM_ERR_(ID|CERT|CRL)_/.test(code)) throw new IdentityError(code, `${path}: ${(err as Error).message}`, { cause: err });
    throw err;
  }
}

export async function loadCaCertificate(path: string): Promise<CaCertificate> {
  checkPath('loadCaCertificate', path);
  return loadWith(path, ArmorLabel.CA_CERTIFICATE, decodeCaCertificate);
}

/** Structure only: verify membership with MembershipVerifier. */
export async function loadMemberCertificate(path: string): Promise<MemberCertificate> {
  checkPath('loadMemberCertificate', path);
  return loadWith(path, ArmorLabel.MEMBER_CERTIFICATE, decodeMemberCertificate);
}

/** Verifies that `ca` issued and signed the list. */
export async function loadRevocationList(path: string, ca: CaCertificate): Promise<RevocationList> {
  checkPath('loadRevocationList', path);
  return loadWith(path, ArmorLabel.REVOCATION_LIST, (bytes) => decodeRevocationList(bytes, ca));
}

export async function saveCaCertificate(path: string, ca: CaCertificate): Promise<void> {
  checkPath('saveCaCertificate', path);
  await writeFileAtomic(path, encodeArmor(ArmorLabel.CA_CERTIFICATE, ca.raw), { mode: PUBLIC_FILE_MODE });
}

export async function saveMemberCertificate(path: string, cert: MemberCertificate): Promise<void> {
  checkPath('saveMemberCertificate', path);
  await writeFileAtomic(path, encodeArmor(ArmorLabel.MEMBER_CERTIFICATE, cert.raw), { mode: PUBLIC_FILE_MODE });
}

export async function saveRevocationList(path: string, crl: RevocationList): Promise<void> {
  checkPath('saveRevocationList', path);
  await writeFileAtomic(path, encodeArmor(ArmorLabel.REVOCATION_LIST, crl.raw), { mode: PUBLIC_FILE_MODE });
}
