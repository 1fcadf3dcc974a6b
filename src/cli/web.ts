/**
 * `shadowmesh web`: the running daemon's web console link (control API
 * method `web`; docs/architecture.md "Web console"). It prints the URL with
 * this daemon start's token, to open in a browser on this machine; `--json`
 * prints the API's object ({url, link}). Whoever may open the control socket
 * may read the link, as they may run every other command. A daemon started
 * without --web answers SM_ERR_CONTROL_NO_WEB (one line, exit 1).
 */
import type { Command } from 'commander';
import { ControlClient } from '../node/control/control-client.js';
import { defaultControlPath, type WebResult } from '../node/control/control-protocol.js';

interface WebCliOptions {
  json?: boolean;
  control?: string;
}

export function registerWeb(program: Command): void {
  program
    .command('web')
    .showHelpAfterError(false)
    .description('print the web console\'s login link (the daemon must run with --web); open it in a browser on this machine')
    .option('--json', 'print the control API\'s JSON object ({url, link}) instead of the link')
    .option('--control <sock>', 'control socket of the daemon (default $SHADOWMESH_HOME/control.sock or ~/.shadowmesh/control.sock)')
    .action(async (opts: WebCliOptions) => {
      const w = (await new ControlClient({ path: opts.control ?? defaultControlPath() }).call('web', {})) as WebResult;
      process.stdout.write(opts.json ? JSON.stringify(w, null, 2) + '\n' : `${w.link}\n`);
    });
}
