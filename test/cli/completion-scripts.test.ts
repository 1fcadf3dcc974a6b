/**
 * Completion scripts from a command tree (src/cli/completion-scripts.ts):
 * every subcommand and long option appears where it belongs, and names
 * that are not plain words never reach the script (they could run in the
 * user's shell).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { completionScript, type CompletionCommand } from '../../src/cli/completion-scripts.js';

const tree: CompletionCommand = {
  name: 'tool',
  description: 'a tool',
  options: [{ flags: ['-V', '--version'], takesValue: false, description: 'version' }],
  subcommands: [
    { name: 'go', description: 'it\'s "go"', options: [{ flags: ['--to'], takesValue: true, description: 'where' }], subcommands: [] },
    { name: '$(rm -rf ~)', description: 'evil', options: [], subcommands: [] },
    { name: 'x', description: 'x', options: [{ flags: ['--a;b'], takesValue: false, description: 'evil flag' }], subcommands: [] },
  ],
};

test('bash: the words of each command path, and the options that take a value', () => {
  const s = completionScript('bash', tree);
  assert.match(s, /^    ''\) echo 'go x --version --help' ;;$/m);
  assert.match(s, /^    'go'\) echo '--to --help' ;;$/m);
  assert.match(s, /^    'go'\) case "\$2" in --to\) return 0 ;; esac ;;$/m);
  assert.match(s, /^complete -F _tool tool$/m);
});

test('names that are not plain words are left out of every script', () => {
  for (const shell of ['bash', 'zsh', 'fish'] as const) {
    const s = completionScript(shell, tree);
    assert.ok(!s.includes('rm -rf'), shell);
    assert.ok(!s.includes('a;b'), shell);
  }
});

test('fish: descriptions are quoted', () => {
  const s = completionScript('fish', tree);
  assert.match(s, /-a go -d 'it\\'s "go"'/);
});
