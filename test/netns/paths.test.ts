/**
 * Direct paths against real processes in network namespaces (issue 4 "What
 * must be shown"): a relay in namespace `relay`, `shadowmesh up` daemons in
 * `a` and `b` with TUN devices (mesh 10.10.10.3/24 and .4/24), a and b on
 * routable lab addresses of one bridge, so a direct TLS path between them
 * can open.
 *
 *   1. Traffic starts on the relay and moves to direct while a numbered ping
 *      stream (10 ms apart) and a hashed TCP transfer run: `peers --json`
 *      shows 'direct' with b's lab address on a (and a's on b), every echo
 *      comes back exactly once, the transfer arrives with the same byte count
 *      and SHA-256.
 *   2. Cutting the direct link (iptables DROP between a and b only; the relay
 *      stays reachable) puts traffic back on the relay: pings keep being
 *      answered (the longest reply gap is reported and must stay under 5 s),
 *      `peers --json` shows 'relay' and a fallback; restoring the link brings
 *      the path back to direct within the retry backoff.
 *   3. Many cut/restore cycles (short ones that only lapse the trust window,
 *      long ones that kill the direct path) while a hashed TCP transfer runs:
 *      it arrives intact, and no echo is duplicated.
 *
 * Timing is asserted only where the issue sets a bound (the 5 s gap, the
 * 60 s backoff cap); everything else is an invariant (no loss, no
 * duplicates, byte-exact transfers, the path kind and its remote address).
 * Needs root and a build with `shadowmesh up`; skipped otherwise. One lab for
 * the file, torn down in after() and, should the process die, by the lab's
 * exit hook.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LabProcess, NetnsLab } from '../../src/demo/netns-lab.js';
import {
  finishPingStream, longestReplyGapMs, peerPath, remoteHost, upAvailable, waitForPeerPath,
  type LabDaemon, type LabPeerPath,
} from '../../testkit/netns-shadowmesh.js';
import { LAB_MESH_B, startLabMesh, type LabMesh } from '../../testkit/netns-lab-mesh.js';
import { HASHED_RECEIVER_JS, pacedSenderJs } from '../../testkit/netns-transfer.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const skip = !isRoot ? 'needs root (network namespaces)' : !upAvailable() ? 'this build has no `shadowmesh up`' : false;

const MESH_B = LAB_MESH_B;
const MESH_PREFIX = '10.10.10.';
/** Direct-path listener port of both daemons (`up --p2p-port`); each namespace has its own ports. */
const P2P_PORT = 7443;
/** Admission of both daemons and the relay's member list reaching each. */
/** A fresh session plus PATH_OFFERs, TLS and the re-handshake: well under a second; generous under load. */
const TO_DIRECT_MS = 20_000;
/** Issue 4: direct attempts back off up to 60 s; a restored link must be used again within that (plus slack). */
const RESTORE_MS = 75_000;
/** Issue 4 asks for < 2 s; the test bound is loose so a loaded CI machine does not flap it (the bench measures). */
const MAX_CUT_GAP_MS = 5_000;
/** The hashed transfers are paced well below the tunnel's capacity, so no packet is dropped for congestion. */
const PACE_BYTES_PER_S = 16 * 1024 * 1024;
const EXACT_PORT = 7001;
const CYCLE_BUDGET_MS = 60_000;
const MAX_CYCLES = 100;
const MIN_CYCLES = 20;
/** Cut lengths cycled through in test 3: inside the trust window, past it (mirroring), past the dead time (fallback). */
const CUT_PATTERN_MS = [300, 900, 2_000];
const RESTORE_PAUSE_MS = 700;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const RECEIVER = HASHED_RECEIVER_JS;
const SENDER = pacedSenderJs(256 * 1024);

interface Transfer {
  rx: LabProcess;
  tx: LabProcess;
  /** Resolves with both reports; throws when either side failed. */
  done(timeoutMs: number): Promise<{ sent: { bytes: number; sha256: string }; received: { bytes: number; sha256: string } }>;
}

/** Start a paced hashed TCP transfer a -> b over the mesh lasting `seconds`. */
async function startTransfer(lab: NetnsLab, seconds: number): Promise<Transfer> {
  const rx = lab.spawn('b', [process.execPath, '-e', RECEIVER, MESH_B, String(EXACT_PORT)], { label: 'b:receiver' });
  await rx.waitForLine(/^listening$/, 10_000);
  const tx = lab.spawn('a', [process.execPath, '-e', SENDER, MESH_B, String(EXACT_PORT), String(seconds), String(PACE_BYTES_PER_S)], { label: 'a:sender' });
  return {
    rx,
    tx,
    async done(timeoutMs) {
      const sentLine = await tx.waitForLine(/^\{.*\}$/, timeoutMs);
      const gotLine = await rx.waitForLine(/^\{.*\}$/, 30_000);
      return { sent: JSON.parse(sentLine[0]) as { bytes: number; sha256: string }, received: JSON.parse(gotLine[0]) as { bytes: number; sha256: string } };
    },
  };
}

/** `ping -D` from a to b's mesh address, `count` echoes `intervalS` apart, tracked by the lab. */
function startPing(lab: NetnsLab, count: number, intervalS: number): LabProcess {
  return lab.spawn('a', ['ping', '-D', '-n', '-i', String(intervalS), '-c', String(count), '-W', '5', MESH_B], { label: 'a:ping' });
}

function describePath(p: LabPeerPath | null): string {
  return p === null ? 'not listed' : JSON.stringify({ path: p.path, remote: p.remote, rttMs: p.rttMs, migrations: p.migrations, fallbacks: p.fallbacks, mirroring: p.mirroring });
}

describe('direct paths between routable nodes', { skip }, () => {
  let mesh: LabMesh | undefined;
  let lab: NetnsLab | undefined;
  let a: LabDaemon | undefined;
  let b: LabDaemon | undefined;
  /** a's view of b, sampled while the direct link was cut in test 2. */
  const cutSamples: LabPeerPath[] = [];

  const logs = (): string => mesh?.logs() ?? '';
  const onLabDirect = (p: LabPeerPath, peer: 'a' | 'b'): boolean => p.path === 'direct' && remoteHost(p.remote) === lab!.ip(peer);
  /** Both sides on the direct path between their lab addresses (not through anything else). */
  async function waitBothDirect(timeoutMs: number): Promise<void> {
    const ab = await waitForPeerPath(a!, 'b', (p) => onLabDirect(p, 'b'), timeoutMs);
    assert.ok(ab !== null, `a never showed b on the direct path to ${lab!.ip('b')}: ${describePath(await peerPath(a!, 'b'))}${logs()}`);
    const ba = await waitForPeerPath(b!, 'a', (p) => onLabDirect(p, 'a'), timeoutMs);
    assert.ok(ba !== null, `b never showed a on the direct path to ${lab!.ip('a')}: ${describePath(await peerPath(b!, 'a'))}${logs()}`);
  }

  before(async () => {
    mesh = await startLabMesh({ daemonArgs: () => ['--p2p-port', String(P2P_PORT)], env: { SHADOWMESH_LOG_LEVEL: 'debug' } });
    // Both know each other from the relay now, and no packet has crossed yet: no session, no path but the relay.
    ({ lab, a, b } = mesh);
  });
  after(async () => {
    await mesh?.stop();
  });

  test('traffic starts on the relay and moves to direct with nothing lost or duplicated', { timeout: 120_000 }, async (t) => {
    const l = lab!;
    const before0 = await peerPath(a!, 'b');
    assert.ok(before0 !== null && before0.path === 'relay' && before0.migrations.to_direct === 0 && !before0.session.established,
      `a already had a session or a direct path to b before any traffic: ${describePath(before0)}`);
    // The first packets of both streams start the session, over the relay; the switch happens during them.
    const transfer = await startTransfer(l, 8);
    const ping = startPing(l, 600, 0.01);
    const t0 = Date.now();
    let directAtMs: number | null = null;
    let sawRelayWithSession = false;
    while (ping.alive() && directAtMs === null) {
      const p = await peerPath(a!, 'b').catch(() => null);
      if (p?.path === 'relay' && p.session.established) sawRelayWithSession = true;
      if (p !== null && onLabDirect(p, 'b')) directAtMs = Date.now();
      else await sleep(100);
    }
    const stream = await finishPingStream(ping, 30_000);
    const pingEndMs = Date.now();
    const { sent, received } = await transfer.done(60_000);
    const ab = await peerPath(a!, 'b');
    const ba = await peerPath(b!, 'a');
    t.diagnostic(`a -> b: ${describePath(ab)}; b -> a: ${describePath(ba)}; direct seen on a ${directAtMs === null ? 'never' : `${directAtMs - t0} ms`} after the streams started (relay with a session sampled before: ${sawRelayWithSession})`);
    t.diagnostic(`ping: ${stream.answered.length}/600 answered, ${stream.duplicates.length} duplicated; transfer ${sent.bytes} B sent, ${received.bytes} B received`);

    assert.ok(directAtMs !== null && directAtMs < pingEndMs, `the switch to direct was not seen while the ping stream ran: ${describePath(ab)}${logs()}`);
    assert.ok(ab !== null && onLabDirect(ab, 'b'), `a -> b not direct to b's lab address ${l.ip('b')}: ${describePath(ab)}`);
    assert.ok(ab.migrations.to_direct >= 1, `a counted no migration to direct: ${describePath(ab)}`);
    assert.ok(ba !== null && onLabDirect(ba, 'a'), `b -> a not direct to a's lab address ${l.ip('a')}: ${describePath(ba)}`);
    assert.deepEqual(stream.duplicates, [], 'echo replies duplicated across the switch');
    assert.equal(stream.maxSeq, 600, `the last echo was not answered (highest answered ${stream.maxSeq})`);
    assert.deepEqual(stream.missing, [], `echoes lost across the switch (${stream.missing.length}): ${stream.missing.slice(0, 20).join(',')}`);
    assert.ok(sent.bytes > 0);
    assert.deepEqual(received, sent, 'the transfer across the switch did not arrive byte for byte');
  });

  test('cutting the direct link falls back to the relay; restoring it moves back to direct', { timeout: 180_000 }, async (t) => {
    const l = lab!;
    await waitBothDirect(TO_DIRECT_MS);
    const fallbacks0 = (await peerPath(a!, 'b'))!.fallbacks;
    const COUNT = 1_200;
    const ping = startPing(l, COUNT, 0.01);
    await sleep(2_000);
    let undo: (() => Promise<void>) | null = null;
    let cutAtMs = 0;
    try {
      cutAtMs = Date.now();
      undo = await l.cut('a', 'b');
      let sawRelay: LabPeerPath | null = null;
      while (ping.alive()) {
        const p = await peerPath(a!, 'b').catch(() => null);
        if (p !== null) {
          cutSamples.push(p);
          if (sawRelay === null && p.path === 'relay' && p.fallbacks > fallbacks0) sawRelay = p;
        }
        await sleep(200);
      }
      const stream = await finishPingStream(ping, 30_000);
      const gap = longestReplyGapMs(stream, cutAtMs - 1_000);
      const lastReply = stream.replyAtMs.length === 0 ? 0 : Math.max(...stream.replyAtMs);
      t.diagnostic(`cut at +2 s of a ${COUNT} x 10 ms ping stream: longest reply gap ${gap.toFixed(0)} ms; ${stream.answered.length}/${COUNT} answered, ${stream.missing.length} missing, ${stream.duplicates.length} duplicated; last reply ${(lastReply - cutAtMs).toFixed(0)} ms after the cut`);
      t.diagnostic(`a's view of b during the cut: ${cutSamples.map((p) => (p.path === 'relay' ? 'relay' : p.remote)).join(' ')}`);
      assert.ok(sawRelay !== null, `peers --json on a never showed b on the relay with a new fallback during the cut: last ${describePath(cutSamples[cutSamples.length - 1] ?? null)}${logs()}`);
      assert.ok(lastReply > cutAtMs + 3_000, `pings stopped being answered after the cut (last reply ${(lastReply - cutAtMs).toFixed(0)} ms after it)${logs()}`);
      assert.ok(gap < MAX_CUT_GAP_MS, `longest reply gap after the cut ${gap.toFixed(0)} ms, expected < ${MAX_CUT_GAP_MS} ms`);
      assert.deepEqual(stream.duplicates, [], 'echo replies duplicated across the fallback');
    } finally {
      await undo?.();
    }
    const restoredAt = Date.now();
    await waitBothDirect(RESTORE_MS);
    const back = await peerPath(a!, 'b');
    t.diagnostic(`restored: back on direct after ${Date.now() - restoredAt} ms: ${describePath(back)}`);
    assert.ok(back !== null && back.migrations.to_direct >= 2 && back.fallbacks >= 1);
  });

  test('during a cut no direct path runs through the mesh tunnel itself', () => {
    assert.ok(cutSamples.length > 0, 'test 2 recorded no samples');
    const tunnelled = cutSamples.filter((p) => p.path === 'direct' && remoteHost(p.remote).startsWith(MESH_PREFIX));
    assert.deepEqual(tunnelled.map((p) => p.remote), [], 'a used a direct path to a mesh address while the lab link was cut');
    // The daemons' debug logs name every direct path opened so far; none may lead to a mesh address.
    const opened = (d: LabDaemon): string[] => [...d.proc.stderr().matchAll(/"msg":"[0-9a-f]+ direct path up","remote":"([^"]+)"/g)].map((m) => m[1]!);
    for (const d of [a!, b!]) {
      const inTunnel = opened(d).filter((r) => remoteHost(r).startsWith(MESH_PREFIX));
      assert.deepEqual(inTunnel, [], `${d.node} opened direct paths to mesh addresses (through its own tunnel)`);
    }
  });

  test('cut/restore cycles under a running transfer lose nothing', { timeout: 240_000 }, async (t) => {
    const l = lab!;
    await waitBothDirect(RESTORE_MS);
    const a0 = (await peerPath(a!, 'b'))!;
    const b0 = (await peerPath(b!, 'a'))!;
    const seconds = CYCLE_BUDGET_MS / 1_000 + 8;
    const transfer = await startTransfer(l, seconds);
    const ping = startPing(l, Math.round(seconds / 0.02), 0.02);
    await sleep(2_000);
    let cycles = 0;
    const start = Date.now();
    let undo: (() => Promise<void>) | null = null;
    try {
      while (cycles < MAX_CYCLES && Date.now() - start < CYCLE_BUDGET_MS) {
        undo = await l.cut('a', 'b');
        await sleep(CUT_PATTERN_MS[cycles % CUT_PATTERN_MS.length]!);
        await undo();
        undo = null;
        cycles++;
        await sleep(RESTORE_PAUSE_MS);
      }
    } finally {
      await undo?.();
    }
    const elapsed = Date.now() - start;
    const { sent, received } = await transfer.done(seconds * 1_000 + 60_000);
    const stream = await finishPingStream(ping, 60_000);
    const a1 = (await peerPath(a!, 'b'))!;
    const b1 = (await peerPath(b!, 'a'))!;
    const moves = (x: LabPeerPath, y: LabPeerPath): number => y.migrations.to_direct - x.migrations.to_direct + y.migrations.to_relay - x.migrations.to_relay;
    t.diagnostic(`${cycles} cut/restore cycles (${cycles * 2} toggles) in ${(elapsed / 1000).toFixed(1)} s; path switches: a ${moves(a0, a1)} (fallbacks +${a1.fallbacks - a0.fallbacks}), b ${moves(b0, b1)} (fallbacks +${b1.fallbacks - b0.fallbacks})`);
    t.diagnostic(`transfer ${sent.bytes} B sent, ${received.bytes} B received; ping ${stream.answered.length} answered, ${stream.missing.length} missing (cuts), ${stream.duplicates.length} duplicated`);
    assert.ok(cycles >= MIN_CYCLES, `only ${cycles} cycles fit in ${CYCLE_BUDGET_MS} ms`);
    assert.ok(moves(a0, a1) >= 2, `a switched path only ${moves(a0, a1)} times: the cycles did not exercise migration`);
    assert.ok(sent.bytes > 0);
    assert.deepEqual(received, sent, 'the transfer did not arrive byte for byte');
    assert.deepEqual(stream.duplicates, [], 'echo replies duplicated during the cycles');
  });
});
