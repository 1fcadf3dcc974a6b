/**
 * Test helper: the repository's root, found from this module's location
 * (dist/testkit/*.js or testkit/*.ts), and the TypeScript files below a
 * folder of it. The repository tests (test/repo/) and the vector readers
 * read the tree through these.
 */

import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The nearest folder above this module holding package.json, src/ and test/. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'src')) && existsSync(join(dir, 'test'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`repository root (package.json with src/ and test/) not found above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** Every *.ts file below `dir`, recursively, sorted. */
export function typeScriptFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...typeScriptFiles(p));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out.sort();
}
