import assert from 'node:assert/strict';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { hybridVerify } from '../../src/crypto/hybrid-sign.js';
import { decodeArmor, encodeArmor } from '../../src/identity/armor.js';
import { createIdentity, IDENTITY_KEY_FILE, IDENTITY_PUB_FILE, loadIdentity, loadOrCreateIdentity, readPublicKeyFile } from '../../src/identity/key-file.js';
import { peerIdFromPublicKey } from '../../src/identity/peer-id.js';
import { PLAIN_SEED_FILE_BYTES, PROTECTED_SEED_FILE_BYTES } from '../../src/identity/sealed-seed.js';
import { initCa } from '../../src/identity/ca.js';
import { flipBit, tempDir } from '../../testkit/identity-fixtures.js';
import { rejectsWithCode } from '../../testkit/expect-code.js';

const posix = process.platform !== 'win32';

test('create then load: same peer id, files 0600/0700, public key file matches, signer works', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const home = join(dir, 'home');
    const created = await createIdentity(home);
    assert.deepEqual(created.peerId, peerIdFromPublicKey(created.publicKey));
    const loaded1 = await loadIdentity(home);
    const loaded2 = await loadIdentity(home);
    assert.deepEqual(loaded1.peerId, created.peerId);
    assert.deepEqual(loaded2.publicKey, created.publicKey);
    assert.deepEqual(await readPublicKeyFile(join(home, IDENTITY_PUB_FILE)), created.publicKey);
    const sig = loaded1.signer.sign('test', new Uint8Array([1, 2, 3]));
    assert.ok(hybridVerify(created.publicKey, 'test', new Uint8Array([1, 2, 3]), sig));
    if (posix) {
      assert.equal((await stat(join(home, IDENTITY_KEY_FILE))).mode & 0o777, 0o600);
      assert.equal((await stat(home)).mode & 0o777, 0o700);
    }
    assert.equal(decodeArmor(await readFile(join(home, IDENTITY_KEY_FILE), 'utf8'), 'PRIVATE KEY').length, PLAIN_SEED_FILE_BYTES);
    for (const id of [created, loaded1, loaded2]) id.signer.destroy();
  } finally {
    await cleanup();
  }
});

test('createIdentity never replaces an existing identity unless forced', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const first = await createIdentity(dir);
    await rejectsWithCode(() => createIdentity(dir), 'SM_ERR_ID_EXISTS');
    assert.deepEqual((await loadIdentity(dir)).peerId, first.peerId, 'refused create left the key alone');
    const second = await createIdentity(dir, { force: true });
    assert.notDeepEqual(second.peerId, first.peerId);
    assert.deepEqual((await loadIdentity(dir)).peerId, second.peerId);
  } finally {
    await cleanup();
  }
});

test('loadOrCreateIdentity creates once, then only loads', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const a = await loadOrCreateIdentity(dir);
    const b = await loadOrCreateIdentity(dir);
    assert.equal(a.created, true);
    assert.equal(b.created, false);
    assert.deepEqual(b.identity.peerId, a.identity.peerId);
  } finally {
    await cleanup();
  }
});

test('missing identity: SM_ERR_ID_MISSING, and loadIdentity does not create one', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await rejectsWithCode(() => loadIdentity(dir), 'SM_ERR_ID_MISSING');
    await rejectsWithCode(() => loadIdentity(dir), 'SM_ERR_ID_MISSING');
  } finally {
    await cleanup();
  }
});

test('passphrase: encrypted file, right passphrase loads, missing or wrong refused', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const created = await createIdentity(dir, { passphrase: 'correct horse' });
    const body = decodeArmor(await readFile(join(dir, IDENTITY_KEY_FILE), 'utf8'), 'PRIVATE KEY');
    assert.equal(body.length, PROTECTED_SEED_FILE_BYTES);
    await rejectsWithCode(() => loadIdentity(dir), 'SM_ERR_ID_PASSPHRASE');
    await rejectsWithCode(() => loadIdentity(dir, { passphrase: 'wrong horse' }), 'SM_ERR_ID_PASSPHRASE');
    assert.deepEqual((await loadIdentity(dir, { passphrase: 'correct horse' })).peerId, created.peerId);
    // An edited header (here the scrypt r parameter) fails like a wrong passphrase: it is authenticated.
    const tampered = flipBit(body, 9, 0);
    await writeFile(join(dir, IDENTITY_KEY_FILE), encodeArmor('PRIVATE KEY', tampered), { mode: 0o600 });
    await rejectsWithCode(() => loadIdentity(dir, { passphrase: 'correct horse' }), 'SM_ERR_ID_PASSPHRASE');
  } finally {
    await cleanup();
  }
});

test('a key file readable by group or others is refused, as ssh does', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await createIdentity(dir);
    const keyPath = join(dir, IDENTITY_KEY_FILE);
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      await chmod(keyPath, mode);
      const err = await rejectsWithCode(() => loadIdentity(dir), 'SM_ERR_ID_PERMISSIONS');
      assert.match(err.message, /chmod 600/);
    }
    await chmod(keyPath, 0o600);
    await loadIdentity(dir);
  } finally {
    await cleanup();
  }
});

test('corrupt key files and a mismatched public key are SM_ERR_ID_CORRUPT', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await createIdentity(dir);
    const keyPath = join(dir, IDENTITY_KEY_FILE);
    const good = await readFile(keyPath, 'utf8');
    const body = decodeArmor(good, 'PRIVATE KEY');
    const variants = [
      'garbage',
      encodeArmor('PUBLIC KEY', body),
      encodeArmor('PRIVATE KEY', body.subarray(0, body.length - 1)),
      encodeArmor('PRIVATE KEY', flipBit(body, 0, 0)), // magic
      encodeArmor('PRIVATE KEY', flipBit(body, 4, 1)), // version
      encodeArmor('PRIVATE KEY', flipBit(body, 7, 0)), // reserved
    ];
    for (const v of variants) {
      await writeFile(keyPath, v, { mode: 0o600 });
      await rejectsWithCode(() => loadIdentity(dir), 'SM_ERR_ID_CORRUPT');
    }
    await writeFile(keyPath, good, { mode: 0o600 });
    const other = await tempDir();
    try {
      await createIdentity(other.dir);
      await writeFile(join(dir, IDENTITY_PUB_FILE), await readFile(join(other.dir, IDENTITY_PUB_FILE)));
      await rejectsWithCode(() => loadIdentity(dir), 'SM_ERR_ID_CORRUPT');
    } finally {
      await other.cleanup();
    }
  } finally {
    await cleanup();
  }
});

test('a CA key cannot be loaded as a node identity', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await initCa(dir);
    const caKey = await readFile(join(dir, 'ca.key'));
    const home = join(dir, 'home');
    await createIdentity(home);
    await writeFile(join(home, IDENTITY_KEY_FILE), caKey, { mode: 0o600 });
    const err = await rejectsWithCode(() => loadIdentity(home), 'SM_ERR_ID_CORRUPT');
    assert.match(err.message, /network CA key/);
  } finally {
    await cleanup();
  }
});

test('readPublicKeyFile: wrong label or length refused, path named', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const p = join(dir, 'x.pub');
    await writeFile(p, encodeArmor('PUBLIC KEY', new Uint8Array(10)));
    const err = await rejectsWithCode(() => readPublicKeyFile(p), 'SM_ERR_ID_CORRUPT');
    assert.ok(err.message.includes(p));
    await writeFile(p, encodeArmor('CERTIFICATE', new Uint8Array(10)));
    await rejectsWithCode(() => readPublicKeyFile(p), 'SM_ERR_ID_ARMOR');
    await rejectsWithCode(() => readPublicKeyFile(join(dir, 'absent.pub')), 'SM_ERR_ID_MISSING');
  } finally {
    await cleanup();
  }
});
