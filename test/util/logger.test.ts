/**
 * src/util/logger.ts: the record shape the rest of the code and the tests
 * grep for, levels, the pretty line, bigint fields, child components, and
 * that a real process's last lines before exit reach stderr.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createLogger, prettyLine, silentLogger, type LoggerOptions } from '../../src/util/logger.js';

const LOGGER_JS = fileURLToPath(new URL('../../src/util/logger.js', import.meta.url));

function capture(options: LoggerOptions = {}): { lines: string[]; opts: LoggerOptions } {
  const lines: string[] = [];
  return { lines, opts: { ...options, write: (l) => lines.push(l) } };
}

test('json: one line per record, level as text, ISO time, component, msg before fields', () => {
  const { lines, opts } = capture({ level: 'debug' });
  createLogger('node', opts).info('1a2b3c4d up', { device: 'none', port: 7, ok: true, gone: undefined, nothing: null });
  assert.equal(lines.length, 1);
  assert.ok(lines[0]!.endsWith('}\n'));
  const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.deepEqual(Object.keys(rec), ['level', 'time', 'component', 'msg', 'device', 'port', 'ok', 'nothing']);
  assert.equal(rec['level'], 'info');
  assert.equal(rec['component'], 'node');
  assert.equal(rec['msg'], '1a2b3c4d up');
  assert.equal(rec['port'], 7);
  assert.equal(rec['nothing'], null);
  assert.ok(!Number.isNaN(Date.parse(String(rec['time']))) && String(rec['time']).endsWith('Z'));
  assert.match(lines[0]!, /"msg":"1a2b3c4d up","device":"none"/);
});

test('levels: below the threshold nothing is written; silent writes nothing at all', () => {
  const { lines, opts } = capture({ level: 'warn' });
  const log = createLogger('x', opts);
  log.debug('d');
  log.info('i');
  log.warn('w');
  log.error('e');
  assert.deepEqual(lines.map((l) => (JSON.parse(l) as { level: string }).level), ['warn', 'error']);
  const quiet = capture({ level: 'silent' });
  const q = createLogger('x', quiet.opts);
  for (const m of ['debug', 'info', 'warn', 'error'] as const) q[m]('m');
  assert.deepEqual(quiet.lines, []);
  for (const m of ['debug', 'info', 'warn', 'error'] as const) silentLogger[m]('m');
});

test('SHADOWMESH_LOG_LEVEL and SHADOWMESH_LOG_FORMAT apply when options do not say', () => {
  const saved = { level: process.env['SHADOWMESH_LOG_LEVEL'], format: process.env['SHADOWMESH_LOG_FORMAT'] };
  try {
    process.env['SHADOWMESH_LOG_LEVEL'] = 'error';
    process.env['SHADOWMESH_LOG_FORMAT'] = 'pretty';
    const { lines, opts } = capture();
    const log = createLogger('relay', opts);
    log.warn('not written');
    log.error('written', { code: 'X' });
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^\S+Z ERROR relay: written code=X\n$/);
    process.env['SHADOWMESH_LOG_LEVEL'] = 'bogus';
    const c = capture({ format: 'json' });
    createLogger('relay', c.opts).info('default info');
    assert.equal(c.lines.length, 1, 'an unknown level falls back to info');
  } finally {
    for (const [k, v] of [['SHADOWMESH_LOG_LEVEL', saved.level], ['SHADOWMESH_LOG_FORMAT', saved.format]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

test('bigint fields are written as decimal strings, in json and pretty', () => {
  const big = 2n ** 64n - 1n;
  const j = capture();
  createLogger('s', j.opts).info('counter', { counter: big });
  assert.equal((JSON.parse(j.lines[0]!) as { counter: string }).counter, '18446744073709551615');
  const p = capture({ pretty: true });
  createLogger('s', p.opts).info('counter', { counter: big });
  assert.match(p.lines[0]!, / counter=18446744073709551615\n$/);
});

test('child loggers name their component parent/child and keep level and format', () => {
  const { lines, opts } = capture({ level: 'warn', format: 'pretty' });
  const peers = createLogger('node', opts).child('peers');
  const deep = peers.child('session');
  peers.info('dropped by level');
  peers.warn('a b', { reason: 'two words' });
  deep.error('deep');
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /^\S+ WARN  node\/peers: a b reason="two words"\n$/);
  assert.match(lines[1]!, /^\S+ ERROR node\/peers\/session: deep\n$/);
});

test('a field named like a record key does not overwrite it', () => {
  const { lines, opts } = capture();
  createLogger('c', opts).info('m', { level: 'x', msg: 'y', component: 'z' });
  const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(rec['level'], 'info');
  assert.equal(rec['msg'], 'm');
  assert.equal(rec['component'], 'c');
  assert.equal(rec['field.msg'], 'y');
});

test('prettyLine passes a non-JSON line through', () => {
  assert.equal(prettyLine('not json'), 'not json\n');
});

test('stderr is written synchronously: the lines logged just before process.exit() arrive', () => {
  const script = `
    const { createLogger } = await import(${JSON.stringify(LOGGER_JS)});
    const log = createLogger('exit');
    for (let i = 0; i < 2000; i++) log.info('line ' + i, { i });
    log.error('last words');
    process.exit(3);
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '' } });
  assert.equal(r.status, 3, r.stderr.slice(-500));
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 2001);
  assert.deepEqual(JSON.parse(lines.at(-1)!), { ...(JSON.parse(lines.at(-1)!) as object), level: 'error', component: 'exit', msg: 'last words' });
  const pretty = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '', SHADOWMESH_LOG_FORMAT: 'pretty' } });
  assert.equal(pretty.stderr.trimEnd().split('\n').length, 2001);
  assert.match(pretty.stderr.trimEnd().split('\n').at(-1)!, /^\S+Z ERROR exit: last words$/);
});
