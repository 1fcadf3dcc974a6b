/**
 * Where tests put what a person may want to look at after a run
 * (screenshots of the web console): $SM_TEST_ARTIFACTS when set, else
 * test-artifacts/ at the repository root (ignored by git). CI keeps the
 * folder of its clone; a developer opens the PNGs from there.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from './repo-root.js';

/** The artifacts folder for one test file, created if missing. */
export async function testArtifactsDir(name: string): Promise<string> {
  const base = process.env['SM_TEST_ARTIFACTS'] ?? join(repoRoot(), 'test-artifacts');
  const dir = join(base, name);
  await mkdir(dir, { recursive: true });
  return dir;
}
