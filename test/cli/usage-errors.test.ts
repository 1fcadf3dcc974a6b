/**
 * Command lines that do not parse (unknown command or option, a missing or
 * extra argument, an option without its value) fail as every other CLI
 * error does: one line `shadowmesh: <message> (SM_ERR_CLI_USAGE)` on stderr,
 * no help dump, no stack, and exit status 2; with --json, one JSON object
 * `{"error": {"code", "message"}}` on stderr. Through the real CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCliAsync } from '../../testkit/daemon-process.js';

const CASES: Array<{ args: string[]; message: RegExp }> = [
  { args: ['--bogus'], message: /^unknown option '--bogus'$/ },
  { args: ['stats'], message: /^unknown command 'stats' \(Did you mean status\?\)$/ },
  { args: ['status', '--bogus'], message: /^unknown option '--bogus'$/ },
  { args: ['status', 'extra'], message: /^too many arguments for 'status'\. Expected 0 arguments but got 1\.$/ },
  { args: ['send'], message: /^missing required argument 'peer'$/ },
  { args: ['ping', 'bob', '--count'], message: /^option '--count <n>' argument missing$/ },
  { args: ['down', '--control'], message: /^option '--control <sock>' argument missing$/ },
  { args: ['version', 'now'], message: /^too many arguments for 'version'\. Expected 0 arguments but got 1\.$/ },
];

test('usage errors: one coded line on stderr, exit 2', async () => {
  const runs = await Promise.all(CASES.map((c) => runCliAsync(c.args)));
  runs.forEach((r, i) => {
    const what = CASES[i]!.args.join(' ');
    assert.equal(r.status, 2, `${what}: exit status; stderr ${r.stderr}`);
    assert.equal(r.stdout, '', what);
    const m = /^shadowmesh: (.*) \(SM_ERR_CLI_USAGE\)\n$/.exec(r.stderr);
    assert.ok(m !== null, `${what}: one coded line, got:\n${r.stderr}`);
    assert.match(m[1]!, CASES[i]!.message, what);
  });
});

test('usage errors with --json: the error as one JSON object on stderr, exit 2', async () => {
  const runs = await Promise.all([
    runCliAsync(['status', '--json', '--bogus']),
    runCliAsync(['send', '--json']),
    runCliAsync(['--json', 'stats']),
  ]);
  for (const r of runs) {
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stdout, '');
    const e = JSON.parse(r.stderr) as { error: { code: string; message: string } };
    assert.equal(e.error.code, 'SM_ERR_CLI_USAGE');
    assert.ok(e.error.message.length > 0 && !e.error.message.startsWith('error:'), e.error.message);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1);
  }
});

test('help is not an error: --help and help CMD print to stdout and exit 0', async () => {
  const [top, sub, viaHelp] = await Promise.all([runCliAsync(['--help']), runCliAsync(['down', '--help']), runCliAsync(['help', 'version'])]);
  for (const r of [top, sub, viaHelp]) assert.equal(r.status, 0, r.stderr);
  for (const cmd of ['version', 'down', 'status', 'up']) assert.match(top.stdout, new RegExp(`^  ${cmd}\\b`, 'm'));
  assert.match(top.stdout, /-V, --version/);
  assert.match(sub.stdout, /^Usage: shadowmesh down \[options\]/m);
  assert.match(viaHelp.stdout, /^Usage: shadowmesh version \[options\]/m);
});
