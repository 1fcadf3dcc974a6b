/**
 * Interoperability: our StunClient and codec against coturn from Debian's
 * packages (`turnserver`), run here as a child process in STUN-only mode on
 * 127.0.0.1 (no TLS/DTLS, no CLI, no config file, log on stdout). The
 * mapped address it reports must be our socket's own address and port.
 *
 * If turnserver is missing or does not start, this test FAILS (it never
 * skips): the interop claim of docs/protocol.md §5 rests on it. The child is
 * killed by its pid in `finally`.
 */

import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { StunClient } from '../../src/stun/stun-client.js';
import { decodeStunMessage, encodeBindingRequest } from '../../src/stun/stun-message.js';

/** coturn starts in well under a second; generous for a loaded 2-core machine. */
const START_BOUND_MS = 20_000;
const MAX_LOG_CHARS = 64 * 1024;

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

/** A UDP port that was free a moment ago (bound, read, released). */
async function freeUdpPort(): Promise<number> {
  const s = await udpSocket();
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe('StunClient against coturn', () => {
  it('coturn reports our socket address as XOR-MAPPED-ADDRESS', { timeout: 60_000 }, async () => {
    const port = await freeUdpPort();
    const pidFile = join(tmpdir(), `sm-turnserver-${process.pid}-${port}.pid`);
    const args = ['-n', '--listening-ip', '127.0.0.1', '--listening-port', String(port), '--stun-only', '--no-tls', '--no-dtls', '--no-cli', '--log-file', 'stdout', '--simple-log', '--pidfile', pidFile, '--fingerprint'];
    const child = spawn('turnserver', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    const keep = (b: Buffer): void => {
      if (log.length < MAX_LOG_CHARS) log += b.toString();
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let spawnError: Error | null = null;
    child.on('error', (err) => {
      spawnError = err;
    });
    const socket = await udpSocket();
    const client = new StunClient({ send: (bytes, p, address) => socket.send(bytes, p, address) }, { timeoutMs: 1_000 });
    socket.on('message', (msg, rinfo) => {
      client.onMessage(msg, { address: rinfo.address, port: rinfo.port });
    });
    try {
      const server = { address: '127.0.0.1', port };
      const deadline = Date.now() + START_BOUND_MS;
      let mapped = null;
      // coturn needs a moment to bind: ask until it answers or the bound passes.
      while (mapped === null) {
        if (spawnError !== null) assert.fail(`turnserver could not be started (is coturn installed?): ${(spawnError as Error).message}`);
        if (child.exitCode !== null) assert.fail(`turnserver exited with ${child.exitCode}:\n${log}`);
        if (Date.now() > deadline) assert.fail(`turnserver did not answer within ${START_BOUND_MS} ms:\n${log}`);
        mapped = await client.binding(server).catch((err: { code?: string }) => {
          if (err.code !== 'SM_ERR_STUN_TIMEOUT') throw err;
          return null;
        });
      }
      assert.deepEqual(mapped, { address: '127.0.0.1', port: socket.address().port });

      // The raw response decodes with our codec: a Binding success with XOR-MAPPED-ADDRESS and a valid FINGERPRINT.
      const tx = new Uint8Array(12).fill(0x5a);
      const raw = await new Promise<Buffer>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no raw answer from turnserver')), 5_000);
        const onRaw = (msg: Buffer): void => {
          clearTimeout(timer);
          socket.off('message', onRaw);
          resolve(msg);
        };
        socket.on('message', onRaw);
        socket.send(encodeBindingRequest(tx, { fingerprint: true }), port, '127.0.0.1');
      });
      const m = decodeStunMessage(raw);
      assert.equal(m.class, 'success');
      assert.deepEqual(new Uint8Array(m.transactionId), tx);
      assert.deepEqual(m.xorMapped, { address: '127.0.0.1', port: socket.address().port });
      assert.notEqual(m.fingerprintOk, false);
    } finally {
      client.close();
      await new Promise<void>((resolve) => socket.close(() => resolve()));
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        process.kill(child.pid, 'SIGKILL');
        await exited;
      }
      await rm(pidFile, { force: true });
    }
  });
});
