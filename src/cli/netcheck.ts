/**
 * `shadowmesh netcheck`: how this machine's network looks to the mesh, as
 * `tailscale netcheck` reports it: UDP reachability, the NAT's mapping
 * behaviour, the reflexive address each STUN server saw, and the latency to
 * each relay (a TLS handshake checked against its pin). The measurement is
 * src/node/path/netcheck-probe.ts; this file reads the targets and prints.
 *
 * Standalone: it reads the node's configuration (docs/configuration.md:
 * node.relay with node.pin, node.relays, node.p2p.stun; from --config,
 * SHADOWMESH_* and the flags below) but none of the keys only a running
 * node needs, and needs no root and no daemon. With node.p2p.stun `relay`
 * (the default) every configured relay is asked for STUN on its own port,
 * so two relays are enough to classify the NAT.
 *
 * With --control SOCK it measures nothing itself: it asks that running
 * daemon (control method `netcheck`, src/node/path/netcheck-runner.ts:
 * one run at a time, a report under 30 s old reused) and prints its
 * report, measured towards the daemon's own relays and STUN servers: the
 * same report the web console's Network check panel shows.
 *
 * Output: a readable report on stdout, or with --json the report object
 * (netcheck-probe.ts `NetcheckReport`). Nothing to check:
 * SM_ERR_CLI_NETCHECK_NO_TARGET; nothing answered: the report, then
 * SM_ERR_CLI_NETCHECK_UNREACHABLE (exit 1), in the format of main.ts.
 */
import type { Command } from 'commander';
import { keySourcesHelp } from '../config/config-keys.js';
import { stunOf } from '../config/component-options.js';
import { parseRelayList } from '../config/config-schema.js';
import type { EffectiveConfig } from '../config/effective-config.js';
import { loadEffectiveConfig } from '../config/load-config.js';
import { ConfigError, SmError } from '../errors.js';
import { DEFAULT_STUN_TIMEOUT_MS } from '../stun/stun-client.js';
import { formatDuration, parseDuration } from '../util/duration.js';
import { ControlClient } from '../node/control/control-client.js';
import type { NetcheckRun } from '../node/path/netcheck-runner.js';
import { CliCode } from './cli-errors.js';
import { relayStunServers, runNetcheck, type NetcheckRelay, type NetcheckReport, type NetcheckStunServer } from '../node/path/netcheck-probe.js';

/** The daemon's run is bounded by the STUN and relay timeouts (a few seconds); this only stops waiting for a daemon that hangs. */
const DAEMON_NETCHECK_TIMEOUT_MS = 30_000;

interface NetcheckCliOptions {
  control?: string;
  config?: string;
  timeout?: string;
  json?: boolean;
}

/** The relays (node.relay with node.pin, then node.relays) and STUN servers (node.p2p.stun) the configuration names. */
export function netcheckTargets(cfg: EffectiveConfig): { relays: NetcheckRelay[]; stun: NetcheckStunServer[] } {
  const relays: NetcheckRelay[] = [];
  const first = cfg.string('node.relay');
  if (first !== undefined) {
    const pin = cfg.string('node.pin');
    if (pin === undefined) throw new ConfigError('SM_ERR_CONFIG_VALUE', 'node.pin: required with node.relay; set it with --pin, SHADOWMESH_PIN, node.pin in the config file');
    relays.push({ url: first, pins: pin.split(',') });
  }
  const more = cfg.string('node.relays');
  for (const r of (more === undefined ? null : parseRelayList(more)) ?? []) {
    if (!relays.some((x) => x.url === r.url)) relays.push(r);
  }
  const listed = stunOf(cfg.string('node.p2p.stun') ?? 'relay').stun;
  const stun = listed ?? relayStunServers(relays);
  return { relays, stun };
}

/** The report as a person reads it. */
export function formatNetcheck(r: NetcheckReport): string {
  const lines = ['Report:'];
  lines.push(`  * UDP: ${r.udp}${r.localPort !== 0 ? ` (asked from local port ${r.localPort})` : ''}`);
  lines.push(`  * Reflexive address: ${r.reflexive.length === 0 ? '(none)' : r.reflexive.join(', ')}`);
  lines.push(`  * NAT mapping: ${r.mapping}`);
  lines.push(`  * NAT filtering: ${r.filtering} (${r.filteringNote})`);
  lines.push('  * STUN servers:');
  if (r.stun.length === 0) lines.push('    (none configured)');
  for (const s of r.stun) lines.push(s.ok ? `    - ${s.server}: ${s.reflexive} in ${formatDuration(s.rttMs)}` : `    - ${s.server}: ${s.message} (${s.code})`);
  lines.push('  * Relay latency:');
  if (r.relays.length === 0) lines.push('    (none configured)');
  for (const x of r.relays) lines.push(x.ok ? `    - ${x.url}: ${formatDuration(x.latencyMs)}` : `    - ${x.url}: ${x.message} (${x.code})`);
  lines.push(`  * Preferred relay: ${r.preferredRelay ?? '(none answered)'}`);
  return lines.join('\n') + '\n';
}

/** Print a report (its own or the daemon's) and fail when nothing answered. */
function printReport(report: NetcheckReport, json: boolean, timeoutMs: number): void {
  process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : formatNetcheck(report));
  if (!report.udp && report.preferredRelay === null) {
    throw new SmError(CliCode.NETCHECK_UNREACHABLE, `no STUN server and no relay answered within ${formatDuration(timeoutMs)}`);
  }
}

async function runNetcheckCommand(opts: NetcheckCliOptions, cmd: Command): Promise<void> {
  if (opts.control !== undefined) {
    const run = (await new ControlClient({ path: opts.control }).call('netcheck', { fresh: true }, { timeoutMs: DAEMON_NETCHECK_TIMEOUT_MS })) as NetcheckRun;
    printReport(run, opts.json === true, DEFAULT_STUN_TIMEOUT_MS);
    return;
  }
  const timeoutMs = opts.timeout === undefined ? DEFAULT_STUN_TIMEOUT_MS : parseDuration(opts.timeout);
  if (timeoutMs < 1) throw new ConfigError('SM_ERR_CONFIG_VALUE', `--timeout: expected a duration above zero, got ${JSON.stringify(opts.timeout)}`);
  const cfg = await loadEffectiveConfig({ role: 'node', requireRoleKeys: false, ...(opts.config !== undefined ? { configFile: opts.config } : {}), flags: cmd });
  const targets = netcheckTargets(cfg);
  if (targets.relays.length === 0 && targets.stun.length === 0) {
    throw new SmError(CliCode.NETCHECK_NO_TARGET, 'nothing to check: no relay (--relay with --pin, node.relay, node.relays) and no STUN server (--stun, node.p2p.stun)');
  }
  printReport(await runNetcheck(targets, { timeoutMs }), opts.json === true, timeoutMs);
}

export function registerNetcheck(program: Command): void {
  program
    .command('netcheck')
    .showHelpAfterError(false)
    .description('report UDP reachability, NAT mapping, the STUN answers and the latency to each relay (no daemon, no root)')
    .option('--control <sock>', 'ask this running daemon instead (its relays and STUN servers, its last report if under 30 s old)')
    .option('--config <file>', 'config file to read the relays and STUN servers from (default $SHADOWMESH_CONFIG, else $SHADOWMESH_HOME/config.yaml if present)')
    .option('--relay <url>', `relay to check, wss://HOST:PORT (with --pin)${keySourcesHelp('node.relay')}`)
    .option('--pin <pin>', `the relay's TLS key pin or pin set${keySourcesHelp('node.pin')}`)
    .option('--stun <servers>', `'relay' (every relay on its own port), 'none', or HOST:PORT[,HOST:PORT...]${keySourcesHelp('node.p2p.stun')}`)
    .option('--timeout <duration>', `how long to wait for each answer (default ${formatDuration(DEFAULT_STUN_TIMEOUT_MS)})`)
    .option('--json', 'print the report as JSON')
    .addHelpText('after', '\nMore relays come from node.relays (SHADOWMESH_RELAYS). Two or more STUN servers answering classify the NAT\'s mapping;\nfiltering needs an RFC 5780 server and is reported as unknown.')
    .action(async (opts: NetcheckCliOptions, cmd: Command) => {
      await runNetcheckCommand(opts, cmd);
    });
}
