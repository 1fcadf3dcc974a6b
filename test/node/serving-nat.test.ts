/**
 * ServingNat's journal (src/node/serving-nat.ts): what a daemon killed while
 * serving left behind — forwarding turned on, masquerade rules — is undone by
 * the next start, whatever that start's options, and nothing is undone twice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recoverServingNat, servingNatJournal, ServingNat } from '../../src/node/serving-nat.js';
import { silentLogger } from '../../src/util/logger.js';
import { RecordingRouting } from '../../testkit/recording-routing.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'sm-serving-nat-'));
}

test('a killed server (no undo) leaves a journal; the next start restores forwarding and deletes its rules, once', async () => {
  const dir = tempDir();
  try {
    const routing = new RecordingRouting();
    const nat = new ServingNat(routing, silentLogger, 'exit-node', dir);
    assert.equal(await nat.forward(4), null);
    assert.equal(await nat.masquerade(4, '10.10.10.0/24', '0.0.0.0/0'), null);
    assert.equal(routing.forwarding[4], '1');
    assert.ok(existsSync(servingNatJournal(dir, 'exit-node')), 'the journal is on disk while serving');
    // The process dies here: no undo(). A new run with a fresh routing view of the same machine:
    routing.log = [];
    await recoverServingNat(dir, routing, silentLogger);
    assert.deepEqual(routing.log, ['masq delete v4 10.10.10.0/24 -> 0.0.0.0/0', 'fwd4=0']);
    assert.equal(routing.forwarding[4], '0', 'forwarding is back to what the killed run found');
    assert.equal(existsSync(servingNatJournal(dir, 'exit-node')), false);
    routing.log = [];
    await recoverServingNat(dir, routing, silentLogger);
    assert.deepEqual(routing.log, [], 'nothing is undone twice');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a clean undo removes the journal; forwarding already on is neither journaled nor restored', async () => {
  const dir = tempDir();
  try {
    const routing = new RecordingRouting();
    routing.forwarding[6] = '1';
    const nat = new ServingNat(routing, silentLogger, 'subnet-routes', dir);
    assert.equal(await nat.forward(6), null);
    assert.equal(existsSync(servingNatJournal(dir, 'subnet-routes')), false, 'nothing changed, nothing journaled');
    assert.equal(await nat.masquerade(6, 'fd00::/64', '192.168.50.0/24'), null);
    await nat.undo();
    assert.equal(existsSync(servingNatJournal(dir, 'subnet-routes')), false);
    assert.equal(routing.forwarding[6], '1');
    assert.ok(routing.log.includes('masq delete v6 fd00::/64 -> 192.168.50.0/24'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a refused masquerade rule is not journaled; a journal that does not parse is left alone and nothing is run', async () => {
  const dir = tempDir();
  try {
    const routing = new RecordingRouting();
    routing.failMasquerade = true;
    const nat = new ServingNat(routing, silentLogger, 'exit-node', dir);
    assert.notEqual(await nat.masquerade(4, '10.10.10.0/24', '0.0.0.0/0'), null);
    assert.equal(existsSync(servingNatJournal(dir, 'exit-node')), false);

    const file = servingNatJournal(dir, 'subnet-routes');
    for (const bad of ['{', '{"forwarding":[{"family":4,"previous":"0; rm -rf /"}],"masquerade":[]}', '{"forwarding":[],"masquerade":[{"family":5,"from":"a","to":"b"}]}']) {
      writeFileSync(file, bad);
      routing.log = [];
      await recoverServingNat(dir, routing, silentLogger);
      assert.deepEqual(routing.log, [], `nothing run for ${bad}`);
      assert.equal(readFileSync(file, 'utf8'), bad, 'left in place');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
