/**
 * BENCHMARKS.md is written by `npm run bench` (bench/run.ts): the sections
 * it measures, then bench/profile-notes.md verbatim. Hand-written sections
 * (profiles, before/after comparisons, one-off runs) therefore live in
 * bench/profile-notes.md, and BENCHMARKS.md must end with exactly that file;
 * a section added to BENCHMARKS.md alone would be deleted by the next run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../testkit/repo-root.js';

const ROOT = repoRoot();

test('BENCHMARKS.md ends with bench/profile-notes.md, so `npm run bench` keeps every hand-written section', () => {
  const benchmarks = readFileSync(join(ROOT, 'BENCHMARKS.md'), 'utf8');
  const notes = readFileSync(join(ROOT, 'bench/profile-notes.md'), 'utf8');
  assert.ok(notes.startsWith('## '), 'the notes start with a section heading');
  const at = benchmarks.indexOf(notes.slice(0, notes.indexOf('\n')));
  assert.ok(at > 0, 'BENCHMARKS.md holds the first section of bench/profile-notes.md');
  const tail = benchmarks.slice(at);
  if (tail !== notes) {
    const a = tail.split('\n');
    const b = notes.split('\n');
    let i = 0;
    while (i < a.length && i < b.length && a[i] === b[i]) i++;
    assert.fail(`BENCHMARKS.md and bench/profile-notes.md part at line ${i + 1} of the notes:\n  BENCHMARKS.md: ${a[i] ?? '(end)'}\n  notes:         ${b[i] ?? '(end)'}`);
  }
});
