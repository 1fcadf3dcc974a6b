/**
 * Reverse-lookup names (PTR) of IP addresses: `4.3.2.1.in-addr.arpa` for
 * IPv4 (RFC 1035 §3.5) and the 32-nibble `ip6.arpa` form for IPv6
 * (RFC 3596 §2.5), both ways (docs/configuration.md "Names").
 * Parsing is strict: anything but a full address in canonical form
 * (decimal octets without leading zeros, one hex nibble per label) is null.
 */

const V4_SUFFIX = '.in-addr.arpa';
const V6_SUFFIX = '.ip6.arpa';

/** The address a reverse name stands for (lowercase, no trailing dot), or null when it is not a full one. */
export function addressOfReverseName(name: string): Uint8Array | null {
  if (name.endsWith(V4_SUFFIX)) {
    const labels = name.slice(0, -V4_SUFFIX.length).split('.');
    if (labels.length !== 4) return null;
    const out = new Uint8Array(4);
    for (let i = 0; i < 4; i++) {
      const l = labels[3 - i] as string;
      if (!/^(0|[1-9][0-9]{0,2})$/.test(l) || Number(l) > 255) return null;
      out[i] = Number(l);
    }
    return out;
  }
  if (name.endsWith(V6_SUFFIX)) {
    const labels = name.slice(0, -V6_SUFFIX.length).split('.');
    if (labels.length !== 32 || !labels.every((l) => /^[0-9a-f]$/.test(l))) return null;
    const out = new Uint8Array(16);
    for (let i = 0; i < 16; i++) out[i] = (parseInt(labels[31 - 2 * i] as string, 16) << 4) | parseInt(labels[30 - 2 * i] as string, 16);
    return out;
  }
  return null;
}

/** The reverse name of a 4- or 16-byte address (no trailing dot). */
export function reverseNameOf(addr: Uint8Array): string {
  if (addr.length === 4) return `${addr[3]}.${addr[2]}.${addr[1]}.${addr[0]}${V4_SUFFIX}`;
  const nibbles: string[] = [];
  for (let i = addr.length - 1; i >= 0; i--) {
    const b = addr[i] as number;
    nibbles.push((b & 0xf).toString(16), (b >> 4).toString(16));
  }
  return `${nibbles.join('.')}${V6_SUFFIX}`;
}
