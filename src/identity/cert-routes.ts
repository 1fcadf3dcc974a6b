/**
 * Subnet routes in member certificates (docs/architecture.md "Subnet
 * routes"): the prefixes behind a member that it may serve to the mesh,
 * "192.168.50.0/24" or "fd50::/64". A route is signed by the CA like the
 * member's addresses; a member can serve only what the CA put there.
 *
 * Rules, applied identically when issuing and when decoding:
 *  - a network prefix: the address part has every host bit zero, so one
 *    prefix has one spelling ("192.168.50.0/24", never "192.168.50.7/24");
 *  - prefix 1..32 / 1..128: the default routes 0.0.0.0/0 and ::/0 are for
 *    exit nodes, which these routes are not;
 *  - not loopback, multicast, link-local or IPv4-mapped space: a node must
 *    never send those into the mesh;
 *  - at most MAX_ROUTES, no two overlapping (one owner per address);
 *  - not overlapping a mesh subnet of the same certificate (its addresses
 *    with their prefixes): a member's own address always beats a route, and
 *    a route covering the mesh would make that rule the only thing between a
 *    member and every other member's traffic.
 * The CA (ca.ts) also refuses routes that overlap another live member's mesh
 * subnets or routes.
 *
 * Errors are IdentityError SM_ERR_CERT_FIELD naming the text.
 */
import { IdentityError } from '../errors.js';
import { formatIpAddress, parseIpAddress } from '../wire/ip-address.js';
import type { Cidr } from './cidr.js';
import { IdentityCode, isWireError } from './identity-errors.js';

/** Routes per member: a few LAN prefixes of each family; with MAX_ADDRESS_ENTRIES it keeps the certificate under MAX_CERT_BYTES. */
export const MAX_ROUTES = 8;
/**
 * Mesh addresses and routes of one certificate together: every entry costs
 * up to 18 bytes, and 10 of them (plus the routes' count byte) is what the
 * 38 bytes left under MAX_CERT_BYTES allow beyond 8 addresses.
 */
export const MAX_ADDRESS_ENTRIES = 10;

const DECIMAL = /^(0|[1-9]\d*)$/;
const MAX_ROUTE_TEXT_CHARS = 64;

function routeError(text: string, why: string): IdentityError {
  return new IdentityError(IdentityCode.CERT_FIELD, `invalid route ${JSON.stringify(text)}: ${why} (expected a network prefix, e.g. 192.168.50.0/24 or fd50::/64)`);
}

/** Why `address`/`prefix` is not a routable network prefix, or undefined. */
function routeProblem(family: 4 | 6, a: Uint8Array, prefix: number): string | undefined {
  for (let bit = prefix; bit < a.length * 8; bit++) {
    if ((((a[bit >> 3] as number) >> (7 - (bit & 7))) & 1) === 1) return `host bits set (the network is ${formatIpAddress(maskPrefix(a, prefix))}/${prefix})`;
  }
  const [b0 = 0, b1 = 0] = a;
  if (family === 4) {
    if (b0 === 127) return 'loopback space';
    if (b0 >= 224) return 'multicast or reserved space';
    if (b0 === 169 && b1 === 254) return 'link-local space';
    if (prefix < 8 && b0 === 0) return 'covers 0.0.0.0/8';
    return undefined;
  }
  if (b0 === 0xff) return 'multicast space';
  if (b0 === 0xfe && (b1 & 0xc0) === 0x80) return 'link-local space';
  if (a.slice(0, 10).every((b) => b === 0) && (prefix <= 96 || (a[10] === 0xff && a[11] === 0xff))) return 'IPv4-mapped, loopback or unspecified space';
  return undefined;
}

/** `a` with every bit from `prefix` on cleared (a copy). */
export function maskPrefix(a: Uint8Array, prefix: number): Uint8Array {
  const out = Uint8Array.from(a);
  for (let bit = prefix; bit < out.length * 8; bit++) out[bit >> 3] = (out[bit >> 3] as number) & ~(1 << (7 - (bit & 7)));
  return out;
}

/** True when `addr` (same family as `net`) lies inside net/prefix. */
export function prefixContains(net: Uint8Array, prefix: number, addr: Uint8Array): boolean {
  if (addr.length !== net.length) return false;
  const full = prefix >> 3;
  for (let i = 0; i < full; i++) if (net[i] !== addr[i]) return false;
  const rest = prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((net[full] as number) & mask) === ((addr[full] as number) & mask);
}

/** True when the two prefixes share an address (one contains the other). */
export function prefixesOverlap(a: Pick<Cidr, 'address' | 'prefix'>, b: Pick<Cidr, 'address' | 'prefix'>): boolean {
  if (a.address.length !== b.address.length) return false;
  return prefixContains(a.address, Math.min(a.prefix, b.prefix), b.address);
}

/** Validates a decoded (family, network, prefix) triple with the same rules as parseRoute. */
export function checkedRoute(family: 4 | 6, address: Uint8Array, prefix: number, textForErrors?: string): Cidr {
  const maxPrefix = family === 4 ? 32 : 128;
  if (address.length !== (family === 4 ? 4 : 16)) throw routeError(textForErrors ?? `family ${family}`, 'wrong address length');
  const text = `${formatIpAddress(address)}/${prefix}`;
  if (!Number.isInteger(prefix) || prefix < 1 || prefix > maxPrefix) {
    throw routeError(textForErrors ?? text, prefix === 0 ? 'a default route is for exit nodes, not a subnet route' : `prefix must be 1..${maxPrefix}`);
  }
  const problem = routeProblem(family, address, prefix);
  if (problem !== undefined) throw routeError(textForErrors ?? text, problem);
  return { family, address: Uint8Array.from(address), prefix, text };
}

/** Parses and validates one route; throws IdentityError SM_ERR_CERT_FIELD. */
export function parseRoute(text: string): Cidr {
  if (typeof text !== 'string') throw routeError(String(text), 'expected a string');
  if (text.length === 0 || text.length > MAX_ROUTE_TEXT_CHARS) throw routeError(text, 'wrong length');
  const slash = text.indexOf('/');
  if (slash < 0) throw routeError(text, 'missing /prefix');
  let parsed;
  try {
    parsed = parseIpAddress(text.slice(0, slash), 'route');
  } catch (err) {
    if (isWireError(err)) throw routeError(text, 'not a valid IPv4 or IPv6 prefix');
    throw err;
  }
  const prefixText = text.slice(slash + 1);
  if (!DECIMAL.test(prefixText)) throw routeError(text, 'prefix is not a decimal number');
  return checkedRoute(parsed.family, parsed.bytes, Number(prefixText), text);
}

/**
 * Checks a certificate's route list against itself and the certificate's
 * own mesh addresses (their subnets); returns it unchanged.
 */
export function checkRouteList(routes: Cidr[], addresses: readonly Cidr[]): Cidr[] {
  if (routes.length > MAX_ROUTES) throw new IdentityError(IdentityCode.CERT_FIELD, `routes: at most ${MAX_ROUTES}, got ${routes.length}`);
  if (routes.length + addresses.length > MAX_ADDRESS_ENTRIES) {
    throw new IdentityError(IdentityCode.CERT_FIELD, `addresses and routes: at most ${MAX_ADDRESS_ENTRIES} together, got ${addresses.length} + ${routes.length}`);
  }
  for (let i = 0; i < routes.length; i++) {
    const r = routes[i]!;
    for (let j = 0; j < i; j++) {
      if (prefixesOverlap(r, routes[j]!)) throw routeError(r.text, `overlaps route ${routes[j]!.text}`);
    }
    for (const a of addresses) {
      if (prefixesOverlap(r, a)) throw routeError(r.text, `overlaps the mesh subnet of this member's address ${a.text}`);
    }
  }
  return routes;
}

/** Parses and checks the route texts of a certificate being issued. */
export function parseRoutes(routes: readonly string[], addresses: readonly Cidr[]): Cidr[] {
  if (!Array.isArray(routes)) throw new IdentityError(IdentityCode.CERT_FIELD, 'routes: expected an array');
  return checkRouteList(routes.map((t) => parseRoute(t)), addresses);
}
