/**
 * Automatic renewal of an enrolled member's certificate (docs/architecture.md
 * "Certificate renewal"): a node that joined with a token
 * (`up --join`, join-node.ts) stored where its enrollment service is
 * (DIR/enrollment.json: host, port and the pin of the service's key). While
 * the daemon runs, this asks that service for a renewed certificate
 * (`POST /v1/renew`, requestRenew in join-client.ts, signed by our identity
 * key over the pinned TLS connection) once a third of the certificate's
 * lifetime is left, as ACME clients do, so a year-long certificate renews
 * with four months to spare and a 2-minute one with 40 s.
 *
 * A renewed certificate is written to the certificate file first (a restart
 * or a SIGHUP then reads the same one: the daemon's reload sees it as
 * 'unchanged') and then put in force through the daemon's
 * replaceCertificate (same key, name and addresses, not ending sooner;
 * src/identity/cert-replacement.ts), so the relay re-admits us with it and
 * sessions and direct paths stay. A failure (service unreachable, refused,
 * an answer that does not check out, a certificate the replacement rules
 * refuse) is logged with its code and retried after a tenth of what is
 * left, at least RENEW_RETRY_MIN_MS and at most RENEW_RETRY_MAX_MS, until
 * the certificate has expired; the expiry warnings (cert-expiry.ts) keep
 * saying how close that is. One timer on the injected clock, cancelled by
 * stop().
 */
import { readFile } from 'node:fs/promises';
import type { MemberCertificate } from '../identity/certificate.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { EnrollCode, EnrollError } from './enroll-errors.js';
import type { JoinResult, ServiceTarget } from './join-client.js';

/** Renew once this fraction of the certificate's lifetime is left. */
export const RENEW_AT_REMAINING_FRACTION = 1 / 3;
/** Bounds on the wait before retrying a failed renewal. */
export const RENEW_RETRY_MIN_MS = 1_000;
export const RENEW_RETRY_MAX_MS = 60 * 60 * 1_000;
/** The longest one timer waits before looking again (well under setTimeout's 2^31 - 1 ms). */
export const RENEW_WAKE_MAX_MS = 24 * 60 * 60 * 1_000;

/** When to renew a certificate valid from notBeforeMs to notAfterMs: a third of its lifetime before its end. */
export function renewAtMs(cert: Pick<MemberCertificate, 'notBeforeMs' | 'notAfterMs'>): number {
  const lifetime = Math.max(0, cert.notAfterMs - cert.notBeforeMs);
  return cert.notAfterMs - Math.floor(lifetime * RENEW_AT_REMAINING_FRACTION);
}

/** How long to wait after a failed renewal, `remainingMs` before the certificate ends. */
export function retryDelayMs(remainingMs: number): number {
  return Math.min(RENEW_RETRY_MAX_MS, Math.max(RENEW_RETRY_MIN_MS, Math.floor(remainingMs / 10)));
}

/** Reads DIR/enrollment.json as join-node.ts wrote it; SM_ERR_ENROLL_STATE when it is not that. */
export async function readEnrollmentTarget(file: string): Promise<ServiceTarget> {
  let v: unknown;
  try {
    v = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new EnrollError(EnrollCode.STATE, `${file}: not the enrollment record \`up --join\` writes: ${(err as Error).message}`, { cause: err });
  }
  const o = v as Record<string, unknown> | null;
  if (
    o === null || typeof o !== 'object' || typeof o['host'] !== 'string' || o['host'].length === 0 || o['host'].length > 253 ||
    typeof o['port'] !== 'number' || !Number.isInteger(o['port']) || o['port'] < 1 || o['port'] > 65_535 ||
    typeof o['pin'] !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(o['pin'])
  ) {
    throw new EnrollError(EnrollCode.STATE, `${file}: expected {"host": HOST, "port": PORT, "pin": "sha256:<64 hex>"}`);
  }
  return { host: o['host'], port: o['port'], pin: o['pin'] };
}

export interface AutoRenewOptions {
  clock: Clock;
  logger: Logger;
  /** The enrollment service that issued our certificate. */
  target: ServiceTarget;
  /** The certificate in force now (it changes when a renewal is applied). */
  current(): MemberCertificate;
  /** Ask the service for a renewal of `cert` (requestRenew bound to our signer). */
  renew(target: ServiceTarget, cert: MemberCertificate): Promise<JoinResult>;
  /** Write the renewed certificate where the daemon reads it on restart and SIGHUP. */
  save(cert: MemberCertificate): Promise<void>;
  /** Put it in force (the daemon's replaceCertificate); throws when the replacement rules refuse it. */
  apply(raw: Uint8Array): 'replaced' | 'unchanged';
}

export interface AutoRenewStats {
  renewed: number;
  failed: number;
  /** When the next attempt is due (Unix ms), or null when stopped or expired. */
  nextAtMs: number | null;
  lastError: { code: string; message: string } | null;
}

export class AutoRenew {
  readonly #o: AutoRenewOptions;
  #timer: TimerHandle | null = null;
  #running = false;
  #inFlight: Promise<void> | null = null;
  readonly stats: AutoRenewStats = { renewed: 0, failed: 0, nextAtMs: null, lastError: null };

  constructor(options: AutoRenewOptions) {
    this.#o = options;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#scheduleAt(renewAtMs(this.#o.current()));
  }

  /** Cancels the timer; an attempt under way finishes but applies nothing. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = null;
    this.stats.nextAtMs = null;
    await this.#inFlight;
  }

  #scheduleAt(atMs: number): void {
    if (!this.#running) return;
    this.#timer?.cancel();
    const now = this.#o.clock.now();
    const notAfterMs = this.#o.current().notAfterMs;
    if (Math.max(now, atMs) >= notAfterMs) {
      // No attempt at or past the end: the service renews live certificates only. Say so when it ends.
      this.stats.nextAtMs = null;
      this.#timer = this.#o.clock.schedule(Math.max(0, notAfterMs - now), () => {
        this.#timer = null;
        this.#o.logger.error('member certificate expired without a renewal: the relay and peers refuse it; renew through the enrollment service or `ca sign`, then restart or SIGHUP', {
          notAfter: new Date(notAfterMs).toISOString(),
        });
      });
      return;
    }
    this.stats.nextAtMs = Math.max(now, atMs);
    // Timers wake at least daily: a renewal months away is beyond what setTimeout can wait
    // (2^31 - 1 ms, about 24.8 days; longer delays fire at once), and a daily look follows clock changes.
    const wakeMs = Math.min(Math.max(0, atMs - now), RENEW_WAKE_MAX_MS);
    this.#timer = this.#o.clock.schedule(wakeMs, () => {
      this.#timer = null;
      if (this.#o.clock.now() < atMs) {
        this.#scheduleAt(atMs);
        return;
      }
      this.#inFlight = this.#attempt().finally(() => (this.#inFlight = null));
    });
  }

  async #attempt(): Promise<void> {
    const before = this.#o.current();
    try {
      const r = await this.#o.renew(this.#o.target, before);
      if (!this.#running) return;
      await this.#o.save(r.certificate);
      const outcome = this.#o.apply(r.certificate.raw);
      this.stats.renewed++;
      this.stats.lastError = null;
      this.#o.logger.info('member certificate renewed', {
        outcome,
        previousNotAfter: new Date(before.notAfterMs).toISOString(),
        notAfter: new Date(r.certificate.notAfterMs).toISOString(),
      });
      this.#scheduleAt(renewAtMs(this.#o.current()));
    } catch (err) {
      if (!this.#running) return;
      const code = String((err as { code?: unknown }).code ?? 'SM_ERR_ENROLL_RESPONSE');
      const message = (err as Error).message;
      this.stats.failed++;
      this.stats.lastError = { code, message };
      const remaining = before.notAfterMs - this.#o.clock.now();
      const delay = retryDelayMs(remaining);
      this.#o.logger.warn('certificate renewal failed; retrying', { code, error: message, retryInMs: delay, notAfter: new Date(before.notAfterMs).toISOString() });
      this.#scheduleAt(this.#o.clock.now() + delay);
    }
  }
}
