/**
 * Record every module a process loads, for tests that check what a command
 * does NOT load (e.g. a single relay loads nothing of NATS).
 *
 * Use: spawn node with `--import <this file's URL>` and
 * SHADOWMESH_MODULE_TRACE=<file>; each resolved module URL is appended to
 * that file, one per line. The module registers itself as a loader hook
 * (node:module register, Node 20.6+); the hook runs on the loader thread
 * and only observes, it never changes a resolution.
 */
import { appendFileSync } from 'node:fs';
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

const TRACE = process.env['SHADOWMESH_MODULE_TRACE'];

if (isMainThread && TRACE !== undefined) register(import.meta.url);

type Next = (specifier: string, context: unknown) => Promise<{ url: string }>;

/** The loader's resolve hook: pass through, noting the URL. */
export async function resolve(specifier: string, context: unknown, next: Next): Promise<{ url: string }> {
  const result = await next(specifier, context);
  if (TRACE !== undefined) appendFileSync(TRACE, `${result.url}\n`);
  return result;
}
