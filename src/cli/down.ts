/**
 * `shadowmesh down`: stop the running node daemon through its control API
 * (src/node/control/control-protocol.ts, method `shutdown`), as
 * `systemctl stop` or SIGTERM would, then wait until nothing answers on the
 * control socket any more, so `shadowmesh down && shadowmesh up` never meets
 * the old daemon. Who may call it is who may open the socket (its mode,
 * src/node/control/control-server.ts).
 *
 * Prints `stopped node <name> <short id> (pid N)`, or with --json the
 * answer `{ name, peerId, pid }`. No daemon on the socket: one line, exit 1
 * (SM_ERR_CONTROL_NO_DAEMON); a daemon still answering after DOWN_WAIT_MS:
 * SM_ERR_CLI_DOWN_TIMEOUT.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { hasCode, SmError } from '../errors.js';
import { ControlClient } from '../node/control/control-client.js';
import { ControlCode } from '../node/control/control-errors.js';
import { defaultControlPath, type ShutdownResult } from '../node/control/control-protocol.js';
import { CliCode } from './cli-errors.js';

/** How long the daemon gets to stop: its relay link, sessions and device close in well under a second; a stuck close should not hang a script forever. */
export const DOWN_WAIT_MS = 15_000;
/** Between two checks whether the daemon still answers: short, so `down` returns soon after the daemon is gone. */
const DOWN_POLL_MS = 50;
/** One check's own timeout: a stopping daemon may be slow to answer, but answers or is gone. */
const DOWN_PROBE_TIMEOUT_MS = 1_000;

interface DownCliOptions {
  json?: boolean;
  control?: string;
}

/** Resolves once nothing answers on `path` (the daemon closed its socket); throws SM_ERR_CLI_DOWN_TIMEOUT after `waitMs`. */
async function waitGone(path: string, waitMs: number): Promise<void> {
  const probe = new ControlClient({ path, timeoutMs: DOWN_PROBE_TIMEOUT_MS });
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      await probe.status();
    } catch (err) {
      if (hasCode(err, ControlCode.NO_DAEMON)) return;
      // a connection cut or timed out mid-stop: keep checking until the socket is gone
    }
    if (Date.now() >= deadline) throw new SmError(CliCode.DOWN_TIMEOUT, `the daemon on ${path} accepted the shutdown but still answers after ${DOWN_WAIT_MS / 1_000}s`);
    await sleep(DOWN_POLL_MS);
  }
}

export function registerDown(program: Command): void {
  program
    .command('down')
    .showHelpAfterError(false)
    .description('stop the running node daemon through its control API and wait until it is gone')
    .option('--json', 'print the daemon\'s answer { name, peerId, pid } as JSON')
    .option('--control <sock>', 'control socket of the daemon (default $SHADOWMESH_HOME/control.sock or ~/.shadowmesh/control.sock)')
    .action(async (opts: DownCliOptions) => {
      const path = opts.control ?? defaultControlPath();
      const r = (await new ControlClient({ path }).call('shutdown', {})) as ShutdownResult;
      await waitGone(path, DOWN_WAIT_MS);
      process.stdout.write(opts.json === true ? JSON.stringify(r, null, 2) + '\n' : `stopped node ${r.name} ${r.peerId.slice(0, 16)} (pid ${r.pid})\n`);
    });
}
