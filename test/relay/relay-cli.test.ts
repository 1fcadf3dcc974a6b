/** `shadowmesh relay` command line: truthful help, one-line errors with exit status 1. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { CLI_MAIN_PATH, parseRelayStartupLine } from '../../testkit/relay-process.js';
import { parseListen, relayOptionsFromCli } from '../../src/cli/relay.js';

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI_MAIN_PATH, 'relay', ...args], { encoding: 'utf8', timeout: 15_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('--help documents every flag', () => {
  const r = run(['--help']);
  assert.equal(r.status, 0);
  for (const flag of ['--listen', '--ca', '--crl', '--cert', '--key', '--data', '--max-clients', '--max-frame-bytes', '--heartbeat', '--idle-timeout', '--handshake-timeout']) {
    assert.ok(r.stdout.includes(flag), `help lacks ${flag}`);
  }
  assert.match(r.stdout, /pin sha256:<hex>/);
});

test('bad options: one line on stderr, exit status 1 (2 for a usage error), nothing on stdout', () => {
  const cases: Array<[string[], RegExp, number?]> = [
    [['--ca', '/nonexistent/ca.crt', '--listen', '127.0.0.1:0'], /nonexistent/],
    [['--ca', 'x', '--listen', 'nonsense'], /--listen/],
    [['--ca', 'x', '--listen', '127.0.0.1:0', '--heartbeat', '5 minutes'], /--heartbeat/],
    [['--ca', 'x', '--listen', '127.0.0.1:0', '--max-clients', 'many'], /--max-clients/],
    [['--listen', '127.0.0.1:0'], /--ca/],
    [['--ca', 'x', '--bogus'], /--bogus/, 2],
  ];
  for (const [args, re, status = 1] of cases) {
    const r = run(args);
    assert.equal(r.status, status, `${args.join(' ')}: status ${r.status}, stderr ${r.stderr}`);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(lines[0] as string, re);
  }
});

test('option values are validated against the relay option rules', () => {
  assert.deepEqual(parseListen('[::1]:8443'), { host: '::1', port: 8443 });
  assert.deepEqual(parseListen('0.0.0.0:0'), { host: '0.0.0.0', port: 0 });
  assert.throws(() => parseListen('host:99999'), (e: Error & { code?: string }) => e.code === 'SM_ERR_CONFIG_VALUE');
  const o = relayOptionsFromCli({ listen: '127.0.0.1:0', ca: 'x', heartbeat: '250ms', rateFrames: '100' });
  assert.equal(o.heartbeatMs, 250);
  assert.equal(o.rateFramesPerSec, 100);
  assert.equal(o.rateFrameBurst, 50);
});

test('the startup line parser accepts exactly the documented form', () => {
  const pin = 'sha256:' + 'a1'.repeat(32);
  assert.deepEqual(parseRelayStartupLine(`relay listening on wss://127.0.0.1:4433 pin ${pin}`), { url: 'wss://127.0.0.1:4433', host: '127.0.0.1', port: 4433, pin });
  assert.equal(parseRelayStartupLine('relay listening on wss://127.0.0.1:4433'), null);
  assert.equal(parseRelayStartupLine(`relay listening on wss://127.0.0.1:4433 pin sha256:XYZ`), null);
});
