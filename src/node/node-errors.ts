/**
 * Stable error codes thrown by the files of node/ itself (docs/conventions.md
 * §9); its subfolders keep their own (path/path-errors.ts,
 * session/session-errors.ts, device/device-errors.ts). A code, once
 * shipped, is never reused for another meaning.
 */
import { SmError } from '../errors.js';

/** SM_ERR_* codes of mesh-ping.ts, always as MeshPingError. */
export const MeshPingCode = Object.freeze({
  /** No pong within the ping's timeout. */
  TIMEOUT: 'SM_ERR_PING_TIMEOUT',
  /** The session layer dropped the request (no session and none can be started, or the relay link is down). */
  UNREACHABLE: 'SM_ERR_PING_UNREACHABLE',
  /** maxOutstanding pings are already waiting for their pong. */
  BUSY: 'SM_ERR_PING_BUSY',
  /** The pinger is not running, or stop() was called while waiting. */
  STOPPED: 'SM_ERR_PING_STOPPED',
} as const);
export type MeshPingCode = (typeof MeshPingCode)[keyof typeof MeshPingCode];

/** SM_ERR_* codes of daemon.ts, always as DaemonError. */
export const DaemonCode = Object.freeze({
  /** The member certificate belongs to another identity than the one in the identity directory. */
  CERT_MISMATCH: 'SM_ERR_DAEMON_CERT_MISMATCH',
  /** No admission by the relay within the startup timeout. */
  RELAY_UNREACHABLE: 'SM_ERR_DAEMON_RELAY_UNREACHABLE',
  /** The certificate holds no mesh address, but a device was asked for. */
  NO_ADDRESS: 'SM_ERR_DAEMON_NO_ADDRESS',
  /** --advertise-routes or --accept-routes with a device that is not TUN (subnet routes are TUN-only). */
  ROUTES_DEVICE: 'SM_ERR_DAEMON_ROUTES_DEVICE',
  /** --advertise-routes with a certificate that carries no route (the CA signs them: ca sign --route). */
  ROUTES_NONE: 'SM_ERR_DAEMON_ROUTES_NONE',
  /** Forwarding or the masquerade rule for --advertise-routes could not be set up (the message has the command and its error). */
  ROUTES_SETUP: 'SM_ERR_DAEMON_ROUTES_SETUP',
  /** --exit-node or --advertise-exit-node with --dev tap (the default route is routed at L3; --dev none carries streams only), or --exit-node-allow-lan/--exit-node-fallback with --dev none. */
  EXIT_NODE_DEVICE: 'SM_ERR_DAEMON_EXIT_NODE_DEVICE',
  /** --exit-node names no possible member (not a member name, not a mesh address of our subnets), or ourselves. */
  EXIT_NODE_NAME: 'SM_ERR_DAEMON_EXIT_NODE_NAME',
  /** The chosen exit node's certificate, or ours with --advertise-exit-node, carries no exit mark (ca sign --exit). */
  EXIT_NODE_NOT_EXIT: 'SM_ERR_DAEMON_EXIT_NODE_NOT_EXIT',
  /** The policy-routing rules, the exit table, forwarding or masquerade could not be set up (the message has the command and its error). */
  EXIT_NODE_SETUP: 'SM_ERR_DAEMON_EXIT_NODE_SETUP',
} as const);
export type DaemonCode = (typeof DaemonCode)[keyof typeof DaemonCode];

/** Errors of the daemon and of the parts it starts (daemon.ts, subnet-routes.ts, exit-node.ts). */
export class DaemonError extends SmError {
  override name = 'DaemonError';
}
