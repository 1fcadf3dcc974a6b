/**
 * One light latency probe of a relay (docs/architecture.md "Several
 * relays"): open TCP, run the TLS 1.3 handshake, check the relay's key
 * against its pin set, close. The time to a pinned TLS session is what the
 * relay set (relay-set.ts) compares between relays: the same measure for
 * every relay, the current one included, and it needs no admission (an
 * admission at a relay we are not staying on would announce us there).
 *
 * The probe never sends a byte after the handshake, so the relay sees a
 * connection that ends before its HTTP upgrade. It never throws: every
 * failure (refused, timed out, a key that matches no pin) is a result with
 * the SM_ERR_RELAY_* code the link would have counted for it.
 */
import { connect as tlsConnect } from 'node:tls';
import { isIP } from 'node:net';
import type { Clock } from '../../util/clock.js';
import { RelayLinkCode } from './path-errors.js';
import { parseRelayUrl, presentedRelayPin } from './relay-link.js';

export type RelayProbeResult = { ok: true; rttMs: number } | { ok: false; code: string; message: string };

/** What a probe needs: where, which keys are acceptable, how long to wait. */
export interface RelayProbeTarget {
  url: string;
  pins: readonly string[];
}

/** A probe of `target` that finishes within `timeoutMs` (clock time) whatever the network does. */
export function probeRelay(deps: { clock: Clock }, target: RelayProbeTarget, timeoutMs: number): Promise<RelayProbeResult> {
  const { clock } = deps;
  return new Promise((resolve) => {
    let host: string;
    let port: number;
    try {
      ({ host, port } = parseRelayUrl(target.url));
    } catch (err) {
      resolve({ ok: false, code: RelayLinkCode.TLS, message: (err as Error).message });
      return;
    }
    const startedMs = clock.now();
    let done = false;
    const socket = tlsConnect({
      host,
      port,
      servername: isIP(host) === 0 ? host : undefined,
      minVersion: 'TLSv1.3',
      ALPNProtocols: ['http/1.1'],
      // The pin set replaces the CA store, as on the link.
      rejectUnauthorized: false,
    });
    const finish = (result: RelayProbeResult): void => {
      if (done) return;
      done = true;
      timer.cancel();
      socket.destroy();
      resolve(result);
    };
    const timer = clock.schedule(timeoutMs, () => finish({ ok: false, code: RelayLinkCode.CONNECT_TIMEOUT, message: `no TLS handshake within ${timeoutMs} ms` }));
    socket.on('error', (err) => finish({ ok: false, code: RelayLinkCode.TLS, message: err.message }));
    socket.on('close', () => finish({ ok: false, code: RelayLinkCode.CLOSED, message: 'connection closed' }));
    socket.once('secureConnect', () => {
      const rttMs = clock.now() - startedMs;
      const seen = presentedRelayPin(socket);
      if (!target.pins.includes(seen)) {
        finish({ ok: false, code: RelayLinkCode.PIN, message: `relay TLS key ${seen || '(none)'} of ${target.url} matches no pin of its set` });
        return;
      }
      finish({ ok: true, rttMs });
    });
  });
}
