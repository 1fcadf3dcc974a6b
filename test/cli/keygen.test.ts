import assert from 'node:assert/strict';
import { readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadIdentity } from '../../src/identity/key-file.js';
import { formatPeerId } from '../../src/identity/peer-id.js';
import { tempDir } from '../../testkit/identity-fixtures.js';
import { isOneLineError, runCli } from '../../testkit/cli-run.js';
import { CLI_MAIN_PATH } from '../../src/demo/cli-entry.js';

test('keygen creates an identity once; a second run keeps it and fails clearly', async () => {
  const { dir, cleanup } = await tempDir('sm-cli-');
  try {
    const env = { SHADOWMESH_HOME: join(dir, 'home') };
    const first = runCli(['keygen', '--json'], { cwd: dir, env });
    assert.equal(first.status, 0, first.stderr);
    const out = JSON.parse(first.stdout) as { peerId: string; publicKeyFile: string; encrypted: boolean };
    assert.match(out.peerId, /^[0-9a-f]{64}$/);
    assert.equal(out.publicKeyFile, join(dir, 'home', 'identity.pub'));
    assert.equal(out.encrypted, false);
    assert.equal((await stat(join(dir, 'home', 'identity.key'))).mode & 0o777, 0o600);
    const keyBefore = await readFile(join(dir, 'home', 'identity.key'), 'utf8');

    const second = runCli(['keygen'], { cwd: dir, env });
    assert.ok(isOneLineError(second, 'SM_ERR_ID_EXISTS'), second.stderr);
    assert.ok(second.stderr.includes(out.peerId), 'the error names the peer id that was kept');
    assert.equal(await readFile(join(dir, 'home', 'identity.key'), 'utf8'), keyBefore);
    assert.equal(formatPeerId((await loadIdentity(join(dir, 'home'))).peerId), out.peerId);

    const forced = runCli(['keygen', '--force', '--dir', join(dir, 'home')], { cwd: dir });
    assert.equal(forced.status, 0, forced.stderr);
    assert.match(forced.stdout, /peer id: +[0-9a-f]{64}/);
    assert.ok(!forced.stdout.includes(out.peerId));
  } finally {
    await cleanup();
  }
});

test('keygen with a passphrase file encrypts the key; an empty passphrase file is refused', async () => {
  const { dir, cleanup } = await tempDir('sm-cli-');
  try {
    await writeFile(join(dir, 'pw'), 'hunter2 is long enough\n', { mode: 0o600 });
    const r = runCli(['keygen', '--dir', 'id', '--passphrase-file', 'pw', '--json'], { cwd: dir });
    assert.equal(r.status, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { encrypted: boolean }).encrypted, true);
    await assert.rejects(loadIdentity(join(dir, 'id')), (err: { code?: string }) => err.code === 'SM_ERR_ID_PASSPHRASE');
    await loadIdentity(join(dir, 'id'), { passphrase: 'hunter2 is long enough' });

    await writeFile(join(dir, 'empty'), '\n', { mode: 0o600 });
    const bad = runCli(['keygen', '--dir', 'id2', '--passphrase-file', 'empty'], { cwd: dir });
    assert.ok(isOneLineError(bad, 'SM_ERR_CONFIG_PASSPHRASE'), bad.stderr);
    const missing = runCli(['keygen', '--dir', 'id3', '--passphrase-file', 'absent'], { cwd: dir });
    assert.ok(isOneLineError(missing, 'SM_ERR_ID_MISSING'), missing.stderr);
  } finally {
    await cleanup();
  }
});

test('the CLI runs through a symlink, as the npm bin link does', async () => {
  const { dir, cleanup } = await tempDir('sm-cli-');
  try {
    const link = join(dir, 'shadowmesh');
    await symlink(CLI_MAIN_PATH, link);
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(process.execPath, [link, 'keygen', '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /--passphrase-file/);
    assert.match(r.stdout, /SHADOWMESH_HOME/);
  } finally {
    await cleanup();
  }
});
