/**
 * Signed policies (docs/architecture.md "Network policy"; docs/threat-model.md):
 * the policy text signed by the network CA with a version number that only
 * grows, so whoever carries the blob (a relay, a file copy) can neither
 * change it nor pass off an older one as current. Same approach as the
 * revocation list (src/identity/revocation.ts): a fixed binary layout, the
 * CA's hybrid signature over every byte before it, under its own signing
 * context.
 *
 * Layout (little-endian, header as in src/identity/certificate.ts, kind 0x04):
 *
 * | offset | size | field                                             |
 * |--------|------|---------------------------------------------------|
 * | 0      | 4    | format u8 (=1) ‖ kind u8 (0x04) ‖ reserved u16 0  |
 * | 4      | 32   | caId of the issuing CA                            |
 * | 36     | 8    | version u64 (≥ 1; grows at every signing)         |
 * | 44     | 8    | issuedAtMs u64                                    |
 * | 52     | 4    | text length u32 (≤ MAX_POLICY_TEXT_BYTES)         |
 * | 56     | n    | the policy file, UTF-8                            |
 * | end-4691 | 4691 | CA hybrid signature, context "policy", over every byte before it |
 *
 * The text is the YAML the operator wrote (comments and all), so what a
 * member enforces can be read back with `ca show`-like tools. A blob whose
 * text does not validate is malformed even when signed.
 * Errors: SM_ERR_POLICY_MALFORMED, SM_ERR_POLICY_OTHER_CA, SM_ERR_POLICY_SIGNATURE.
 */
import { ConfigError, IdentityError } from '../errors.js';
import { equalBytes } from '../crypto/bytes.js';
import { HybridSigner, HYBRID_SIGNATURE_BYTES } from '../crypto/hybrid-sign.js';
import { CA_ID_BYTES, CERT_FORMAT_VERSION, safeVerify, type CaCertificate } from '../identity/certificate.js';
import { ByteReader } from '../wire/byte-reader.js';
import { ByteWriter } from '../wire/byte-writer.js';
import { CompiledPolicy } from './compiled-policy.js';
import { MAX_POLICY_TEXT_BYTES } from './policy-file.js';
import { PolicyCode } from './policy-errors.js';

export const POLICY_CONTEXT = 'policy';
export const POLICY_KIND = 0x04;
/** Armor label of a signed policy file. */
export const POLICY_ARMOR_LABEL = 'SIGNED POLICY';
const FIXED_BYTES = 4 + CA_ID_BYTES + 8 + 8 + 4;
export const MAX_SIGNED_POLICY_BYTES = FIXED_BYTES + MAX_POLICY_TEXT_BYTES + HYBRID_SIGNATURE_BYTES;

export interface SignedPolicy {
  caId: Uint8Array;
  version: number;
  issuedAtMs: number;
  text: string;
  policy: CompiledPolicy;
  signature: Uint8Array;
  /** The whole blob, a private copy. */
  raw: Uint8Array;
}

function malformed(why: string): IdentityError {
  return new IdentityError(PolicyCode.MALFORMED, `malformed signed policy: ${why}`);
}

/** Decodes the structure and validates the text; the signature is NOT checked. */
export function decodeSignedPolicyUnverified(bytes: Uint8Array): SignedPolicy {
  if (!(bytes instanceof Uint8Array)) throw malformed('expected a Uint8Array');
  if (bytes.length > MAX_SIGNED_POLICY_BYTES) throw malformed(`${bytes.length} bytes, limit ${MAX_SIGNED_POLICY_BYTES}`);
  const raw = Uint8Array.from(bytes);
  let fields;
  try {
    const r = new ByteReader(raw);
    const format = r.u8('format');
    if (format !== CERT_FORMAT_VERSION) throw malformed(`unsupported format version ${format}`);
    const kind = r.u8('kind');
    if (kind !== POLICY_KIND) throw malformed(`kind 0x${kind.toString(16).padStart(2, '0')}, expected 0x04`);
    r.zeros(2, 'reserved');
    const caId = r.bytes(CA_ID_BYTES, 'caId');
    const version = r.u64Number('version');
    if (version < 1) throw malformed('version 0');
    const issuedAtMs = r.u64Number('issuedAtMs');
    const length = r.u32('text length');
    if (length > MAX_POLICY_TEXT_BYTES) throw malformed(`text of ${length} bytes, limit ${MAX_POLICY_TEXT_BYTES}`);
    const textBytes = r.bytes(length, 'text');
    const signature = r.bytes(HYBRID_SIGNATURE_BYTES, 'signature');
    r.end('signed policy');
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(textBytes);
    } catch {
      throw malformed('text is not UTF-8');
    }
    fields = { caId, version, issuedAtMs, text, signature };
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    if (code === PolicyCode.MALFORMED) throw err;
    if (typeof code === 'string' && code.startsWith('SM_ERR_WIRE_')) throw new IdentityError(PolicyCode.MALFORMED, `malformed signed policy: ${(err as Error).message}`, { cause: err });
    throw err;
  }
  let policy: CompiledPolicy;
  try {
    policy = CompiledPolicy.fromText(fields.text, `policy version ${fields.version}`);
  } catch (err) {
    throw new IdentityError(PolicyCode.MALFORMED, `malformed signed policy: ${(err as Error).message}`, { cause: err });
  }
  return { ...fields, policy, raw };
}

/** Decodes a signed policy and checks that `ca` issued and signed it. */
export function decodeSignedPolicy(bytes: Uint8Array, ca: CaCertificate): SignedPolicy {
  if (ca === null || typeof ca !== 'object' || !(ca.caId instanceof Uint8Array)) throw new ConfigError('SM_ERR_CONFIG_CA', 'decodeSignedPolicy ca: expected a CaCertificate');
  const sp = decodeSignedPolicyUnverified(bytes);
  if (!equalBytes(sp.caId, ca.caId)) throw new IdentityError(PolicyCode.OTHER_CA, `policy version ${sp.version} was signed by another CA than "${ca.name}"`);
  const signed = sp.raw.subarray(0, sp.raw.length - HYBRID_SIGNATURE_BYTES);
  if (!safeVerify(ca.publicKey, POLICY_CONTEXT, signed, sp.signature)) throw new IdentityError(PolicyCode.SIGNATURE, `policy version ${sp.version}: CA signature does not verify`);
  return sp;
}

/** Signs policy text (validated first: SM_ERR_POLICY_INVALID). `caSigner` must hold the key of `ca`. */
export function issueSignedPolicy(caSigner: HybridSigner, ca: CaCertificate, fields: { version: number; issuedAtMs: number; text: string; name?: string }): SignedPolicy {
  if (!(caSigner instanceof HybridSigner) || !equalBytes(caSigner.publicKey, ca.publicKey)) throw new ConfigError('SM_ERR_CONFIG_SIGNER', 'issueSignedPolicy caSigner: expected the HybridSigner of this CA');
  const { version, issuedAtMs, text } = fields;
  if (!Number.isSafeInteger(version) || version < 1) throw new ConfigError('SM_ERR_CONFIG_POLICY_VERSION', `issueSignedPolicy version: expected a positive integer, got ${String(version)}`);
  if (!Number.isSafeInteger(issuedAtMs) || issuedAtMs < 0) throw new ConfigError('SM_ERR_CONFIG_NOW', `issueSignedPolicy issuedAtMs: expected a non-negative integer, got ${String(issuedAtMs)}`);
  CompiledPolicy.fromText(text, fields.name);
  const textBytes = new TextEncoder().encode(text);
  const w = new ByteWriter();
  w.u8(CERT_FORMAT_VERSION).u8(POLICY_KIND).zeros(2);
  w.bytes(ca.caId, 'caId').u64Number(version, 'version').u64Number(issuedAtMs, 'issuedAtMs').u32(textBytes.length, 'text length').bytes(textBytes, 'text');
  const tbs = w.finish();
  const signature = caSigner.sign(POLICY_CONTEXT, tbs);
  const out = new Uint8Array(tbs.length + signature.length);
  out.set(tbs, 0);
  out.set(signature, tbs.length);
  return decodeSignedPolicy(out, ca);
}
