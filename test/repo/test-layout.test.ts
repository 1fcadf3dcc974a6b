/**
 * test/ holds tests and nothing else (docs/architecture.md "Layers and
 * folders"): every file under it is a `*.test.ts`, except the committed
 * vectors of test/vectors/ (data, their generators and SOURCES.md). A helper
 * two tests share, a fixture or a script a test spawns belongs in testkit/,
 * where the next test finds it instead of writing a third copy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { repoRoot } from '../../testkit/repo-root.js';

/** The one folder of test/ that holds data rather than tests. */
const VECTORS_DIR = 'test/vectors/';

function filesUnder(root: string, dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(root, p));
    else out.push(p.split(sep).join('/'));
  }
  return out.sort();
}

/** Why `path` (repository-relative, '/'-separated) has no place under test/, or null if it has. */
export function misplacedInTest(path: string): string | null {
  if (path.startsWith(VECTORS_DIR)) return null;
  if (path.endsWith('.test.ts')) return null;
  return `${path} is not a *.test.ts: helpers, fixtures and spawned scripts belong in testkit/`;
}

const ROOT = repoRoot();

test('every file under test/ is a *.test.ts or a committed vector', () => {
  const files = filesUnder(ROOT, 'test');
  assert.ok(files.length > 50, `test/ read from ${relative(process.cwd(), ROOT) || '.'}`);
  const wrong = files.map(misplacedInTest).filter((w): w is string => w !== null);
  assert.deepEqual(wrong, [], `misplaced files under test/:\n  ${wrong.join('\n  ')}`);
});

test('the layout rule accepts tests and vectors and names anything else', () => {
  assert.equal(misplacedInTest('test/wire/udp-frames.test.ts'), null);
  assert.equal(misplacedInTest('test/vectors/hybrid.json'), null);
  assert.equal(misplacedInTest('test/vectors/generate-pq.mjs'), null);
  assert.match(misplacedInTest('test/wire/helpers.ts') ?? '', /test\/wire\/helpers\.ts is not a \*\.test\.ts/);
  assert.notEqual(misplacedInTest('test/cli/notes.txt'), null);
});
