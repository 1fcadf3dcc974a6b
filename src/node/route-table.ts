/**
 * Longest-prefix match over the members' certified subnet routes
 * (docs/architecture.md "Subnet routes"): which member serves a destination
 * address that is not a member's own (the directory answers those first,
 * so a member's own address always beats a route).
 *
 * One exact-match map per prefix length in use, per family; a lookup tries
 * the lengths present from longest to shortest, so its cost is the number of
 * distinct lengths (at most 32 / 128), not the number of routes. IPv4
 * lookups allocate nothing; IPv6 ones build one short string key per length
 * tried. The table holds what the directory puts in it (CA-verified
 * certificates of listed members, at most 8 routes each) and never grows
 * beyond that.
 *
 * Two values for one prefix (only a misissuing CA produces them; the CA
 * refuses overlapping routes): the first keeps it and `add` returns false;
 * the caller decides about a fallback.
 */

interface Family<K> {
  /** Prefix lengths present, longest first. */
  lengths: number[];
  byLength: Map<number, Map<K, unknown>>;
}

function v4Key(a: Uint8Array, prefix: number): number {
  const v = (((a[0] as number) << 24) | ((a[1] as number) << 16) | ((a[2] as number) << 8) | (a[3] as number)) >>> 0;
  return prefix === 0 ? 0 : (v & ((0xffff_ffff << (32 - prefix)) >>> 0)) >>> 0;
}

function v6Key(a: Uint8Array, prefix: number): string {
  let s = '';
  const full = prefix >> 3;
  for (let i = 0; i < full; i++) s += String.fromCharCode(a[i] as number);
  const rest = prefix & 7;
  if (rest !== 0) s += String.fromCharCode((a[full] as number) & ((0xff << (8 - rest)) & 0xff));
  return s;
}

export class RouteTable<T> {
  readonly #v4: Family<number> = { lengths: [], byLength: new Map() };
  readonly #v6: Family<string> = { lengths: [], byLength: new Map() };
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Adds net/prefix -> value; false (nothing changed) when the prefix already has a value. */
  add(net: Uint8Array, prefix: number, value: T): boolean {
    const fam = net.length === 4 ? this.#v4 : this.#v6;
    const key = net.length === 4 ? v4Key(net, prefix) : v6Key(net, prefix);
    let m = fam.byLength.get(prefix) as Map<number | string, unknown> | undefined;
    if (m === undefined) {
      m = new Map();
      (fam.byLength as Map<number, Map<number | string, unknown>>).set(prefix, m);
      fam.lengths.push(prefix);
      fam.lengths.sort((a, b) => b - a);
    }
    if (m.has(key)) return false;
    m.set(key, value);
    this.#size++;
    return true;
  }

  /** Removes net/prefix if it maps to `value`; true when it did. */
  remove(net: Uint8Array, prefix: number, value: T): boolean {
    const fam = net.length === 4 ? this.#v4 : this.#v6;
    const key = net.length === 4 ? v4Key(net, prefix) : v6Key(net, prefix);
    const m = fam.byLength.get(prefix) as Map<number | string, unknown> | undefined;
    if (m === undefined || m.get(key) !== value) return false;
    m.delete(key);
    this.#size--;
    if (m.size === 0) {
      fam.byLength.delete(prefix);
      fam.lengths.splice(fam.lengths.indexOf(prefix), 1);
    }
    return true;
  }

  /** The value of the longest prefix holding `addr` (4 or 16 bytes), or undefined. */
  lookup(addr: Uint8Array): T | undefined {
    if (addr.length === 4) {
      const fam = this.#v4;
      for (let i = 0; i < fam.lengths.length; i++) {
        const len = fam.lengths[i]!;
        const hit = fam.byLength.get(len)!.get(v4Key(addr, len));
        if (hit !== undefined) return hit as T;
      }
      return undefined;
    }
    if (addr.length !== 16) return undefined;
    const fam = this.#v6;
    for (let i = 0; i < fam.lengths.length; i++) {
      const len = fam.lengths[i]!;
      const hit = fam.byLength.get(len)!.get(v6Key(addr, len));
      if (hit !== undefined) return hit as T;
    }
    return undefined;
  }
}
