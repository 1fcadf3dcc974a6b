/**
 * src/cli/service-notify.ts and native/sd-notify.cc: nothing happens without
 * $NOTIFY_SOCKET; with it, READY=1 with the ready line as STATUS, then
 * STOPPING=1; a failed send is a warning, never an exception; the addon
 * reaches filesystem and abstract sockets; a real `shadowmesh relay`
 * announces READY=1 only once it accepts connections, STOPPING=1 on SIGTERM;
 * a real `shadowmesh up` (--dev none: no device outside a namespace the test
 * owns) only once the relay admitted it, STOPPING=1 on `shadowmesh down`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NATIVE_NOTIFY_PATH, serviceNotifier, type NotifySend } from '../../src/cli/service-notify.js';
import { silentLogger, type Logger } from '../../src/util/logger.js';
import { runCliAsync, startDaemon } from '../../testkit/daemon-process.js';
import { startNotifyReceiver } from '../../testkit/notify-receiver.js';
import { startRelayProcess } from '../../testkit/relay-process.js';
import { createTestNetwork } from '../../testkit/test-network.js';

/** The relay starts in well under a second; generous for a loaded machine. */
const RELAY_READY_TIMEOUT_MS = 20_000;
const ECONNREFUSED = 111;
const EAFNOSUPPORT = 97;

function recordingSend(): { send: NotifySend; sent: [string, string][] } {
  const sent: [string, string][] = [];
  return { sent, send: (path, message) => { sent.push([path, message]); return 0; } };
}

function warnings(): { logger: Logger; warned: string[] } {
  const warned: string[] = [];
  const logger: Logger = Object.assign(Object.create(silentLogger) as Logger, {
    warn: (msg: string) => { warned.push(msg); },
    child: () => logger,
  });
  return { logger, warned };
}

test('without NOTIFY_SOCKET nothing is sent', () => {
  const { send, sent } = recordingSend();
  for (const env of [{}, { NOTIFY_SOCKET: '' }]) {
    const n = serviceNotifier({ logger: silentLogger, env, send });
    n.ready('relay listening');
    n.stopping();
  }
  assert.deepEqual(sent, []);
});

test('READY=1 carries the ready line as a one-line STATUS; STOPPING=1 follows', () => {
  const { send, sent } = recordingSend();
  const n = serviceNotifier({ logger: silentLogger, env: { NOTIFY_SOCKET: '@sm-x' }, send });
  n.ready('node 1234abcd up:\ndevice sm0');
  n.stopping();
  assert.deepEqual(sent, [
    ['@sm-x', 'READY=1\nSTATUS=node 1234abcd up: device sm0'],
    ['@sm-x', 'STOPPING=1\nSTATUS=stopping'],
  ]);
});

test('a failed send is a warning, never an exception', () => {
  const { logger, warned } = warnings();
  const n = serviceNotifier({ logger, env: { NOTIFY_SOCKET: '/run/nowhere' }, send: () => ECONNREFUSED });
  n.ready('r');
  assert.equal(warned.length, 1);
  assert.match(warned[0]!, /not delivered/);
});

test('the addon sends to a filesystem socket and to an abstract name, and returns errno instead of throwing', async () => {
  const addon = createRequire(import.meta.url)(NATIVE_NOTIFY_PATH) as { send: NotifySend };
  for (const filesystem of [true, false]) {
    const rx = await startNotifyReceiver({ filesystem });
    try {
      assert.equal(addon.send(rx.socketPath, 'READY=1'), 0);
      assert.equal(await rx.waitFor((m) => m === 'READY=1'), 'READY=1');
    } finally {
      await rx.close();
    }
  }
  assert.equal(addon.send('@sm-notify-nobody-listens', 'READY=1'), ECONNREFUSED);
  assert.equal(addon.send('vsock:2:1234', 'READY=1'), EAFNOSUPPORT);
  assert.throws(() => addon.send(1 as unknown as string, 'x'), TypeError);
});

test('a real relay sends READY=1 once it accepts connections, and STOPPING=1 on SIGTERM', async () => {
  const net = await createTestNetwork({ members: 0 });
  const rx = await startNotifyReceiver();
  const relay = await startRelayProcess({ caFile: net.caFile, env: { NOTIFY_SOCKET: rx.socketPath } });
  try {
    const ready = await rx.waitFor((m) => m.startsWith('READY=1'), RELAY_READY_TIMEOUT_MS);
    assert.match(ready, /^READY=1\nSTATUS=relay listening on wss:\/\/127\.0\.0\.1:\d+ pin sha256:[0-9a-f]{64}$/);
    assert.ok(ready.includes(`:${relay.port} `), 'STATUS names the port the relay listens on');
    await new Promise<void>((resolve, reject) => {
      const s = connect(relay.port, '127.0.0.1', () => { s.destroy(); resolve(); });
      s.once('error', reject);
    });
    assert.deepEqual(rx.messages().filter((m) => m.includes('STOPPING=1')), [], 'no STOPPING before a stop');
    assert.equal(await relay.stop(), 0);
    await rx.waitFor((m) => m.startsWith('STOPPING=1'));
    assert.equal(rx.messages().filter((m) => m.startsWith('READY=1')).length, 1, 'READY=1 exactly once');
  } finally {
    await relay.stop();
    await rx.close();
    await net.cleanup();
  }
});

test('a real node sends READY=1 once the relay admitted it, and STOPPING=1 when asked to stop', async () => {
  const net = await createTestNetwork({ members: ['alice'] });
  const sockDir = mkdtempSync(join(tmpdir(), 'sm-notify-up-'));
  const relay = await startRelayProcess({ caFile: net.caFile, crlFile: net.crlFile });
  const rx = await startNotifyReceiver();
  const m = net.member('alice');
  const sock = join(sockDir, 'alice.sock');
  const daemon = await startDaemon(
    ['--relay', relay.url, '--pin', relay.pin, '--ca', net.caFile, '--cert', m.certFile, '--dir', m.dir, '--dev', 'none', '--no-direct', '--control', sock],
    { NOTIFY_SOCKET: rx.socketPath },
  );
  try {
    const ready = await rx.waitFor((msg) => msg.startsWith('READY=1'), RELAY_READY_TIMEOUT_MS);
    assert.match(ready, /^READY=1\nSTATUS=node [0-9a-f]{8} up: device none \S+ via relay wss:\/\/\S+$/);
    assert.equal((await relay.stats()).activeClients, 1, 'the relay admitted the node before it said READY=1');
    const down = await runCliAsync(['down', '--control', sock]);
    assert.equal(down.status, 0, down.stderr);
    await rx.waitFor((msg) => msg.startsWith('STOPPING=1'));
    assert.equal(await daemon.exited, 0, daemon.stderr());
  } finally {
    await daemon.stop();
    await relay.stop();
    await rx.close();
    await net.cleanup();
    rmSync(sockDir, { recursive: true, force: true });
  }
});
