/**
 * The relay's operator page (docs/architecture.md "Web console"): a real
 * relay started with `--web 127.0.0.1:PORT --web-token-file FILE` and one
 * member admitted; without the admin token, or with another one, the page
 * and its stream are 401, another Host is 403, and it has no API routes;
 * headless Chromium opens it with the token and sees the relay's live
 * counters (one active client); a screenshot goes to
 * test-artifacts/relay-web/. A relay given --web without a token file does
 * not start.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCliAsync, startDaemon, type DaemonProcess } from '../../testkit/daemon-process.js';
import { freePort } from '../../testkit/free-port.js';
import { CHROMIUM_PATH, launchChromium, type HeadlessChromium } from '../../testkit/headless-chromium.js';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { testArtifactsDir } from '../../testkit/test-artifacts.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';
import { newWebToken } from '../../src/web/web-token.js';

const PAGE_WAIT_MS = 15_000;

let net: TestNetwork;
let relay: RelayProcess;
let work: string;
let port: number;
const token = newWebToken();
let daemon: DaemonProcess | null = null;
let chromium: HeadlessChromium | null = null;

function http(path: string, headers: Record<string, string>): Promise<{ status: number; code: string | null }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { text += c; });
      res.on('end', () => {
        let code: string | null = null;
        try { code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? null; } catch { /* a page */ }
        resolve({ status: res.statusCode!, code });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

before(async () => {
  net = await createTestNetwork({ members: ['alice'] });
  work = await mkdtemp(join(tmpdir(), 'sm-relay-web-'));
  await writeFile(join(work, 'admin.token'), `${token}\n`, { mode: 0o600 });
  port = await freePort();
  relay = await startRelayProcess({ caFile: net.caFile, crlFile: net.crlFile, args: ['--web', `127.0.0.1:${port}`, '--web-token-file', join(work, 'admin.token')] });
  const m = net.member('alice');
  daemon = await startDaemon(['--relay', relay.url, '--pin', relay.pin, '--ca', net.caFile, '--cert', m.certFile, '--dir', m.dir, '--dev', 'none', '--no-direct', '--control', join(work, 'alice.sock')]);
});

after(async () => {
  await chromium?.close();
  await daemon?.stop();
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
  await page.waitForFunction(`document.querySelector('dd[data-key="activeClients"]')?.textContent === '1'`, { timeout: PAGE_WAIT_MS });
  assert.equal(await page.evaluate(`document.querySelector('#live').textContent`), 'live');
  assert.ok(Number(await page.evaluate(`document.querySelector('dd[data-key="admissions"]').textContent`)) >= 1);
  await page.screenshot({ path: join(await testArtifactsDir('relay-web'), 'operator.png') as `${string}.png`, fullPage: true });
  assert.deepEqual(failed, []);
});
