/**
 * In-memory network fixtures for unit tests: a CA and members with real
 * hybrid keys and CA-signed certificates, no files. Seeds make them
 * reproducible where a test needs that (vectors).
 */
import { HybridSigner } from '../src/crypto/hybrid-sign.js';
import { issueCaCertificate, issueMemberCertificate, type CaCertificate, type MemberCertificate } from '../src/identity/certificate.js';
import { MembershipVerifier } from '../src/identity/membership.js';
import { peerIdFromPublicKey } from '../src/identity/peer-id.js';

export const FIXTURE_EPOCH_MS = Date.UTC(2026, 0, 1);
const YEAR_MS = 365 * 24 * 3600 * 1000;

export interface FixtureMember {
  name: string;
  signer: HybridSigner;
  peerId: Uint8Array;
  cert: MemberCertificate;
}

export interface FixtureNetwork {
  caSigner: HybridSigner;
  ca: CaCertificate;
  verifier: MembershipVerifier;
  member(name: string, address: string, options?: { seed?: Uint8Array; notBeforeMs?: number; notAfterMs?: number; routes?: string[]; exit?: boolean }): FixtureMember;
}

export function fixtureNetwork(options: { caSeed?: Uint8Array; name?: string } = {}): FixtureNetwork {
  const caSigner = options.caSeed ? HybridSigner.fromSeed(options.caSeed) : HybridSigner.generate();
  const ca = issueCaCertificate(caSigner, { name: options.name ?? 'test network', notBeforeMs: FIXTURE_EPOCH_MS - YEAR_MS, notAfterMs: FIXTURE_EPOCH_MS + 50 * YEAR_MS });
  return {
    caSigner,
    ca,
    verifier: new MembershipVerifier(ca),
    member(name, address, o = {}) {
      const signer = o.seed ? HybridSigner.fromSeed(o.seed) : HybridSigner.generate();
      const cert = issueMemberCertificate(caSigner, ca, {
        name,
        addresses: [address],
        ...(o.routes !== undefined ? { routes: o.routes } : {}),
        ...(o.exit === true ? { exit: true } : {}),
        publicKey: signer.publicKey,
        notBeforeMs: o.notBeforeMs ?? FIXTURE_EPOCH_MS - YEAR_MS,
        notAfterMs: o.notAfterMs ?? FIXTURE_EPOCH_MS + 40 * YEAR_MS,
      });
      return { name, signer, peerId: peerIdFromPublicKey(signer.publicKey), cert };
    },
  };
}

/** A fixed-output "random" source for reproducible tests: byte i of call n is (seed + n * 31 + i) & 0xff. */
export function countingRng(seed = 1): (n: number) => Uint8Array {
  let calls = 0;
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = (seed + calls * 31 + i) & 0xff;
    calls++;
    return out;
  };
}
