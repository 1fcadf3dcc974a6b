/**
 * Just enough of IPv4 (RFC 791) and IPv6 (RFC 8200) headers for TUN-mode
 * routing: the version, and views of the source and destination addresses.
 * Returned arrays are subarray VIEWS of the caller's buffer (no copies);
 * null means "not a routable IP packet" and the caller drops and counts it.
 *
 *   IPv4: | 0 ver/ihl | … | 12..15 source | 16..19 destination |   (20-byte minimum header)
 *   IPv6: | 0 ver/tc  | … | 8..23 source  | 24..39 destination |   (40-byte fixed header)
 */

export const IPV4_MIN_HEADER_BYTES = 20;
export const IPV6_HEADER_BYTES = 40;

/** 4, 6, or 0 when the packet at `offset` is neither (or too short to be one). */
export function ipVersion(buf: Uint8Array, offset: number): 0 | 4 | 6 {
  if (buf.length - offset < IPV4_MIN_HEADER_BYTES) return 0;
  const v = buf[offset]! >> 4;
  if (v === 4) return 4;
  if (v === 6 && buf.length - offset >= IPV6_HEADER_BYTES) return 6;
  return 0;
}

export function ipDestination(buf: Uint8Array, offset: number): Uint8Array | null {
  switch (ipVersion(buf, offset)) {
    case 4: return buf.subarray(offset + 16, offset + 20);
    case 6: return buf.subarray(offset + 24, offset + 40);
    default: return null;
  }
}

export function ipSource(buf: Uint8Array, offset: number): Uint8Array | null {
  switch (ipVersion(buf, offset)) {
    case 4: return buf.subarray(offset + 12, offset + 16);
    case 6: return buf.subarray(offset + 8, offset + 24);
    default: return null;
  }
}
