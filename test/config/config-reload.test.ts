/**
 * The SIGHUP reload logic on its own (src/config/config-reload.ts,
 * adjustable-logger.ts), with configurations resolved from YAML text and a
 * recording logger: a file with problems changes nothing and logs every
 * problem; live keys are applied, restart-only keys are named in a warning
 * (again on the next reload, since they are still pending); a refused
 * `apply` leaves the log level and the running view as they were; the
 * log level gate follows `set()` for children made before it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdjustableLogger } from '../../src/config/adjustable-logger.js';
import { configChanges, ConfigReloader, LIVE_KEYS } from '../../src/config/config-reload.js';
import { parseConfigText } from '../../src/config/config-file.js';
import type { EffectiveConfig } from '../../src/config/effective-config.js';
import { resolveConfig } from '../../src/config/resolve-config.js';
import { CONFIG_KEYS } from '../../src/config/config-keys.js';
import type { LogFields, Logger, LogLevel } from '../../src/util/logger.js';

const PIN = `sha256:${'0f'.repeat(32)}`;
const NODE_BASE = `node:\n  relay: wss://r.example:8443\n  pin: ${PIN}\n  ca: /ca.crt\n  cert: /me.crt\n`;

function nodeConfig(extra: string): EffectiveConfig {
  // `extra` continues the node section and may open another top-level one (log:).
  const text = NODE_BASE + extra;
  return resolveConfig({ role: 'node', env: { SHADOWMESH_HOME: '/nonexistent-home' }, file: { path: '/etc/sm/node.yaml', doc: parseConfigText(text, 'node.yaml') } });
}

interface Rec { level: string; msg: string; fields: LogFields | undefined }

function recorder(): { logger: Logger; records: Rec[] } {
  const records: Rec[] = [];
  const make = (): Logger => ({
    debug: (msg, fields) => records.push({ level: 'debug', msg, fields }),
    info: (msg, fields) => records.push({ level: 'info', msg, fields }),
    warn: (msg, fields) => records.push({ level: 'warn', msg, fields }),
    error: (msg, fields) => records.push({ level: 'error', msg, fields }),
    child: () => make(),
  });
  return { logger: make(), records };
}

test('configChanges: values compared key by key; a moved but equal value is no change; live keys per role', () => {
  const a = nodeConfig('');
  const b = nodeConfig('  startupTimeout: 15s\n  crl: /crl\n  p2p:\n    retryInterval: 2s\n    connectTimeout: 20s\nlog:\n  level: debug\n');
  const changes = configChanges('node', a, b);
  assert.deepEqual(changes.map((c) => [c.path, c.from, c.to, c.live]).sort(), [
    ['log.level', 'info', 'debug', true],
    ['node.crl', '(unset)', '/crl', true],
    ['node.p2p.connectTimeout', '10s', '20s', false],
    ['node.p2p.retryInterval', '1s', '2s', true],
  ].sort());
  // Unsetting a live file key is not live: the list in force stays until a restart.
  assert.deepEqual(configChanges('node', b, a).find((c) => c.path === 'node.crl')?.live, false);
  for (const role of ['node', 'relay'] as const) for (const k of LIVE_KEYS[role]) assert.ok(CONFIG_KEYS.some((x) => x.path === k), k);
});

test('secrets never appear in a change', () => {
  const a = nodeConfig('  passphrase: first-secret\n');
  const b = nodeConfig('  passphrase: second-secret\n');
  const [c] = configChanges('node', a, b);
  assert.deepEqual([c?.path, c?.from, c?.to, c?.live], ['node.passphrase', '<redacted>', '<redacted>', false]);
});

test('a reload applies live keys, names restart-only keys, and refuses a bad file without changing anything', async () => {
  const initial = nodeConfig('');
  let next: () => EffectiveConfig = () => initial;
  const levels: LogLevel[] = [];
  const applied: Array<string | undefined> = [];
  let refuseApply = false;
  const { logger, records } = recorder();
  const reloader = new ConfigReloader(
    {
      logger,
      load: () => Promise.resolve().then(() => next()),
      setLogLevel: (l) => levels.push(l),
      apply: async (cfg) => {
        if (refuseApply) throw new Error('revocation list #1 is older than the loaded #2; refusing to roll back');
        applied.push(cfg.string('node.crl'));
      },
    },
    { role: 'node', initial },
  );

  // 1. live + restart-only
  next = () => nodeConfig('  crl: /crl\n  p2p:\n    connectTimeout: 20s\nlog:\n  level: debug\n');
  const r1 = await reloader.reload();
  assert.equal(r1.outcome, 'applied');
  assert.deepEqual(levels, ['debug']);
  assert.deepEqual(applied, ['/crl']);
  assert.deepEqual(r1.restartPending, ['node.p2p.connectTimeout']);
  const warns = records.filter((r) => r.level === 'warn');
  assert.equal(warns.length, 1);
  assert.match(warns[0]!.msg, /^config node\.p2p\.connectTimeout changed; it takes effect at the next restart$/);
  assert.equal(reloader.running.string('log.level'), 'debug');
  assert.equal(reloader.running.string('node.p2p.connectTimeout'), '10s', 'the running view keeps the start value of a restart-only key');

  // 2. a file with three problems: every one logged, nothing applied
  records.length = 0;
  next = () => nodeConfig('  mtu: 9\n  p2p:\n    retryInterval: soon\n  colour: blue\nlog:\n  level: info\n');
  const r2 = await reloader.reload();
  assert.equal(r2.outcome, 'refused');
  assert.equal(r2.problems.length, 3, r2.problems.join('\n'));
  const errors = records.filter((r) => r.level === 'error').map((r) => r.msg);
  for (const p of ['node.mtu', 'node.p2p.retryInterval', 'node.colour']) assert.ok(errors.some((m) => m.startsWith(`config reload: ${p}`)), `${p} in ${errors.join('\n')}`);
  assert.ok(errors.some((m) => /^configuration reload refused: .*nothing changed$/.test(m)));
  assert.deepEqual(levels, ['debug'], 'no level change');
  assert.deepEqual(applied, ['/crl'], 'apply not called');
  assert.equal(reloader.running.string('log.level'), 'debug');

  // 3. apply refuses (an older revocation list): the level stays too
  records.length = 0;
  refuseApply = true;
  next = () => nodeConfig('  crl: /crl\nlog:\n  level: warn\n');
  const r3 = await reloader.reload();
  assert.equal(r3.outcome, 'refused');
  assert.deepEqual(levels, ['debug']);
  assert.equal(reloader.running.string('log.level'), 'debug');

  // 4. the same restart-only change again: warned again (still pending)
  records.length = 0;
  refuseApply = false;
  next = () => nodeConfig('  crl: /crl\n  p2p:\n    connectTimeout: 20s\nlog:\n  level: info\n');
  const r4 = await reloader.reload();
  assert.equal(r4.outcome, 'applied');
  assert.deepEqual(levels, ['debug', 'info']);
  assert.equal(records.filter((r) => r.level === 'warn' && r.msg.includes('node.p2p.connectTimeout')).length, 1);
});

test('AdjustableLogger: children made before set() follow the new level', () => {
  const lines: string[] = [];
  const log = new AdjustableLogger('node', { level: 'info', format: 'json', write: (l) => lines.push(l) });
  const child = log.logger.child('paths');
  child.debug('hidden-1');
  child.info('shown-1');
  log.set('debug');
  child.debug('shown-2');
  log.logger.child('late').debug('shown-3');
  log.set('error');
  child.warn('hidden-2');
  child.error('shown-4');
  const msgs = lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
  assert.deepEqual(msgs, ['shown-1', 'shown-2', 'shown-3', 'shown-4']);
  assert.equal(log.level, 'error');
  assert.throws(() => log.set('loud' as LogLevel), (e: Error & { code?: string }) => e.code === 'SM_ERR_CONFIG_VALUE');
});
