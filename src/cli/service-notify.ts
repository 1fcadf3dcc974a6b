/**
 * Tells the service manager how a long-running command is doing: systemd's
 * `Type=notify` protocol (sd_notify(3)), used by both units in
 * deploy/systemd/ (docs/configuration.md "Running under systemd").
 *
 *   ready(status)  "READY=1" and STATUS=<the ready line>: `shadowmesh up` once
 *                  the relay admitted it and the device is up, `shadowmesh
 *                  relay` once it listens (src/cli/foreground.ts sends it
 *                  right after the ready line)
 *   stopping()     "STOPPING=1": the orderly stop has begun
 *
 * What callers must know:
 *  - Without $NOTIFY_SOCKET (a shell, a test, Type=simple) every call does
 *    nothing and the addon is never loaded; nothing here ever throws.
 *  - Node cannot send a unix datagram, so the bytes leave through the tiny
 *    addon native/sd-notify.cc, from this process itself: systemd sees the
 *    main PID and NotifyAccess=main suffices (a `systemd-notify` child would
 *    race its own exit and need NotifyAccess=all).
 *  - When $NOTIFY_SOCKET is set but the addon cannot be loaded or a send
 *    fails, one warning is logged: systemd then times the start out
 *    (TimeoutStartSec), and the log says why.
 *  - A STATUS text is one line: newlines would start new assignments.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../util/logger.js';

/** The variable systemd sets for a Type=notify service. */
export const NOTIFY_SOCKET_ENV = 'NOTIFY_SOCKET';

/** Where node-gyp puts the addon, relative to this file in dist/src/cli/ (or src/cli/). */
export const NATIVE_NOTIFY_PATH = fileURLToPath(new URL('../../../native/build/Release/shadowmesh_notify.node', import.meta.url));

/** Sends one datagram; 0, or the errno of the failure (native/sd-notify.cc `send`). */
export type NotifySend = (socketPath: string, message: string) => number;

export interface ServiceNotifierDeps {
  logger: Logger;
  /** Default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Default: the addon's `send`, loaded on first use. */
  send?: NotifySend;
}

export interface ServiceNotifier {
  ready(status: string): void;
  stopping(): void;
}

const NOOP: ServiceNotifier = Object.freeze({ ready: () => undefined, stopping: () => undefined });

/** A notifier for $NOTIFY_SOCKET, or one that does nothing when it is unset. */
export function serviceNotifier(deps: ServiceNotifierDeps): ServiceNotifier {
  const socketPath = (deps.env ?? process.env)[NOTIFY_SOCKET_ENV];
  if (socketPath === undefined || socketPath === '') return NOOP;
  const log = deps.logger.child('notify');
  let send: NotifySend | null | undefined = deps.send;
  const notify = (message: string): void => {
    if (send === undefined) send = loadSend(log);
    if (send === null) return;
    const errno = send(socketPath, message);
    if (errno !== 0) log.warn('service manager notification not delivered', { socket: socketPath, errno, message: message.split('\n')[0] });
  };
  return {
    ready: (status) => notify(`READY=1\nSTATUS=${oneLine(status)}`),
    stopping: () => notify('STOPPING=1\nSTATUS=stopping'),
  };
}

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}

/** The addon's send, or null (logged once) when it cannot be loaded. */
function loadSend(log: Logger): NotifySend | null {
  try {
    const addon = createRequire(import.meta.url)(NATIVE_NOTIFY_PATH) as { send?: unknown };
    if (typeof addon.send !== 'function') throw new Error('the addon exports no send()');
    return addon.send as NotifySend;
  } catch (err) {
    log.warn(
      `$${NOTIFY_SOCKET_ENV} is set but the notification addon did not load (${(err as Error).message}); ` +
        'the service manager will not learn that we are ready. Rebuild it with `npm rebuild shadowmesh`.',
      { path: NATIVE_NOTIFY_PATH },
    );
    return null;
  }
}
