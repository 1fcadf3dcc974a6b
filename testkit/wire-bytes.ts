/**
 * Byte builders for the codec tests (src/wire and the frames built on it):
 * hex text, filled and concatenated buffers, little-endian integers.
 */
import { strict as assert } from 'node:assert';

/** Bytes from a hex string; spaces and '|' are ignored so layouts can be drawn. */
export function hex(text: string): Uint8Array {
  const clean = text.replace(/[\s|]/g, '');
  assert.equal(clean.length % 2, 0, 'odd hex length');
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}

/** `n` bytes all equal to `value`. */
export function filled(n: number, value: number): Uint8Array {
  return new Uint8Array(n).fill(value);
}

/** Concatenate byte arrays. */
export function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Little-endian u32 as 4 bytes. */
export function le32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}
