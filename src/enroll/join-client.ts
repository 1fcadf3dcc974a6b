/**
 * The member side of a join (docs/architecture.md "Enrollment"): one
 * HTTPS request to the service the token names, over TLS 1.3, pinned to the
 * token's key. The pin is checked right after the handshake, before a byte
 * of the request is sent; then the request is signed over this
 * connection's TLS exporter (src/enroll/join-request.ts) and posted.
 *
 * The answer is checked before anything is written: the certificate is for
 * our key and a valid member of the CA sent along, not revoked by the list
 * sent along, and the relay entries are well formed. Errors are one coded
 * line each: SM_ERR_ENROLL_PIN (another key answered), _UNREACHABLE (no
 * connection or no answer in time), the service's own codes (expired,
 * used-up or unknown token, pool exhausted, ...), _RESPONSE (an answer
 * that does not check out).
 */
import { request } from 'node:https';
import { isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { equalBytes } from '../crypto/bytes.js';
import type { HybridSigner } from '../crypto/hybrid-sign.js';
import { ArmorLabel } from '../identity/armor.js';
import { decodeCaCertificate, decodeMemberCertificate, type CaCertificate, type MemberCertificate } from '../identity/certificate.js';
import { unarmorIfText } from '../identity/files.js';
import { MembershipVerifier } from '../identity/membership.js';
import { decodeRevocationList, type RevocationList } from '../identity/revocation.js';
import { parseRelayEntry } from '../config/config-schema.js';
import { presentedRelayPin } from '../node/path/relay-link.js';
import { SmError } from '../errors.js';
import { EnrollCode, EnrollError } from './enroll-errors.js';
import { buildJoinRequest, EXPORTER_BYTES, EXPORTER_LABEL } from './join-request.js';
import { buildRenewRequest } from './renew-request.js';
import { tokenEndpoint, type JoinToken } from './join-token.js';

export const JOIN_TIMEOUT_MS = 20_000;
const MAX_RESPONSE_BYTES = 256 * 1024;

export interface JoinResult {
  certificate: MemberCertificate;
  ca: CaCertificate;
  crl: RevocationList;
  relays: string[];
}

interface RawAnswer {
  status: number;
  body: string;
}

/** Where the enrollment service is and the pin of its key: from a token, or stored at join for renewals. */
export interface ServiceTarget {
  host: string;
  port: number;
  pin: string;
}

function post(token: ServiceTarget, path: string, makeBody: (exporter: Uint8Array) => string, timeoutMs: number): Promise<RawAnswer> {
  const where = `the enrollment service at ${tokenEndpoint(token)}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      req.destroy();
      reject(err);
    };
    const req = request({
      host: token.host,
      port: token.port,
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json' },
      minVersion: 'TLSv1.3',
      rejectUnauthorized: false, // the pin below decides
      ...(isIP(token.host) === 0 ? { servername: token.host } : {}),
      agent: false,
      timeout: timeoutMs,
    });
    const timer = setTimeout(() => fail(new EnrollError(EnrollCode.UNREACHABLE, `${where} did not answer within ${timeoutMs / 1000}s`)), timeoutMs);
    req.on('timeout', () => fail(new EnrollError(EnrollCode.UNREACHABLE, `${where} did not answer within ${timeoutMs / 1000}s`)));
    req.on('error', (err) => fail(new EnrollError(EnrollCode.UNREACHABLE, `cannot reach ${where}: ${err.message}`, { cause: err })));
    req.on('socket', (s) => {
      const socket = s as TLSSocket;
      socket.once('secureConnect', () => {
        const seen = presentedRelayPin(socket);
        if (seen !== token.pin) {
          fail(new EnrollError(EnrollCode.PIN, `${where} presented TLS key ${seen || '(none)'}, not the token's pin ${token.pin}: a man in the middle, or not the service that issued this token`));
          return;
        }
        let body: string;
        try {
          const exporter = new Uint8Array(socket.exportKeyingMaterial(EXPORTER_BYTES, EXPORTER_LABEL, Buffer.alloc(0)));
          body = makeBody(exporter);
        } catch (err) {
          fail(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        req.end(body);
      });
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
        if (text.length > MAX_RESPONSE_BYTES) fail(new EnrollError(EnrollCode.RESPONSE, `${where} sent an answer over ${MAX_RESPONSE_BYTES} bytes`));
      });
      res.on('error', (err) => fail(new EnrollError(EnrollCode.UNREACHABLE, `${where} broke off its answer: ${err.message}`)));
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: text });
      });
    });
    req.on('close', () => clearTimeout(timer));
  });
}

function badAnswer(why: string, cause?: unknown): EnrollError {
  return new EnrollError(EnrollCode.RESPONSE, `the enrollment service's answer does not check out: ${why}`, cause !== undefined ? { cause } : undefined);
}

/** Checks a 200 answer against our key; throws SM_ERR_ENROLL_RESPONSE when anything is off. */
export function checkJoinAnswer(body: string, publicKey: Uint8Array, nowMs: number): JoinResult {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(body) as Record<string, unknown>;
  } catch (err) {
    throw badAnswer('not JSON', err);
  }
  if (v === null || typeof v !== 'object' || typeof v['certificate'] !== 'string' || typeof v['ca'] !== 'string' || typeof v['crl'] !== 'string' || !Array.isArray(v['relays'])) {
    throw badAnswer('missing certificate, ca, crl or relays');
  }
  try {
    const ca = decodeCaCertificate(unarmorIfText(new TextEncoder().encode(v['ca']), ArmorLabel.CA_CERTIFICATE));
    const crl = decodeRevocationList(unarmorIfText(new TextEncoder().encode(v['crl']), ArmorLabel.REVOCATION_LIST), ca);
    const raw = Uint8Array.from(Buffer.from(v['certificate'], 'base64'));
    const certificate = decodeMemberCertificate(raw);
    if (!equalBytes(certificate.publicKey, publicKey)) throw badAnswer('the certificate is for another key');
    new MembershipVerifier(ca, crl).verify(raw, nowMs);
    const relays = v['relays'].map(String);
    if (relays.length === 0 || relays.some((r) => parseRelayEntry(r) === null)) throw badAnswer('no relays, or a relay entry that is not wss://HOST:PORT#PIN');
    return { certificate, ca, crl, relays };
  } catch (err) {
    if (err instanceof EnrollError) throw err;
    throw badAnswer((err as Error).message, err);
  }
}

/** Joins through the service the token names; see the header. */
export async function requestJoin(token: JoinToken, signer: HybridSigner, name: string, options: { timeoutMs?: number; nowMs?: number } = {}): Promise<JoinResult> {
  const answer = await post(token, '/v1/join', (exporter) => buildJoinRequest(signer, token.id, token.secret, name, exporter), options.timeoutMs ?? JOIN_TIMEOUT_MS);
  return checkAnswer(answer, signer.publicKey, options.nowMs ?? Date.now());
}

/**
 * Renews `certRaw` (held by `signer`'s key) at the service that issued it
 * (`POST /v1/renew`); the answer is checked as a join's is.
 */
export async function requestRenew(target: ServiceTarget, signer: HybridSigner, certRaw: Uint8Array, options: { timeoutMs?: number; nowMs?: number } = {}): Promise<JoinResult> {
  const answer = await post(target, '/v1/renew', (exporter) => buildRenewRequest(signer, certRaw, exporter), options.timeoutMs ?? JOIN_TIMEOUT_MS);
  return checkAnswer(answer, signer.publicKey, options.nowMs ?? Date.now());
}

function checkAnswer(answer: RawAnswer, publicKey: Uint8Array, nowMs: number): JoinResult {
  if (answer.status !== 200) {
    let code: string = EnrollCode.RESPONSE;
    let message = `the enrollment service answered HTTP ${answer.status}`;
    try {
      const e = (JSON.parse(answer.body) as { error?: { code?: unknown; message?: unknown } }).error;
      if (typeof e?.code === 'string' && /^SM_ERR_[A-Z0-9_]{1,64}$/.test(e.code) && typeof e.message === 'string') {
        code = e.code;
        message = `the enrollment service refused: ${e.message.slice(0, 300)}`;
      }
    } catch {
      /* not our error shape: keep the status */
    }
    throw new SmError(code, message);
  }
  return checkJoinAnswer(answer.body, publicKey, nowMs);
}
