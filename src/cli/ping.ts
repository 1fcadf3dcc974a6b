/**
 * `shadowmesh ping PEER`: round trips to a member through its end-to-end
 * session (mesh ping, docs/protocol.md §2), asked of the running daemon
 * through the control API (method `ping`). PEER is a 64-hex peer id, a member
 * name, a mesh address, or a unique peer id prefix; names and addresses are
 * known once the daemon has a session with that member.
 *
 * Pings go out every --interval whether or not the last one was answered,
 * as ping(8) does, so a lost ping costs one slot, not its 5 s timeout.
 * Human output prints each reply as it arrives, then a summary; --json
 * prints the API's result object at the end. Exit 1 when no ping was
 * answered (SM_ERR_CONTROL_NO_REPLY), as ping(8) does.
 */
import type { Command } from 'commander';
import { ConfigError } from '../errors.js';
import { ControlClient } from '../node/control/control-client.js';
import { ControlError, defaultControlPath, DEFAULT_PING_COUNT, DEFAULT_PING_INTERVAL_MS, MAX_PING_COUNT, MAX_PING_INTERVAL_MS, MIN_PING_INTERVAL_MS, type PingProgress } from '../node/control/control-protocol.js';
import { ControlCode } from '../node/control/control-errors.js';
import { formatDuration, parseDuration } from '../util/duration.js';

interface PingCliOptions {
  count?: string;
  interval?: string;
  json?: boolean;
  control?: string;
}

function parseCount(text: string | undefined): number {
  if (text === undefined) return DEFAULT_PING_COUNT;
  const n = /^\d{1,7}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= MAX_PING_COUNT)) throw new ConfigError('SM_ERR_CONFIG_VALUE', `--count: expected a whole number in [1, ${MAX_PING_COUNT}], got ${JSON.stringify(text)}`);
  return n;
}

function parseInterval(text: string | undefined): number {
  if (text === undefined) return DEFAULT_PING_INTERVAL_MS;
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (err) {
    throw new ConfigError('SM_ERR_CONFIG_DURATION', `--interval: ${(err as Error).message}`, { cause: err });
  }
  if (ms < MIN_PING_INTERVAL_MS || ms > MAX_PING_INTERVAL_MS) {
    throw new ConfigError('SM_ERR_CONFIG_DURATION', `--interval: expected ${formatDuration(MIN_PING_INTERVAL_MS)}..${formatDuration(MAX_PING_INTERVAL_MS)}, got ${JSON.stringify(text)}`);
  }
  return ms;
}

function progressLine(peer: string, p: PingProgress): string {
  if ('error' in p) return `seq=${p.seq} no reply: ${p.error.message}`;
  return `reply from ${peer}: seq=${p.seq} rtt=${p.rttMs.toFixed(3)} ms path=${p.path}`;
}

export function registerPing(program: Command): void {
  program
    .command('ping')
    .showHelpAfterError(false)
    .description('round trips to a member through its end-to-end session, with RTT and path')
    .argument('<peer>', 'a 64-hex peer id, a member name, a mesh address, or a unique peer id prefix')
    .option('--count <n>', `pings to send, 1..${MAX_PING_COUNT} (default ${DEFAULT_PING_COUNT})`)
    .option('--interval <duration>', `time between pings, sent on schedule whether or not the last was answered, ${formatDuration(MIN_PING_INTERVAL_MS)}..${formatDuration(MAX_PING_INTERVAL_MS)} (default ${formatDuration(DEFAULT_PING_INTERVAL_MS)})`)
    .option('--json', 'print the control API\'s result object (replies, lost, summary) instead of text')
    .option('--control <sock>', 'control socket of the daemon (default $SHADOWMESH_HOME/control.sock or ~/.shadowmesh/control.sock)')
    .addHelpText('after', '\nThe first ping to a member without a session includes the post-quantum handshake. Exit status 1 when no ping is answered.')
    .action(async (peer: string, opts: PingCliOptions) => {
      const count = parseCount(opts.count);
      const intervalMs = parseInterval(opts.interval);
      const client = new ControlClient({ path: opts.control ?? defaultControlPath() });
      const r = await client.ping({ peer, count, intervalMs }, opts.json ? undefined : (p) => process.stdout.write(progressLine(peer, p) + '\n'));
      const s = r.summary;
      if (opts.json) {
        process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      } else {
        const who = `${r.peer.name ?? r.peer.peerId.slice(0, 16)}${r.peer.addresses.length > 0 ? ` (${r.peer.addresses.join(', ')})` : ''}`;
        process.stdout.write(`--- ${who} mesh ping ---\n${s.sent} sent, ${s.received} received, ${s.lossPercent}% loss`);
        process.stdout.write(s.minMs === null ? '\n' : `, rtt min/avg/max ${s.minMs.toFixed(3)}/${(s.avgMs ?? 0).toFixed(3)}/${(s.maxMs ?? 0).toFixed(3)} ms\n`);
      }
      if (s.received === 0) throw new ControlError(ControlCode.NO_REPLY, `no reply from ${peer} (${s.sent} sent)`);
    });
}
