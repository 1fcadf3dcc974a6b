import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlClient } from '../../../src/node/control/control-client.js';
import { checkSocketPath, ControlError, defaultControlPath, type PingParams, type PingProgress, type PingResult, type StatusResult } from '../../../src/node/control/control-protocol.js';
import { ControlCode } from '../../../src/node/control/control-errors.js';
import { ControlServer, MAX_CONTROL_CONNECTIONS, type ControlHandler } from '../../../src/node/control/control-server.js';

const STATUS: StatusResult = {
  peerId: 'a'.repeat(64), name: 'alice', addresses: ['10.1.0.2/24'], device: null,
  relay: { url: 'wss://r:1/', connected: true, observedAddress: '127.0.0.1', observedPort: 4000, connects: 1, reconnects: 0, switches: 0, relays: [{ url: 'wss://r:1/', state: 'current', rttMs: null, failures: 0, lastError: null }] },
  udp: { port: 41641, nat: 'endpoint-independent', reflexive: ['192.0.2.1:41641'] },
  uptimeMs: 5, peers: 0, drops: {}, certificates: {},
};

function handler(over: Partial<ControlHandler> = {}): ControlHandler & { pings: PingParams[]; aborted: number } {
  const h = {
    pings: [] as PingParams[],
    aborted: 0,
    status: () => STATUS,
    peers: () => ({ peers: [] }),
    async ping(params: PingParams, onProgress: (p: PingProgress) => void, signal: AbortSignal): Promise<PingResult> {
      h.pings.push(params);
      signal.addEventListener('abort', () => { h.aborted++; });
      for (let seq = 1; seq <= params.count; seq++) onProgress({ seq, rttMs: seq / 10, path: 'relay' });
      return { peer: { peerId: 'b'.repeat(64), name: 'bob', addresses: [] }, replies: [], lost: [], summary: { sent: params.count, received: params.count, lossPercent: 0, minMs: 0.1, avgMs: 0.2, maxMs: 0.3 } };
    },
    ...over,
  };
  return h;
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sm-ctl-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('status, peers and ping round trip; ping progress arrives before the answer; the socket is 0600 and removed on stop', () => withDir(async (dir) => {
  const path = join(dir, 'sub', 'c.sock');
  const h = handler();
  const server = new ControlServer({ handler: h }, { path });
  await server.start();
  await server.start(); // idempotent
  try {
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'sub'))).mode & 0o777, 0o700);
    const client = new ControlClient({ path });
    assert.deepEqual(await client.status(), STATUS);
    assert.deepEqual(await client.peers(), { peers: [] });
    const progress: PingProgress[] = [];
    const r = await client.ping({ peer: 'bob', count: 3, intervalMs: 10 }, (p) => progress.push(p));
    assert.equal(r.summary.sent, 3);
    assert.deepEqual(progress.map((p) => p.seq), [1, 2, 3]);
    assert.deepEqual(h.pings, [{ peer: 'bob', count: 3, intervalMs: 10 }]);
  } finally {
    await server.stop();
    await server.stop();
  }
  await assert.rejects(stat(path), { code: 'ENOENT' });
}));

test('a stale socket file (its daemon died) is replaced; a live one is refused; a non-socket is never deleted', () => withDir(async (dir) => {
  const path = join(dir, 'c.sock');
  // A socket file nobody listens on, as a killed daemon leaves it: a child binds, then is SIGKILLed.
  const { spawnSync } = await import('node:child_process');
  const made = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
  assert.equal(made.signal, 'SIGKILL');
  assert.ok((await stat(path)).isSocket(), 'a dead socket file is left behind');
  await assert.rejects(new ControlClient({ path }).status(), { code: ControlCode.NO_DAEMON });

  const first = new ControlServer({ handler: handler() }, { path });
  await first.start();
  try {
    assert.equal((await new ControlClient({ path }).status()).name, 'alice');
    const second = new ControlServer({ handler: handler() }, { path });
    await assert.rejects(second.start(), (err: ControlError) => err.code === ControlCode.IN_USE && err.message.includes(path));
    await second.stop();
    assert.equal((await new ControlClient({ path }).status()).name, 'alice', 'the refused server did not take the socket away');
  } finally {
    await first.stop();
  }

  const file = join(dir, 'plain');
  await writeFile(file, 'keep me');
  await assert.rejects(new ControlServer({ handler: handler() }, { path: file }).start(), { code: ControlCode.PATH });
  assert.ok((await stat(file)).isFile());
}));

test('handler failures become coded errors: SmErrors keep their code, anything else is INTERNAL', () => withDir(async (dir) => {
  const path = join(dir, 'c.sock');
  const server = new ControlServer({
    handler: handler({
      status: () => { throw new TypeError('boom'); },
      ping: async () => { throw new ControlError(ControlCode.UNKNOWN_PEER, 'no such member'); },
    }),
  }, { path });
  await server.start();
  try {
    const client = new ControlClient({ path });
    await assert.rejects(client.status(), (e: ControlError) => e.code === ControlCode.INTERNAL && e.message.includes('boom'));
    await assert.rejects(client.ping({ peer: 'x', count: 1, intervalMs: 10 }), { code: ControlCode.UNKNOWN_PEER, message: 'no such member' });
    await assert.rejects(client.call('ping', { peer: 'x', count: 1, intervalMs: 1 }), { code: ControlCode.PARAMS });
    assert.deepEqual(await client.peers(), { peers: [] }, 'still serving');
    assert.equal(server.stats.errors[ControlCode.INTERNAL], 1);
  } finally {
    await server.stop();
  }
}));

test('a client that goes away aborts its running request; connections beyond the limit are refused with BUSY', () => withDir(async (dir) => {
  const path = join(dir, 'c.sock');
  let release: () => void = () => undefined;
  const h = handler({
    ping: (_p, _on, signal) => new Promise<PingResult>((_res, rej) => {
      release = () => rej(new ControlError(ControlCode.TIMEOUT, 'released'));
      signal.addEventListener('abort', () => { h.aborted++; rej(new ControlError(ControlCode.TIMEOUT, 'aborted')); });
    }),
  });
  const server = new ControlServer({ handler: h }, { path });
  await server.start();
  try {
    await assert.rejects(new ControlClient({ path }).call('ping', { peer: 'x', count: 1, intervalMs: 10 }, { timeoutMs: 200 }), { code: ControlCode.TIMEOUT });
    for (let i = 0; i < 50 && h.aborted === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(h.aborted, 1);

    const { connect } = await import('node:net');
    const held = await Promise.all(Array.from({ length: MAX_CONTROL_CONNECTIONS }, () => new Promise<import('node:net').Socket>((res) => { const s = connect(path, () => res(s)); })));
    try {
      await assert.rejects(new ControlClient({ path }).status(), { code: ControlCode.BUSY });
    } finally {
      for (const s of held) s.destroy();
    }
    for (let i = 0; i < 50; i++) {
      try { await new ControlClient({ path }).status(); break; } catch { await new Promise((r) => setTimeout(r, 10)); }
    }
    assert.equal((await new ControlClient({ path }).status()).name, 'alice');
    release();
  } finally {
    await server.stop();
  }
}));

test('shutdown: the answer reaches the client before the handler is told to stop; without a shutdown handler the method is unknown', () => withDir(async (dir) => {
  const path = join(dir, 'c.sock');
  const events: string[] = [];
  const h = handler({
    shutdown: () => { events.push('shutdown'); return { name: 'alice', peerId: 'a'.repeat(64), pid: 42 }; },
    shutdownAnswered: () => { events.push('answered'); },
  });
  const server = new ControlServer({ handler: h }, { path });
  await server.start();
  try {
    const client = new ControlClient({ path });
    await assert.rejects(client.call('shutdown', { now: true }), { code: ControlCode.PARAMS });
    assert.deepEqual(events, [], 'bad params: nothing asked');
    assert.deepEqual(await client.call('shutdown', {}), { name: 'alice', peerId: 'a'.repeat(64), pid: 42 });
    assert.deepEqual(events, ['shutdown', 'answered']);
  } finally {
    await server.stop();
  }
  const plain = new ControlServer({ handler: handler() }, { path });
  await plain.start();
  try {
    await assert.rejects(new ControlClient({ path }).call('shutdown', {}), { code: ControlCode.METHOD });
  } finally {
    await plain.stop();
  }
}));

test('socket paths: the default lives in SHADOWMESH_HOME; an over-long path is refused up front', () => {
  assert.equal(defaultControlPath({ SHADOWMESH_HOME: '/x/y' }), '/x/y/control.sock');
  assert.match(defaultControlPath({}), /\.shadowmesh\/control\.sock$/);
  assert.throws(() => checkSocketPath('/tmp/' + 'a'.repeat(200)), { code: ControlCode.PATH });
  assert.throws(() => new ControlClient({ path: '/tmp/' + 'a'.repeat(200) }), { code: ControlCode.PATH });
});
