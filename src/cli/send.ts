/**
 * `shadowmesh send PEER MESSAGE`: one chat message for scripts (control API
 * `chat_send` with `wait`). Uses the open conversation with PEER, or opens
 * one (a chat request the peer must accept: `recv --accept`, or `chat`),
 * then waits for the end-to-end acknowledgement. Exit 0 once delivered;
 * otherwise one line naming why, with its code: SM_ERR_CHAT_OFFLINE (not
 * online at the relay; nothing is stored for later), SM_ERR_CHAT_DECLINED,
 * SM_ERR_CHAT_TERMINATED, SM_ERR_CHAT_TOO_LARGE, SM_ERR_CHAT_TIMEOUT (the
 * daemon keeps retrying the message).
 */
import type { Command } from 'commander';
import { ConfigError } from '../errors.js';
import { ControlClient } from '../node/control/control-client.js';
import { DEFAULT_CHAT_WAIT_MS, defaultControlPath, MAX_CHAT_WAIT_MS, type ChatSendResult } from '../node/control/control-protocol.js';
import { formatDuration, parseDuration } from '../util/duration.js';

/** Slack over the daemon's own wait, so its answer (or its TIMEOUT) arrives before ours. */
const CLIENT_SLACK_MS = 5_000;

interface SendCliOptions {
  json?: boolean;
  timeout?: string;
  control?: string;
}

export function parseWait(text: string | undefined, option = '--timeout'): number {
  if (text === undefined) return DEFAULT_CHAT_WAIT_MS;
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (err) {
    throw new ConfigError('SM_ERR_CONFIG_DURATION', `${option}: ${(err as Error).message}`, { cause: err });
  }
  if (ms < 1 || ms > MAX_CHAT_WAIT_MS) throw new ConfigError('SM_ERR_CONFIG_DURATION', `${option}: expected at most ${formatDuration(MAX_CHAT_WAIT_MS)}, got ${JSON.stringify(text)}`);
  return ms;
}

export function registerSend(program: Command): void {
  program
    .command('send')
    .showHelpAfterError(false)
    .description('send one end-to-end chat message and wait for its delivery acknowledgement')
    .argument('<peer>', 'a member name, 64-hex peer id, mesh address, or unique peer id prefix')
    .argument('<message...>', 'the text (words are joined with spaces)')
    .option('--json', 'print the control API\'s result object')
    .option('--timeout <duration>', `how long to wait for the accept and the ack (default ${formatDuration(DEFAULT_CHAT_WAIT_MS)})`)
    .option('--control <sock>', 'control socket of the daemon (default $SHADOWMESH_HOME/control.sock or ~/.shadowmesh/control.sock)')
    .addHelpText('after', '\nWithout an open conversation, this sends a chat request first; the peer accepts it with `shadowmesh recv --accept` or `shadowmesh chat`.')
    .action(async (peer: string, words: string[], opts: SendCliOptions) => {
      const timeoutMs = parseWait(opts.timeout);
      const client = new ControlClient({ path: opts.control ?? defaultControlPath() });
      const r = (await client.call('chat_send', { peer, text: words.join(' '), wait: true, timeoutMs }, { timeoutMs: timeoutMs + CLIENT_SLACK_MS })) as ChatSendResult;
      process.stdout.write(opts.json ? JSON.stringify(r, null, 2) + '\n' : `delivered to ${r.conversation.name ?? r.conversation.peerId.slice(0, 16)} (conversation ${r.conversationId.slice(0, 8)}, #${r.seq})\n`);
    });
}
