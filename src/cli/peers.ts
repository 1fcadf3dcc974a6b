/**
 * `shadowmesh peers`: the members the running daemon knows, with path,
 * session age, last handshake, traffic and drops per peer, through the
 * control API (method `peers`). Human table by default, JSON with --json.
 */
import type { Command } from 'commander';
import { ControlClient } from '../node/control/control-client.js';
import { defaultControlPath, type PeerStatus } from '../node/control/control-protocol.js';
import { formatDrops, humanDuration } from './status.js';

interface PeersCliOptions {
  json?: boolean;
  control?: string;
}

export function formatPeers(peers: readonly PeerStatus[]): string {
  if (peers.length === 0) return 'no peers yet (a session starts with the first packet or ping to a member)\n';
  const rows = [['NAME', 'PEER', 'ADDRESSES', 'PATH', 'SESSION', 'AGE', 'LAST HS', 'IN', 'OUT', 'DROPS']];
  for (const p of peers) {
    rows.push([
      p.name ?? '?',
      p.peerId.slice(0, 16),
      // Certified subnet routes follow the addresses (docs/architecture.md "Subnet routes").
      `${p.addresses.length > 0 ? p.addresses.join(',') : '-'}${p.routes !== undefined && p.routes.length > 0 ? ` routes:${p.routes.join(',')}` : ''}`,
      p.path === 'direct' ? `direct ${p.carrier} ${p.remote}${p.rttMs !== null ? ` ${p.rttMs.toFixed(2)}ms` : ''}${p.mirroring ? ' (+relay)' : ''}` : 'relay',
      p.session.established ? 'up' : p.online ? 'handshaking' : 'down',
      p.session.ageMs === null ? '-' : humanDuration(p.session.ageMs),
      p.session.lastHandshakeAgoMs === null ? '-' : `${humanDuration(p.session.lastHandshakeAgoMs)} ago`,
      `${p.stats.framesIn}/${p.stats.bytesIn}B`,
      `${p.stats.framesOut}/${p.stats.bytesOut}B`,
      formatDrops(p.drops),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

export function registerPeers(program: Command): void {
  program
    .command('peers')
    .showHelpAfterError(false)
    .description('list the members the running daemon knows: path, session age, last handshake, frames/bytes in and out, drops')
    .option('--json', 'print the control API\'s JSON object instead of a table')
    .option('--control <sock>', 'control socket of the daemon (default $SHADOWMESH_HOME/control.sock or ~/.shadowmesh/control.sock)')
    .addHelpText('after', '\nIN and OUT are frames/bytes through the end-to-end session. PATH is "relay", or "direct IP:PORT RTT" once a\ndirect TLS path is up ("+relay" while a lapsed direct path is being re-checked); --json adds migrations and fallbacks.')
    .action(async (opts: PeersCliOptions) => {
      const r = await new ControlClient({ path: opts.control ?? defaultControlPath() }).peers();
      process.stdout.write(opts.json ? JSON.stringify(r, null, 2) + '\n' : formatPeers(r.peers));
    });
}
