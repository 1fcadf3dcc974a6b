/**
 * `shadowmesh recv [--follow] [--json] [--accept]`: incoming chat for
 * scripts (control API `chat_events`). Without --follow it prints what
 * arrived while nobody was listening (and the daemon forgets it: each
 * message is handed out once) and exits; with --follow it then keeps
 * printing as events arrive, until interrupted. Chat requests are only
 * accepted with --accept. Human output: one line per message, request,
 * answer and termination; --json: one JSON object per event and line
 * (acks included).
 */
import type { Command } from 'commander';
import { ControlClient } from '../node/control/control-client.js';
import { defaultControlPath, type ChatEvent, type ChatEventsResult } from '../node/control/control-protocol.js';

/** A subscription runs until the user stops it: the longest timer Node allows (~24.8 days). */
export const FOLLOW_TIMEOUT_MS = 2_147_483_647;

interface RecvCliOptions {
  follow?: boolean;
  json?: boolean;
  accept?: boolean;
  control?: string;
}

export function describeEvent(e: ChatEvent): string | null {
  const who = e.name ?? e.peerId.slice(0, 16);
  switch (e.type) {
    case 'message': return `${who}: ${e.text}`;
    case 'request': return `* ${who} asks to chat (conversation ${e.conversationId.slice(0, 8)})`;
    case 'accepted': return `* ${who} accepted the chat`;
    case 'declined': return `* ${who} declined the chat${e.reason ? `: ${e.reason}` : ''}`;
    case 'terminated': return `* conversation with ${who} ended (${e.by === 'remote' ? 'by them' : 'here'}: ${e.reason})${e.undelivered.length > 0 ? `; ${e.undelivered.length} message(s) undelivered` : ''}`;
    case 'ack': return null;
  }
}

export function registerRecv(program: Command): void {
  program
    .command('recv')
    .showHelpAfterError(false)
    .description('print incoming end-to-end chat messages (and requests, answers, terminations)')
    .option('--follow', 'keep printing new events until interrupted')
    .option('--json', 'one JSON object per event and line, acks included')
    .option('--accept', 'accept every chat request that arrives (without it, requests are only shown)')
    .option('--control <sock>', 'control socket of the daemon (default $SHADOWMESH_HOME/control.sock or ~/.shadowmesh/control.sock)')
    .action(async (opts: RecvCliOptions) => {
      const client = new ControlClient({ path: opts.control ?? defaultControlPath() });
      let accepting = Promise.resolve();
      const onEvent = (e: ChatEvent): void => {
        if (opts.json) process.stdout.write(JSON.stringify(e) + '\n');
        else {
          const line = describeEvent(e);
          if (line !== null) process.stdout.write(line + '\n');
        }
        if (e.type === 'request' && opts.accept) {
          accepting = accepting.then(() => client.call('chat_respond', { conversationId: e.conversationId, accept: true })).then(
            () => undefined,
            (err: unknown) => { process.stderr.write(`shadowmesh: accepting ${e.conversationId.slice(0, 8)} failed: ${(err as Error).message}\n`); },
          );
        }
      };
      if (!opts.follow) {
        const r = (await client.call('chat_events', { follow: false })) as ChatEventsResult;
        for (const e of r.events) onEvent(e);
        await accepting;
        return;
      }
      process.once('SIGINT', () => process.exit(0));
      process.once('SIGTERM', () => process.exit(0));
      await client.call('chat_events', { follow: true }, { onProgress: (p) => onEvent(p as ChatEvent), timeoutMs: FOLLOW_TIMEOUT_MS });
    });
}
