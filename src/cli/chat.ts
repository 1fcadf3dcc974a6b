/**
 * `shadowmesh chat PEER`: an interactive end-to-end chat in the terminal,
 * through the running daemon's control API (a `chat_events` subscription for
 * what arrives, `chat_request` / `chat_respond` / `chat_send` /
 * `chat_terminate` for what the user does). readline gives the typing line;
 * incoming lines are printed above it without losing what is being typed.
 *
 *   - With an open conversation with PEER, it continues it; with a pending
 *     request from PEER, it asks "accept? [y/n]"; otherwise it sends a chat
 *     request and waits for the answer (a decline ends the program, exit 1).
 *   - Requests from other members are shown; `/accept` and `/decline
 *     [reason]` answer the latest one (it then goes on in `recv` or another
 *     `chat`).
 *   - Each sent line is numbered (#seq); "✓ #seq" follows when the peer's
 *     daemon acknowledged it (every line up to seq arrived, in order).
 *   - `/quit` ends the conversation for both sides and exits 0; Ctrl-C or
 *     Ctrl-D leave it open (for `send` / `recv` or a later `chat`) and exit 0.
 *     The peer ending it prints why and exits 0.
 */
import { createInterface, type Interface } from 'node:readline';
import type { Command } from 'commander';
import { ControlClient } from '../node/control/control-client.js';
import {
  defaultControlPath,
  type ChatEvent,
  type ChatListResult,
  type ChatSendResult,
  type ConversationInfo,
  type UsersResult,
} from '../node/control/control-protocol.js';
import { SmError } from '../errors.js';
import { FOLLOW_TIMEOUT_MS } from './recv.js';

interface ChatCliOptions {
  control?: string;
}

/** The member a selector names among the online users: exact name, full peer id, or a unique peer id prefix. */
function findUser(r: UsersResult, selector: string): UsersResult['users'][number] | undefined {
  const s = selector.trim().toLowerCase();
  const byName = r.users.filter((u) => u.name.toLowerCase() === s);
  if (byName.length === 1) return byName[0];
  const byId = r.users.filter((u) => u.peerId.startsWith(s));
  return s.length >= 4 && byId.length === 1 ? byId[0] : undefined;
}

class ChatSession {
  readonly #client: ControlClient;
  readonly #rl: Interface;
  readonly #peerId: string;
  readonly #peerName: string;
  #conversationId: string | null = null;
  #pendingAccept: string | null = null;
  /** Latest request from someone else, for /accept and /decline. */
  #otherRequest: ChatEvent | null = null;
  #closing = false;
  readonly #finished: Promise<number>;
  #finish!: (code: number) => void;

  constructor(client: ControlClient, peerId: string, peerName: string) {
    this.#client = client;
    this.#peerId = peerId;
    this.#peerName = peerName;
    this.#rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY === true, prompt: '> ' });
    this.#finished = new Promise((resolve) => { this.#finish = resolve; });
  }

  /** Print a line above the typing line, keeping what the user has typed. */
  print(line: string): void {
    if (process.stdout.isTTY) {
      process.stdout.write('\r\x1b[2K' + line + '\n');
      if (!this.#closing) this.#rl.prompt(true);
    } else {
      process.stdout.write(line + '\n');
    }
  }

  async run(existing: ConversationInfo | undefined, pendingRequest: ConversationInfo | undefined): Promise<number> {
    this.#rl.on('line', (line) => { void this.#onLine(line); });
    this.#rl.on('SIGINT', () => this.#leave(0));
    this.#rl.on('close', () => this.#leave(0));
    // Subscribe first so no answer to our request can slip past.
    this.#client.call('chat_events', { follow: true }, { onProgress: (p) => this.#onEvent(p as ChatEvent), timeoutMs: FOLLOW_TIMEOUT_MS }).catch((err: unknown) => {
      if (!this.#closing) { this.print(`* lost the daemon: ${(err as Error).message}`); this.#leave(1); }
    });
    if (existing !== undefined) {
      this.#conversationId = existing.conversationId;
      this.print(`* chatting with ${this.#peerName} (conversation ${existing.conversationId.slice(0, 8)}); /quit ends it, Ctrl-C leaves it open`);
    } else if (pendingRequest !== undefined) {
      this.#pendingAccept = pendingRequest.conversationId;
      this.print(`* ${this.#peerName} asks to chat: accept? [y/n]`);
    } else {
      const info = (await this.#client.call('chat_request', { peer: this.#peerId })) as ConversationInfo;
      this.#conversationId = info.conversationId;
      this.print(`* chat request sent to ${this.#peerName}; waiting for an answer (type to queue messages)`);
    }
    this.#rl.prompt();
    return this.#finished;
  }

  #onEvent(e: ChatEvent): void {
    const mine = e.conversationId === this.#conversationId;
    switch (e.type) {
      case 'message':
        if (mine) this.print(`${e.name ?? this.#peerName}: ${e.text}`);
        else this.print(`* (${e.name ?? e.peerId.slice(0, 16)} in another conversation): ${e.text}`);
        return;
      case 'ack':
        if (mine) this.print(`  ✓ #${e.seq}`);
        return;
      case 'accepted':
        if (mine) this.print(`* ${this.#peerName} accepted; say hello`);
        return;
      case 'declined':
        if (mine) { this.print(`* ${this.#peerName} declined${e.reason ? `: ${e.reason}` : ''}`); this.#leave(1); }
        return;
      case 'terminated':
        if (mine && e.by === 'remote' && !this.#closing) { this.print(`* ${this.#peerName} ended the conversation (${e.reason})`); this.#leave(0); }
        return;
      case 'request':
        if (e.peerId === this.#peerId && this.#conversationId === null) {
          this.#pendingAccept = e.conversationId;
          this.print(`* ${this.#peerName} asks to chat: accept? [y/n]`);
        } else {
          this.#otherRequest = e;
          this.print(`* ${e.name ?? e.peerId.slice(0, 16)} asks to chat: /accept or /decline [reason]`);
        }
        return;
    }
  }

  async #onLine(raw: string): Promise<void> {
    const line = raw.trim();
    try {
      if (this.#pendingAccept !== null && this.#conversationId === null) {
        const yes = /^y(es)?$/i.test(line);
        if (!yes && !/^no?$/i.test(line)) { this.print('* answer y or n'); return; }
        await this.#client.call('chat_respond', { conversationId: this.#pendingAccept, accept: yes, reason: yes ? '' : 'declined' });
        if (!yes) { this.print('* declined'); this.#leave(0); return; }
        this.#conversationId = this.#pendingAccept;
        this.#pendingAccept = null;
        this.print(`* chatting with ${this.#peerName}; /quit ends it, Ctrl-C leaves it open`);
      } else if (line === '/quit') {
        this.#closing = true;
        if (this.#conversationId !== null) await this.#client.call('chat_terminate', { conversationId: this.#conversationId, reason: 'left the chat' }).catch(() => undefined);
        this.print('* conversation ended');
        this.#leave(0);
        return;
      } else if (line === '/accept' || line.startsWith('/decline')) {
        const req = this.#otherRequest;
        if (req === null) { this.print('* no request to answer'); return; }
        const accept = line === '/accept';
        await this.#client.call('chat_respond', { conversationId: req.conversationId, accept, reason: accept ? '' : line.slice('/decline'.length).trim() });
        this.#otherRequest = null;
        this.print(`* ${accept ? 'accepted' : 'declined'} ${req.name ?? req.peerId.slice(0, 16)}${accept ? ' (continue with `shadowmesh chat` or `recv`)' : ''}`);
      } else if (line.length > 0 && this.#conversationId !== null) {
        const r = (await this.#client.call('chat_send', { conversationId: this.#conversationId, text: raw })) as ChatSendResult;
        this.print(`you #${r.seq}: ${raw}`);
      }
    } catch (err) {
      this.print(`* ${(err as Error).message}`);
      const code = (err as { code?: string }).code;
      if (code === 'SM_ERR_CHAT_TERMINATED' || code === 'SM_ERR_CHAT_UNKNOWN_CONVERSATION') this.#leave(1);
      return;
    }
    this.#rl.prompt();
  }

  #leave(code: number): void {
    if (this.#rl.listenerCount('close') > 0) this.#rl.removeAllListeners('close');
    this.#closing = true;
    this.#rl.close();
    this.#finish(code);
  }
}

export function registerChat(program: Command): void {
  program
    .command('chat')
    .showHelpAfterError(false)
    .description('interactive end-to-end chat with a member (requests, accept/decline, delivery ticks)')
    .argument('<peer>', 'a member name, 64-hex peer id, or unique peer id prefix (see `shadowmesh users`)')
    .option('--control <sock>', 'control socket of the daemon (default $SHADOWMESH_HOME/control.sock or ~/.shadowmesh/control.sock)')
    .addHelpText('after', '\nType a line and Enter to send it; "✓ #n" marks delivery. /quit ends the conversation for both sides;\nCtrl-C or Ctrl-D leave it open. /accept and /decline [reason] answer a request from someone else.')
    .action(async (selector: string, opts: ChatCliOptions) => {
      const client = new ControlClient({ path: opts.control ?? defaultControlPath() });
      const users = (await client.call('users', {})) as UsersResult;
      const peer = findUser(users, selector);
      if (peer === undefined) throw new SmError('SM_ERR_CHAT_OFFLINE', `no member matching ${JSON.stringify(selector)} is online (\`shadowmesh users\` lists who is)`);
      const list = (await client.call('chat_list', {})) as ChatListResult;
      const withPeer = list.conversations.filter((c) => c.peerId === peer.peerId);
      const existing = withPeer.find((c) => c.state === 'active' || (c.state === 'requested' && c.role === 'initiator'));
      const pending = withPeer.find((c) => c.state === 'requested' && c.role === 'responder');
      const code = await new ChatSession(client, peer.peerId, peer.name).run(existing, existing === undefined ? pending : undefined);
      if (code !== 0) process.exitCode = code;
      process.stdin.pause();
      // The subscription connection stays open until the process ends.
      setImmediate(() => process.exit(code));
    });
}
