/**
 * `npm pack` gives a tarball a user can install (issue 16, "Packaging and
 * service"): `npm i -g --prefix TMP ./shadowmesh-x.tgz` resolves the
 * dependencies, its install script (native/build-addons.mjs) builds the three
 * addons from the shipped sources, and the installed `shadowmesh` runs
 * `version`, `--version` and `keygen`. The tarball holds no build objects,
 * tests or test kit (the file rule itself is test/repo/package-contents.test.ts).
 *
 * The install runs with an empty npm user config and without the npm_*
 * variables of a surrounding `npm test`, so it cannot lean on this machine's
 * `nodedir` setting: the install script must find node-gyp and the Node
 * headers by itself. Dependencies come from npm's cache where it has them
 * (--prefer-offline); `--offline` alone fails because `npm ci` caches
 * tarballs but not the registry documents a fresh resolution reads.
 * npm runs pack with --ignore-scripts: `prepare` would rebuild dist/ while
 * other tests read it (build first).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../testkit/repo-root.js';

/** Packing reads dist/ in a few seconds. */
const PACK_TIMEOUT_MS = 120_000;
/** Resolving 50-odd packages and compiling two small addons takes ~10 s here; generous for a loaded machine. */
const INSTALL_TIMEOUT_MS = 300_000;
/** A CLI command of the installed package. */
const RUN_TIMEOUT_MS = 60_000;
/** Paths inside the tarball (under package/) that must never ship. */
const NEVER_SHIPPED = /^package\/(native\/build\/|dist\/(test|testkit|bench)\/|test\/|testkit\/|bench\/|src\/)/;

const ROOT = repoRoot();

/** process.env without npm's npm_* variables (a surrounding `npm test` sets them, nodedir included). */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  return { ...env, ...extra };
}

function output(r: SpawnSyncReturns<string>): string {
  return `${r.error?.message ?? ''}${r.stdout}${r.stderr}`;
}

test('the packed tarball installs into a fresh prefix with its addons built, and its shadowmesh runs', () => {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const dir = mkdtempSync(join(tmpdir(), 'sm-pack-'));
  try {
    const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8', timeout: PACK_TIMEOUT_MS, env: cleanEnv() });
    assert.equal(pack.status, 0, `npm pack failed: ${output(pack)}`);
    const tarball = join(dir, (JSON.parse(pack.stdout) as { filename: string }[])[0]!.filename);

    const list = spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8' });
    assert.equal(list.status, 0, output(list));
    const entries = list.stdout.split('\n').filter((e) => e !== '');
    for (const needed of ['package/dist/src/cli/main.js', 'package/native/binding.gyp', 'package/native/tuntap.cc', 'package/native/sd-notify.cc', 'package/native/aead.cc', 'package/native/build-addons.mjs']) {
      assert.ok(entries.includes(needed), `${needed} is in the tarball`);
    }
    assert.deepEqual(entries.filter((e) => NEVER_SHIPPED.test(e)), [], 'no build objects, sources of tests or test kit in the tarball');

    const userconfig = join(dir, 'npmrc');
    writeFileSync(userconfig, '');
    const prefix = join(dir, 'prefix');
    const install = spawnSync(
      'npm',
      ['i', '-g', '--prefix', prefix, '--userconfig', userconfig, '--prefer-offline', '--allow-scripts=shadowmesh', '--no-audit', '--no-fund', tarball],
      { cwd: dir, encoding: 'utf8', timeout: INSTALL_TIMEOUT_MS, env: cleanEnv() },
    );
    assert.equal(install.status, 0, `npm i -g failed: ${output(install)}`);
    const installed = join(prefix, 'lib', 'node_modules', 'shadowmesh');
    for (const addon of ['shadowmesh_tun.node', 'shadowmesh_notify.node', 'shadowmesh_aead.node']) {
      assert.ok(existsSync(join(installed, 'native', 'build', 'Release', addon)), `the install script built ${addon}:\n${output(install)}`);
    }

    const bin = join(prefix, 'bin', 'shadowmesh');
    const home = join(dir, 'home');
    const run = (args: string[]): SpawnSyncReturns<string> =>
      spawnSync(bin, args, { cwd: dir, encoding: 'utf8', timeout: RUN_TIMEOUT_MS, env: cleanEnv({ SHADOWMESH_HOME: home }) });
    for (const args of [['version'], ['--version']]) {
      const r = run(args);
      assert.equal(r.status, 0, `shadowmesh ${args.join(' ')}: ${output(r)}`);
      assert.match(r.stdout, new RegExp(`^shadowmesh ${version.replace(/\./g, '\\.')}$`, 'm'));
    }
    const keygen = run(['keygen']);
    assert.equal(keygen.status, 0, `shadowmesh keygen: ${output(keygen)}`);
    assert.match(keygen.stdout, /peer id: +[0-9a-f]{64}/);
    assert.ok(existsSync(join(home, 'identity.key')) && existsSync(join(home, 'identity.pub')), 'keygen wrote the identity');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
