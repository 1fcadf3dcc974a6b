/**
 * Debian's Chromium (`apt-get install chromium`, listed in .ci/run),
 * headless, driven by puppeteer-core over a pipe (no debugging port), for
 * the web console's browser tests. The browser may only talk to loopback:
 * every host name but 127.0.0.1 fails to resolve (--host-resolver-rules) and anything not
 * on loopback goes to a proxy that does not exist (loopback bypasses proxies by default), and its own background
 * traffic (updates, sync, metrics, safe browsing) is switched off.
 *
 * With `netns`, the browser runs inside that network namespace (through a
 * small `ip netns exec` wrapper script, which keeps puppeteer's pipe
 * descriptors), so it reaches a console that listens on that namespace's
 * 127.0.0.1.
 *
 * close() ends the browser it started, by its pid if puppeteer's own close
 * does not, and removes the wrapper.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';

/** Where Debian's package installs it. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

export interface HeadlessChromium {
  readonly browser: Browser;
  close(): Promise<void>;
}

export async function launchChromium(options: { netns?: string } = {}): Promise<HeadlessChromium> {
  const args = [
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    '--proxy-server=http://127.0.0.1:9',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-domain-reliability',
    '--disable-client-side-phishing-detection',
    '--no-pings',
    '--no-first-run',
    '--disable-dev-shm-usage',
  ];
  // Chromium refuses to start its sandbox as root, and CI runs as root: only then go without it (the pages are our own, on loopback).
  if (process.getuid?.() === 0) args.push('--no-sandbox');
  let wrapperDir: string | null = null;
  let executablePath = CHROMIUM_PATH;
  if (options.netns !== undefined) {
    if (!/^sm-[A-Za-z0-9_-]+$/.test(options.netns)) throw new Error(`launchChromium: not a lab namespace name: ${options.netns}`);
    wrapperDir = await mkdtemp(join(tmpdir(), 'sm-chromium-'));
    executablePath = join(wrapperDir, 'chromium-in-netns');
    await writeFile(executablePath, `#!/bin/sh\nexec ip netns exec ${options.netns} ${CHROMIUM_PATH} "$@"\n`);
    await chmod(executablePath, 0o755);
  }
  const removeWrapper = async (): Promise<void> => { if (wrapperDir !== null) await rm(wrapperDir, { recursive: true, force: true }); };
  let browser: Browser;
  try {
    browser = await puppeteer.launch({ executablePath, headless: true, pipe: true, args });
  } catch (err) {
    await removeWrapper();
    throw err;
  }
  const pid = browser.process()?.pid;
  return {
    browser,
    async close() {
      await browser.close().catch(() => undefined);
      if (pid !== undefined) try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
      await removeWrapper();
    },
  };
}
