/**
 * The relay's STUN wiring (src/relay/relay-server.ts with
 * src/stun/stun-responder.ts), through real relay processes
 * (testkit/relay-process.ts): by default a relay answers STUN on UDP at
 * its WSS port number; `--no-stun` does not answer; `--stun-listen` moves
 * the responder; the counters appear on /stats; a STUN port that cannot be
 * bound is a coded one-line startup error.
 */

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { StunClient } from '../../src/stun/stun-client.js';
import { CLI_MAIN_PATH, startRelayProcess } from '../../testkit/relay-process.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';

async function udpSocket(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      s.off('error', reject);
      resolve();
    });
  });
  return s;
}

/** Ask 127.0.0.1:port for our mapping; the StunError code on failure. */
async function ask(port: number, timeoutMs = 3_000): Promise<{ address: string; port: number; self: number } | string> {
  const socket = await udpSocket();
  const client = new StunClient({ send: (bytes, p, address) => socket.send(bytes, p, address) }, { timeoutMs });
  socket.on('message', (msg, rinfo) => {
    client.onMessage(msg, { address: rinfo.address, port: rinfo.port });
  });
  try {
    const mapped = await client.binding({ address: '127.0.0.1', port });
    return { ...mapped, self: socket.address().port };
  } catch (err) {
    return String((err as { code?: string }).code);
  } finally {
    client.close();
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}

describe('relay STUN', () => {
  let net: TestNetwork;

  before(async () => {
    net = await createTestNetwork({ members: 0 });
  });

  after(async () => {
    await net.cleanup();
  });

  it('answers on UDP at the WSS port number by default and counts on /stats', { timeout: 60_000 }, async () => {
    const relay = await startRelayProcess({ caFile: net.caFile });
    try {
      const r = await ask(relay.port);
      assert.ok(typeof r === 'object', `no STUN answer on UDP ${relay.port}: ${String(r)}\n${relay.stderr()}`);
      assert.deepEqual({ address: r.address, port: r.port }, { address: '127.0.0.1', port: r.self });
      const stats = await relay.stats();
      assert.ok(stats.stun !== undefined, 'stats.stun missing');
      assert.ok(stats.stun.requests >= 1 && stats.stun.answered >= 1, JSON.stringify(stats.stun));
    } finally {
      await relay.stop();
    }
  });

  it('--no-stun does not answer and has no stun counters', { timeout: 60_000 }, async () => {
    const relay = await startRelayProcess({ caFile: net.caFile, args: ['--no-stun'] });
    try {
      assert.equal(await ask(relay.port, 1_000), 'SM_ERR_STUN_TIMEOUT');
      assert.equal((await relay.stats()).stun, undefined);
    } finally {
      await relay.stop();
    }
  });

  it('--stun-listen moves the responder to another port', { timeout: 60_000 }, async () => {
    const probe = await udpSocket();
    const stunPort = probe.address().port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const relay = await startRelayProcess({ caFile: net.caFile, args: ['--stun-listen', `127.0.0.1:${stunPort}`] });
    try {
      const moved = await ask(stunPort);
      assert.ok(typeof moved === 'object', `no STUN answer on UDP ${stunPort}: ${String(moved)}\n${relay.stderr()}`);
      assert.equal(moved.port, moved.self);
      if (relay.port !== stunPort) assert.equal(await ask(relay.port, 1_000), 'SM_ERR_STUN_TIMEOUT');
    } finally {
      await relay.stop();
    }
  });

  it('a STUN port in use is a one-line coded startup error, exit status 1', { timeout: 60_000 }, async () => {
    const taken = await udpSocket();
    const dataDir = await mkdtemp(join(tmpdir(), 'sm-relay-stun-'));
    try {
      const port = taken.address().port;
      const r = spawnSync(process.execPath, [CLI_MAIN_PATH, 'relay', '--listen', '127.0.0.1:0', '--ca', net.caFile, '--data', dataDir, '--stun-listen', `127.0.0.1:${port}`], {
        encoding: 'utf8',
        timeout: 30_000,
        env: { ...process.env, SHADOWMESH_LOG_LEVEL: 'silent' },
      });
      assert.equal(r.status, 1, `status ${r.status}, stderr:\n${r.stderr}`);
      assert.equal(r.stdout, '');
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0] as string, /SM_ERR_STUN_LISTEN/);
      assert.match(lines[0] as string, new RegExp(`127\\.0\\.0\\.1:${port}`));
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
