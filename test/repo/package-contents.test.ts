/**
 * The published package holds the product and nothing else (docs/architecture.md
 * "Layers and folders"): `npm pack --dry-run --json` may list only the
 * compiled product under dist/src/, the addon's sources under native/ (no
 * native/build/), README.md, package.json and LICENSE. The test kit, the
 * tests and the benchmarks compile to dist/testkit, dist/test and dist/bench
 * and must never ship; and every file shipped under dist/src/ must come from
 * a source under src/, so stale output of a moved or deleted file (say an
 * old dist/src/testkit/) is caught here instead of being published (remove
 * it with `rm -rf dist && npm run build`).
 *
 * npm runs with --ignore-scripts: the `prepare` script would rebuild dist/
 * while other tests read it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../testkit/repo-root.js';

/** npm reads the package and its files in a few seconds; generous for a loaded machine. */
const PACK_TIMEOUT_MS = 120_000;
/** Files allowed at the package root. */
const ROOT_FILES = new Set(['README.md', 'package.json', 'LICENSE']);
/** Compiled output that tsc writes next to each module. */
const COMPILED = /\.(js|js\.map|d\.ts)$/;

/** Why `path` must not be in the package, or null if it may be; `sourceExists` answers for a src/ path. */
export function unpublishable(path: string, sourceExists: (srcPath: string) => boolean): string | null {
  if (ROOT_FILES.has(path)) return null;
  if (path.startsWith('native/')) return path.startsWith('native/build/') ? `${path}: addon build output` : null;
  if (path.startsWith('dist/src/')) {
    const rel = path.slice('dist/'.length);
    if (!COMPILED.test(rel)) return null;
    const source = rel.replace(COMPILED, '.ts');
    return sourceExists(source) ? null : `${path}: no ${source} (stale build output: rm -rf dist && npm run build)`;
  }
  return `${path}: outside dist/src, native sources, README.md, package.json, LICENSE`;
}

const ROOT = repoRoot();

test('npm pack lists only dist/src (from current sources), native sources, README.md, package.json and LICENSE', () => {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', timeout: PACK_TIMEOUT_MS });
  assert.equal(r.status, 0, `npm pack --dry-run failed: ${r.error?.message ?? ''}${r.stderr}`);
  const packs = JSON.parse(r.stdout) as { files: { path: string }[] }[];
  const files = packs[0]!.files.map((f) => f.path).sort();
  assert.ok(files.some((p) => p === 'dist/src/cli/main.js'), 'the package holds the CLI entry point (build first)');
  assert.ok(files.includes('native/tuntap.cc') && files.includes('native/binding.gyp'), 'the package holds the addon sources');
  const wrong = files.map((p) => unpublishable(p, (src) => existsSync(join(ROOT, src)))).filter((w): w is string => w !== null);
  assert.deepEqual(wrong, [], `files that must not be published:\n  ${wrong.join('\n  ')}`);
});

test('the package rule refuses the test kit, tests, benchmarks, addon builds and stale output', () => {
  const exists = (src: string): boolean => src === 'src/cli/main.ts';
  assert.equal(unpublishable('dist/src/cli/main.js', exists), null);
  assert.equal(unpublishable('dist/src/cli/main.js.map', exists), null);
  assert.equal(unpublishable('native/tuntap.cc', exists), null);
  assert.equal(unpublishable('README.md', exists), null);
  assert.match(unpublishable('dist/testkit/fake-clock.js', exists) ?? '', /outside dist\/src/);
  assert.match(unpublishable('dist/test/wire/udp-frames.test.js', exists) ?? '', /outside dist\/src/);
  assert.match(unpublishable('dist/bench/run.js', exists) ?? '', /outside dist\/src/);
  assert.match(unpublishable('native/build/Release/tuntap.node', exists) ?? '', /addon build output/);
  assert.match(unpublishable('dist/src/testkit/fake-clock.js', exists) ?? '', /stale build output/);
  assert.match(unpublishable('test/vectors/hybrid.json', exists) ?? '', /outside/);
});
