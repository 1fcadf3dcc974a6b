/**
 * The web console shows path changes live (docs/architecture.md "Web
 * console"): the netns lab mesh (testkit/netns-lab-mesh.ts: relay, a and b
 * with TUN devices, direct paths on), a started with `--web
 * 127.0.0.1:PORT`, and headless Chromium run inside a's namespace
 * (testkit/headless-chromium.ts), where that loopback address is. While a
 * ping stream keeps the session busy, the members table shows b on a
 * direct path; cutting the direct link between a and b (iptables, the relay
 * stays reachable) turns b's row to the relay, and restoring it turns it
 * back to direct, and b's chart lists both changes as path events. How long after the cut and the restore the page showed
 * each change is reported as a diagnostic (speed is not asserted,
 * docs/conventions.md §16); screenshots of the three states go to
 * test-artifacts/web-console-paths/. Needs root; skipped otherwise.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';
import type { LabProcess } from '../../src/demo/netns-lab.js';
import { formatPeerId } from '../../src/identity/peer-id.js';
import type { WebResult } from '../../src/node/control/control-protocol.js';
import { CHROMIUM_PATH, launchChromium, type HeadlessChromium } from '../../testkit/headless-chromium.js';
import { LAB_MESH_B, startLabMesh, type LabMesh } from '../../testkit/netns-lab-mesh.js';
import { upAvailable, waitForPeerPath } from '../../testkit/netns-shadowmesh.js';
import { testArtifactsDir } from '../../testkit/test-artifacts.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const skip = !isRoot ? 'needs root (network namespaces)' : !upAvailable() ? 'this build has no `shadowmesh up`' : !existsSync(CHROMIUM_PATH) ? `no ${CHROMIUM_PATH}` : false;

/** Direct-path listener port of both daemons; each namespace has its own ports. */
const P2P_PORT = 7443;
/** The console's port inside a's namespace. */
const WEB_PORT = 9470;
/** A fresh session, offers, TLS and the re-handshake: well under a second; generous under load. */
const TO_DIRECT_MS = 20_000;
/** The fallback needs the direct path's dead time; generous. */
const TO_RELAY_MS = 30_000;
/** Direct attempts back off up to 60 s after a fallback (as test/netns/paths.test.ts). */
const RESTORE_MS = 75_000;
/** Pings keep the session and its direct path in use for the whole test. */
const PING_COUNT = 1_200;
const PING_INTERVAL_S = 0.1;

let mesh: LabMesh | undefined;
let chromium: HeadlessChromium | null = null;
let ping: LabProcess | null = null;

before(async () => {
  if (skip !== false) return;
  mesh = await startLabMesh({ daemonArgs: (node) => ['--p2p-port', String(P2P_PORT), ...(node === 'a' ? ['--web', `127.0.0.1:${WEB_PORT}`] : [])] });
});

after(async () => {
  await chromium?.close();
  await ping?.stop();
  await mesh?.stop();
});

/** b's path cell text in the page's members table ('' while b is not listed). */
const pathCell = `[...document.querySelectorAll('#members-table tbody tr')].find((r) => r.querySelector('td[data-col="name"]')?.textContent === 'b')?.querySelector('td[data-col="path"]')?.textContent ?? ''`;

async function waitPage(page: Page, predicate: string, timeoutMs: number): Promise<number> {
  const start = Date.now();
  await page.waitForFunction(predicate, { timeout: timeoutMs, polling: 50 });
  return Date.now() - start;
}

test('the members table follows b from direct to the relay when the direct link is cut, and back when it is restored', { skip, timeout: 240_000 }, async (t) => {
  const m = mesh!;
  const artifacts = await testArtifactsDir('web-console-paths');
  const r = await m.a.cli(['web', '--json']);
  const web = JSON.parse(r.stdout) as WebResult;
  assert.equal(web.url, `http://127.0.0.1:${WEB_PORT}/`);

  ping = m.lab.spawn('a', ['ping', '-n', '-i', String(PING_INTERVAL_S), '-c', String(PING_COUNT), '-W', '5', LAB_MESH_B], { label: 'a:ping' });
  assert.ok(await waitForPeerPath(m.a, 'b', (p) => p.path === 'direct', TO_DIRECT_MS) !== null, `a never moved b to direct${m.logs()}`);

  chromium = await launchChromium({ netns: m.lab.node('a').ns });
  const page = await chromium.browser.newPage();
  await page.setViewport({ width: 1280, height: 700 });
  await page.goto(web.link, { waitUntil: 'domcontentloaded' });
  await waitPage(page, `(${pathCell}).startsWith('direct')`, TO_DIRECT_MS);
  await page.screenshot({ path: join(artifacts, '1-direct.png') as `${string}.png`, fullPage: true });

  const restore = await m.lab.cut('a', 'b');
  let restored = false;
  try {
    const cutAt = Date.now();
    const daemonSaw = waitForPeerPath(m.a, 'b', (p) => p.path === 'relay', TO_RELAY_MS, 50).then((p) => (p === null ? null : Date.now() - cutAt));
    const pageMs = await waitPage(page, `(${pathCell}) === 'relay'`, TO_RELAY_MS);
    const daemonMs = await daemonSaw;
    t.diagnostic(`after the cut: peers --json showed the relay after ${daemonMs ?? '?'} ms, the page after ${pageMs} ms`);
    await page.screenshot({ path: join(artifacts, '2-relay.png') as `${string}.png`, fullPage: true });
    await restore();
    restored = true;
    const restoredAt = Date.now();
    const backMs = await waitPage(page, `(${pathCell}).startsWith('direct')`, RESTORE_MS);
    t.diagnostic(`after the restore: the page showed direct again after ${backMs} ms (${Date.now() - restoredAt} ms)`);
    // The chart's event list holds both changes, newest first.
    await waitPage(page, `[...document.querySelectorAll('#path-events li')].map((li) => li.dataset.event).join(',').startsWith('to-direct,to-relay')`, 5_000);
    assert.equal(await page.evaluate(`document.querySelector('#charts-body').dataset.peer`), formatPeerId(m.net.member('b').peerId));
    await page.screenshot({ path: join(artifacts, '3-direct-again.png') as `${string}.png`, fullPage: true });
  } finally {
    if (!restored) await restore();
  }
});
