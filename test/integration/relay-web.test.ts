/**
 * The relay's operator page (docs/architecture.md "Web console"): a real
 * relay started with `--web 127.0.0.1:PORT --web-token-file FILE` and two
 * members admitted; without the admin token, or with another one, the page
 * and its stream are 401, another Host is 403, and it has no API routes;
 * the stream lists both members with counters that grow after a ping
 * between them, and GET /stats (no token) lists none; headless Chromium
 * opens it with the token and sees the relay's live counters and a row per
 * member; a screenshot goes to test-artifacts/relay-web/. A relay given
 * --web without a token file does not start. With nats-server installed,
 * two relays clustered over it: the web relay's stream and page list the
 * other relay in the cluster panel. A hostile member's garbage shows as its
 * own drops by fixed reasons, and connections that never authenticate are
 * not listed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { webRequest, type WebAnswer } from '../../testkit/web-request.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCliAsync, startDaemon, waitFor, type DaemonProcess } from '../../testkit/daemon-process.js';
import { freePort } from '../../testkit/free-port.js';
import { CHROMIUM_PATH, launchChromium, type HeadlessChromium } from '../../testkit/headless-chromium.js';
import { admitRaw, connectRaw, eventually } from '../../testkit/raw-relay-client.js';
import { natsServerBinary, startNatsServer, type NatsServer } from '../../testkit/nats-server.js';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { testArtifactsDir } from '../../testkit/test-artifacts.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';
import { randomBytes } from '../../src/crypto/bytes.js';
import { shortId } from '../../src/identity/peer-id.js';
import { FrameType } from '../../src/wire/constants.js';
import { encodeRelayFrame } from '../../src/wire/relay-frames.js';
import type { MemberListSnapshot } from '../../src/relay/member-list.js';
import type { RelayStatsSnapshot } from '../../src/relay/relay-stats.js';
import { newWebToken } from '../../src/web/web-token.js';

const PAGE_WAIT_MS = 15_000;
/** The stream sends a snapshot every second; a few are enough to see one. */
const SNAPSHOT_WAIT_MS = 10_000;
/** The largest first event the stream may send before the test stops reading: far above a snapshot of two members. */
const MAX_SNAPSHOT_CHARS = 1_000_000;

type OperatorSnapshot = RelayStatsSnapshot & { members: MemberListSnapshot };

let net: TestNetwork;
let relay: RelayProcess;
let work: string;
let port: number;
const token = newWebToken();
const daemons: DaemonProcess[] = [];
let chromium: HeadlessChromium | null = null;

function http(path: string, headers: Record<string, string>): Promise<WebAnswer> {
  return webRequest(port, { path, headers });
}

/** The first `snapshot` event of the operator page's live stream, read with the admin token. */
function streamSnapshot(webPort: number): Promise<OperatorSnapshot> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: webPort, path: '/web/stream', headers: { Host: `127.0.0.1:${webPort}`, Authorization: `Bearer ${token}` } }, (res) => {
      if (res.statusCode !== 200) { res.resume(); reject(new Error(`stream: ${res.statusCode}`)); return; }
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
        const m = /event: snapshot\ndata: (.*)\n\n/.exec(text);
        if (m !== null) { req.destroy(); resolve(JSON.parse(m[1]!) as OperatorSnapshot); }
        else if (text.length > MAX_SNAPSHOT_CHARS) { req.destroy(); reject(new Error('stream: no snapshot')); }
      });
    });
    req.setTimeout(SNAPSHOT_WAIT_MS, () => { req.destroy(new Error('stream: no snapshot in time')); });
    req.on('error', reject);
    req.end();
  });
}

const sock = (name: string): string => join(work, `${name}.sock`);

before(async () => {
  net = await createTestNetwork({ members: ['alice'] });
  await net.addMember('bob');
  await net.addMember('carol');
  work = await mkdtemp(join(tmpdir(), 'sm-relay-web-'));
  await writeFile(join(work, 'admin.token'), `${token}\n`, { mode: 0o600 });
  port = await freePort();
  relay = await startRelayProcess({ caFile: net.caFile, crlFile: net.crlFile, args: ['--web', `127.0.0.1:${port}`, '--web-token-file', join(work, 'admin.token')] });
  for (const name of ['alice', 'bob']) {
    const m = net.member(name);
    daemons.push(await startDaemon(['--relay', relay.url, '--pin', relay.pin, '--ca', net.caFile, '--cert', m.certFile, '--dir', m.dir, '--dev', 'none', '--no-direct', '--control', sock(name)]));
  }
});

after(async () => {
  await chromium?.close();
  for (const d of daemons) await d.stop();
  await relay?.stop();
  await net?.cleanup();
  if (work) await rm(work, { recursive: true, force: true });
});

test('without the admin token, or with another, 401; another Host 403; no API routes; the token never reaches the log', async () => {
  const host = `127.0.0.1:${port}`;
  assert.deepEqual(await http('/', { Host: host }), { status: 401, code: 'SM_ERR_WEB_UNAUTHORIZED' });
  assert.deepEqual(await http('/web/stream', { Host: host }), { status: 401, code: 'SM_ERR_WEB_UNAUTHORIZED' });
  assert.deepEqual(await http(`/?token=${newWebToken()}`, { Host: host }), { status: 401, code: 'SM_ERR_WEB_UNAUTHORIZED' });
  assert.deepEqual(await http('/', { Host: `rebind.example:${port}`, Authorization: `Bearer ${token}` }), { status: 403, code: 'SM_ERR_WEB_HOST' });
  assert.deepEqual(await http('/v1/status', { Host: host, Authorization: `Bearer ${token}` }), { status: 404, code: 'SM_ERR_WEB_NOT_FOUND' });
  assert.equal((await http('/', { Host: host, Authorization: `Bearer ${token}` })).status, 200);
  assert.ok(!relay.stderr().includes(token), 'the admin token is not in the relay\'s log');
});

test('the stream lists both members with name, peer, addresses and counters that grow after a ping; /stats lists no member', async () => {
  const listed = await waitFor('both members in the stream', async () => {
    const s = await streamSnapshot(port);
    return s.members.total === 2 ? s : undefined;
  }, PAGE_WAIT_MS, 500);
  assert.deepEqual(listed.members.members.map((m) => m.name), ['alice', 'bob'], 'sorted by name');
  for (const m of listed.members.members) {
    assert.equal(m.peer, shortId(net.member(m.name).peerId));
    assert.ok(m.addresses.length >= 1, `${m.name}'s mesh addresses`);
    assert.match(m.remote, /^127\.0\.0\.1:\d+$/);
    assert.ok(m.admittedAtMs > 0);
  }
  const before = listed.members.members.find((m) => m.name === 'bob')!;
  // The relay admitting bob is not alice hearing of him: the member list reaches her a moment later.
  await waitFor('alice knows bob', async () => {
    const peers = await runCliAsync(['peers', '--json', '--control', sock('alice')]);
    return peers.status === 0 && (JSON.parse(peers.stdout) as { peers: Array<{ name: string | null }> }).peers.some((p) => p.name === 'bob') ? true : undefined;
  }, PAGE_WAIT_MS, 200);
  const ping = await runCliAsync(['ping', 'bob', '--count', '3', '--interval', '200ms', '--control', sock('alice')]);
  assert.equal(ping.status, 0, ping.stderr);
  const after = await waitFor('bob\'s counters grown', async () => {
    const b = (await streamSnapshot(port)).members.members.find((m) => m.name === 'bob');
    return b !== undefined && b.framesIn >= before.framesIn + 3 && b.framesOut >= before.framesOut + 3 ? b : undefined;
  }, PAGE_WAIT_MS, 500);
  assert.ok(after.bytesIn > before.bytesIn && after.bytesOut > before.bytesOut);
  const stats = await relay.stats() as RelayStatsSnapshot & { members?: unknown };
  assert.equal(stats.members, undefined, 'member names stay behind the admin token');
});

test('a relay given --web without --web-token-file does not start, and says what is missing', async () => {
  const r = await runCliAsync(['relay', '--listen', '127.0.0.1:0', '--ca', net.caFile, '--data', join(work, 'data2'), '--web', '127.0.0.1:0']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /relay\.web\.tokenFile|--web-token-file/);
});

test('in headless Chromium the operator page shows the relay\'s live counters', { skip: existsSync(CHROMIUM_PATH) ? false : `no ${CHROMIUM_PATH}` }, async () => {
  chromium = await launchChromium();
  const page = await chromium.browser.newPage();
  const failed: string[] = [];
  page.on('requestfailed', (r) => failed.push(r.url()));
  page.on('console', (m) => { if (m.type() === 'error') failed.push(`console: ${m.text()}`); });
  await page.goto(`http://127.0.0.1:${port}/?token=${token}`, { waitUntil: 'domcontentloaded' });
  assert.equal(page.url(), `http://127.0.0.1:${port}/`);
  await page.waitForFunction(`document.querySelector('dd[data-key="activeClients"]')?.textContent === '2'`, { timeout: PAGE_WAIT_MS });
  await page.waitForFunction(`document.querySelectorAll('section[data-section="members"] tbody tr').length === 2`, { timeout: PAGE_WAIT_MS });
  const rows = await page.$$eval('section[data-section="members"] tbody tr', (trs) => trs.map((tr) => Object.fromEntries([...tr.querySelectorAll('td')].map((td) => [td.dataset['col'], td.textContent ?? '']))));
  assert.deepEqual(rows.map((r) => r['name']), ['alice', 'bob']);
  assert.equal(rows[1]!['peer'], shortId(net.member('bob').peerId));
  assert.ok(Number(rows[1]!['frames in']) > 0, 'bob\'s frames in');
  assert.equal(await page.evaluate(`document.querySelector('p[data-caption="members"]').textContent`), '2 online');
  assert.equal(await page.evaluate(`document.querySelector('#live').textContent`), 'live');
  assert.ok(Number(await page.evaluate(`document.querySelector('dd[data-key="admissions"]').textContent`)) >= 1);
  await page.screenshot({ path: join(await testArtifactsDir('relay-web'), 'operator.png') as `${string}.png`, fullPage: true });
  assert.deepEqual(failed, []);
});

test('clustered over a real nats-server, the stream and the page\'s cluster panel list the peer relay', { skip: natsServerBinary() === null ? 'no nats-server (Debian package nats-server)' : false }, async () => {
  let nats: NatsServer | null = null;
  const clustered: RelayProcess[] = [];
  try {
    nats = await startNatsServer();
    const webPort = await freePort();
    for (const name of ['relay-a', 'relay-b']) {
      const web = name === 'relay-a' ? ['--web', `127.0.0.1:${webPort}`, '--web-token-file', join(work, 'admin.token')] : [];
      clustered.push(await startRelayProcess({ caFile: net.caFile, crlFile: net.crlFile, args: ['--cluster', nats.url, '--cluster-name', name, '--no-stun', ...web] }));
    }
    const snap = await waitFor('relay-b in relay-a\'s cluster', async () => {
      const s = await streamSnapshot(webPort);
      return s.cluster?.peerRelays.some((r) => r.name === 'relay-b') === true ? s : undefined;
    }, PAGE_WAIT_MS, 500);
    assert.equal(snap.cluster?.natsConnected, true);
    assert.equal(snap.members.total, 0);
    if (existsSync(CHROMIUM_PATH)) {
      chromium ??= await launchChromium();
      const page = await chromium.browser.newPage();
      await page.goto(`http://127.0.0.1:${webPort}/?token=${token}`, { waitUntil: 'domcontentloaded' });
      await page.waitForFunction(`[...document.querySelectorAll('section[data-section="cluster"] td[data-col="relay"]')].some((td) => td.textContent === 'relay-b')`, { timeout: PAGE_WAIT_MS });
      assert.match(await page.evaluate(`document.querySelector('p[data-caption="cluster"]').textContent`) as string, /^relay-a: NATS connected; 1 peer relay/);
      await page.screenshot({ path: join(await testArtifactsDir('relay-web'), 'cluster.png') as `${string}.png`, fullPage: true });
      await page.close();
    }
  } finally {
    for (const r of clustered) await r.stop();
    await nats?.stop();
  }
});

test('a member sending garbage is listed with its own drops, by fixed reasons only; connections that never authenticate are not listed', async () => {
  const carol = net.member('carol');
  const c = await admitRaw(relay.host, relay.port, carol);
  const strangers = await Promise.all([0, 1, 2].map(() => connectRaw(relay.host, relay.port)));
  try {
    for (let i = 0; i < 3; i++) c.send(Uint8Array.from(randomBytes(64 + i)));
    c.send(encodeRelayFrame({ type: FrameType.Deliver, peerId: carol.peerId, payload: Uint8Array.of(1) })); // a relay-only frame
    c.send(encodeRelayFrame({ type: FrameType.Ping, nonce: 7n }));
    await eventually('PONG 7', () => c.received.find((b) => b[1] === FrameType.Pong && b.readBigUInt64LE(4) === 7n));
    const listed = await waitFor('carol\'s drops on the page', async () => {
      const s = await streamSnapshot(port);
      const m = s.members.members.find((x) => x.name === 'carol');
      return m !== undefined && (m.drops['malformed'] ?? 0) >= 1 && (m.drops['unexpected'] ?? 0) >= 1 ? s : undefined;
    }, PAGE_WAIT_MS, 500);
    const carolRow = listed.members.members.find((x) => x.name === 'carol')!;
    for (const reason of Object.keys(carolRow.drops)) assert.ok(['malformed', 'unexpected', 'frame-too-large', 'rate-limited', 'queue-full', 'unreachable', 'presence-queue-full'].includes(reason), reason);
    assert.ok(carolRow.framesIn >= 5);
    assert.deepEqual(listed.members.members.map((m) => m.name), ['alice', 'bob', 'carol'], 'the three unauthenticated connections are not members');
    assert.equal(listed.members.total, 3);
    for (const name of ['alice', 'bob']) assert.deepEqual(listed.members.members.find((m) => m.name === name)!.drops, {}, `${name} is not charged for carol's garbage`);
  } finally {
    c.close();
    for (const s of strangers) s.close();
  }
});
