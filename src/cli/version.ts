/**
 * `shadowmesh version` (and `shadowmesh --version`): this package's version,
 * the Node running it, and the post-quantum backend this process would use
 * (src/crypto/pq-backend.ts: node:crypto on Node >= 24, else
 * @noble/post-quantum; SHADOWMESH_PQ_BACKEND chooses). --json prints
 * `{ version, node, pqBackend }`. A SHADOWMESH_PQ_BACKEND that cannot be
 * honoured is the daemon's error too: one coded line, exit 1 (main.ts).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { getPqBackend, type PqBackendName } from '../crypto/pq-backend.js';

/** package.json, from dist/src/cli/ in the repository and in an installed package alike. */
const PACKAGE_JSON = new URL('../../../package.json', import.meta.url);

export interface VersionInfo {
  version: string;
  node: string;
  pqBackend: PqBackendName;
}

export function packageVersion(): string {
  return (JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { version: string }).version;
}

export function versionInfo(): VersionInfo {
  return { version: packageVersion(), node: process.version, pqBackend: getPqBackend().name };
}

export function formatVersion(v: VersionInfo): string {
  const pq = v.pqBackend === 'node' ? 'node:crypto (native ML-KEM/ML-DSA)' : '@noble/post-quantum (JavaScript)';
  return `shadowmesh ${v.version}\nnode       ${v.node}\npq backend ${pq}\n`;
}

export function registerVersion(program: Command): void {
  program
    .command('version')
    .showHelpAfterError(false)
    .description('print the version of shadowmesh, the Node version and the post-quantum backend in use')
    .option('--json', 'print { version, node, pqBackend }')
    .action((opts: { json?: boolean }) => {
      const v = versionInfo();
      process.stdout.write(opts.json === true ? JSON.stringify(v, null, 2) + '\n' : formatVersion(v));
    });
}
