/**
 * The log format a command writes (src/cli/log-format.ts): `auto` (the
 * default of log.format) is pretty exactly when stderr is a terminal,
 * `json` and `pretty` force theirs whatever stderr is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseLogFormat, LOG_FORMAT_SETTINGS } from '../../src/cli/log-format.js';
import { CONFIG_KEYS } from '../../src/config/config-keys.js';

const tty = { isTTY: true };
const pipe = { isTTY: false };
const file = {};

test('auto and an unset setting: pretty on a terminal, JSON on a pipe or a file', () => {
  for (const setting of ['auto', undefined]) {
    assert.equal(chooseLogFormat(setting, tty), 'pretty');
    assert.equal(chooseLogFormat(setting, pipe), 'json');
    assert.equal(chooseLogFormat(setting, file), 'json');
  }
});

test('json and pretty are forced whatever stderr is', () => {
  for (const stderr of [tty, pipe, file]) {
    assert.equal(chooseLogFormat('json', stderr), 'json');
    assert.equal(chooseLogFormat('pretty', stderr), 'pretty');
  }
});

test('log.format takes exactly auto, json and pretty, auto by default', () => {
  const key = CONFIG_KEYS.find((k) => k.path === 'log.format');
  assert.ok(key !== undefined);
  assert.deepEqual(key.kind, { type: 'enum', values: [...LOG_FORMAT_SETTINGS] });
  assert.equal(key.default, 'auto');
  assert.equal(key.env, 'SHADOWMESH_LOG_FORMAT');
});
