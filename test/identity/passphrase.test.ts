import assert from 'node:assert/strict';
import { chmod, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { resolvePassphrase } from '../../src/identity/passphrase.js';
import { isOneLineError, runCli } from '../../testkit/cli-run.js';
import { tempDir } from '../../testkit/identity-fixtures.js';

async function refusedFor(path: string): Promise<Error & { code?: string }> {
  try {
    await resolvePassphrase({ file: path, envVar: '\0' });
  } catch (err) {
    return err as Error & { code?: string };
  }
  assert.fail(`${path} was read`);
}

test('a passphrase file readable by group or others is refused with SM_ERR_ID_PERMISSIONS, naming the file and the fix', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const file = join(dir, 'pw');
    await writeFile(file, 'correct horse battery staple\n', { mode: 0o600 });
    for (const mode of [0o640, 0o644, 0o604, 0o660]) {
      await chmod(file, mode);
      const err = await refusedFor(file);
      assert.equal(err.code, 'SM_ERR_ID_PERMISSIONS', `mode ${mode.toString(8)}`);
      assert.ok(err.message.includes(file), err.message);
      assert.ok(err.message.includes(`chmod 600 ${file}`), err.message);
      assert.ok(err.message.includes(`0${mode.toString(8)}`), err.message);
    }
    await chmod(file, 0o600);
    assert.equal(await resolvePassphrase({ file, envVar: '\0' }), 'correct horse battery staple');
    await chmod(file, 0o400);
    assert.equal(await resolvePassphrase({ file, envVar: '\0' }), 'correct horse battery staple');
    // A symbolic link (as a secret mount provides) is followed; the mode judged is the target's.
    const link = join(dir, 'pw-link');
    await symlink(file, link);
    assert.equal(await resolvePassphrase({ file: link, envVar: '\0' }), 'correct horse battery staple');
    await chmod(file, 0o644);
    assert.equal((await refusedFor(link)).code, 'SM_ERR_ID_PERMISSIONS');
  } finally {
    await cleanup();
  }
});

test('keygen and ca init refuse a world-readable --passphrase-file through the CLI', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await writeFile(join(dir, 'pw'), 'hunter2 is long enough\n', { mode: 0o644 });
    await chmod(join(dir, 'pw'), 0o644);
    const keygen = runCli(['keygen', '--dir', 'id', '--passphrase-file', 'pw'], { cwd: dir });
    assert.ok(isOneLineError(keygen, 'SM_ERR_ID_PERMISSIONS'), keygen.stderr);
    assert.match(keygen.stderr, /chmod 600 .*pw/);
    const init = runCli(['ca', 'init', '--dir', 'ca', '--passphrase-file', 'pw'], { cwd: dir });
    assert.ok(isOneLineError(init, 'SM_ERR_ID_PERMISSIONS'), init.stderr);
    await chmod(join(dir, 'pw'), 0o600);
    const ok = runCli(['keygen', '--dir', 'id', '--passphrase-file', 'pw', '--json'], { cwd: dir });
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal((JSON.parse(ok.stdout) as { encrypted: boolean }).encrypted, true);
  } finally {
    await cleanup();
  }
});
