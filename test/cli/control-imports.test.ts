/**
 * The control commands start fast (issue 16: at most 150 ms on the project
 * machine) because main.ts loads only the chosen command's module
 * (src/cli/main.ts) and these modules reach none of the heavy packages the
 * daemons need. This test walks, with the TypeScript parser, every import
 * that stays at run time (not `import type`, not an import whose names are
 * all `type`, not a dynamic `import()`) from src/cli/main.ts and from each
 * control command's module, through every file of ours they reach, and fails
 * when a heavy package or our post-quantum backend is on that graph, naming
 * the chain of files that pulls it in. Timing is measured, not asserted, by
 * bench/cli-startup.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { repoRoot } from '../../testkit/repo-root.js';

/** Packages a control command must never load: each costs tens to hundreds of milliseconds at startup. */
const HEAVY_PACKAGES = ['@noble/post-quantum', '@peculiar/x509', 'pino', 'ajv', 'prom-client', 'reflect-metadata', 'ws', 'yaml'];
/** Files of ours that stand for the same weight (they import the above, or compute keys). */
const HEAVY_FILES = ['src/crypto/pq-backend.ts'];
const CONTROL_COMMANDS = ['status', 'peers', 'ping', 'whois', 'ip', 'send', 'recv', 'users', 'down'];

/** The specifiers a file imports at run time (static, value imports and re-exports only). */
export function runtimeImports(file: string, text: string): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, false);
  const out: string[] = [];
  for (const st of sf.statements) {
    if (ts.isImportDeclaration(st) && ts.isStringLiteral(st.moduleSpecifier)) {
      const clause = st.importClause;
      if (clause?.isTypeOnly === true) continue;
      const named = clause?.namedBindings;
      const onlyTypeNames = clause !== undefined && clause.name === undefined && named !== undefined && ts.isNamedImports(named) &&
        named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly);
      if (!onlyTypeNames) out.push(st.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(st) && st.moduleSpecifier !== undefined && ts.isStringLiteral(st.moduleSpecifier)) {
      if (st.isTypeOnly) continue;
      const ex = st.exportClause;
      if (ex !== undefined && ts.isNamedExports(ex) && ex.elements.length > 0 && ex.elements.every((e) => e.isTypeOnly)) continue;
      out.push(st.moduleSpecifier.text);
    }
  }
  return out;
}

/** The package a bare specifier names ('@scope/name/sub' -> '@scope/name'); null for node: builtins. */
function packageOf(spec: string): string | null {
  if (spec.startsWith('node:')) return null;
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** Every heavy package or file reachable from `start`, each with the chain of files that reaches it. */
function heavyReached(root: string, start: string): string[] {
  const found: string[] = [];
  const seen = new Set<string>([start]);
  const queue: Array<{ file: string; chain: string[] }> = [{ file: start, chain: [start] }];
  while (queue.length > 0) {
    const { file, chain } = queue.shift()!;
    if (HEAVY_FILES.includes(file)) found.push(`${file} via ${chain.join(' -> ')}`);
    for (const spec of runtimeImports(file, readFileSync(join(root, file), 'utf8'))) {
      if (spec.startsWith('.')) {
        const target = relative(root, resolve(dirname(join(root, file)), spec.replace(/\.js$/, '.ts'))).split(sep).join('/');
        if (!seen.has(target)) {
          seen.add(target);
          queue.push({ file: target, chain: [...chain, target] });
        }
      } else {
        const pkg = packageOf(spec);
        if (pkg !== null && HEAVY_PACKAGES.includes(pkg)) found.push(`${pkg} via ${chain.join(' -> ')}`);
      }
    }
  }
  return found;
}

test('the walker sees value imports and re-exports, and skips type-only ones and dynamic import()', () => {
  const text = [
    "import { a } from './a.js';",
    "import type { B } from './b.js';",
    "import { type C, type D } from './c.js';",
    "import { type E, e } from './e.js';",
    "import './side.js';",
    "export { f } from './f.js';",
    "export type { G } from './g.js';",
    "const h = await import('./h.js');",
  ].join('\n');
  assert.deepEqual(runtimeImports('x.ts', text), ['./a.js', './e.js', './side.js', './f.js']);
});

test('main.ts and every control command load none of the heavy packages at startup', () => {
  const root = repoRoot();
  const problems: string[] = [];
  for (const start of ['src/cli/main.ts', ...CONTROL_COMMANDS.map((c) => `src/cli/${c}.ts`)]) {
    assert.ok(existsSync(join(root, start)), `${start} exists`);
    problems.push(...heavyReached(root, start).map((p) => `${start}: ${p}`));
  }
  assert.deepEqual(problems, [], `heavy modules on a control command's import graph:\n${problems.join('\n')}`);
});

test('the walk does find a heavy package where one is imported (up.ts reaches the daemon)', () => {
  const reached = heavyReached(repoRoot(), 'src/cli/up.ts');
  assert.ok(reached.some((r) => r.startsWith('@noble/post-quantum')), reached.join('\n'));
});
