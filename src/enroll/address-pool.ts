/**
 * The enrollment service's address pool (docs/architecture.md
 * "Enrollment"): `--pool 10.10.0.0/24` hands out host addresses of that
 * subnet, lowest first, each with the pool's prefix (10.10.0.1/24, ...).
 *
 * An address is free when no live, unrevoked certificate of the CA holds
 * it (src/identity/ca.ts liveAddressHosts, read under the CA lock, the same
 * record `ca sign` checks), so an expired or revoked member's address comes
 * back. Addresses that are not host addresses (network, broadcast,
 * subnet-router anycast: src/identity/cidr.ts) are skipped. At most
 * MAX_POOL_SCAN addresses are looked at, so a /8 or an IPv6 /64 costs no
 * more than a /16. None free: SM_ERR_ENROLL_POOL_EXHAUSTED.
 */
import { ConfigError } from '../errors.js';
import { checkedCidr, formatCidr } from '../identity/cidr.js';
import { parseIpAddress } from '../wire/ip-address.js';
import { EnrollCode, EnrollError } from './enroll-errors.js';

/** Addresses looked at per allocation, at most. */
export const MAX_POOL_SCAN = 65_536;

export interface AddressPool {
  family: 4 | 6;
  /** The network address, as a number. */
  base: bigint;
  prefix: number;
  /** Number of addresses in the subnet (2^(bits - prefix)). */
  size: bigint;
  /** Canonical `network/prefix`. */
  text: string;
}

function toBig(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

function toBytes(v: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** `10.10.0.0/24` or `fd00:10::/64`: any address of the subnet names it; prefix 8..30 (IPv4) or 64..126 (IPv6). */
export function parsePool(text: string): AddressPool {
  const bad = (why: string) => new ConfigError('SM_ERR_CONFIG_VALUE', `--pool: ${why}, got ${JSON.stringify(text)} (expected a subnet such as 10.10.0.0/24 or fd00:10::/64)`);
  if (typeof text !== 'string') throw bad('expected text');
  const slash = text.indexOf('/');
  if (slash < 0 || !/^\d{1,3}$/.test(text.slice(slash + 1))) throw bad('missing /prefix');
  let parsed;
  try {
    parsed = parseIpAddress(text.slice(0, slash), 'pool');
  } catch {
    throw bad('not an IPv4 or IPv6 address');
  }
  const prefix = Number(text.slice(slash + 1));
  const bits = parsed.family === 4 ? 32 : 128;
  const [min, max] = parsed.family === 4 ? [8, 30] : [64, 126];
  if (prefix < min || prefix > max) throw bad(`prefix must be ${min}..${max}`);
  const hostBits = BigInt(bits - prefix);
  const base = (toBig(parsed.bytes) >> hostBits) << hostBits;
  const family = parsed.family as 4 | 6;
  return { family, base, prefix, size: 1n << hostBits, text: formatCidr(family, toBytes(base, bits / 8), prefix) };
}

/** The host part of a canonical address text ("10.10.0.3/24" -> "10.10.0.3"). */
function hostText(cidr: string): string {
  return cidr.slice(0, cidr.indexOf('/'));
}

/** The lowest host address of `pool` not in `taken` (host texts as certificates carry them), as `host/prefix`. */
export function lowestFreeAddress(pool: AddressPool, taken: ReadonlySet<string>): string {
  const len = pool.family === 4 ? 4 : 16;
  const scan = pool.size < BigInt(MAX_POOL_SCAN) ? pool.size : BigInt(MAX_POOL_SCAN);
  for (let i = 1n; i < scan; i++) {
    let cidr: string;
    try {
      cidr = checkedCidr(pool.family, toBytes(pool.base + i, len), pool.prefix).text;
    } catch {
      continue; // not a host address
    }
    if (!taken.has(hostText(cidr))) return cidr;
  }
  throw new EnrollError(EnrollCode.POOL_EXHAUSTED, `the address pool ${pool.text} is exhausted: every address is held by a live certificate (revoke members, or run ca serve with a larger --pool)`);
}

