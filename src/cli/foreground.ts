/**
 * How a long-running command (`shadowmesh up`, `shadowmesh relay`) holds the
 * foreground: the signal handling both share.
 *
 *   SIGHUP          runs `reload` (when given); the process keeps running
 *   SIGTERM/SIGINT  the first one logs 'stopping' and runs `stop` once; the
 *                   handlers are removed then, so a second signal gets
 *                   Node's default (the process ends at once)
 *   stopRequested   the service asking to stop (`shadowmesh down` through
 *                   the control API): the same as a first SIGTERM
 *
 * The ready line goes to stdout only AFTER every handler is installed:
 * a script that waits for it and then sends a signal never meets a process
 * without its handlers. runUntilStopped resolves once `stop` settled (a
 * failing stop is logged, not thrown: the process still exits 0, as a
 * stopped daemon should), with SIGHUP's handler removed as well.
 *
 * The service manager hears the same moments (src/cli/service-notify.ts):
 * READY=1 right after the ready line, STOPPING=1 when the stop begins;
 * outside systemd nothing is sent.
 */
import type { Logger } from '../util/logger.js';
import { serviceNotifier, type ServiceNotifier } from './service-notify.js';

/** What runUntilStopped needs of `process` (a test passes an EventEmitter). */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

export interface ForegroundDeps {
  logger: Logger;
  /** Default `process`. */
  signals?: SignalSource;
  /** Writes the ready line; default stdout. */
  write?: (text: string) => void;
  /** Tells the service manager; default serviceNotifier over process.env (a no-op without $NOTIFY_SOCKET). */
  notify?: ServiceNotifier;
}

export interface ForegroundService {
  /** Printed (with a newline) once the handlers are installed. */
  readyLine: string;
  stop(): Promise<void>;
  /** SIGHUP; absent: SIGHUP is left alone. */
  reload?(): void;
  /** Resolves when the service asks to be stopped (control `shutdown`); handled as SIGTERM. */
  stopRequested?: Promise<void>;
}

/** Hold the foreground until SIGTERM, SIGINT or the service's own request stopped `service`; resolves with the signal, or 'shutdown'. */
export function runUntilStopped(deps: ForegroundDeps, service: ForegroundService): Promise<NodeJS.Signals | 'shutdown'> {
  const signals = deps.signals ?? process;
  const write = deps.write ?? ((text: string) => { process.stdout.write(text); });
  const notify = deps.notify ?? serviceNotifier({ logger: deps.logger });
  const onHup = (): void => service.reload?.();
  if (service.reload !== undefined) signals.on('SIGHUP', onHup);
  return new Promise<NodeJS.Signals | 'shutdown'>((resolve) => {
    let stopping = false;
    const onStop = (signal: NodeJS.Signals | 'shutdown'): void => {
      if (stopping) return;
      stopping = true;
      signals.off('SIGTERM', onStop);
      signals.off('SIGINT', onStop);
      deps.logger.info('stopping', { signal });
      notify.stopping();
      const done = (): void => {
        if (service.reload !== undefined) signals.off('SIGHUP', onHup);
        resolve(signal);
      };
      service.stop().then(done, (err: unknown) => {
        deps.logger.error('stop failed', { error: (err as Error).message });
        done();
      });
    };
    signals.on('SIGTERM', onStop);
    signals.on('SIGINT', onStop);
    void service.stopRequested?.then(() => onStop('shutdown'));
    write(service.readyLine + '\n');
    notify.ready(service.readyLine);
  });
}
