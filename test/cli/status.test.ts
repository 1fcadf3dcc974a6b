/**
 * status / peers / ping without a daemon, and the truth of --help, through
 * the real CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCliAsync } from '../../testkit/daemon-process.js';
import { formatExitNode } from '../../src/cli/status.js';

test('status, peers and ping with no daemon say so in one line (JSON with --json) and exit 1; the default socket follows SHADOWMESH_HOME', async () => {
  const home = await mkdtemp(join(tmpdir(), 'sm-home-'));
  try {
    const sock = join(home, 'control.sock');
    const runs = await Promise.all([
      runCliAsync(['status'], { SHADOWMESH_HOME: home }),
      runCliAsync(['peers', '--json'], { SHADOWMESH_HOME: home }),
      runCliAsync(['ping', 'bob', '--count', '1'], { SHADOWMESH_HOME: home }),
      runCliAsync(['status', '--json', '--control', join(home, 'other.sock')]),
    ]);
    const expected = [sock, sock, sock, join(home, 'other.sock')];
    runs.forEach((r, i) => {
      assert.equal(r.status, 1, r.stderr);
      assert.equal(r.stdout, '');
      const message = `no daemon listening on ${expected[i]}: is \`shadowmesh up\` running?`;
      // --json asks for the error as JSON too (src/cli/main.ts)
      if (i === 1 || i === 3) assert.deepEqual(JSON.parse(r.stderr), { error: { code: 'SM_ERR_CONTROL_NO_DAEMON', message } });
      else assert.equal(r.stderr, `shadowmesh: ${message} (SM_ERR_CONTROL_NO_DAEMON)\n`);
    });
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});

test('--help of up, status, peers and ping lists every flag they take', async () => {
  const want: Record<string, string[]> = {
    up: ['--relay', '--pin', '--ca', '--cert', '--crl', '--dir', '--passphrase-file', '--dev', '--name', '--mtu', '--control', '--control-group', '--startup-timeout', 'tun', 'tap', 'none'],
    status: ['--json', '--control'],
    peers: ['--json', '--control'],
    ping: ['<peer>', '--count', '--interval', '--json', '--control'],
  };
  for (const [cmd, flags] of Object.entries(want)) {
    const r = await runCliAsync([cmd, '--help']);
    assert.equal(r.status, 0, r.stderr);
    for (const f of flags) assert.ok(r.stdout.includes(f), `${cmd} --help mentions ${f}:\n${r.stdout}`);
  }
  const top = await runCliAsync(['--help']);
  for (const cmd of Object.keys(want)) assert.match(top.stdout, new RegExp(`^  ${cmd}\\b`, 'm'));
});

test('bad ping flags are refused before any daemon is asked', async () => {
  const r = await runCliAsync(['ping', 'bob', '--interval', '1ms', '--control', '/nonexistent/x.sock']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^shadowmesh: --interval: expected 10ms\.\.1m.*\(SM_ERR_CONFIG_DURATION\)\n$/);
});

test('the exit-node line: routes and fail-closed state with a device, the proxy\'s streams without one', () => {
  const base = { use: 'x', state: 'active' as const, peer: 'ab', name: 'x', allowLan: false, fallback: false, advertising: false, route4: 'tunnel', route6: 'unreachable', updateFailures: 0 };
  assert.equal(formatExitNode(base), 'exit node  using x (active; IPv4 tunnel, IPv6 unreachable)');
  assert.equal(formatExitNode({ ...base, state: 'offline', route4: 'unreachable' }), 'exit node  using x (offline, traffic dropped; IPv4 unreachable, IPv6 unreachable)');
  const streams = { ...base, route4: null, route6: null, streamsOnly: true };
  assert.equal(formatExitNode(streams), 'exit node  using x for the proxy\'s streams (active)');
  assert.equal(formatExitNode({ ...streams, state: 'offline' }), 'exit node  using x for the proxy\'s streams (offline, streams to the internet refused)');
  assert.equal(formatExitNode({ ...streams, use: null, state: 'none', advertising: true }), 'exit node  using none; serving as an exit node');
});
