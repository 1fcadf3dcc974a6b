/**
 * Stable error codes of node/path (docs/conventions.md §9). A code, once
 * shipped, is never reused for another meaning. The rendezvous subfolder
 * keeps its own (rendezvous/rendezvous-errors.ts).
 */

/**
 * Both are ConfigError codes: a caller's mistake at construction or call
 * time, never bad network input (which is dropped and counted instead).
 */

export const PathCode = Object.freeze({
  /** An option of PathTimers, the selector or PathManager is unknown, out of range or inconsistent. */
  OPTION: 'SM_ERR_PATH_OPTION',
  /** A PathManager or path was handed an argument it cannot use (wrong peer id size, a path for another peer, a relay path as direct). */
  ARG: 'SM_ERR_PATH_ARG',
} as const);
export type PathCode = (typeof PathCode)[keyof typeof PathCode];


/** SM_ERR_* codes of direct-transport.ts (re-handshake refusals use PathAuthCode, offer refusals the rendezvous' OfferCode). */
export const DirectCode = Object.freeze({
  /** Dialer: the server's certificate is not the one the peer signed (a man in the middle). */
  PIN: 'SM_ERR_PATH_PIN',
  /** Listener: the client's certificate is no known peer's signed pin. */
  PIN_UNKNOWN: 'SM_ERR_PATH_PIN_UNKNOWN',
  /** Listener: the client presented no certificate. */
  NO_CLIENT_CERT: 'SM_ERR_PATH_NO_CLIENT_CERT',
  /** connect() to a peer that sent no offer. */
  NO_OFFER: 'SM_ERR_PATH_NO_OFFER',
  /** No end-to-end session with the peer (no path-auth key). */
  NO_SESSION: 'SM_ERR_PATH_NO_SESSION',
  /** connect() while our own dials are paused: an exit node is in use, and a dial from an ephemeral port would run through its tunnel (docs/architecture.md "Exit nodes"). */
  DIALS_PAUSED: 'SM_ERR_PATH_DIALS_PAUSED',
  /** Too many accepted connections awaiting their re-handshake. */
  BUSY: 'SM_ERR_PATH_BUSY',
  /** A TCP connection cut at accept: its source address already holds maxHandshakesPerAddress unfinished TLS handshakes. */
  SOURCE_BUSY: 'SM_ERR_PATH_SOURCE_BUSY',
  /** A TCP connection cut at accept: maxHandshakes unfinished TLS handshakes are open. */
  HANDSHAKES_FULL: 'SM_ERR_PATH_HANDSHAKES_FULL',
  /** Operational failures from here on (counted in stats.failures, not refusals): the dial's socket failed before the WebSocket was up. */
  CONNECT: 'SM_ERR_PATH_CONNECT',
  /** The TLS handshake failed, or gave no usable certificate or exporter. */
  TLS: 'SM_ERR_PATH_TLS',
  /** Listener: a TLS handshake did not finish within tlsHandshakeTimeoutMs; the socket was closed. */
  TLS_TIMEOUT: 'SM_ERR_PATH_TLS_TIMEOUT',
  /** The dial did not finish within connectTimeoutMs. */
  TIMEOUT: 'SM_ERR_PATH_TIMEOUT',
  /** The dial's connection closed, or failed after the WebSocket was up. */
  CLOSED: 'SM_ERR_PATH_CLOSED',
} as const);
export type DirectCode = (typeof DirectCode)[keyof typeof DirectCode];

/** connect_failed codes of udp-transport.ts. */
export const UdpCode = Object.freeze({
  /** The peer has no candidate address to punch towards. */
  NO_CANDIDATES: 'SM_ERR_UDP_NO_CANDIDATES',
  /** No end-to-end session with the peer (no path-auth key). */
  NO_SESSION: 'SM_ERR_UDP_NO_SESSION',
  /** Hole punching found no working address in time. */
  TIMEOUT: 'SM_ERR_UDP_PUNCH_TIMEOUT',
  /** The transport has no socket (not started, its bind failed, or stopped). */
  NOT_RUNNING: 'SM_ERR_UDP_NOT_RUNNING',
} as const);
export type UdpCode = (typeof UdpCode)[keyof typeof UdpCode];

/** SM_ERR_* codes of relay-link.ts itself (admission refusals use relay-auth's RelayAuthCode). */
export const RelayLinkCode = Object.freeze({
  /** The relay's TLS key does not match the configured pin. */
  PIN: 'SM_ERR_RELAY_PIN',
  /** The TCP/TLS connection failed before the WebSocket was up, or gave no TLS exporter. */
  TLS: 'SM_ERR_RELAY_TLS',
  /** No admission within connectTimeoutMs. */
  CONNECT_TIMEOUT: 'SM_ERR_RELAY_CONNECT_TIMEOUT',
  /** No traffic from the relay for the dead interval. */
  DEAD: 'SM_ERR_RELAY_DEAD',
  /** The connection or the WebSocket closed. */
  CLOSED: 'SM_ERR_RELAY_CLOSED',
  /** A socket or WebSocket error after the connection was up. */
  SOCKET: 'SM_ERR_RELAY_SOCKET',
} as const);
export type RelayLinkCode = (typeof RelayLinkCode)[keyof typeof RelayLinkCode];
