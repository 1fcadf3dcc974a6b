/**
 * The certificate expiry gauge, on the node's and the relay's registries
 * (docs/architecture.md "Certificate expiry"):
 *
 *   shadowmesh_certificate_expiry_timestamp_seconds{cert}  gauge  notAfter as a unix timestamp
 *
 * cert is 'member' and 'ca' on a node, 'ca' and 'tls' on a relay. An alert
 * on `shadowmesh_certificate_expiry_timestamp_seconds - time() < 30*86400`
 * fires when one ends within 30 days. Read at scrape time, so a certificate
 * replaced while running (the relay's self-signed TLS certificate) is seen.
 */
import type { Registry } from 'prom-client';
import { gaugeFrom } from './metrics-registry.js';

export const CERT_EXPIRY_METRIC = 'shadowmesh_certificate_expiry_timestamp_seconds';

/** Register the gauge on `registry`; `read` gives each certificate's name and notAfter (ms). */
export function registerCertExpiryMetrics(registry: Registry, read: () => readonly { readonly cert: string; readonly notAfterMs: number }[]): void {
  gaugeFrom(registry, CERT_EXPIRY_METRIC, 'When each certificate stops being valid (notAfter), as a unix timestamp in seconds.', ['cert'], () =>
    read().map((c) => [{ cert: c.cert }, Math.floor(c.notAfterMs / 1_000)] as const));
}
