/**
 * No import cycles between the folders of src/ (issue 18): every static
 * `import ... from`, `import type ... from`, `export ... from`, bare
 * `import '...'` and `import('...')` in every file under src/ is an edge from
 * the importing file's folder to the imported file's folder. A type-only
 * import creates no cycle at run time but does tie the two folders together
 * in the design, so it counts. Cycles among the modules of one folder are
 * allowed.
 *
 * Two rules: the top-level folders (src/node with all its subfolders as one)
 * form no cycle; and the subfolders of src/node (node/path, node/session,
 * ..., with the files directly in src/node as "node") form none either.
 * A third rule: no file under src/ imports a file outside src/ (testkit/,
 * test/, bench/ import src/, never the reverse), so the published package
 * is whole without them.
 * A failure lists each cycle as `a -> b -> a` with one importing file:line
 * for every edge, which is where to start untangling it: move the shared
 * piece down (to util/, wire/ or the lower folder), not behind a lazy import.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { repoRoot, typeScriptFiles } from '../../testkit/repo-root.js';

/** At most this many cycles are listed per rule; one fixed usually breaks several. */
const MAX_LISTED_CYCLES = 40;

interface ImportSite {
  /** src-relative path of the imported file, '/'-separated, .ts. */
  target: string;
  line: number;
}

/** Relative imports of one file (package imports such as 'node:fs' or 'ws' name no folder of ours). */
function importsOf(srcDir: string, file: string): ImportSite[] {
  const text = readFileSync(file, 'utf8');
  const info = ts.preProcessFile(text, true, true);
  const sites: ImportSite[] = [];
  for (const ref of info.importedFiles) {
    if (!ref.fileName.startsWith('.')) continue;
    const abs = resolve(dirname(file), ref.fileName.replace(/\.js$/, '.ts'));
    const line = text.slice(0, ref.pos).split('\n').length;
    sites.push({ target: relative(srcDir, abs).split(sep).join('/'), line });
  }
  return sites;
}

/** Edge a -> b with the first import site found for it. */
type Graph = Map<string, Map<string, string>>;

function folderGraph(srcDir: string, folderOf: (srcPath: string) => string | null): Graph {
  const g: Graph = new Map();
  for (const file of typeScriptFiles(srcDir)) {
    const from = relative(srcDir, file).split(sep).join('/');
    const a = folderOf(from);
    if (a === null) continue;
    for (const site of importsOf(srcDir, file)) {
      const b = folderOf(site.target);
      if (b === null || b === a) continue;
      let edges = g.get(a);
      if (edges === undefined) g.set(a, (edges = new Map()));
      if (!edges.has(b)) edges.set(b, `src/${from}:${site.line}`);
    }
  }
  return g;
}

/** Every elementary cycle, each once, starting at its smallest folder name. */
function cycles(g: Graph): string[][] {
  const nodes = [...new Set([...g.keys(), ...[...g.values()].flatMap((e) => [...e.keys()])])].sort();
  const found: string[][] = [];
  for (const start of nodes) {
    const path = [start];
    const onPath = new Set(path);
    const walk = (at: string): void => {
      for (const next of [...(g.get(at)?.keys() ?? [])].sort()) {
        if (found.length >= MAX_LISTED_CYCLES) return;
        if (next === start) found.push([...path, start]);
        else if (next > start && !onPath.has(next)) {
          path.push(next);
          onPath.add(next);
          walk(next);
          onPath.delete(next);
          path.pop();
        }
      }
    };
    walk(start);
  }
  return found;
}

function describe(g: Graph, cycle: string[]): string {
  const edges = cycle.slice(1).map((b, i) => `    ${cycle[i]} -> ${b}  (${g.get(cycle[i]!)!.get(b)})`);
  return `  ${cycle.join(' -> ')}\n${edges.join('\n')}`;
}

function assertAcyclic(g: Graph, what: string): void {
  const found = cycles(g);
  const listed = found.map((c) => describe(g, c)).join('\n');
  assert.equal(found.length, 0, `${what}: import cycles${found.length >= MAX_LISTED_CYCLES ? ` (first ${MAX_LISTED_CYCLES})` : ''}:\n${listed}`);
}

const SRC = join(repoRoot(), 'src');

test('no import cycles between the top-level folders of src/ (node/ and its subfolders as one)', () => {
  const g = folderGraph(SRC, (p) => (p.includes('/') ? p.slice(0, p.indexOf('/')) : p));
  assert.ok(g.size > 5, 'the graph holds the folders of src/');
  assertAcyclic(g, 'src/');
});

test('no import cycles between the subfolders of src/node/ (files directly in node/ as "node")', () => {
  const g = folderGraph(SRC, (p) => {
    if (!p.startsWith('node/')) return null;
    const rest = p.slice('node/'.length);
    return rest.includes('/') ? `node/${rest.slice(0, rest.indexOf('/'))}` : 'node';
  });
  assertAcyclic(g, 'src/node/');
});

test('src/ imports nothing outside src/ (the test kit, tests and benchmarks import src/, never the reverse)', () => {
  const leaving: string[] = [];
  for (const file of typeScriptFiles(SRC)) {
    const from = relative(SRC, file).split(sep).join('/');
    for (const site of importsOf(SRC, file)) {
      if (site.target.startsWith('../')) leaving.push(`src/${from}:${site.line} imports ${site.target}`);
    }
  }
  assert.deepEqual(leaving, [], `imports leaving src/:\n  ${leaving.join('\n  ')}`);
});

test('the cycle finder lists a cycle with a file:line on each edge', () => {
  const g: Graph = new Map([
    ['a', new Map([['b', 'src/a/x.ts:3']])],
    ['b', new Map([['c', 'src/b/y.ts:4'], ['a', 'src/b/z.ts:5']])],
    ['c', new Map([['a', 'src/c/w.ts:6']])],
  ]);
  assert.deepEqual(cycles(g), [['a', 'b', 'a'], ['a', 'b', 'c', 'a']]);
  assert.match(describe(g, ['a', 'b', 'a']), /a -> b -> a\n {4}a -> b {2}\(src\/a\/x\.ts:3\)\n {4}b -> a {2}\(src\/b\/z\.ts:5\)/);
  assert.throws(() => assertAcyclic(g, 'x'), /a -> b -> c -> a/);
});
