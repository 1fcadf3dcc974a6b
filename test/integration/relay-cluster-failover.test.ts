/**
 * Failover inside a relay cluster (issue 13; docs/architecture.md "Relay
 * cluster" and "Several relays") with real processes on loopback: a real
 * nats-server, three relays joined with --cluster, and four `shadowmesh up
 * --dev none --no-direct` members, each listing all three relays with
 * repeated `--relay wss://HOST:PORT#PIN` (each in its own order, ties going
 * to the first listed).
 *
 * Where each member starts is the node's own choice (lowest probe RTT, noise
 * on loopback), so the test reads it from `status` instead of guessing. Each
 * relay admits at most three members (--max-clients 3): four members then
 * always sit on at least two relays, and one relay holds at least two
 * (pigeonhole), so the show below always has a relay to kill with two
 * members on it and a member elsewhere to ping.
 *
 * Shows: every pair pings, across relays and within one; the relay holding
 * two (or more) members is killed by pid during a numbered ping stream
 * (count and interval through the control API, which numbers the pings) from
 * one of its members to a member of another relay; its members re-admit
 * elsewhere; the stream loses less than 2 s of pings and nothing is
 * duplicated (every sequence number answered at most once, no unsolicited
 * pong at the pinger, no replayed frame at either end), and the members of
 * the other relays list the moving ones throughout (no presence flap, not
 * at the re-admission, not when the dead relay's heartbeats run out); the
 * relay restarted
 * on its address and key rejoins the cluster (another relay's /stats).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlClient } from '../../src/node/control/control-client.js';
import type { PingProgress, PingReply, StatusResult, UsersResult } from '../../src/node/control/control-protocol.js';
import { startDaemon, unlessUnknownPeer, waitFor, type DaemonProcess } from '../../testkit/daemon-process.js';
import { startNatsServer, type NatsServer } from '../../testkit/nats-server.js';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';

/** Short cluster heartbeat so a dead relay is noticed in 1.5 s (three heartbeats). */
const CLUSTER_HEARTBEAT = '500ms';
const MEMBERS = ['alice', 'bob', 'carol', 'dave'] as const;
/** The relay each member lists first (the rest follow in ring order): only a tie of probe RTTs goes by it. */
const FIRST_LISTED: Record<string, number> = { alice: 0, bob: 1, carol: 2, dave: 0 };
/** Admitted members per relay: below four, so the members spread over two relays at least. */
const MAX_CLIENTS_PER_RELAY = 3;
/** The numbered stream: 10 pings a second for 12 s, the kill about 2 s in. */
const STREAM_INTERVAL_MS = 100;
const STREAM_COUNT = 120;
const KILL_AFTER_REPLIES = 20;
/** What the issue allows the move to cost. */
const MAX_LOSS_MS = 2_000;

let net: TestNetwork;
let nats: NatsServer;
let work: string;
const relays: RelayProcess[] = [];
const relayData: string[] = [];
const daemons: Record<string, DaemonProcess> = {};

const sock = (name: string): string => join(work, `${name}.sock`);
const client = (name: string): ControlClient => new ControlClient({ path: sock(name), timeoutMs: 30_000 });
const href = (url: string): string => new URL(url).href;

async function startRelay(i: number, port?: number): Promise<RelayProcess> {
  return startRelayProcess({
    caFile: net.caFile,
    crlFile: net.crlFile,
    dataDir: relayData[i] as string,
    ...(port !== undefined ? { port } : {}),
    args: ['--cluster', nats.url, '--cluster-name', `relay-${i}`, '--cluster-heartbeat', CLUSTER_HEARTBEAT, '--no-stun', '--max-clients', String(MAX_CLIENTS_PER_RELAY)],
  });
}

async function status(name: string): Promise<StatusResult> {
  return (await client(name).call('status', {})) as StatusResult;
}

/** The index of the relay a member is admitted by, or -1. */
async function relayOf(name: string): Promise<number> {
  const s = await status(name);
  return s.relay.connected ? relays.findIndex((r) => href(r.url) === s.relay.url) : -1;
}

async function pingOk(from: string, to: string, count = 3): Promise<number> {
  return (await client(from).ping({ peer: to, count, intervalMs: 100 })).summary.received;
}

before(async () => {
  net = await createTestNetwork({ members: [...MEMBERS] });
  work = await mkdtemp(join(tmpdir(), 'sm-cluster-failover-'));
  nats = await startNatsServer();
  for (let i = 0; i < 3; i++) relayData.push(await mkdtemp(join(tmpdir(), `sm-cluster-failover-relay${i}-`)));
  for (let i = 0; i < 3; i++) relays.push(await startRelay(i));
  await Promise.all(relays.map((r) => waitFor('relay in the cluster', async () => ((await r.stats()).cluster?.peerRelays.length === 2 ? true : undefined), 15_000)));
  const up = (m: string): string[] => {
    const x = net.member(m);
    const first = FIRST_LISTED[m] as number;
    const listed = [0, 1, 2].map((k) => relays[(first + k) % 3] as RelayProcess).flatMap((r) => ['--relay', `${r.url}#${r.pin}`]);
    return [...listed, '--ca', net.caFile, '--crl', net.crlFile, '--cert', x.certFile, '--dir', x.dir, '--dev', 'none', '--no-direct', '--control', sock(m)];
  };
  const started = await Promise.all(MEMBERS.map((m) => startDaemon(up(m))));
  MEMBERS.forEach((m, i) => (daemons[m] = started[i] as DaemonProcess));
});

after(async () => {
  for (const d of Object.values(daemons)) await d.stop();
  for (const r of relays) await r.stop();
  await nats?.stop();
  await net?.cleanup();
  if (work) await rm(work, { recursive: true, force: true });
  for (const d of relayData) await rm(d, { recursive: true, force: true });
});

test('the relay holding two members is killed mid-stream: they re-admit elsewhere, the numbered stream loses < 2 s and nothing twice, and the relay restarted rejoins the cluster', { timeout: 90_000 }, async (t) => {
  // Every member knows all three relays, from the repeated --relay flags.
  for (const m of MEMBERS) assert.equal((await status(m)).relay.relays.length, 3, m);

  // Where they sit, and every pair pinging (across relays and within one).
  const home: Record<string, number> = {};
  for (const m of MEMBERS) home[m] = await waitFor(`${m} admitted`, async () => {
    const i = await relayOf(m);
    return i >= 0 ? i : undefined;
  }, 20_000, 100);
  const held = [0, 1, 2].map((i) => MEMBERS.filter((m) => home[m] === i));
  assert.ok(held.every((h) => h.length <= MAX_CLIENTS_PER_RELAY), `placement ${JSON.stringify(home)}`);
  for (let a = 0; a < MEMBERS.length; a++) {
    for (let b = a + 1; b < MEMBERS.length; b++) {
      const [x, y] = [MEMBERS[a] as string, MEMBERS[b] as string];
      await waitFor(`${x} pings ${y}`, async () => ((await unlessUnknownPeer(pingOk(x, y, 1))) === 1 ? true : undefined), 20_000, 100);
      assert.equal(await pingOk(x, y), 3, `${x} (relay ${home[x]}) -> ${y} (relay ${home[y]})`);
    }
  }

  const k = held.findIndex((h) => h.length === Math.max(...held.map((x) => x.length)));
  const movers = held[k] as string[];
  assert.ok(movers.length >= 2, `relay ${k} holds ${movers.join(', ')}`);
  const mover = movers[0] as string;
  const partner = MEMBERS.find((m) => home[m] !== k) as string;
  assert.ok(partner !== undefined, `a member on another relay than ${k}: ${JSON.stringify(home)}`);
  const killed = relays[k] as RelayProcess;
  const killedPort = killed.port;

  const dropsBefore = { mover: (await status(mover)).drops, partner: (await status(partner)).drops };
  // The numbered stream. The control API pings one at a time, each waiting up to 5 s for its pong, so a ping
  // in flight at the very instant of the kill would stall the stream for that long whatever the failover does:
  // the kill comes right after an answer, between two pings, and what is measured is the move itself.
  const replyAt = new Map<number, number>();
  let killedAt = 0;
  const progress = (p: PingProgress): void => {
    if (!('rttMs' in p)) return;
    replyAt.set(p.seq, Date.now());
    if (p.seq === KILL_AFTER_REPLIES && killedAt === 0) {
      killedAt = Date.now();
      process.kill(killed.pid, 'SIGKILL');
    }
  };
  // Meanwhile the members on the other relays keep listing the moving ones: a member that re-admits
  // elsewhere must not flap down and up, neither at its re-admission nor when its old relay's heartbeats
  // run out (the stream outlasts the 1.5 s bound by far).
  const watchers = MEMBERS.filter((m) => home[m] !== k);
  const absences: string[] = [];
  let streaming = true;
  const watch = (async () => {
    while (streaming) {
      for (const w of watchers) {
        const listed = ((await client(w).call('users', {})) as UsersResult).users.map((u) => u.name);
        for (const m of movers) if (!listed.includes(m)) absences.push(`${m} missing at ${w} ${killedAt > 0 ? Date.now() - killedAt : -1} ms after the kill`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const result = await client(mover).ping({ peer: partner, count: STREAM_COUNT, intervalMs: STREAM_INTERVAL_MS }, progress);
  streaming = false;
  await watch;
  await killed.exited;
  assert.ok(killedAt > 0, `the stream reached ${KILL_AFTER_REPLIES} replies (lost: ${JSON.stringify(result.lost.slice(0, 5))})`);

  // Nothing twice: every sequence number once, answered or lost, never both.
  const seqs = [...result.replies.map((r: PingReply) => r.seq), ...result.lost.map((l) => l.seq)].sort((a, b) => a - b);
  assert.deepEqual(seqs, Array.from({ length: STREAM_COUNT }, (_, i) => i + 1), 'each sequence number exactly once');
  assert.equal(result.summary.sent, STREAM_COUNT);
  const lostMs = result.lost.length * STREAM_INTERVAL_MS;
  const lastBefore = Math.max(...[...replyAt].filter(([, t]) => t <= killedAt).map(([, t]) => t));
  const firstAfter = Math.min(...[...replyAt].filter(([, t]) => t > killedAt).map(([, t]) => t));
  const gapMs = firstAfter - lastBefore;
  const report = `lost ${result.lost.length} pings (${lostMs} ms of the stream), no reply for ${gapMs} ms; lost: ${JSON.stringify(result.lost.map((l) => [l.seq, l.error.code]))}`;
  t.diagnostic(`placement ${JSON.stringify(home)}; killed relay ${k}; ${mover} -> ${partner}: ${report}`);
  assert.ok(lostMs < MAX_LOSS_MS, report);
  assert.ok(gapMs < MAX_LOSS_MS + STREAM_INTERVAL_MS, report);
  // The stream ended on the new relay: its tail was answered.
  assert.ok(result.replies.some((r) => r.seq === STREAM_COUNT), report);

  assert.deepEqual(absences, [], 'members that moved stayed listed at the others throughout');

  const dropsAfter = { mover: (await status(mover)).drops, partner: (await status(partner)).drops };
  for (const key of ['ping.unsolicited_pong', 'ping.wrong_peer', 'peers.replay']) {
    assert.equal(dropsAfter.mover[key] ?? 0, dropsBefore.mover[key] ?? 0, `${key} at ${mover}: a duplicate arrived`);
    assert.equal(dropsAfter.partner[key] ?? 0, dropsBefore.partner[key] ?? 0, `${key} at ${partner}: a duplicate arrived`);
  }

  // Every member of the killed relay re-admitted elsewhere, and is reachable there.
  for (const m of movers) {
    const now = await waitFor(`${m} re-admitted elsewhere`, async () => {
      const i = await relayOf(m);
      return i >= 0 && i !== k ? i : undefined;
    }, 20_000, 100);
    assert.notEqual(now, k);
    assert.ok((await status(m)).relay.switches >= 1, `${m} counts the switch`);
    assert.equal(await pingOk(m, partner), 3, `${m} -> ${partner} after the move`);
  }
  assert.equal(await pingOk(movers[1] as string, mover), 3, 'the two moved members reach each other');

  // The relay restarted on its address and key rejoins the cluster, as another relay's /stats shows.
  const witness = relays[(k + 1) % 3] as RelayProcess;
  await waitFor('the killed relay gone from the cluster view', async () => ((await witness.stats()).cluster?.peerRelays.some((p) => p.name === `relay-${k}`) ? undefined : true), 15_000, 100);
  relays[k] = await startRelay(k, killedPort);
  assert.equal(relays[k]!.pin, killed.pin, 'same key, same pin');
  await waitFor('the restarted relay back in the cluster view', async () => ((await witness.stats()).cluster?.peerRelays.some((p) => p.name === `relay-${k}`) ? true : undefined), 15_000, 100);
  await waitFor('the restarted relay sees both others', async () => ((await (relays[k] as RelayProcess).stats()).cluster?.peerRelays.length === 2 ? true : undefined), 15_000, 100);
  // Its return moves no one back and costs no one their reachability.
  for (const [x, y] of [[mover, partner], [partner, movers[1] as string]] as const) assert.equal(await pingOk(x, y), 3, `${x} -> ${y} after the restart`);
});
