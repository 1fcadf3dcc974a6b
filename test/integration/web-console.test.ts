/**
 * The web console end to end (docs/architecture.md "Web console",
 * docs/threat-model.md §7): a real relay and two `up --dev none` daemons on
 * loopback, alice with `--web 127.0.0.1:PORT`; `shadowmesh web` prints the
 * login link; headless Chromium (testkit/headless-chromium.ts) opens it and
 * sees this node and the members table list bob; a line typed in the page
 * reaches bob's CLI (`recv --accept`, then `recv`) and gets its delivery
 * tick; a line bob sends with `shadowmesh send` appears in the page; bob's
 * RTT and throughput charts are drawn. The
 * console refuses requests without the token (401), from another origin
 * or with another Host (403), and a network namespace of the test's own
 * cannot reach it. Screenshots go to testkit/test-artifacts.ts's folder
 * (test-artifacts/web-console/ unless $SM_TEST_ARTIFACTS says otherwise).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { webRequest, type WebAnswer } from '../../testkit/web-request.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';
import { formatPeerId } from '../../src/identity/peer-id.js';
import { ControlClient } from '../../src/node/control/control-client.js';
import type { WebResult } from '../../src/node/control/control-protocol.js';
import { runCliAsync, startDaemon, waitFor, type DaemonProcess } from '../../testkit/daemon-process.js';
import { freePort } from '../../testkit/free-port.js';
import { CHROMIUM_PATH, launchChromium, type HeadlessChromium } from '../../testkit/headless-chromium.js';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { testArtifactsDir } from '../../testkit/test-artifacts.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';

/** Generous liveness bounds (docs/conventions.md §16), not speed claims. */
const PAGE_WAIT_MS = 15_000;

let net: TestNetwork;
let relay: RelayProcess;
let work: string;
let port: number;
let web: WebResult;
let chromium: HeadlessChromium | null = null;
let page: Page;
let artifacts: string;
const daemons: DaemonProcess[] = [];

const sock = (name: string): string => join(work, `${name}.sock`);

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: 15_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : Number((err as { code?: unknown }).code ?? 1), stdout, stderr });
    });
  });
}

function http(method: string, path: string, headers: Record<string, string>): Promise<WebAnswer> {
  return webRequest(port, { method, path, headers, ...(method === 'POST' ? { body: '{"peer":"bob","text":"forged"}' } : {}) });
}

async function shot(name: string): Promise<void> {
  const file = join(artifacts, `${name}.png`);
  await page.screenshot({ path: file as `${string}.png`, fullPage: true });
  assert.ok((await stat(file)).size > 0, `screenshot ${file}`);
}

before(async () => {
  net = await createTestNetwork({ members: ['alice'] });
  await net.addMember('bob', { groups: ['web', 'ops'] });
  work = await mkdtemp(join(tmpdir(), 'sm-web-'));
  artifacts = await testArtifactsDir('web-console');
  relay = await startRelayProcess({ caFile: net.caFile, crlFile: net.crlFile });
  port = await freePort();
  for (const name of ['alice', 'bob']) {
    const m = net.member(name);
    const extra = name === 'alice' ? ['--web', `127.0.0.1:${port}`] : [];
    daemons.push(await startDaemon(['--relay', relay.url, '--pin', relay.pin, '--ca', net.caFile, '--cert', m.certFile, '--dir', m.dir, '--dev', 'none', '--no-direct', '--control', sock(name), ...extra]));
  }
  const alice = new ControlClient({ path: sock('alice') });
  await waitFor('bob in alice\'s directory', async () => ((await alice.call('users', {})) as { users: Array<{ name: string }> }).users.some((u) => u.name === 'bob') || undefined, 15_000);
  const r = await runCliAsync(['web', '--json', '--control', sock('alice')]);
  assert.equal(r.status, 0, r.stderr);
  web = JSON.parse(r.stdout) as WebResult;
});

after(async () => {
  await chromium?.close();
  for (const d of daemons) await d.stop();
  await relay?.stop();
  await net?.cleanup();
  if (work) await rm(work, { recursive: true, force: true });
});

test('`shadowmesh web` prints the login link of this start; the daemon logs the URL but never the token; a daemon without --web says so', async () => {
  assert.equal(web.url, `http://127.0.0.1:${port}/`);
  const token = new URL(web.link).searchParams.get('token');
  assert.match(token ?? '', /^[A-Za-z0-9_-]{43}$/);
  const plain = await runCliAsync(['web', '--control', sock('alice')]);
  assert.equal(plain.stdout.trim(), web.link);
  assert.ok(!daemons[0]!.stderr().includes(token!), 'the token is not in the log');
  assert.ok(daemons[0]!.stderr().includes(web.url), 'the URL is');
  const none = await runCliAsync(['web', '--control', sock('bob')]);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /SM_ERR_CONTROL_NO_WEB/);
});

test('the console refuses a request without the token (401), from another origin or with another Host (403), and a wrong token', async () => {
  const token = new URL(web.link).searchParams.get('token')!;
  const host = `127.0.0.1:${port}`;
  assert.deepEqual(await http('GET', '/v1/status', { Host: host }), { status: 401, code: 'SM_ERR_WEB_UNAUTHORIZED' });
  assert.deepEqual(await http('GET', '/', { Host: host }), { status: 401, code: 'SM_ERR_WEB_UNAUTHORIZED' });
  assert.deepEqual(await http('GET', '/?token=wrong', { Host: host }), { status: 401, code: 'SM_ERR_WEB_UNAUTHORIZED' });
  assert.deepEqual(await http('POST', '/v1/chat/send', { Host: host, Origin: 'http://evil.example', Cookie: `sm_web=${token}`, 'Content-Type': 'application/json' }), { status: 403, code: 'SM_ERR_WEB_ORIGIN' });
  assert.deepEqual(await http('GET', '/v1/status', { Host: `rebind.example:${port}`, Authorization: `Bearer ${token}` }), { status: 403, code: 'SM_ERR_WEB_HOST' });
  assert.equal((await http('GET', '/v1/status', { Host: host, Authorization: `Bearer ${token}` })).status, 200);
  assert.deepEqual(await http('POST', '/v1/shutdown', { Host: host, Authorization: `Bearer ${token}` }), { status: 404, code: 'SM_ERR_CONTROL_METHOD' });
  assert.equal((await new ControlClient({ path: sock('alice') }).status()).name, 'alice', 'the daemon still runs');
});

test('`netcheck --control` asks the daemon: its relay\'s latency, the report reused by the next request; the console route needs the token and checks params', async () => {
  const first = await runCliAsync(['netcheck', '--json', '--control', sock('alice')]);
  assert.equal(first.status, 0, first.stderr);
  const a = JSON.parse(first.stdout) as { udp: boolean; relays: Array<{ url: string; ok: boolean; latencyMs?: number }>; measuredAtMs: number; cached: boolean };
  assert.deepEqual(a.relays.map((r) => [r.url, r.ok, typeof r.latencyMs]), [[relay.url, true, 'number']]);
  assert.equal(a.udp, true, 'the relay answered STUN');
  const second = JSON.parse((await runCliAsync(['netcheck', '--json', '--control', sock('alice')])).stdout) as { measuredAtMs: number; cached: boolean };
  assert.deepEqual([second.cached, second.measuredAtMs], [true, a.measuredAtMs], 'one run at a time, a recent report reused');
  const host = `127.0.0.1:${port}`;
  const token = new URL(web.link).searchParams.get('token')!;
  assert.deepEqual(await http('POST', '/v1/netcheck', { Host: host, 'Content-Type': 'application/json' }), { status: 401, code: 'SM_ERR_WEB_UNAUTHORIZED' });
  assert.deepEqual(await http('POST', '/v1/netcheck', { Host: host, Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }), { status: 400, code: 'SM_ERR_CONTROL_PARAMS' });
});

test('a network namespace of its own cannot reach the console on 127.0.0.1', { skip: process.getuid?.() !== 0 ? 'needs root for ip netns' : false }, async () => {
  const ns = `sm-web-${process.pid}`;
  try {
    const add = await run('ip', ['netns', 'add', ns]);
    assert.equal(add.code, 0, add.stderr);
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    const r = await run('ip', ['netns', 'exec', ns, 'curl', '-sS', '--max-time', '3', '-o', '/dev/null', '-w', '%{http_code}', web.link]);
    assert.notEqual(r.code, 0, `curl from ${ns} must fail to connect, got ${r.stdout}`);
    assert.match(r.stderr, /Failed to connect|Connection refused|Couldn't connect/i);
  } finally {
    await run('ip', ['netns', 'del', ns]);
  }
});

test('in headless Chromium: this node and the members table, chat both ways with a delivery tick, screenshots saved', { skip: existsSync(CHROMIUM_PATH) ? false : `no ${CHROMIUM_PATH} (apt-get install chromium)` }, async () => {
  chromium = await launchChromium();
  page = await chromium.browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const refused: string[] = [];
  page.on('requestfailed', (r) => refused.push(r.url()));
  page.on('console', (m) => { if (m.type() === 'error') refused.push(`console: ${m.text()}`); });

  await page.goto(web.link, { waitUntil: 'domcontentloaded' });
  assert.equal(page.url(), web.url, 'the login link redirects to /, the token leaves the address bar');
  // Page-side predicates are strings: the test build has no DOM library.
  await page.waitForFunction(`document.querySelector('[data-fact="name"]')?.textContent === 'alice'`, { timeout: PAGE_WAIT_MS });
  await page.waitForFunction(`[...document.querySelectorAll('#members-table td[data-col="name"]')].some((td) => td.textContent === 'bob')`, { timeout: PAGE_WAIT_MS });
  const row = await page.$$eval('#members-table tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
  const bob = row.find((cells) => cells[1] === 'bob');
  assert.ok(bob !== undefined, JSON.stringify(row));
  assert.equal(bob[2], '10.77.0.3/24');
  assert.equal(bob[3], 'web, ops');
  assert.match(bob[4]!, /relay/);
  assert.equal(await page.$eval('#live', (e) => e.textContent), 'live');
  await shot('members');

  // Page -> CLI: alice types; bob accepts with the CLI and reads the line with it.
  await page.evaluate(`[...document.querySelectorAll('#members-table tbody tr')].find((r) => r.querySelector('td[data-col="name"]')?.textContent === 'bob')?.querySelector('button[data-chat]')?.click()`);
  await page.waitForSelector('.pane input[name="text"]', { timeout: PAGE_WAIT_MS });
  await page.type('.pane input[name="text"]', 'hello from the page');
  await page.click('.pane button[type="submit"]');
  await page.waitForFunction(`[...document.querySelectorAll('.pane .log li.out')].some((li) => li.textContent.includes('hello from the page'))`, { timeout: PAGE_WAIT_MS });
  await waitFor('bob accepts alice\'s request with the CLI', async () => {
    const r = await runCliAsync(['recv', '--accept', '--control', sock('bob')]);
    return /alice asks to chat/.test(r.stdout) ? true : undefined;
  }, PAGE_WAIT_MS, 200);
  const got = await waitFor('bob\'s CLI prints the line', async () => {
    const r = await runCliAsync(['recv', '--control', sock('bob')]);
    return r.stdout.includes('alice: hello from the page') ? r.stdout : undefined;
  }, PAGE_WAIT_MS, 200);
  assert.match(got, /alice: hello from the page/);
  await page.waitForFunction(`document.querySelector('.pane .tick[data-seq="1"]')?.textContent === '✓'`, { timeout: PAGE_WAIT_MS });

  // CLI -> page: bob sends with the CLI into the open conversation.
  const sent = await runCliAsync(['send', 'alice', 'hello', 'from', 'the', 'CLI', '--control', sock('bob')]);
  assert.equal(sent.status, 0, sent.stderr);
  await page.waitForFunction(`[...document.querySelectorAll('.pane .log li.in')].some((li) => li.textContent === 'bob: hello from the CLI')`, { timeout: PAGE_WAIT_MS });
  await shot('chat');

  // Charts: the page chose bob (its only peer) and draws both charts with uPlot from its own origin.
  await page.waitForFunction(`document.querySelectorAll('#charts-body .chart canvas').length === 2`, { timeout: PAGE_WAIT_MS });
  assert.equal(await page.evaluate(`document.querySelector('#charts-body').dataset.peer`), formatPeerId(net.member('bob').peerId));

  // Network check: Run asks the daemon (POST /v1/netcheck, the control method `netcheck --control` calls); the relay's latency row appears.
  await page.click('#netcheck-run');
  await page.waitForFunction(`[...document.querySelectorAll('#netcheck-relays tbody tr')].some((tr) => tr.querySelector('td[data-col="relay"]')?.textContent === ${JSON.stringify(relay.url)} && / ms$/.test(tr.querySelector('td[data-col="latency"]')?.textContent ?? ''))`, { timeout: PAGE_WAIT_MS });
  assert.equal(await page.evaluate(`document.querySelector('#netcheck-result dd[data-key="preferred relay"]').textContent`), relay.url);
  assert.equal(await page.evaluate(`document.querySelector('#netcheck-result dd[data-key="UDP"]').textContent.startsWith('yes')`), true, 'the relay answered STUN');
  await shot('netcheck');
  // The CLI asks the same daemon and gets the report the page just caused (reused: one run at a time, 30 s).
  const cli = await runCliAsync(['netcheck', '--json', '--control', sock('alice')]);
  assert.equal(cli.status, 0, cli.stderr);
  const report = JSON.parse(cli.stdout) as { relays: Array<{ url: string; ok: boolean; latencyMs?: number }>; cached: boolean };
  assert.equal(report.cached, true);
  assert.equal(report.relays[0]?.url, relay.url);
  assert.equal(report.relays[0]?.ok, true);

  assert.deepEqual(refused, [], 'no request of the page failed and no script error (CSP included)');
});
