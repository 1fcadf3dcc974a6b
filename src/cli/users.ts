/**
 * `shadowmesh users`: the members online at the relay, as the running
 * daemon verified them (control API method `users`): name, peer id, mesh
 * addresses, online since, and a fingerprint of each member's identity
 * public key. Every entry comes from a certificate the daemon checked
 * against the network CA, and the peer id is a hash of that key, so a relay
 * cannot substitute a key without the daemon refusing the certificate.
 */
import type { Command } from 'commander';
import { ControlClient } from '../node/control/control-client.js';
import { defaultControlPath, type UsersResult } from '../node/control/control-protocol.js';

interface UsersCliOptions {
  json?: boolean;
  keys?: boolean;
  control?: string;
}

export function formatUsers(r: UsersResult, nowMs = Date.now()): string {
  if (r.users.length === 0) return `no other member is online (you are ${r.self.name})\n`;
  const rows = [['NAME', 'PEER', 'ADDRESSES', 'ONLINE', 'KEY SHA-256']];
  for (const u of r.users) {
    const mins = Math.max(0, Math.round((nowMs - u.onlineSinceMs) / 60_000));
    rows.push([u.name, u.peerId.slice(0, 16), u.addresses.length > 0 ? u.addresses.join(',') : '-', mins < 1 ? 'just now' : `${mins} min`, u.publicKeySha256.slice(0, 16)]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

export function registerUsers(program: Command): void {
  program
    .command('users')
    .showHelpAfterError(false)
    .description('list the members online at the relay (CA-verified by the daemon), for chat')
    .option('--json', 'print the control API\'s JSON object instead of a table')
    .option('--keys', 'with --json, include each member\'s full identity public key (base64)')
    .option('--control <sock>', 'control socket of the daemon (default $SHADOWMESH_HOME/control.sock or ~/.shadowmesh/control.sock)')
    .action(async (opts: UsersCliOptions) => {
      const r = (await new ControlClient({ path: opts.control ?? defaultControlPath() }).call('users', { keys: opts.keys === true })) as UsersResult;
      process.stdout.write(opts.json ? JSON.stringify(r, null, 2) + '\n' : formatUsers(r));
    });
}
