/**
 * A relay restart under SIGTERM with two members attached, against real
 * processes in network namespaces (issue 7 "What must be shown": a relay
 * restart under SIGTERM with two nodes attached loses no chat message and the
 * tunnel recovers by itself).
 *
 * A relay in namespace `relay` (its key kept in a data directory, so the
 * restarted relay has the same pin) and `shadowmesh up --no-direct` daemons
 * in `a` and `b` (TUN, mesh 10.10.10.3/24 and .4/24): every frame crosses the
 * relay, so the restart is felt by the chat and by the tunnel alike. On b,
 * `shadowmesh recv --follow --accept --json` prints what arrives.
 *
 *   - Before the restart a sends messages with `shadowmesh send` (each waits
 *     for b's end-to-end acknowledgement).
 *   - The relay gets SIGTERM and must exit 0. While it is down, a sends
 *     more: each `send` either queues the message and waits for the ack, or
 *     is refused at once with SM_ERR_CHAT_OFFLINE (nothing was queued; the
 *     script sends it again), never anything else. The relay is started
 *     again on the same address and data directory; nobody touches the
 *     daemons.
 *   - After the restart a sends more.
 *   Every `send` ends with exit 0 (acknowledged); b's recv printed every
 *   message exactly once; a ping stream started before the restart is
 *   answered again after it without anyone intervening, and both daemons
 *   report the relay link up again.
 *
 * Needs root and a build with `shadowmesh up`; skipped otherwise.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CLI_MAIN_PATH } from '../../testkit/relay-process.js';
import type { LabProcess, NetnsLab } from '../../src/demo/netns-lab.js';
import {
  parsePingStream, startLabRelay, upAvailable, waitForPing,
  type LabDaemon, type LabRelay,
} from '../../testkit/netns-shadowmesh.js';
import type { TestNetwork } from '../../testkit/test-network.js';
import { LAB_MESH_B, startLabMesh, type LabMesh } from '../../testkit/netns-lab-mesh.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const skip = !isRoot ? 'needs root (network namespaces)' : !upAvailable() ? 'this build has no `shadowmesh up`' : false;

const MESH_B = LAB_MESH_B;
const FIRST_PING_MS = 20_000;
/** How long the relay stays down. */
const DOWN_MS = 2_000;
/** The relay link's first backoff is 0.5 s (full jitter, doubling); a few attempts fit easily. */
const RECOVER_MS = 30_000;
/** How long one `send` waits for the accept and the ack (the daemon retries meanwhile). */
const SEND_WAIT = '45s';
const BEFORE = 3;
const DURING = 5;
const AFTER = 3;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface SendOutcome {
  text: string;
  /** `send` runs it took: refusals with SM_ERR_CHAT_OFFLINE before the one that was acknowledged. */
  offline: number;
  code: number | null;
  stderr: string;
  /** When the last `send` run ended (epoch ms). */
  endedAt: number;
}

describe('relay restart under SIGTERM with two members attached', { skip }, () => {
  let mesh: LabMesh | undefined;
  let lab: NetnsLab | undefined;
  let net: TestNetwork | undefined;
  let relay: LabRelay | undefined;
  let a: LabDaemon | undefined;
  let b: LabDaemon | undefined;
  let recv: LabProcess | undefined;

  const logs = (): string =>
    `\nrelay stderr: ${relay?.proc.stderr().slice(-2_000) ?? ''}\na stderr: ${a?.proc.stderr().slice(-2_000) ?? ''}\nb stderr: ${b?.proc.stderr().slice(-2_000) ?? ''}\nrecv stdout: ${recv?.stdout().slice(-2_000) ?? ''}`;

  /** `shadowmesh send b TEXT` on a until it is acknowledged; a refusal as offline is retried, any other failure ends it. */
  async function send(text: string, deadlineMs: number): Promise<SendOutcome> {
    let offline = 0;
    for (;;) {
      const r = await a!.cli(['send', 'b', text, '--timeout', SEND_WAIT], 60_000);
      if (r.code === 0) return { text, offline, code: 0, stderr: r.stderr, endedAt: Date.now() };
      if (/SM_ERR_CHAT_OFFLINE/.test(r.stderr) && Date.now() < deadlineMs) {
        offline++;
        await sleep(250);
        continue;
      }
      return { text, offline, code: r.code, stderr: r.stderr, endedAt: Date.now() };
    }
  }

  /** Texts of the chat messages b's recv printed, in order. */
  function received(): string[] {
    const out: string[] = [];
    for (const line of recv!.stdout().split('\n')) {
      if (!line.startsWith('{')) continue;
      const e = JSON.parse(line) as { type: string; text?: string };
      if (e.type === 'message' && typeof e.text === 'string') out.push(e.text);
    }
    return out;
  }

  /** The daemon's relay link as `status --json` reports it: connected, and how often it reconnected. */
  async function relayLink(d: LabDaemon): Promise<{ connected: boolean; reconnects: number }> {
    const s = (await d.status().catch(() => null)) as { relay?: { connected?: boolean; reconnects?: number } } | null;
    return { connected: s?.relay?.connected === true, reconnects: s?.relay?.reconnects ?? -1 };
  }

  before(async () => {
    mesh = await startLabMesh({ daemonArgs: () => ['--no-direct'], env: { SHADOWMESH_LOG_LEVEL: 'debug' } });
    ({ lab, net, relay, a, b } = mesh);
    recv = lab.spawn('b', [process.execPath, CLI_MAIN_PATH, 'recv', '--follow', '--accept', '--json', '--control', b.control], { label: 'b:recv' });
  });
  after(async () => {
    await mesh?.stop();
  });

  test('no chat message is lost and the tunnel comes back by itself', { timeout: 90_000 }, async (t) => {
    const l = lab!;
    assert.ok(await waitForPing(l, 'a', MESH_B, FIRST_PING_MS) !== null, `no ping a -> b through the relay${logs()}`);
    const tag = randomBytes(3).toString('hex');
    const text = (phase: string, i: number): string => `${phase}-${i}-${tag}`;
    const outcomes: SendOutcome[] = [];

    for (let i = 1; i <= BEFORE; i++) outcomes.push(await send(text('before', i), Date.now() + 30_000));
    assert.deepEqual(outcomes.filter((o) => o.code !== 0), [], `a send before the restart failed${logs()}`);

    const ping = l.spawn('a', ['ping', '-D', '-n', '-i', '0.1', '-W', '1', '-c', String(Math.round((DOWN_MS + RECOVER_MS) / 100) + 100), MESH_B], { label: 'a:ping' });
    await sleep(1_000);

    // SIGTERM: the relay tells its clients and exits 0.
    const old = relay!;
    const stopAt = Date.now();
    old.proc.signal('SIGTERM');
    const during = Array.from({ length: DURING }, (_, i) => text('during', i + 1));
    // The sends start while the relay is shutting down or gone, a few hundred ms apart.
    const duringSends = (async () => {
      const ps: Promise<SendOutcome>[] = [];
      for (const m of during) {
        ps.push(send(m, Date.now() + RECOVER_MS));
        await sleep(300);
      }
      return Promise.all(ps);
    })();
    let timer: NodeJS.Timeout | undefined;
    const status = await Promise.race([old.proc.exited, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), 10_000)))]);
    clearTimeout(timer);
    const stoppedMs = Date.now() - stopAt;
    assert.equal(status, 0, `the relay did not exit 0 within 10 s of SIGTERM (${String(status)})${logs()}`);
    await sleep(DOWN_MS);
    relay = await startLabRelay(l, 'relay', { caFile: net!.caFile, crlFile: net!.crlFile, dataDir: old.dataDir });
    const restartedAt = Date.now();
    assert.equal(relay.pin, old.pin, 'the restarted relay has another pin (its key was not kept)');

    outcomes.push(...(await duringSends));
    for (let i = 1; i <= AFTER; i++) outcomes.push(await send(text('after', i), Date.now() + RECOVER_MS));

    // The tunnel: pings are answered again, with nobody touching the daemons.
    const back = await waitForPing(l, 'a', MESH_B, RECOVER_MS);
    const linkA = await relayLink(a!);
    const linkB = await relayLink(b!);
    await ping.stop();
    const stream = parsePingStream(ping.stdout());
    const after = stream.replyAtMs.filter((ms) => ms > restartedAt);
    const firstAfter = after.length === 0 ? null : Math.min(...after) - restartedAt;

    // b saw every message once; give a late one a moment to be printed.
    const expected = [...Array.from({ length: BEFORE }, (_, i) => text('before', i + 1)), ...during, ...Array.from({ length: AFTER }, (_, i) => text('after', i + 1))];
    const deadline = Date.now() + 5_000;
    while (expected.some((m) => !received().includes(m)) && Date.now() < deadline) await sleep(200);
    const got = received();
    const dupes = got.filter((m, i) => got.indexOf(m) !== i);
    const missing = expected.filter((m) => !got.includes(m));

    t.diagnostic(`relay exited ${String(status)} ${stoppedMs} ms after SIGTERM, restarted after ${DOWN_MS} ms down; first echo answered ${firstAfter === null ? 'never' : `${firstAfter} ms`} after the restart (waitForPing: ${back === null ? 'none' : `${back} ms`}); relay links: a ${JSON.stringify(linkA)}, b ${JSON.stringify(linkB)}`);
    t.diagnostic(`sends: ${outcomes.map((o) => `${o.text.split('-').slice(0, 2).join('-')}:${o.code === 0 ? 'ok' : `exit ${o.code}`}${o.offline > 0 ? ` (${o.offline} offline)` : ''}${o.endedAt > restartedAt ? ' (acked after the restart)' : ''}`).join(' ')}`);
    t.diagnostic(`b received ${got.length} messages: ${got.map((m) => m.split('-').slice(0, 2).join('-')).join(' ')}`);

    // The point of the "during" sends: at least one was waiting for its ack while the relay was gone.
    const acrossRestart = outcomes.filter((o) => o.text.startsWith('during-') && o.endedAt > restartedAt).length;
    assert.ok(acrossRestart >= 1, 'every "during" send finished before the relay came back: the restart was not exercised');
    for (const o of outcomes) assert.equal(o.code, 0, `send ${o.text} was not acknowledged: ${o.stderr.trim()}${logs()}`);
    assert.deepEqual(missing, [], `b never received ${missing.length} acknowledged message(s)${logs()}`);
    assert.deepEqual(dupes, [], 'b received a message more than once');
    assert.deepEqual(got.filter((m) => !expected.includes(m)), [], 'b received a message nobody sent');
    assert.ok(back !== null, `pings a -> b were not answered within ${RECOVER_MS} ms after the relay came back${logs()}`);
    assert.ok(firstAfter !== null, `the ping stream started before the restart got no reply after it${logs()}`);
    assert.deepEqual(stream.duplicates, [], 'echo replies duplicated across the restart');
    assert.ok(linkA.connected && linkB.connected, `a relay link is not up again after the restart (a ${JSON.stringify(linkA)}, b ${JSON.stringify(linkB)})${logs()}`);
    assert.ok(linkA.reconnects >= 1 && linkB.reconnects >= 1, `a daemon counted no reconnect across the restart (a ${JSON.stringify(linkA)}, b ${JSON.stringify(linkB)})`);
  });
});
