/**
 * `shadowmesh chat PEER` in a real terminal: tmux runs the interactive chat
 * against a real relay and two `up --dev none` daemons; the test types with
 * send-keys, reads the screen with capture-pane, and plays the other member
 * through its control socket. Needs tmux (Debian package; .ci/run installs it).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChatEvent } from '../../src/messaging/chat-service.js';
import { ControlClient } from '../../src/node/control/control-client.js';
import type { ChatListResult, UsersResult } from '../../src/node/control/control-protocol.js';
import { CLI_MAIN_PATH, startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';
import { startDaemon, waitFor, type DaemonProcess } from '../../testkit/daemon-process.js';

const HAVE_TMUX = spawnSync('tmux', ['-V']).status === 0;
/** A tmux server of our own, so the test never touches a user's sessions. */
const TMUX_SOCKET = `sm-chat-${process.pid}`;
/** The screen updates within milliseconds; generous for a loaded machine. */
const SCREEN_TIMEOUT_MS = 15_000;

let net: TestNetwork;
let relay: RelayProcess;
let work: string;
const daemons: DaemonProcess[] = [];

function sock(name: string): string {
  return join(work, `${name}.sock`);
}

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', TMUX_SOCKET, ...args], { encoding: 'utf8' });
}

function screen(session: string): string {
  return tmux('capture-pane', '-p', '-t', session, '-S', '-200');
}

async function waitScreen(session: string, pattern: RegExp): Promise<string> {
  try {
    return await waitFor(`${pattern} on the screen`, async () => {
      const s = screen(session);
      return pattern.test(s) ? s : undefined;
    }, SCREEN_TIMEOUT_MS, 50);
  } catch (err) {
    throw new Error(`${(err as Error).message}; the screen:\n${screen(session)}`);
  }
}

/** Start `shadowmesh chat bob` as alice in a detached tmux session; the shell prints the exit status and waits. */
function startChat(session: string): void {
  const cmd = `'${process.execPath}' '${CLI_MAIN_PATH}' chat bob --control '${sock('alice')}'; echo "EXIT=$?"; sleep 60`;
  tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '40', '-e', `HOME=${process.env['HOME'] ?? '/tmp'}`, cmd);
}

before(async () => {
  if (!HAVE_TMUX) return;
  net = await createTestNetwork({ members: ['alice', 'bob'] });
  work = await mkdtemp(join(tmpdir(), 'sm-tmux-'));
  relay = await startRelayProcess({ caFile: net.caFile, crlFile: net.crlFile });
  for (const m of ['alice', 'bob']) {
    const x = net.member(m);
    daemons.push(await startDaemon(['--relay', relay.url, '--pin', relay.pin, '--ca', net.caFile, '--crl', net.crlFile, '--cert', x.certFile, '--dir', x.dir, '--dev', 'none', '--no-direct', '--control', sock(m)]));
  }
  await waitFor('alice sees bob', async () => ((await new ControlClient({ path: sock('alice') }).call('users', {})) as UsersResult).users.length === 1 ? true : undefined);
});

after(async () => {
  if (!HAVE_TMUX) return;
  spawnSync('tmux', ['-L', TMUX_SOCKET, 'kill-server']);
  for (const d of daemons) await d.stop();
  await relay?.stop();
  await net?.cleanup();
  if (work) await rm(work, { recursive: true, force: true });
});

test('interactive chat: request, accept, typing, delivery ticks, incoming lines, /quit ends it for both; Ctrl-C leaves it open', { skip: HAVE_TMUX ? false : 'tmux is not installed (apt-get install tmux)' }, async () => {
  const bob = new ControlClient({ path: sock('bob') });
  const alice = new ControlClient({ path: sock('alice') });
  startChat('one');
  await waitScreen('one', /chat request sent to bob; waiting for an answer/);
  const pending = await waitFor('request at bob', async () => ((await bob.call('chat_list', {})) as ChatListResult).conversations.find((c) => c.state === 'requested'));
  await bob.call('chat_respond', { conversationId: pending.conversationId, accept: true });
  await waitScreen('one', /\* bob accepted; say hello/);

  tmux('send-keys', '-t', 'one', '-l', 'hello bob, über-secret');
  tmux('send-keys', '-t', 'one', 'Enter');
  await waitScreen('one', /you #1: hello bob, über-secret\n(.*\n)*\s+✓ #1/);
  const got = (await bob.call('chat_events', { follow: false })) as { events: ChatEvent[] };
  assert.deepEqual(got.events.filter((e) => e.type === 'message').map((e) => (e as { text: string }).text), ['hello bob, über-secret']);

  // Something half-typed survives an incoming line.
  tmux('send-keys', '-t', 'one', '-l', 'half typ');
  await bob.call('chat_send', { conversationId: pending.conversationId, text: 'hi alice' });
  const s = await waitScreen('one', /bob: hi alice\n> half typ/);
  assert.ok(!/EXIT=/.test(s));
  tmux('send-keys', '-t', 'one', '-l', 'ed');
  tmux('send-keys', '-t', 'one', 'Enter');
  await waitScreen('one', /you #2: half typed/);

  tmux('send-keys', '-t', 'one', '-l', '/quit');
  tmux('send-keys', '-t', 'one', 'Enter');
  await waitScreen('one', /\* conversation ended\n(.*\n)*EXIT=0/);
  // The TERMINATE crosses the relay after the chat has exited: poll bob's events (each is handed out once) until it arrives.
  const seen: ChatEvent[] = [];
  const t = await waitFor('bob to hear that alice left', async () => {
    seen.push(...((await bob.call('chat_events', { follow: false })) as { events: ChatEvent[] }).events);
    return seen.find((e) => e.type === 'terminated');
  }, 15_000);
  assert.ok(t.type === 'terminated' && t.by === 'remote' && t.reason === 'left the chat', JSON.stringify(seen));

  // Ctrl-C: exits 0, the conversation stays open for send / recv.
  startChat('two');
  await waitScreen('two', /chat request sent to bob/);
  const p2 = await waitFor('second request at bob', async () => ((await bob.call('chat_list', {})) as ChatListResult).conversations.find((c) => c.state === 'requested'));
  await bob.call('chat_respond', { conversationId: p2.conversationId, accept: true });
  await waitScreen('two', /bob accepted/);
  tmux('send-keys', '-t', 'two', 'C-c');
  await waitScreen('two', /EXIT=0/);
  const open = ((await alice.call('chat_list', {})) as ChatListResult).conversations;
  assert.equal(open.find((c) => c.conversationId === p2.conversationId)?.state, 'active');
});
