/**
 * `shadowmesh ip [NAME] [-4|-6]`: this node's mesh addresses (control API
 * method `status`), or a member's (method `whois`), one per line without the
 * prefix length, as `tailscale ip` prints them, so that
 * `ping "$(shadowmesh ip -4 bob)"` works. --json prints
 * `{ name, peerId, addresses }` with the same addresses. No address of the
 * asked family: SM_ERR_CLI_NO_ADDRESS; an unknown name:
 * SM_ERR_CONTROL_UNKNOWN_NAME (one line, exit 1).
 */
import { Option, type Command } from 'commander';
import { SmError } from '../errors.js';
import { ControlClient } from '../node/control/control-client.js';
import { defaultControlPath, type StatusResult, type WhoisResult } from '../node/control/control-protocol.js';
import { CliCode } from './cli-errors.js';

interface IpCliOptions {
  json?: boolean;
  control?: string;
  ipv4?: boolean;
  ipv6?: boolean;
}

/** The bare addresses of `cidrs` (prefix length dropped), only IPv4 or only IPv6 when asked. */
export function addressesOf(cidrs: readonly string[], family: 4 | 6 | null): string[] {
  return cidrs.map((c) => c.replace(/\/\d{1,3}$/, '')).filter((a) => family === null || (family === 6) === a.includes(':'));
}

export function registerIp(program: Command): void {
  program
    .command('ip')
    .showHelpAfterError(false)
    .description('print this node\'s mesh addresses, or a member\'s, one per line')
    .argument('[name]', 'a member name (or mesh address, or peer id); default: this node')
    .addOption(new Option('-4, --ipv4', 'only the IPv4 address').conflicts('ipv6'))
    .addOption(new Option('-6, --ipv6', 'only the IPv6 address').conflicts('ipv4'))
    .option('--json', 'print { name, peerId, addresses } as JSON')
    .option('--control <sock>', 'control socket of the daemon (default $SHADOWMESH_HOME/control.sock or ~/.shadowmesh/control.sock)')
    .action(async (name: string | undefined, opts: IpCliOptions) => {
      const client = new ControlClient({ path: opts.control ?? defaultControlPath() });
      const who = name === undefined
        ? ((await client.status()) as StatusResult)
        : ((await client.call('whois', { target: name })) as WhoisResult);
      const family = opts.ipv4 === true ? 4 : opts.ipv6 === true ? 6 : null;
      const addresses = addressesOf(who.addresses, family);
      if (addresses.length === 0) {
        throw new SmError(CliCode.NO_ADDRESS, `${who.name} has no ${family === null ? '' : `IPv${family} `}mesh address`);
      }
      process.stdout.write(opts.json === true ? JSON.stringify({ name: who.name, peerId: who.peerId, addresses }, null, 2) + '\n' : addresses.map((a) => `${a}\n`).join(''));
    });
}
