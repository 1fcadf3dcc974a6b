/**
 * Shared fixtures for the identity tests: an in-memory CA, member keys and
 * certificates, temp directories and bit flips (the error-code assertions
 * are testkit/expect-code.ts). Keys are generated once per test file
 * (ML-DSA-87 key generation is the slow part).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HybridSigner } from '../src/crypto/hybrid-sign.js';
import { issueCaCertificate, issueMemberCertificate, type CaCertificate, type MemberCertificate } from '../src/identity/certificate.js';

/** 2025-01-01T00:00:00Z: a fixed "now" for validity tests. */
export const T0_MS = Date.UTC(2025, 0, 1);
export const DAY_MS = 24 * 60 * 60 * 1000;

export interface TestCa {
  signer: HybridSigner;
  ca: CaCertificate;
}

export function makeCa(name = 'test CA', notBeforeMs = T0_MS - 10 * DAY_MS, notAfterMs = T0_MS + 3650 * DAY_MS): TestCa {
  const signer = HybridSigner.generate();
  return { signer, ca: issueCaCertificate(signer, { name, notBeforeMs, notAfterMs }) };
}

export function makeMember(
  ca: TestCa,
  overrides: Partial<{ name: string; addresses: string[]; groups: string[]; publicKey: Uint8Array; notBeforeMs: number; notAfterMs: number }> = {},
): MemberCertificate {
  return issueMemberCertificate(ca.signer, ca.ca, {
    name: 'alice',
    addresses: ['10.10.10.3/24', 'fd00::3/64'],
    groups: ['ops'],
    publicKey: overrides.publicKey ?? HybridSigner.generate().publicKey,
    notBeforeMs: T0_MS - DAY_MS,
    notAfterMs: T0_MS + 365 * DAY_MS,
    ...overrides,
  });
}

/** A fresh temp directory, removed by the returned cleanup function. */
export async function tempDir(prefix = 'sm-identity-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A copy of `bytes` with bit `bit` (0..7) of byte `index` flipped. */
export function flipBit(bytes: Uint8Array, index: number, bit: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[index] = (out[index] as number) ^ (1 << bit);
  return out;
}
