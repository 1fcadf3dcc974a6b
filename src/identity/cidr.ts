/**
 * Mesh addresses in member certificates: a host address with its prefix
 * length, "10.10.10.3/24" or "fd00::3/64" (the address the member uses and
 * the subnet it reaches on the mesh, as Nebula writes them).
 *
 * Parsing is strict, because a lenient parser lets two texts name one
 * address or lets a typo through:
 *  - the address part is parsed by src/wire/ip-address.ts: IPv4 dotted
 *    quad without leading zeros, IPv6 RFC 4291 §2.2 text, no zone ("%eth0");
 *  - the prefix is mandatory, decimal without leading zeros, 1..32 / 1..128;
 *  - the address must be usable by a host: not unspecified, loopback,
 *    multicast, link-local, IPv4-mapped or IPv4 limited broadcast; and for IPv4 prefixes
 *    of /30 and shorter not the network or broadcast address of its subnet,
 *    for IPv6 prefixes of /126 and shorter not the all-zero host
 *    (the subnet-router anycast address, RFC 4291 §2.6.1).
 *
 * formatCidr produces the canonical text (IPv6 per RFC 5952), so
 * parseCidr(x).text is the one spelling certificates carry. Errors are
 * IdentityError SM_ERR_CERT_FIELD naming the text.
 */
import { IdentityError } from '../errors.js';
import { formatIpAddress, parseIpAddress } from '../wire/ip-address.js';
import { IdentityCode, isWireError } from './identity-errors.js';

export interface Cidr {
  family: 4 | 6;
  /** 4 or 16 bytes, network order. */
  address: Uint8Array;
  prefix: number;
  /** Canonical text, e.g. "fd00::3/64". */
  text: string;
}

/** Longest text accepted: a full IPv6 address plus "/128" is 43 characters. */
const MAX_CIDR_TEXT_CHARS = 64;
const DECIMAL = /^(0|[1-9]\d*)$/;

function cidrError(text: string, why: string): IdentityError {
  return new IdentityError(IdentityCode.CERT_FIELD, `invalid mesh address ${JSON.stringify(text)}: ${why} (expected e.g. 10.10.10.3/24 or fd00::3/64)`);
}

/** Canonical text of an address and prefix (RFC 5952 for IPv6). Checks shapes only; checkedCidr applies the host rules. */
export function formatCidr(family: 4 | 6, address: Uint8Array, prefix: number): string {
  void family; // the address length decides; kept so call sites read like the certificate fields
  return `${formatIpAddress(address)}/${prefix}`;
}

function hostBits(address: Uint8Array, prefix: number): { allZero: boolean; allOne: boolean } {
  let allZero = true;
  let allOne = true;
  for (let bit = prefix; bit < address.length * 8; bit++) {
    const set = (((address[bit >> 3] as number) >> (7 - (bit & 7))) & 1) === 1;
    if (set) allZero = false;
    else allOne = false;
  }
  return { allZero, allOne };
}

/** Why `address`/`prefix` is not a usable host address, or undefined when it is. */
function hostProblem(family: 4 | 6, a: Uint8Array, prefix: number): string | undefined {
  const { allZero, allOne } = hostBits(a, prefix);
  if (family === 4) {
    const [b0 = 0, b1 = 0] = a;
    if (a.every((b) => b === 0)) return 'unspecified address';
    if (a.every((b) => b === 255)) return 'broadcast address';
    if (b0 === 127) return 'loopback address';
    if (b0 >= 224 && b0 <= 239) return 'multicast address';
    if (b0 === 169 && b1 === 254) return 'link-local address';
    if (prefix <= 30 && allZero) return 'network address of its subnet';
    if (prefix <= 30 && allOne) return 'broadcast address of its subnet';
    return undefined;
  }
  const [b0 = 0, b1 = 0] = a;
  if (a.every((b) => b === 0)) return 'unspecified address';
  if (a.slice(0, 15).every((b) => b === 0) && a[15] === 1) return 'loopback address';
  if (b0 === 0xff) return 'multicast address';
  if (b0 === 0xfe && (b1 & 0xc0) === 0x80) return 'link-local address';
  // ::ffff:a.b.c.d names an IPv4 host; the IPv4 form is the one to use.
  if (a.slice(0, 10).every((b) => b === 0) && a[10] === 0xff && a[11] === 0xff) return 'IPv4-mapped address';
  if (prefix <= 126 && allZero) return 'subnet-router anycast address of its subnet';
  return undefined;
}

/** Parses and validates a mesh address; throws IdentityError SM_ERR_CERT_FIELD. */
export function parseCidr(text: string): Cidr {
  if (typeof text !== 'string') throw cidrError(String(text), 'expected a string');
  if (text.length === 0 || text.length > MAX_CIDR_TEXT_CHARS) throw cidrError(text, 'wrong length');
  const slash = text.indexOf('/');
  if (slash < 0) throw cidrError(text, 'missing /prefix');
  const addrText = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  let family: 4 | 6;
  let address: Uint8Array;
  try {
    const parsed = parseIpAddress(addrText, 'mesh address');
    family = parsed.family;
    address = parsed.bytes;
  } catch (err) {
    if (isWireError(err)) throw cidrError(text, `not a valid IPv4 or IPv6 address`);
    throw err;
  }
  const maxPrefix = family === 4 ? 32 : 128;
  if (!DECIMAL.test(prefixText)) throw cidrError(text, 'prefix is not a decimal number');
  const prefix = Number(prefixText);
  if (prefix < 1 || prefix > maxPrefix) throw cidrError(text, `prefix must be 1..${maxPrefix}`);
  return checkedCidr(family, address, prefix, text);
}

/** Validates a decoded (family, address, prefix) triple with the same rules as parseCidr. */
export function checkedCidr(family: 4 | 6, address: Uint8Array, prefix: number, textForErrors?: string): Cidr {
  const text = formatCidr(family, address, prefix);
  const maxPrefix = family === 4 ? 32 : 128;
  if (address.length !== (family === 4 ? 4 : 16)) throw cidrError(textForErrors ?? text, 'wrong address length');
  if (!Number.isInteger(prefix) || prefix < 1 || prefix > maxPrefix) throw cidrError(textForErrors ?? text, `prefix must be 1..${maxPrefix}`);
  const problem = hostProblem(family, address, prefix);
  if (problem !== undefined) throw cidrError(textForErrors ?? text, `${problem}, not a host address`);
  return { family, address: Uint8Array.from(address), prefix, text };
}
