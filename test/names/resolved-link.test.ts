/** systemd-resolved registration (src/names/resolved-link.ts), with a recording command runner instead of resolvectl. */

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';

import { ResolvedLink, resolvedServerText, type RunCommand } from '../../src/names/resolved-link.js';
import { silentLogger } from '../../src/util/logger.js';

function recorder(result: (args: readonly string[]) => { code: number; stderr: string } | null): { run: RunCommand; calls: string[][] } {
  const calls: string[][] = [];
  return { calls, run: async (cmd, args) => { calls.push([cmd, ...args]); return result(args); } };
}

describe('ResolvedLink', () => {
  it('sets the per-link server and the routing-only domain, and reverts the link at stop', async () => {
    const r = recorder(() => ({ code: 0, stderr: '' }));
    const link = new ResolvedLink(silentLogger, r.run);
    assert.equal(await link.apply('smtun0', { host: '10.10.10.3', port: 53 }, 'mesh'), true);
    await link.revert();
    await link.revert();
    assert.deepEqual(r.calls, [
      ['resolvectl', 'dns', 'smtun0', '10.10.10.3'],
      ['resolvectl', 'domain', 'smtun0', '~mesh'],
      ['resolvectl', 'revert', 'smtun0'],
    ]);
  });

  it('without resolvectl nothing else runs and nothing is reverted', async () => {
    const r = recorder(() => null);
    const link = new ResolvedLink(silentLogger, r.run);
    assert.equal(await link.apply('smtun0', { host: '10.10.10.3', port: 53 }, 'mesh'), false);
    await link.revert();
    assert.deepEqual(r.calls, [['resolvectl', 'dns', 'smtun0', '10.10.10.3']]);
  });

  it('a refused dns call skips the domain and still reverts the link', async () => {
    const r = recorder((args) => (args[0] === 'dns' ? { code: 1, stderr: 'Failed to set DNS configuration' } : { code: 0, stderr: '' }));
    const link = new ResolvedLink(silentLogger, r.run);
    assert.equal(await link.apply('smtun0', { host: '::1', port: 5353 }, 'corp.example'), false);
    await link.revert();
    assert.deepEqual(r.calls.map((c) => c[1]), ['dns', 'revert']);
  });

  it('server text: the address alone for port 53, ADDR:PORT or [ADDR]:PORT otherwise', () => {
    assert.equal(resolvedServerText({ host: '127.0.0.153', port: 53 }), '127.0.0.153');
    assert.equal(resolvedServerText({ host: '127.0.0.153', port: 5353 }), '127.0.0.153:5353');
    assert.equal(resolvedServerText({ host: 'fd00::1', port: 5353 }), '[fd00::1]:5353');
  });
});
