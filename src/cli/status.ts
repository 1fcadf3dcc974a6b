/**
 * `shadowmesh status`: what the running daemon says about itself, through the
 * control API (src/node/control/control-protocol.ts, method `status`).
 * Human output by default, the API's JSON object with --json. No daemon on
 * the socket: one line, exit 1 (SM_ERR_CONTROL_NO_DAEMON).
 */
import type { Command } from 'commander';
import { ControlClient } from '../node/control/control-client.js';
import { defaultControlPath, type StatusResult } from '../node/control/control-protocol.js';
import type { CertExpiry } from '../identity/cert-expiry.js';
import { formatDuration } from '../util/duration.js';

interface StatusCliOptions {
  json?: boolean;
  control?: string;
}

/** Drops as "reason=n reason=n", or "none". */
export function formatDrops(drops: Record<string, number>): string {
  const parts = Object.entries(drops).filter(([, n]) => n > 0).map(([k, n]) => `${k}=${n}`);
  return parts.length > 0 ? parts.join(' ') : 'none';
}

/** A duration for humans, rounded to what matters at that size (1.2s, 3m4s, 2h5m). */
export function humanDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)}s`;
  const unit = ms < 3_600_000 ? 1_000 : 60_000;
  return formatDuration(Math.floor(ms / unit) * unit);
}

/** "expires 2027-01-01T00:00:00.000Z (in 364d23h)" as whois says it, with a warning within 30 days or once past. */
export function formatCertExpiry(e: CertExpiry): string {
  const left = e.remainingMs > 0 ? `in ${humanDuration(e.remainingMs)}` : `${humanDuration(-e.remainingMs)} ago`;
  const mark = e.state === 'expired' ? ' EXPIRED: renew it' : e.state === 'expiring' ? ' WARNING: ends within 30 days, renew it' : '';
  return `expires ${e.notAfter} (${left})${mark}`;
}

export function formatStatus(s: StatusResult): string {
  const r = s.relay;
  const relay = r.connected
    ? `${r.url} connected, seen as ${r.observedAddress ?? '?'}:${r.observedPort ?? '?'} (connects ${r.connects}, reconnects ${r.reconnects})`
    : `${r.url} not connected (connects ${r.connects}, reconnects ${r.reconnects})`;
  const device = s.device === null ? 'none (userspace node)' : `${s.device.kind} ${s.device.name} mtu ${s.device.mtu}`;
  return [
    `node       ${s.name} ${s.peerId}`,
    `addresses  ${s.addresses.length > 0 ? s.addresses.join(', ') : '-'}`,
    `device     ${device}`,
    `relay      ${relay}`,
    // Several relays: each with its state and probed RTT, and how often the node moved between them.
    ...((r.relays?.length ?? 0) > 1
      ? [`relays     ${r.relays.map((x) => `${x.url} ${x.state}${x.rttMs !== null ? ` ${x.rttMs}ms` : ''}`).join(', ')} (switches ${r.switches})`]
      : []),
    `udp        ${s.udp === null ? 'off' : `port ${s.udp.port}, NAT mapping ${s.udp.nat}${s.udp.reflexive.length > 0 ? `, seen as ${s.udp.reflexive.join(' ')}` : ''}`}`,
    `uptime     ${humanDuration(s.uptimeMs)}`,
    `peers      ${s.peers}`,
    `drops      ${formatDrops(s.drops)}`,
    ...(s.certificates?.member !== undefined ? [`cert       ${formatCertExpiry(s.certificates.member)}`] : []),
    ...(s.certificates?.ca !== undefined ? [`ca cert    ${formatCertExpiry(s.certificates.ca)}`] : []),
    `policy     ${s.policyVersion === null || s.policyVersion === undefined ? 'none (everything allowed)' : `version ${s.policyVersion}`}${formatPolicyRefused(s.policyRefused)}`,
    ...(s.routes !== undefined ? [formatRoutes(s.routes)] : []),
    ...(s.exitNode !== undefined ? [formatExitNode(s.exitNode)] : []),
  ].join('\n') + '\n';
}

/** Exit nodes: the one we use and where it stands, and whether we serve as one. */
export function formatExitNode(e: NonNullable<StatusResult['exitNode']>): string {
  const using = e.use === null ? 'using none'
    : e.streamsOnly === true ? `using ${e.use} for the proxy's streams (${e.state}${e.state === 'active' ? '' : ', streams to the internet refused'})`
    : `using ${e.use} (${e.state}${e.state === 'active' ? '' : e.fallback ? ', traffic goes out directly' : ', traffic dropped'}; IPv4 ${e.route4 ?? '-'}, IPv6 ${e.route6 ?? '-'}${e.allowLan ? '; LAN outside the tunnel' : ''})`;
  return `exit node  ${using}${e.advertising ? '; serving as an exit node' : ''}${e.updateFailures > 0 ? `; ${e.updateFailures} table updates failed` : ''}`;
}

/** Subnet routes: what this node serves and which members' routes it installed. */
function formatRoutes(r: NonNullable<StatusResult['routes']>): string {
  const served = r.advertised.length > 0 ? `serving ${r.advertised.join(', ')}${r.snat ? ' (masquerade)' : ' (no NAT)'}` : 'serving none';
  const accepted = !r.accepting ? 'not accepting' : r.accepted.length > 0 ? `accepting ${r.accepted.map((a) => `${a.route} via ${a.name}`).join(', ')}` : 'accepting (none offered)';
  return `routes     ${served}; ${accepted}${r.installFailures > 0 ? `; ${r.installFailures} failed to install` : ''}`;
}

/** Signed policies the relay sent that were refused, by code: what an operator looks at when a member lags behind. */
function formatPolicyRefused(refused: Record<string, number> | undefined): string {
  const entries = Object.entries(refused ?? {}).filter(([, n]) => n > 0);
  if (entries.length === 0) return '';
  return `; refused from the relay: ${entries.map(([code, n]) => `${code} ${n}`).join(', ')}`;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .showHelpAfterError(false)
    .description('show the running node daemon: identity, addresses, device, relay connection, uptime, peers, drops, certificate expiry')
    .option('--json', 'print the control API\'s JSON object instead of text')
    .option('--control <sock>', 'control socket of the daemon (default $SHADOWMESH_HOME/control.sock or ~/.shadowmesh/control.sock)')
    .action(async (opts: StatusCliOptions) => {
      const s = await new ControlClient({ path: opts.control ?? defaultControlPath() }).status();
      process.stdout.write(opts.json ? JSON.stringify(s, null, 2) + '\n' : formatStatus(s));
    });
}
