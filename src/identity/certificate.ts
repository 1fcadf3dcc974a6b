/**
 * Member and CA certificates: our own versioned binary format
 * (docs/architecture.md "Identity and membership"). Integers are little-endian, as
 * on the wire (docs/protocol.md); every certificate starts with
 *
 *     | 0 format version u8 (=1) | 1 kind u8 | 2..3 reserved, zero |
 *
 * kind 0x01, member certificate (at most MAX_MEMBER_CERT_BYTES = 8191 < MAX_CERT_BYTES):
 *
 * | offset | size     | field                                                |
 * |--------|----------|------------------------------------------------------|
 * | 0      | 4        | header, kind 0x01                                    |
 * | 4      | 16       | serial (random)                                      |
 * | 20     | 32       | caId of the issuing CA                               |
 * | 52     | 8        | notBeforeMs u64 (Unix ms)                            |
 * | 60     | 8        | notAfterMs u64, > notBeforeMs                        |
 * | 68     | 32       | peerId = peerIdFromPublicKey(publicKey)              |
 * | 100    | 2624     | hybrid public key (Ed25519 32 ‖ ML-DSA-87 2592)      |
 * | 2724   | 1 + n    | name: u8 length n (1..64) ‖ UTF-8                    |
 * |        | 1 + k·m  | addresses: u8 count (1..8), each                     |
 * |        |          |   family u8 (4|6) ‖ prefix u8 ‖ address[4|16]        |
 * |        | 1 + …    | groups: u8 count (0..16), each u8 length (1..32) ‖ ASCII |
 * |        | [1 + k·m] | routes, only with header flag 0x01: u8 count       |
 * |        |          |   (1..8), each family u8 (4|6) ‖ prefix u8 ‖ network |
 * |        |          |   address[4|16] (cert-routes.ts)                     |
 * | end-4691 | 4691   | CA hybrid signature, context "member-cert", over     |
 * |        |          | every byte before it                                 |
 *
 * kind 0x02, CA certificate (self-signed):
 *
 * | offset | size     | field                                                |
 * |--------|----------|------------------------------------------------------|
 * | 0      | 4        | header, kind 0x02                                    |
 * | 4      | 32       | caId = SHA-256(CA_ID_LABEL ‖ public key)             |
 * | 36     | 8        | notBeforeMs u64                                      |
 * | 44     | 8        | notAfterMs u64, > notBeforeMs                        |
 * | 52     | 2624     | CA hybrid public key                                 |
 * | 2676   | 1 + n    | name: u8 length n (1..64) ‖ UTF-8                    |
 * |        | 1 + d    | domain, only with header flag 0x01: u8 length d      |
 * |        |          |   (1..253) ‖ lower-case DNS labels (cert-fields.ts)  |
 * | end-4691 | 4691   | self-signature, context "ca-cert", over every byte before it |
 *
 * Byte 2 of the header holds flags, per kind; every bit not named here
 * must be zero:
 *  - CA certificate, 0x01: the network domain of member names follows the
 *    name (docs/configuration.md "Names");
 *  - member certificate, 0x01: the routes field follows the groups
 *    (docs/architecture.md "Subnet routes"), with at least one route;
 *  - member certificate, 0x02: the member is an exit node, it may carry the
 *    mesh's default-route traffic (0.0.0.0/0 and ::/0, docs/architecture.md
 *    "Exit nodes"); a flag only, no field follows.
 * A certificate without the optional field encodes exactly as before its
 * flag existed and is read by every version; one with it is refused as
 * malformed (unknown flag) by a version that predates it.
 *
 * Decoders are strict: exact lengths, no trailing bytes, reserved bytes and unknown flags zero,
 * the field rules of cert-fields.ts, canonical order-preserving lists.
 * They copy the input once into `raw`; every byte field of the returned
 * object is a view into that private copy, so callers may reuse their input.
 * Every decoding failure is IdentityError SM_ERR_CERT_MALFORMED.
 *
 * decodeMemberCertificate checks structure and peerId only; the CA
 * signature is checked by verifyMemberSignature (membership.ts calls it).
 */
import { ConfigError, IdentityError } from '../errors.js';
import { equalBytes, randomBytes, sha256, utf8 } from '../crypto/bytes.js';
import { HybridSigner, hybridVerify, HYBRID_SIGN_PUBLIC_BYTES, HYBRID_SIGNATURE_BYTES } from '../crypto/hybrid-sign.js';
import { ByteReader } from '../wire/byte-reader.js';
import { ByteWriter } from '../wire/byte-writer.js';
import { MAX_CERT_BYTES } from '../wire/constants.js';
import { checkDecodedAddresses, checkDomain, checkGroups, checkName, isCanonicalDomain, MAX_DOMAIN_BYTES, MAX_GROUP_BYTES, MAX_GROUPS, MAX_NAME_BYTES, parseAddresses } from './cert-fields.js';
import type { Cidr } from './cidr.js';
import { checkedRoute, checkRouteList, MAX_ADDRESS_ENTRIES, MAX_ROUTES, parseRoutes } from './cert-routes.js';
import { IdentityCode, isWireError } from './identity-errors.js';
import { PEER_ID_BYTES, peerIdFromPublicKey } from './peer-id.js';

export const CERT_FORMAT_VERSION = 1;
export const CertKind = { Member: 0x01, Ca: 0x02, RevocationList: 0x03 } as const;
export type CertKind = (typeof CertKind)[keyof typeof CertKind];

/** Hybrid signature contexts (src/crypto/hybrid-sign.ts): one per signed object type. */
export const MEMBER_CERT_CONTEXT = 'member-cert';
export const CA_CERT_CONTEXT = 'ca-cert';
export const CA_ID_LABEL = 'shadowmesh ca id v1';
export const SERIAL_BYTES = 16;
export const CA_ID_BYTES = 32;
export const CERT_HEADER_BYTES = 4;
/** CA certificate header flag (byte 2): a network domain follows the name. */
export const CA_FLAG_DOMAIN = 0x01;
/** Member certificate header flag (byte 2): the routes field follows the groups. */
export const MEMBER_FLAG_ROUTES = 0x01;
/** Member certificate header flag (byte 2): the CA lets this member carry default-route traffic (an exit node). No field. */
export const MEMBER_FLAG_EXIT = 0x02;

const MEMBER_FIXED_BYTES = CERT_HEADER_BYTES + SERIAL_BYTES + CA_ID_BYTES + 8 + 8 + PEER_ID_BYTES + HYBRID_SIGN_PUBLIC_BYTES;
/** Largest member certificate the field limits allow. */
export const MAX_MEMBER_CERT_BYTES =
  MEMBER_FIXED_BYTES + (1 + MAX_NAME_BYTES) + (1 + 1 + MAX_ADDRESS_ENTRIES * (2 + 16)) + (1 + MAX_GROUPS * (1 + MAX_GROUP_BYTES)) + HYBRID_SIGNATURE_BYTES;
/** Largest CA certificate. */
export const MAX_CA_CERT_BYTES = CERT_HEADER_BYTES + CA_ID_BYTES + 8 + 8 + HYBRID_SIGN_PUBLIC_BYTES + 1 + MAX_NAME_BYTES + 1 + MAX_DOMAIN_BYTES + HYBRID_SIGNATURE_BYTES;
if (MAX_CA_CERT_BYTES > MAX_CERT_BYTES) throw new Error(`CA certificate limits allow ${MAX_CA_CERT_BYTES} bytes, above MAX_CERT_BYTES`);
if (MAX_MEMBER_CERT_BYTES > MAX_CERT_BYTES) throw new Error(`member certificate limits allow ${MAX_MEMBER_CERT_BYTES} bytes, above MAX_CERT_BYTES`);

export interface MemberCertificate {
  serial: Uint8Array;
  peerId: Uint8Array;
  publicKey: Uint8Array;
  name: string;
  /** Canonical CIDR text, e.g. "10.10.10.3/24", "fd00::3/64". */
  addresses: string[];
  groups: string[];
  /** Subnet routes the member may serve, canonical network prefixes ("192.168.50.0/24"); empty for most members. */
  routes: string[];
  /** The CA marked this member an exit node (ca sign --exit): it may carry 0.0.0.0/0 and ::/0 for members that choose it. */
  exit: boolean;
  notBeforeMs: number;
  notAfterMs: number;
  caId: Uint8Array;
  signature: Uint8Array;
  /** The full encoded certificate. */
  raw: Uint8Array;
}

export interface CaCertificate {
  name: string;
  /** The network domain of member names (`ca init --domain`), or null: the CA names none. */
  domain: string | null;
  publicKey: Uint8Array;
  caId: Uint8Array;
  notBeforeMs: number;
  notAfterMs: number;
  signature: Uint8Array;
  raw: Uint8Array;
}

const CA_ID_LABEL_BYTES = utf8(CA_ID_LABEL);

/** caId of a CA public key. */
export function caIdFromPublicKey(publicKey: Uint8Array): Uint8Array {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== HYBRID_SIGN_PUBLIC_BYTES) {
    throw new ConfigError('SM_ERR_CONFIG_PUBLIC_KEY', `caIdFromPublicKey publicKey: expected ${HYBRID_SIGN_PUBLIC_BYTES} bytes`);
  }
  return sha256(CA_ID_LABEL_BYTES, publicKey);
}

/** hybridVerify that treats any exception from a hostile key as "does not verify". */
export function safeVerify(publicKey: Uint8Array, context: string, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return hybridVerify(publicKey, context, message, signature);
  } catch {
    return false;
  }
}

/** A structural failure inside a decoder; decodeWith() gives it the decoder's own code. */
export function malformed(what: string, why: string): IdentityError {
  return new IdentityError(IdentityCode.CERT_MALFORMED, `malformed ${what}: ${why}`);
}

/** Reads and checks the common 4-byte header. */
/** Reads the 4-byte header; returns byte 2's flags, of which only `allowedFlags` may be set (none for most kinds). */
export function readCertHeader(r: ByteReader, kind: CertKind, what: string, allowedFlags = 0): number {
  const version = r.u8('version');
  if (version !== CERT_FORMAT_VERSION) throw malformed(what, `unsupported format version ${version}`);
  const k = r.u8('kind');
  if (k !== kind) throw malformed(what, `kind 0x${k.toString(16).padStart(2, '0')}, expected 0x${kind.toString(16).padStart(2, '0')}`);
  const flags = r.u8('flags');
  if ((flags & ~allowedFlags) !== 0) throw malformed(what, `unknown header flags 0x${flags.toString(16).padStart(2, '0')}`);
  r.zeros(1, 'reserved');
  return flags;
}

function checkValidity(notBeforeMs: number, notAfterMs: number): string | undefined {
  if (!Number.isSafeInteger(notBeforeMs) || notBeforeMs < 0) return 'notBeforeMs must be a non-negative integer';
  if (!Number.isSafeInteger(notAfterMs) || notAfterMs < 0) return 'notAfterMs must be a non-negative integer';
  if (notAfterMs <= notBeforeMs) return 'notAfterMs must be after notBeforeMs';
  return undefined;
}

/**
 * Checks the input of a decoder (a Uint8Array no longer than `maxBytes`),
 * copies it, and runs `fn` on the copy, turning cursor errors (SM_ERR_WIRE_*),
 * field errors and malformed() into IdentityError `code`. Anything else is a
 * bug and escapes unchanged.
 */
export function decodeWith<T>(what: string, code: string, maxBytes: number, bytes: Uint8Array, fn: (raw: Uint8Array) => T): T {
  if (!(bytes instanceof Uint8Array)) throw new IdentityError(code, `malformed ${what}: expected a Uint8Array`);
  if (bytes.length > maxBytes) throw new IdentityError(code, `malformed ${what}: ${bytes.length} bytes, limit ${maxBytes}`);
  const raw = Uint8Array.from(bytes);
  try {
    return fn(raw);
  } catch (err) {
    const c = (err as { code?: unknown } | null)?.code;
    if (c === code) throw err;
    if (c === IdentityCode.CERT_MALFORMED) throw new IdentityError(code, (err as Error).message, { cause: err });
    if (isWireError(err) || c === IdentityCode.CERT_FIELD) throw new IdentityError(code, `malformed ${what}: ${(err as Error).message}`, { cause: err });
    throw err;
  }
}

// ---------------------------------------------------------------------------
// Member certificates

/** Decodes a member certificate's structure (not its CA signature). SM_ERR_CERT_MALFORMED. */
export function decodeMemberCertificate(bytes: Uint8Array): MemberCertificate {
  const what = 'member certificate';
  return decodeWith(what, IdentityCode.CERT_MALFORMED, MAX_MEMBER_CERT_BYTES, bytes, (raw) => {
    const r = new ByteReader(raw);
    const flags = readCertHeader(r, CertKind.Member, what, MEMBER_FLAG_ROUTES | MEMBER_FLAG_EXIT);
    const serial = r.bytes(SERIAL_BYTES, 'serial');
    const caId = r.bytes(CA_ID_BYTES, 'caId');
    const notBeforeMs = r.u64Number('notBeforeMs');
    const notAfterMs = r.u64Number('notAfterMs');
    const validity = checkValidity(notBeforeMs, notAfterMs);
    if (validity !== undefined) throw malformed(what, validity);
    const peerId = r.bytes(PEER_ID_BYTES, 'peerId');
    const publicKey = r.bytes(HYBRID_SIGN_PUBLIC_BYTES, 'publicKey');
    if (!equalBytes(peerId, peerIdFromPublicKey(publicKey))) throw malformed(what, 'peerId does not match the public key');
    const name = r.u8String('name', MAX_NAME_BYTES, 1);
    checkName(name);
    const addressCount = r.u8('address count');
    const entries: Array<{ family: 4 | 6; address: Uint8Array; prefix: number }> = [];
    for (let i = 0; i < addressCount; i++) {
      const family = r.u8('address family');
      if (family !== 4 && family !== 6) throw malformed(what, `address ${i}: family ${family}`);
      const prefix = r.u8('address prefix');
      entries.push({ family, prefix, address: r.bytes(family === 4 ? 4 : 16, 'address') });
    }
    const addressCidrs = checkDecodedAddresses(entries);
    const addresses = addressCidrs.map((c) => c.text);
    const groupCount = r.u8('group count');
    if (groupCount > MAX_GROUPS) throw malformed(what, `${groupCount} groups, limit ${MAX_GROUPS}`);
    const groups: string[] = [];
    for (let i = 0; i < groupCount; i++) groups.push(r.u8String('group', MAX_GROUP_BYTES, 1));
    checkGroups(groups);
    const routes: string[] = [];
    if ((flags & MEMBER_FLAG_ROUTES) !== 0) {
      const routeCount = r.u8('route count');
      if (routeCount < 1 || routeCount > MAX_ROUTES) throw malformed(what, `${routeCount} routes, need 1..${MAX_ROUTES} with the routes flag`);
      const cidrs = [];
      for (let i = 0; i < routeCount; i++) {
        const family = r.u8('route family');
        if (family !== 4 && family !== 6) throw malformed(what, `route ${i}: family ${family}`);
        const prefix = r.u8('route prefix');
        cidrs.push(checkedRoute(family, r.bytes(family === 4 ? 4 : 16, 'route'), prefix));
      }
      for (const c of checkRouteList(cidrs, addressCidrs)) routes.push(c.text);
    }
    const signature = r.bytes(HYBRID_SIGNATURE_BYTES, 'signature');
    r.end(what);
    const exit = (flags & MEMBER_FLAG_EXIT) !== 0;
    return { serial, peerId, publicKey, name, addresses, groups, routes, exit, notBeforeMs, notAfterMs, caId, signature, raw };
  });
}

/** True when the member certificate carries a valid signature by this CA (and names it). */
export function verifyMemberSignature(cert: MemberCertificate, ca: CaCertificate): boolean {
  if (!equalBytes(cert.caId, ca.caId)) return false;
  const signed = cert.raw.subarray(0, cert.raw.length - HYBRID_SIGNATURE_BYTES);
  return safeVerify(ca.publicKey, MEMBER_CERT_CONTEXT, signed, cert.signature);
}

function writeAddresses(w: ByteWriter, cidrs: Cidr[]): void {
  w.u8(cidrs.length, 'address count');
  for (const c of cidrs) w.u8(c.family, 'address family').u8(c.prefix, 'address prefix').bytes(c.address, 'address');
}

/**
 * Issues a member certificate (pure: no I/O; randomness only for a default
 * serial and the hedged signature). Fields are checked by the rules of
 * cert-fields.ts (SM_ERR_CERT_FIELD); the validity must lie inside the CA's.
 * `caSigner` must hold the key of `ca`.
 */
export function issueMemberCertificate(
  caSigner: HybridSigner,
  ca: CaCertificate,
  fields: { name: string; addresses: string[]; groups?: string[]; routes?: string[]; exit?: boolean; publicKey: Uint8Array; notBeforeMs: number; notAfterMs: number; serial?: Uint8Array },
): MemberCertificate {
  if (!(caSigner instanceof HybridSigner)) throw new ConfigError('SM_ERR_CONFIG_SIGNER', 'issueMemberCertificate caSigner: expected a HybridSigner');
  if (ca === null || typeof ca !== 'object' || !(ca.publicKey instanceof Uint8Array)) throw new ConfigError('SM_ERR_CONFIG_CA', 'issueMemberCertificate ca: expected a CaCertificate');
  if (!equalBytes(caSigner.publicKey, ca.publicKey)) throw new ConfigError('SM_ERR_CONFIG_SIGNER', 'issueMemberCertificate caSigner: does not hold the key of this CA certificate');
  if (fields === null || typeof fields !== 'object') throw new ConfigError('SM_ERR_CONFIG_FIELDS', 'issueMemberCertificate fields: expected an object');
  const { publicKey, notBeforeMs, notAfterMs } = fields;
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== HYBRID_SIGN_PUBLIC_BYTES) {
    throw new IdentityError(IdentityCode.CERT_FIELD, `publicKey: expected ${HYBRID_SIGN_PUBLIC_BYTES} bytes`);
  }
  const serial = fields.serial ?? randomBytes(SERIAL_BYTES);
  if (!(serial instanceof Uint8Array) || serial.length !== SERIAL_BYTES) throw new IdentityError(IdentityCode.CERT_FIELD, `serial: expected ${SERIAL_BYTES} bytes`);
  checkName(fields.name);
  const cidrs = parseAddresses(fields.addresses);
  const groups = fields.groups ?? [];
  checkGroups(groups);
  const routes = parseRoutes(fields.routes ?? [], cidrs);
  if (fields.exit !== undefined && typeof fields.exit !== 'boolean') throw new IdentityError(IdentityCode.CERT_FIELD, 'exit: expected true or false');
  const validity = checkValidity(notBeforeMs, notAfterMs);
  if (validity !== undefined) throw new IdentityError(IdentityCode.CERT_FIELD, validity);
  if (notBeforeMs < ca.notBeforeMs || notAfterMs > ca.notAfterMs) {
    throw new IdentityError(
      IdentityCode.CERT_FIELD,
      `validity ${new Date(notBeforeMs).toISOString()} .. ${new Date(notAfterMs).toISOString()} is not inside the CA's ` +
        `(${new Date(ca.notBeforeMs).toISOString()} .. ${new Date(ca.notAfterMs).toISOString()})`,
    );
  }
  const w = new ByteWriter();
  w.u8(CERT_FORMAT_VERSION).u8(CertKind.Member).u8((routes.length > 0 ? MEMBER_FLAG_ROUTES : 0) | (fields.exit === true ? MEMBER_FLAG_EXIT : 0)).zeros(1);
  w.bytes(serial, 'serial').bytes(ca.caId, 'caId').u64Number(notBeforeMs, 'notBeforeMs').u64Number(notAfterMs, 'notAfterMs');
  w.bytes(peerIdFromPublicKey(publicKey), 'peerId').bytes(publicKey, 'publicKey');
  w.u8String(fields.name, 'name', MAX_NAME_BYTES, 1);
  writeAddresses(w, cidrs);
  w.u8(groups.length, 'group count');
  for (const g of groups) w.u8String(g, 'group', MAX_GROUP_BYTES, 1);
  if (routes.length > 0) writeAddresses(w, routes);
  const tbs = w.finish();
  const signature = caSigner.sign(MEMBER_CERT_CONTEXT, tbs);
  const out = new Uint8Array(tbs.length + signature.length);
  out.set(tbs, 0);
  out.set(signature, tbs.length);
  return decodeMemberCertificate(out);
}

// ---------------------------------------------------------------------------
// CA certificates

/** Decodes a CA certificate and verifies its caId and self-signature. SM_ERR_CERT_MALFORMED. */
export function decodeCaCertificate(bytes: Uint8Array): CaCertificate {
  const what = 'CA certificate';
  return decodeWith(what, IdentityCode.CERT_MALFORMED, MAX_CA_CERT_BYTES, bytes, (raw) => {
    const r = new ByteReader(raw);
    const flags = readCertHeader(r, CertKind.Ca, what, CA_FLAG_DOMAIN);
    const caId = r.bytes(CA_ID_BYTES, 'caId');
    const notBeforeMs = r.u64Number('notBeforeMs');
    const notAfterMs = r.u64Number('notAfterMs');
    const validity = checkValidity(notBeforeMs, notAfterMs);
    if (validity !== undefined) throw malformed(what, validity);
    const publicKey = r.bytes(HYBRID_SIGN_PUBLIC_BYTES, 'publicKey');
    if (!equalBytes(caId, caIdFromPublicKey(publicKey))) throw malformed(what, 'caId does not match the public key');
    const name = r.u8String('name', MAX_NAME_BYTES, 1);
    checkName(name, 'CA name');
    let domain: string | null = null;
    if ((flags & CA_FLAG_DOMAIN) !== 0) {
      domain = r.u8String('domain', MAX_DOMAIN_BYTES, 1);
      if (!isCanonicalDomain(domain)) throw malformed(what, `domain ${JSON.stringify(domain)} is not lower-case DNS labels`);
    }
    const signed = raw.subarray(0, r.offset);
    const signature = r.bytes(HYBRID_SIGNATURE_BYTES, 'signature');
    r.end(what);
    if (!safeVerify(publicKey, CA_CERT_CONTEXT, signed, signature)) throw malformed(what, 'self-signature does not verify');
    return { name, domain, publicKey, caId, notBeforeMs, notAfterMs, signature, raw };
  });
}

/** Issues the self-signed certificate of a CA key, naming the network domain when given. SM_ERR_CERT_FIELD for a bad name, domain or validity. */
export function issueCaCertificate(caSigner: HybridSigner, fields: { name: string; notBeforeMs: number; notAfterMs: number; domain?: string }): CaCertificate {
  if (!(caSigner instanceof HybridSigner)) throw new ConfigError('SM_ERR_CONFIG_SIGNER', 'issueCaCertificate caSigner: expected a HybridSigner');
  if (fields === null || typeof fields !== 'object') throw new ConfigError('SM_ERR_CONFIG_FIELDS', 'issueCaCertificate fields: expected an object');
  checkName(fields.name, 'CA name');
  if (fields.domain !== undefined) checkDomain(fields.domain, 'CA domain');
  const validity = checkValidity(fields.notBeforeMs, fields.notAfterMs);
  if (validity !== undefined) throw new IdentityError(IdentityCode.CERT_FIELD, validity);
  const publicKey = caSigner.publicKey;
  const w = new ByteWriter();
  w.u8(CERT_FORMAT_VERSION).u8(CertKind.Ca).u8(fields.domain !== undefined ? CA_FLAG_DOMAIN : 0).zeros(1);
  w.bytes(caIdFromPublicKey(publicKey), 'caId').u64Number(fields.notBeforeMs, 'notBeforeMs').u64Number(fields.notAfterMs, 'notAfterMs');
  w.bytes(publicKey, 'publicKey').u8String(fields.name, 'name', MAX_NAME_BYTES, 1);
  if (fields.domain !== undefined) w.u8String(fields.domain, 'domain', MAX_DOMAIN_BYTES, 1);
  const tbs = w.finish();
  const signature = caSigner.sign(CA_CERT_CONTEXT, tbs);
  const out = new Uint8Array(tbs.length + signature.length);
  out.set(tbs, 0);
  out.set(signature, tbs.length);
  return decodeCaCertificate(out);
}

/** The kind byte of an encoded certificate or CRL, or undefined when the header is not ours. */
export function peekCertKind(bytes: Uint8Array): CertKind | undefined {
  if (!(bytes instanceof Uint8Array) || bytes.length < CERT_HEADER_BYTES || bytes[0] !== CERT_FORMAT_VERSION) return undefined;
  const k = bytes[1];
  return k === CertKind.Member || k === CertKind.Ca || k === CertKind.RevocationList ? k : undefined;
}
