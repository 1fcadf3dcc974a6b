/**
 * Ephemeral TLS certificates for direct paths (docs/protocol.md
 * §3.2: TLS 1.3, mutual, ephemeral ECDSA P-256 certificates, 24 h,
 * rotated; docs/protocol.md §3.2).
 *
 * Each certificate has its own fresh P-256 key, is self-signed, and is
 * trusted by nobody's CA: a peer trusts it only because our identity signed
 * its fingerprint in a PATH_OFFER. The fingerprint is SHA-256 over the
 * certificate's SubjectPublicKeyInfo DER — the same construction as the
 * relay pin (src/relay/tls-identity.ts spkiPin), as raw 32 bytes here.
 *
 * The private key exists only as PEM in memory (what node:tls takes); a
 * rotated-out certificate is dropped by the transport and never persisted.
 */
import { createHash, generateKeyPairSync, randomBytes, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
// Must precede @peculiar/x509 (its tsyringe needs the Reflect metadata API).
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

/** Default certificate lifetime: 24 h (docs/protocol.md §3.2), so a leaked key ages out within a day. */
export const EPHEMERAL_CERT_LIFETIME_MS = 24 * 60 * 60 * 1_000;
/** Backdate notBefore: a peer whose clock is a little behind still sees a valid certificate
 *  (nobody checks it today — pins replace the chain — but tools that inspect it will). */
export const EPHEMERAL_NOT_BEFORE_SKEW_MS = 5 * 60 * 1_000;
const SERIAL_BYTES = 16;

export interface EphemeralCertificate {
  keyPem: string;
  certPem: string;
  /** SHA-256 of the certificate's SPKI DER, 32 bytes. */
  fingerprint: Uint8Array;
  notAfterMs: number;
}

/** SHA-256 of DER SubjectPublicKeyInfo bytes: the direct-path pin. */
export function spkiFingerprint(spkiDer: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(spkiDer).digest());
}

/** The pin of a certificate as node:tls hands it out (getPeerX509Certificate), or null when there is none. */
export function fingerprintOfX509(cert: X509Certificate | undefined | null): Uint8Array | null {
  if (cert === undefined || cert === null) return null;
  try {
    return spkiFingerprint(cert.publicKey.export({ type: 'spki', format: 'der' }));
  } catch {
    return null;
  }
}

/** A fresh key pair and a self-signed certificate valid from now for `lifetimeMs`. */
export async function createEphemeralCertificate(nowMs: number, lifetimeMs: number = EPHEMERAL_CERT_LIFETIME_MS): Promise<EphemeralCertificate> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const subtle = webcrypto.subtle;
  const alg = { name: 'ECDSA', namedCurve: 'P-256' } as const;
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const keys = {
    privateKey: await subtle.importKey('pkcs8', (privateKey as KeyObject).export({ type: 'pkcs8', format: 'der' }), alg, false, ['sign']),
    publicKey: await subtle.importKey('spki', spki, alg, true, ['verify']),
  };
  const notAfterMs = nowMs + lifetimeMs;
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: '01' + randomBytes(SERIAL_BYTES - 1).toString('hex'),
      name: 'CN=shadowmesh-path',
      notBefore: new Date(nowMs - EPHEMERAL_NOT_BEFORE_SKEW_MS),
      notAfter: new Date(notAfterMs),
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        // Both ends present one: the dialer as a TLS client, the listener as a server.
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      ],
    },
    webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1],
  );
  return {
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    certPem: cert.toString('pem'),
    fingerprint: spkiFingerprint(spki),
    notAfterMs,
  };
}
