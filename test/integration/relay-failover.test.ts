/**
 * Failover between two independent relay processes (same CA) with real
 * `up --dev none --no-direct` daemons that list both (docs/architecture.md
 * "Several relays"): both members are admitted by relay 1 (relay 2 starts
 * after them, so their first probe round finds only relay 1); relay 1 is
 * killed by pid; both move to relay 2 and pings between them work again on
 * the same end-to-end session (no new handshake: lastHandshakeAgoMs keeps
 * growing across the move).
 *
 * Key rotation: one relay restarted on its address with a new TLS key; a
 * member whose pin set (`--pin OLD,NEW`) lists both keys is re-admitted
 * without a restart, one pinning only the old key refuses the relay
 * (SM_ERR_RELAY_PIN) and stays out.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatPeerId } from '../../src/identity/peer-id.js';
import type { PeersResult, PingResult, StatusResult } from '../../src/node/control/control-protocol.js';
import { freePort } from '../../testkit/free-port.js';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';
import { runCliAsync, startDaemon, unlessUnknownPeer, waitFor, type DaemonProcess } from '../../testkit/daemon-process.js';

let net: TestNetwork;
let r1: RelayProcess;
let r2: RelayProcess | undefined;
let dir: string;
const daemons: Record<string, DaemonProcess> = {};
let r2Port: number;
let r2Data: string;

const sock = (m: string): string => join(dir, `${m}.sock`);

async function status(m: string): Promise<StatusResult> {
  const r = await runCliAsync(['status', '--json', '--control', sock(m)]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as StatusResult;
}

async function peerOf(m: string): Promise<PeersResult['peers'][number]> {
  const r = await runCliAsync(['peers', '--json', '--control', sock(m)]);
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as PeersResult).peers[0]!;
}

async function ping(from: string, to: string, count: number): Promise<PingResult> {
  const r = await runCliAsync(['ping', formatPeerId(net.member(to).peerId), '--count', String(count), '--interval', '100ms', '--json', '--control', sock(from)]);
  return JSON.parse(r.stdout || '{"replies":[]}') as PingResult;
}

before(async () => {
  net = await createTestNetwork({ members: ['alice', 'bob'] });
  dir = await mkdtemp(join(tmpdir(), 'sm-failover-'));
  r2Data = join(dir, 'r2');
  r1 = await startRelayProcess({ caFile: net.caFile, args: ['--heartbeat', '200ms', '--idle-timeout', '1s'] });
  // Relay 2's pin is known only once it has made its key: start it once, note pin and port, stop it.
  r2Port = await freePort();
  const probe = await startRelayProcess({ caFile: net.caFile, port: r2Port, dataDir: r2Data });
  const r2Pin = probe.pin;
  await probe.stop();
  for (const m of ['alice', 'bob']) {
    const mem = net.member(m);
    daemons[m] = await startDaemon(
      ['--relay', r1.url, '--pin', r1.pin, '--ca', net.caFile, '--cert', mem.certFile, '--dir', mem.dir, '--dev', 'none', '--no-direct', '--control', sock(m)],
      { SHADOWMESH_RELAYS: `wss://127.0.0.1:${r2Port}#${r2Pin}` },
    );
  }
  r2 = await startRelayProcess({ caFile: net.caFile, port: r2Port, dataDir: r2Data, args: ['--heartbeat', '200ms', '--idle-timeout', '1s'] });
});

after(async () => {
  for (const d of Object.values(daemons)) await d.stop();
  await r1?.stop();
  await r2?.stop();
  await net?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('both members move from a killed relay to the other one, and their session carries on without a handshake', { timeout: 90_000 }, async () => {
  for (const m of ['alice', 'bob']) {
    const s = await status(m);
    assert.equal(s.relay.url, new URL(r1.url).href, `${m} starts on relay 1`);
    assert.equal(s.relay.relays.length, 2);
  }
  const before = await waitFor('a first ping', async () => ((await unlessUnknownPeer(ping('alice', 'bob', 1)))?.replies.length === 1 ? true : undefined), 20_000);
  assert.ok(before);
  const sessionBefore = await peerOf('alice');
  assert.equal(sessionBefore.session.established, true);
  const movedAt = Date.now();
  process.kill(r1.pid, 'SIGKILL');
  await r1.exited;
  for (const m of ['alice', 'bob']) {
    await waitFor(`${m} on relay 2`, async () => {
      const s = await status(m);
      return s.relay.connected && s.relay.url === new URL(`wss://127.0.0.1:${r2Port}`).href ? s : undefined;
    }, 30_000, 250);
  }
  const p = await waitFor('pings through relay 2', async () => {
    const r = await ping('alice', 'bob', 3);
    return r.replies.length >= 2 ? r : undefined;
  }, 20_000, 250);
  assert.ok(p.replies.length >= 2);
  const s = await status('alice');
  assert.ok(s.relay.switches >= 1, `a switch is counted: ${JSON.stringify(s.relay)}`);
  const after = await peerOf('alice');
  assert.equal(after.session.established, true);
  const sinceMove = Date.now() - movedAt;
  assert.ok(after.session.lastHandshakeAgoMs !== null && after.session.lastHandshakeAgoMs >= sinceMove - 500,
    `no handshake since the move (${after.session.lastHandshakeAgoMs} ms ago, moved ${sinceMove} ms ago)`);
  assert.ok(after.session.ageMs! > sessionBefore.session.ageMs!, 'the same session, older');
});

test('a member whose pin set lists the old and the new key follows a relay key rotation without a restart; one pinning only the old key refuses it', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const oldData = join(dir, 'old-key');
  const newData = join(dir, 'new-key');
  // Make the new key first (a relay started once in newData), so its pin can be listed before the rotation.
  const maker = await startRelayProcess({ caFile: net.caFile, port: await freePort(), dataDir: newData });
  const newPin = maker.pin;
  await maker.stop();
  const extra = await createTestNetwork({ members: ['carol', 'dave'] });
  let relay = await startRelayProcess({ caFile: extra.caFile, port, dataDir: oldData, args: ['--heartbeat', '200ms', '--idle-timeout', '1s'] });
  const oldPin = relay.pin;
  assert.notEqual(oldPin, newPin);
  const started: DaemonProcess[] = [];
  try {
    const up = async (m: 'carol' | 'dave', pin: string): Promise<void> => {
      const mem = extra.member(m);
      started.push(await startDaemon(['--relay', relay.url, '--pin', pin, '--ca', extra.caFile, '--cert', mem.certFile, '--dir', mem.dir, '--dev', 'none', '--no-direct', '--control', sock(m)]));
    };
    await up('carol', `${oldPin},${newPin}`);
    await up('dave', oldPin);
    // Rotation: the relay restarts on the same address with the new key.
    await relay.stop();
    relay = await startRelayProcess({ caFile: extra.caFile, port, dataDir: newData, args: ['--heartbeat', '200ms', '--idle-timeout', '1s'] });
    assert.equal(relay.pin, newPin);
    const carol = await waitFor('carol re-admitted under the new key', async () => {
      const s = await status('carol');
      return s.relay.connected && s.relay.connects >= 2 ? s : undefined;
    }, 30_000, 250);
    assert.ok(carol.relay.connected);
    const dave = await waitFor('dave refusing the new key', async () => {
      const s = await status('dave');
      return !s.relay.connected && s.relay.reconnects >= 2 ? s : undefined;
    }, 30_000, 250);
    assert.equal(dave.relay.connected, false);
    await waitFor('dave logging the pin refusal', async () => (/SM_ERR_RELAY_PIN/.test(started[1]!.stderr()) ? true : undefined), 30_000, 250);
    assert.equal((await status('dave')).relay.connected, false, 'dave stays refused');
  } finally {
    for (const d of started) await d.stop();
    await relay.stop();
    await extra.cleanup();
  }
});
