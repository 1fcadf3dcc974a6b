/** The relay daemon object: load from files, start on port 0, serve nothing to nobody, stop cleanly (twice). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { saveCaCertificate } from '../../src/identity/files.js';
import { RelayDaemon } from '../../src/relay-daemon/relay-daemon.js';
import { fixtureNetwork } from '../../testkit/member-fixture.js';

async function tempCa(): Promise<{ dir: string; caFile: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'sm-relay-daemon-'));
  const caFile = join(dir, 'ca.crt');
  await saveCaCertificate(caFile, fixtureNetwork().ca);
  return { dir, caFile };
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

test('starts on port 0 with a temporary CA, prints the real port and pin, admits nobody, and stops cleanly twice', async () => {
  const { dir, caFile } = await tempCa();
  try {
    const daemon = await RelayDaemon.load({}, { caFile, dataDir: join(dir, 'relay'), server: { host: '127.0.0.1', port: 0, stun: false } });
    await daemon.start();
    await daemon.start();
    const m = /^relay listening on wss:\/\/127\.0\.0\.1:(\d+) pin (sha256:[0-9a-f]{64})$/.exec(daemon.readyLine());
    assert.ok(m, daemon.readyLine());
    const port = Number(m[1]);
    assert.ok(port > 0);
    assert.equal(m[2], daemon.server.pin);
    assert.equal(await portOpen(port), true);
    assert.equal(daemon.server.listening, true);
    await daemon.stop();
    await daemon.stop();
    assert.equal(daemon.server.listening, false);
    assert.equal(await portOpen(port), false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a missing CA file fails at load, before any socket', async () => {
  const { dir } = await tempCa();
  try {
    await assert.rejects(RelayDaemon.load({}, { caFile: join(dir, 'nope.crt'), dataDir: join(dir, 'relay'), server: { host: '127.0.0.1', port: 0, stun: false } }), /nope\.crt/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('without a revocation list configured, applyRevocations does nothing', async () => {
  const { dir, caFile } = await tempCa();
  try {
    const daemon = await RelayDaemon.load({}, { caFile, dataDir: join(dir, 'relay'), server: { host: '127.0.0.1', port: 0, stun: false } });
    await daemon.applyRevocations();
    await daemon.stop();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
