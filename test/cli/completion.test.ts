/**
 * `shadowmesh completion bash|zsh|fish` through the real CLI: the bash
 * script parses (`bash -n`), registers itself (`complete -p shadowmesh`
 * after sourcing), and its function completes command names, subcommands,
 * a command's options and file names after an option that takes a value,
 * called as bash calls it (COMP_WORDS, COMP_CWORD). zsh and fish scripts are
 * checked by their shell when it is installed, and always for the commands
 * they name; an unknown shell is a usage error.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCliAsync } from '../../testkit/daemon-process.js';

let work: string;
let bashScript: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'sm-completion-'));
  const r = await runCliAsync(['completion', 'bash']);
  assert.equal(r.status, 0, r.stderr);
  bashScript = join(work, 'shadowmesh.bash');
  await writeFile(bashScript, r.stdout);
});

after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

function bash(script: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('bash', ['--norc', '--noprofile', '-c', script], { encoding: 'utf8', cwd: work, timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** What the completion function offers for the words typed so far (the last one is being completed). */
function complete(...words: string[]): string[] {
  const quoted = ['shadowmesh', ...words].map((w) => `'${w}'`).join(' ');
  const r = bash(`source '${bashScript}'; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length}; _shadowmesh; printf '%s\\n' "\${COMPREPLY[@]}"`);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l !== '').sort();
}

test('the bash script parses and registers _shadowmesh for shadowmesh', () => {
  const syntax = spawnSync('bash', ['-n', bashScript], { encoding: 'utf8' });
  assert.equal(syntax.status, 0, syntax.stderr);
  const r = bash(`source '${bashScript}' && complete -p shadowmesh`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'complete -F _shadowmesh shadowmesh');
});

test('bash completes command names, subcommands and a command\'s options', () => {
  assert.deepEqual(complete('net'), ['netcheck']);
  assert.deepEqual(complete('st'), ['status']);
  assert.ok(complete('').includes('completion') && complete('').includes('up') && complete('').includes('--version'));
  assert.deepEqual(complete('ca', 's'), ['serve', 'show', 'sign']);
  assert.deepEqual(complete('up', '--re'), ['--relay']);
  assert.deepEqual(complete('config', 'show', '--j'), ['--json']);
  // An option's value is skipped when finding where the command line is.
  assert.deepEqual(complete('up', '--relay', 'wss://r:443', '--pi'), ['--pin']);
  assert.deepEqual(complete('netcheck', '--st'), ['--stun']);
});

test('bash completes file names after an option that takes a value', async () => {
  await writeFile(join(work, 'node-config.yaml'), 'log:\n  level: info\n');
  assert.deepEqual(complete('up', '--config', 'node-c'), ['node-config.yaml']);
});

test('zsh and fish scripts name the same commands; their shells accept them when installed', async () => {
  for (const shell of ['zsh', 'fish']) {
    const r = await runCliAsync(['completion', shell]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /netcheck/);
    assert.match(r.stdout, /completion/);
    const file = join(work, `shadowmesh.${shell}`);
    await writeFile(file, r.stdout);
    const installed = spawnSync(shell, ['-c', 'exit 0']).status === 0;
    if (installed) {
      const check = spawnSync(shell, ['-n', file], { encoding: 'utf8' });
      assert.equal(check.status, 0, `${shell} -n: ${check.stderr}`);
    }
  }
  const fish = await runCliAsync(['completion', 'fish']);
  assert.match(fish.stdout, /^complete -c shadowmesh -n '__fish_use_subcommand' -a netcheck -d /m);
  assert.match(fish.stdout, /^complete -c shadowmesh -n '__fish_seen_subcommand_from up' -l relay -r -F -d /m);
});

test('an unknown shell is a usage error, exit 2', async () => {
  const r = await runCliAsync(['completion', 'tcsh']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^shadowmesh: .*'tcsh'.*bash, zsh, fish.* \(SM_ERR_CLI_USAGE\)\n$/);
});
