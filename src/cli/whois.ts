/**
 * `shadowmesh whois IP|NAME`: who a mesh address, a member name or a peer id
 * is, as the running daemon knows it (control API method `whois`): name,
 * peer id, mesh addresses, groups, certificate expiry, online state and the
 * path frames to it take. This node itself is answered too. Human lines by
 * default, the API's JSON object with --json. An address no one holds is
 * SM_ERR_CONTROL_UNKNOWN_ADDRESS, an unknown name SM_ERR_CONTROL_UNKNOWN_NAME
 * (one line, exit 1).
 */
import type { Command } from 'commander';
import { ControlClient } from '../node/control/control-client.js';
import { defaultControlPath, type WhoisResult } from '../node/control/control-protocol.js';
import { humanDuration } from './status.js';

interface WhoisCliOptions {
  json?: boolean;
  control?: string;
}

export function formatWhois(w: WhoisResult, nowMs = Date.now()): string {
  const left = w.certExpiresMs - nowMs;
  const path = w.self ? 'this node' : w.path === 'direct' ? `direct ${w.carrier ?? '?'} ${w.remote ?? '?'}` : 'relay';
  return [
    `name       ${w.name}${w.self ? ' (this node)' : ''}`,
    `peer       ${w.peerId}`,
    `addresses  ${w.addresses.length > 0 ? w.addresses.join(', ') : '-'}`,
    `groups     ${w.groups.length > 0 ? w.groups.join(', ') : '-'}`,
    ...(w.routes !== undefined && w.routes.length > 0 ? [`routes     ${w.routes.join(', ')}`] : []),
    `cert       expires ${w.certExpires} (${left >= 0 ? `in ${humanDuration(left)}` : `${humanDuration(-left)} ago`})`,
    `online     ${w.online ? 'yes' : 'no'}`,
    `path       ${path}`,
  ].join('\n') + '\n';
}

export function registerWhois(program: Command): void {
  program
    .command('whois')
    .showHelpAfterError(false)
    .description('show the member behind a mesh address, name or peer id: addresses, groups, certificate expiry, online, path')
    .argument('<target>', 'a mesh address (with or without /prefix), a member name, or a 64-hex peer id')
    .option('--json', 'print the control API\'s JSON object instead of text')
    .option('--control <sock>', 'control socket of the daemon (default $SHADOWMESH_HOME/control.sock or ~/.shadowmesh/control.sock)')
    .action(async (target: string, opts: WhoisCliOptions) => {
      const w = (await new ControlClient({ path: opts.control ?? defaultControlPath() }).call('whois', { target })) as WhoisResult;
      process.stdout.write(opts.json ? JSON.stringify(w, null, 2) + '\n' : formatWhois(w));
    });
}
