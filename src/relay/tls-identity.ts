/**
 * The relay's TLS identity (docs/architecture.md "Components": a WSS
 * server over TLS 1.3; README quick start "prints its TLS fingerprint to pin").
 *
 * Two modes:
 *  - operator-supplied: `certFile` + `keyFile` (PEM), e.g. a CA-issued
 *    certificate that nodes trust with `tlsCaFile`. Never rotated here.
 *  - self-signed (default): an ECDSA P-256 key kept in `dataDir/tls-key.pem`
 *    (mode 0600, created once) and a self-signed certificate for it, valid
 *    `lifetimeMs` (default SELF_SIGNED_VALIDITY_MS; relay.tls.certLifetime),
 *    re-issued with the SAME key once a quarter of that lifetime is left
 *    (`needsRenewal()`; the relay's sweep asks every second at most). Nodes
 *    pin the key, not the certificate, so the pin survives both re-issue and
 *    relay restarts, and connections already open keep their TLS session.
 *
 * The pin is `sha256:` + lowercase hex of SHA-256 over the certificate's
 * SubjectPublicKeyInfo (DER) — `spkiPin`. The relay link computes the same
 * value from the server's certificate (src/node/path/relay-link.ts).
 *
 * The TLS key protects only the transport to the relay; it never opens peer
 * traffic, which is sealed end to end.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
// Must precede @peculiar/x509 (see the shim's header).
import 'reflect-metadata'; // @peculiar/x509's tsyringe needs the Reflect metadata API loaded first
import * as x509 from '@peculiar/x509';
import { ConfigError, SmError } from '../errors.js';

/** Validity of a self-signed relay certificate: short, so a leaked certificate ages out (24 h, as the nodes' direct-path certificates, docs/protocol.md §3.2). */
export const SELF_SIGNED_VALIDITY_MS = 24 * 60 * 60 * 1_000;
/** Re-issue when this fraction of the lifetime is left: a quarter leaves room for a missed check or a sleeping host. */
export const RENEW_BEFORE_EXPIRY_FRACTION = 0.25;
/** Re-issue this long before expiry with the default validity (6 h). */
export const RENEW_BEFORE_EXPIRY_MS = SELF_SIGNED_VALIDITY_MS * RENEW_BEFORE_EXPIRY_FRACTION;
/** Shortest settable lifetime: the sweep checks at most every second, so a quarter of 10 s (2.5 s) still renews in time. */
export const MIN_SELF_SIGNED_LIFETIME_MS = 10_000;
/** Longest settable lifetime: past a year a leaked certificate stays usable for too long. */
export const MAX_SELF_SIGNED_LIFETIME_MS = 366 * 24 * 60 * 60 * 1_000;
/** Backdate notBefore by this much so a client whose clock is a little behind still accepts a fresh certificate. */
export const NOT_BEFORE_SKEW_MS = 5 * 60 * 1_000;
/** Name of the persisted key inside the data directory. */
export const TLS_KEY_FILE_NAME = 'tls-key.pem';
/** Owner-only: the key file must not be readable by other users. */
const KEY_FILE_MODE = 0o600;
const DATA_DIR_MODE = 0o700;
const SERIAL_BYTES = 16;

export interface TlsIdentityOptions {
  /** Directory of the persisted self-signed key (ignored with certFile/keyFile). */
  dataDir?: string;
  /** PEM certificate chain to serve; requires keyFile. */
  certFile?: string;
  /** PEM private key for certFile; requires certFile. */
  keyFile?: string;
  /** Subject alternative names (DNS names or IPs) for the self-signed certificate. */
  hostnames?: string[];
  /** Validity of each self-signed certificate in ms (MIN_/MAX_SELF_SIGNED_LIFETIME_MS); not with certFile/keyFile. */
  lifetimeMs?: number;
}

export const TLS_IDENTITY_DEFAULTS: Readonly<Required<Pick<TlsIdentityOptions, 'hostnames'>>> = Object.freeze({ hostnames: Object.freeze(['localhost']) as unknown as string[] });

export interface TlsMaterial {
  keyPem: string;
  certPem: string;
  /** `sha256:<hex>` of the certificate's SPKI. */
  pin: string;
  notAfterMs: number;
}

/** `sha256:` + hex of SHA-256 over DER SubjectPublicKeyInfo bytes. */
export function spkiPin(spkiDer: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(spkiDer).digest('hex');
}

/** The pin of a certificate (PEM or DER). */
export function pinOfCertificate(cert: string | Uint8Array): string {
  const c = new X509Certificate(typeof cert === 'string' ? cert : Buffer.from(cert));
  return spkiPin(c.publicKey.export({ type: 'spki', format: 'der' }));
}

/** True when `pin` has the `sha256:<64 lowercase hex>` shape. */
export function isWellFormedPin(pin: string): boolean {
  return /^sha256:[0-9a-f]{64}$/.test(pin);
}

/** $SHADOWMESH_HOME/relay, else ~/.shadowmesh/relay. */
export function defaultRelayDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const home = env['SHADOWMESH_HOME'];
  return home !== undefined && home !== '' ? join(home, 'relay') : join(homedir(), '.shadowmesh', 'relay');
}

function loadOrCreateKey(dataDir: string): KeyObject {
  const path = join(dataDir, TLS_KEY_FILE_NAME);
  if (existsSync(path)) {
    const mode = statSync(path).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new ConfigError('SM_ERR_CONFIG_VALUE', `relay TLS key ${path}: mode ${mode.toString(8)} lets other users read it; chmod 600 it`);
    }
    const key = createPrivateKey(readFileSync(path));
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new ConfigError('SM_ERR_CONFIG_VALUE', `relay TLS key ${path}: expected an ECDSA P-256 key`);
    }
    return key;
  }
  mkdirSync(dataDir, { recursive: true, mode: DATA_DIR_MODE });
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  // Write beside, then rename: a crash never leaves a half-written key that a restart would reject.
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, pem, { mode: KEY_FILE_MODE, flag: 'wx' });
  chmodSync(tmp, KEY_FILE_MODE);
  renameSync(tmp, path);
  return privateKey;
}

async function issueSelfSigned(key: KeyObject, hostnames: readonly string[], lifetimeMs: number, nowMs: number): Promise<{ certPem: string; notAfterMs: number }> {
  const subtle = webcrypto.subtle;
  const alg = { name: 'ECDSA', namedCurve: 'P-256' } as const;
  const privateKey = await subtle.importKey('pkcs8', key.export({ type: 'pkcs8', format: 'der' }), alg, false, ['sign']);
  const publicKey = await subtle.importKey('spki', createPublicKey(key).export({ type: 'spki', format: 'der' }), alg, true, ['verify']);
  const notAfterMs = nowMs + lifetimeMs;
  const sans = hostnames.map((h) => (/^[0-9.]+$/.test(h) || h.includes(':') ? { type: 'ip' as const, value: h } : { type: 'dns' as const, value: h }));
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: '01' + randomBytes(SERIAL_BYTES - 1).toString('hex'),
      name: 'CN=shadowmesh-relay',
      notBefore: new Date(nowMs - NOT_BEFORE_SKEW_MS),
      notAfter: new Date(notAfterMs),
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      keys: { privateKey, publicKey },
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(sans),
      ],
    },
    webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1],
  );
  return { certPem: cert.toString('pem'), notAfterMs };
}

export class TlsIdentity {
  readonly selfSigned: boolean;
  /** Validity of each self-signed certificate (ms). */
  readonly lifetimeMs: number;
  readonly #key: KeyObject | null;
  readonly #hostnames: readonly string[];
  #material: TlsMaterial;

  private constructor(selfSigned: boolean, key: KeyObject | null, hostnames: readonly string[], lifetimeMs: number, material: TlsMaterial) {
    this.selfSigned = selfSigned;
    this.lifetimeMs = lifetimeMs;
    this.#key = key;
    this.#hostnames = hostnames;
    this.#material = material;
  }

  /** Load operator files, or load/create the persisted key and issue a fresh self-signed certificate. */
  static async load(options: TlsIdentityOptions, nowMs: number): Promise<TlsIdentity> {
    for (const key of Object.keys(options)) {
      if (!['dataDir', 'certFile', 'keyFile', 'hostnames', 'lifetimeMs'].includes(key)) {
        throw new ConfigError('SM_ERR_CONFIG_UNKNOWN_OPTION', `relay TLS option ${key}: unknown option`);
      }
    }
    const { certFile, keyFile } = options;
    const lifetimeMs = options.lifetimeMs ?? SELF_SIGNED_VALIDITY_MS;
    if (!Number.isInteger(lifetimeMs) || lifetimeMs < MIN_SELF_SIGNED_LIFETIME_MS || lifetimeMs > MAX_SELF_SIGNED_LIFETIME_MS) {
      throw new ConfigError('SM_ERR_CONFIG_VALUE', `relay TLS lifetimeMs: expected a whole number of ms in [${MIN_SELF_SIGNED_LIFETIME_MS}, ${MAX_SELF_SIGNED_LIFETIME_MS}], got ${String(lifetimeMs)}`);
    }
    if (certFile !== undefined && options.lifetimeMs !== undefined) {
      throw new ConfigError('SM_ERR_CONFIG_VALUE', 'relay TLS: a certificate lifetime applies to the self-signed certificate only, not to --cert/--key');
    }
    if ((certFile === undefined) !== (keyFile === undefined)) {
      throw new ConfigError('SM_ERR_CONFIG_VALUE', `relay TLS: --cert and --key go together (got cert=${certFile ?? 'none'}, key=${keyFile ?? 'none'})`);
    }
    if (certFile !== undefined && keyFile !== undefined) {
      let certPem: string;
      let keyPem: string;
      try {
        certPem = readFileSync(certFile, 'utf8');
        keyPem = readFileSync(keyFile, 'utf8');
      } catch (err) {
        throw new ConfigError('SM_ERR_CONFIG_VALUE', `relay TLS: cannot read ${certFile} / ${keyFile}: ${(err as Error).message}`, { cause: err });
      }
      let leaf: X509Certificate;
      try {
        leaf = new X509Certificate(certPem);
        if (!leaf.checkPrivateKey(createPrivateKey(keyPem))) throw new Error('the key does not match the certificate');
      } catch (err) {
        throw new ConfigError('SM_ERR_CONFIG_VALUE', `relay TLS: ${certFile} / ${keyFile}: ${(err as Error).message}`, { cause: err });
      }
      const pin = spkiPin(leaf.publicKey.export({ type: 'spki', format: 'der' }));
      const notAfterMs = Date.parse(leaf.validTo);
      return new TlsIdentity(false, null, [], Math.max(0, notAfterMs - Date.parse(leaf.validFrom)), { keyPem, certPem, pin, notAfterMs });
    }
    const dataDir = options.dataDir ?? defaultRelayDataDir();
    const hostnames = options.hostnames ?? TLS_IDENTITY_DEFAULTS.hostnames;
    let key: KeyObject;
    try {
      key = loadOrCreateKey(dataDir);
    } catch (err) {
      if (err instanceof SmError) throw err;
      throw new ConfigError('SM_ERR_CONFIG_VALUE', `relay data dir ${dataDir}: ${(err as Error).message}`, { cause: err });
    }
    const identity = new TlsIdentity(true, key, hostnames, lifetimeMs, { keyPem: '', certPem: '', pin: '', notAfterMs: 0 });
    await identity.renew(nowMs);
    return identity;
  }

  get material(): TlsMaterial {
    return this.#material;
  }

  get pin(): string {
    return this.#material.pin;
  }

  /** Re-issue this long before expiry: a quarter of the lifetime (RENEW_BEFORE_EXPIRY_MS with the default). */
  get renewBeforeExpiryMs(): number {
    return Math.round(this.lifetimeMs * RENEW_BEFORE_EXPIRY_FRACTION);
  }

  /** True when a self-signed certificate has a quarter of its lifetime or less left. */
  needsRenewal(nowMs: number): boolean {
    return this.selfSigned && nowMs >= this.#material.notAfterMs - this.renewBeforeExpiryMs;
  }

  /** Issue a new self-signed certificate for the same key. The pin does not change. */
  async renew(nowMs: number): Promise<TlsMaterial> {
    if (this.#key === null) throw new SmError('SM_ERR_RELAY_TLS', 'relay TLS: an operator-supplied certificate is not renewed by the relay');
    const { certPem, notAfterMs } = await issueSelfSigned(this.#key, this.#hostnames, this.lifetimeMs, nowMs);
    const keyPem = this.#key.export({ type: 'pkcs8', format: 'pem' }) as string;
    this.#material = Object.freeze({ keyPem, certPem, pin: pinOfCertificate(certPem), notAfterMs });
    return this.#material;
  }
}
