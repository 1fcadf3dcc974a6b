/**
 * SM_ERR_* codes of the relay cluster's NATS connection (docs/architecture.md
 * "Relay cluster"; docs/conventions.md §9). A failed connection attempt is
 * an operational failure: nats-link.ts retries it, logs the code once per
 * change, and shows the last one in GET /stats (`cluster.natsError`).
 */

export const ClusterCode = Object.freeze({
  /** nats-server refused the relay's credentials (user/password, token or credentials file). */
  NATS_AUTH: 'SM_ERR_CLUSTER_NATS_AUTH',
  /** The TLS handshake with nats-server failed: its certificate is not signed by relay.cluster.tlsCa (or the system store), has expired, or names another host. */
  NATS_TLS: 'SM_ERR_CLUSTER_NATS_TLS',
  /** nats-server could not be reached or closed the connection for another reason. */
  NATS_UNREACHABLE: 'SM_ERR_CLUSTER_NATS_UNREACHABLE',
} as const);
export type ClusterCode = (typeof ClusterCode)[keyof typeof ClusterCode];

/** Node's TLS verification codes, and the prefixes of its TLS/SSL error codes. */
const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_|CERT_|HOSTNAME_MISMATCH)/;

/** Which code a failed NATS connection attempt (or a NATS status error) gets. */
export function classifyNatsError(err: unknown): ClusterCode {
  const e = err as { name?: unknown; code?: unknown; message?: unknown; cause?: unknown } | null;
  if (e === null || typeof e !== 'object') return ClusterCode.NATS_UNREACHABLE;
  const message = typeof e.message === 'string' ? e.message : '';
  if (e.name === 'AuthorizationError' || /authorization violation|authentication|user authentication expired/i.test(message)) return ClusterCode.NATS_AUTH;
  if (typeof e.code === 'string' && TLS_CODE.test(e.code)) return ClusterCode.NATS_TLS;
  if (/certificate|\btls\b|ssl/i.test(message)) return ClusterCode.NATS_TLS;
  if (e.cause !== undefined && e.cause !== err) {
    const inner = classifyNatsError(e.cause);
    if (inner !== ClusterCode.NATS_UNREACHABLE) return inner;
  }
  return ClusterCode.NATS_UNREACHABLE;
}
