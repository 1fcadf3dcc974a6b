/**
 * For tests that watch a bare RelayLink (no ShadowNode): fetch the
 * certificates the relay's PRESENCE announces (src/node/cert-fetcher.ts, as
 * a node does) and re-emit them on the link as the older 'peer_up' (cert,
 * onlineSinceMs) / 'peer_down' (peerId) events, so a test reads members the
 * way it did when presence carried certificates. The digest is checked; the
 * certificate is NOT verified here (the test's listener verifies it, as the
 * directory would). Returns the fetcher (its drops, its counts).
 */
import { CertFetcher } from '../src/node/cert-fetcher.js';
import type { RelayLink } from '../src/node/path/relay-link.js';
import { systemClock } from '../src/util/clock.js';

export function fetchPresenceCerts(link: RelayLink): CertFetcher {
  const fetcher = new CertFetcher({
    request: (peerId) => link.requestCertificate(peerId),
    accept: (cert, onlineSinceMs) => link.emit('peer_up', cert, onlineSinceMs),
    down: (peerId) => link.emit('peer_down', peerId),
    clock: systemClock,
  });
  link.on('established', () => fetcher.reset());
  link.on('presence_up', (peerId: Uint8Array, digest: Uint8Array, since: number) => fetcher.up(peerId, digest, since));
  link.on('presence_down', (peerId: Uint8Array) => fetcher.down(peerId));
  link.on('cert', (peerId: Uint8Array, cert: Uint8Array) => fetcher.cert(peerId, cert));
  return fetcher;
}
