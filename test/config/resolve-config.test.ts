/**
 * The one precedence rule (flags > SHADOWMESH_* > file > defaults) on every
 * layer at once, and the P2P keys reaching the components that use them:
 * PathManager timers and the DirectTransport options through DaemonOptions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CONFIG_KEYS } from '../../src/config/config-keys.js';
import { daemonOptionsOf, directOptionsOf, pathTimersOf, relayServerOptionsOf } from '../../src/config/component-options.js';
import { parseConfigText } from '../../src/config/config-file.js';
import { ConfigProblems, resolveConfig, type ParsedFlags } from '../../src/config/resolve-config.js';
import { resolvePathTimers } from '../../src/node/path/path-timers.js';
import { DEFAULT_DIRECT_MAX_HANDSHAKES_PER_ADDRESS } from '../../src/node/path/direct-transport.js';
import { DEFAULT_DIRECT_TLS_HANDSHAKE_TIMEOUT_MS } from '../../src/node/path/direct-timers.js';
import { NodeDaemon } from '../../src/node/daemon.js';
import { createTestNetwork } from '../../testkit/test-network.js';

function flags(given: Record<string, unknown>): ParsedFlags {
  return { opts: () => given, getOptionValueSource: (k) => (k in given ? 'cli' : 'default') };
}

/** The names the relay section knows, in key-table order (rows may be added; the message lists them all). */
function relayChildren(): string {
  return [...new Set(CONFIG_KEYS.filter((k) => k.path.startsWith('relay.')).map((k) => k.path.split('.')[1]))].join(', ');
}

const file = (text: string) => ({ path: '/etc/shadowmesh/config.yaml', doc: parseConfigText(text, 'config.yaml') });

test('flags > env > file > defaults, key by key', () => {
  const cfg = resolveConfig({
    role: 'node',
    flags: flags({ startupTimeout: '40s', ca: 'flag-ca.crt' }),
    env: { SHADOWMESH_STARTUP_TIMEOUT: '30s', SHADOWMESH_P2P_RETRY_INTERVAL: '4s', SHADOWMESH_CA: '/env/ca.crt', SHADOWMESH_HOME: '/var/lib/sm' },
    file: file(`node:\n  relay: wss://r.example:8443\n  pin: sha256:${'0f'.repeat(32)}\n  cert: certs/me.crt\n  startupTimeout: 20s\n  p2p:\n    retryInterval: 3s\n    retryMax: 2m\n`),
  });
  const at = (p: string) => [cfg.get(p)?.value, cfg.get(p)?.source];
  assert.deepEqual(at('node.startupTimeout'), ['40s', 'flag']);
  assert.deepEqual(at('node.ca'), ['flag-ca.crt', 'flag']);
  assert.deepEqual(at('node.p2p.retryInterval'), ['4s', 'env']);
  assert.deepEqual(at('node.p2p.retryMax'), ['2m', 'file']);
  assert.deepEqual(at('node.cert'), ['/etc/shadowmesh/certs/me.crt', 'file'], 'relative paths in the file are relative to it');
  assert.deepEqual(at('node.p2p.deadTime'), ['1s600ms', 'default']);
  assert.deepEqual(at('node.control'), ['/var/lib/sm/control.sock', 'default'], 'home-derived defaults follow SHADOWMESH_HOME');
  assert.equal(cfg.ms('node.startupTimeout'), 40_000);
});

test('every layer is validated and all problems come back together', () => {
  try {
    resolveConfig({
      role: 'relay',
      flags: flags({ heartbeat: 'often' }),
      env: { SHADOWMESH_RELAY_MAX_CLIENTS: 'lots' },
      file: file('relay:\n  idleTimeout: forever\n  port: 1\n'),
    });
    assert.fail('expected ConfigProblems');
  } catch (err) {
    assert.ok(err instanceof ConfigProblems);
    assert.equal(err.code, 'SM_ERR_CONFIG_VALUE');
    assert.deepEqual([...err.problems].sort(), [
      '--heartbeat: expected a duration like 30s, 5m, 24h, got "often"',
      'SHADOWMESH_RELAY_MAX_CLIENTS (relay.maxClients): expected a whole number in [1, 1000000], got "lots"',
      'relay.idleTimeout: expected a duration like 30s, 5m, 24h, got "forever"',
      `relay.port: unknown key (known here: ${relayChildren()})`,
    ].sort());
  }
});

test('the P2P keys become PathManager timers and DirectTransport options, and the daemon options carry them', async () => {
  const cfg = resolveConfig({
    role: 'node',
    env: {
      SHADOWMESH_RELAY: 'wss://127.0.0.1:8443', SHADOWMESH_PIN: `sha256:${'ab'.repeat(32)}`, SHADOWMESH_CA: '/ca.crt', SHADOWMESH_CERT: '/me.crt',
      SHADOWMESH_P2P_HEALTH_CHECK_INTERVAL: '250ms', SHADOWMESH_P2P_TRUST_WINDOW: '600ms', SHADOWMESH_P2P_DEAD_TIME: '900ms',
      SHADOWMESH_P2P_RETRY_INTERVAL: '2s', SHADOWMESH_P2P_RETRY_MAX: '5m', SHADOWMESH_P2P_CONNECT_TIMEOUT: '15s', SHADOWMESH_TLS_CERT_LIFETIME: '10s',
      SHADOWMESH_P2P_HANDSHAKE_TIMEOUT: '3s', SHADOWMESH_P2P_MAX_HANDSHAKES_PER_ADDRESS: '4',
    },
  });
  const timers = resolvePathTimers(pathTimersOf(cfg));
  assert.equal(timers.probeIntervalMs, 250);
  assert.equal(timers.directTrustMs, 600);
  assert.equal(timers.directDeadMs, 900);
  assert.equal(timers.retryBaseMs, 2_000);
  assert.equal(timers.retryMaxMs, 300_000);
  assert.equal(timers.attemptTimeoutMs, 15_000, 'an attempt gets at least one connect budget');
  assert.deepEqual(directOptionsOf(cfg), {
    port: 0, connectTimeoutMs: 15_000, tlsHandshakeTimeoutMs: 3_000, maxHandshakesPerAddress: 4, certLifetimeMs: 10_000,
    udp: { port: 0, stunIntervalMs: 25_000, punchTimeoutMs: 5_000 },
  });
  const daemon = await daemonOptionsOf(cfg);
  assert.deepEqual(daemon.pathTimers, pathTimersOf(cfg));
  assert.equal(daemon.startupTimeoutMs, 15_000);
  assert.equal(daemon.device, 'tun');
});

test('a daemon built from the configuration runs its PathManager on the configured timers', async () => {
  const net = await createTestNetwork({ members: ['alice'] });
  try {
    const alice = net.member('alice');
    const cfg = resolveConfig({
      role: 'node',
      flags: flags({ dir: alice.dir, dev: 'none' }),
      env: { SHADOWMESH_RELAY: 'wss://127.0.0.1:8443', SHADOWMESH_PIN: `sha256:${'ab'.repeat(32)}`, SHADOWMESH_CA: net.caFile, SHADOWMESH_CERT: alice.certFile, SHADOWMESH_HOME: net.dir, SHADOWMESH_P2P_RETRY_INTERVAL: '7s', SHADOWMESH_P2P_HEALTH_CHECK_INTERVAL: '300ms', SHADOWMESH_P2P_MAX_HANDSHAKES_PER_ADDRESS: '3', SHADOWMESH_P2P_HANDSHAKE_TIMEOUT: '2s' },
    });
    const daemon = await NodeDaemon.load({}, await daemonOptionsOf(cfg));
    try {
      assert.equal(daemon.node.paths.timers.options.retryBaseMs, 7_000);
      assert.equal(daemon.node.paths.timers.options.probeIntervalMs, 300);
      assert.ok(daemon.node.direct !== null);
      assert.equal(daemon.node.direct.options.maxHandshakesPerAddress, 3);
      assert.equal(daemon.node.direct.options.tlsHandshakeTimeoutMs, 2_000);
    } finally {
      await daemon.stop();
    }
  } finally {
    await net.cleanup();
  }
});

test('relay rates bring a half-second burst, as the flags always did', () => {
  const o = relayServerOptionsOf(resolveConfig({ role: 'relay', env: { SHADOWMESH_CA: '/ca.crt' }, file: file('relay:\n  listen: "[::1]:9443"\n  rateFrames: 100\n') }));
  assert.equal(o.host, '::1');
  assert.equal(o.port, 9443);
  assert.equal(o.rateFramesPerSec, 100);
  assert.equal(o.rateFrameBurst, 50);
});

test('docs/configuration.md documents every key and every environment variable', () => {
  const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
  for (const k of CONFIG_KEYS) {
    assert.ok(doc.includes(`\`${k.path}\``), `docs lack ${k.path}`);
    if (k.env !== undefined) assert.ok(doc.includes(k.env), `docs lack ${k.env}`);
    if (k.flag !== undefined) assert.ok(doc.includes(k.flag), `docs lack ${k.flag}`);
  }
});

test('node.p2p.stun: relay (no list), none (no STUN), or HOST:PORT lists; anything else is a coded error naming the key', async () => {
  const { stunOf } = await import('../../src/config/component-options.js');
  assert.deepEqual(stunOf('relay'), {});
  assert.deepEqual(stunOf('none'), { stun: [] });
  assert.deepEqual(stunOf('198.51.100.1:3478, stun.example.net:19302,[2001:db8::1]:3478'), {
    stun: [{ host: '198.51.100.1', port: 3478 }, { host: 'stun.example.net', port: 19302 }, { host: '2001:db8::1', port: 3478 }],
  });
  for (const bad of ['host', 'host:0', 'host:70000', ':3478', 'a:1,']) {
    assert.throws(() => stunOf(bad), (err: Error & { code?: string }) => err.code === 'SM_ERR_CONFIG_VALUE' && err.message.includes('node.p2p.stun'), bad);
  }
});

test('the direct listener\'s handshake limits are checked like every key: a share above the global bound is refused, naming the key', () => {
  const base = { SHADOWMESH_RELAY: 'wss://127.0.0.1:8443', SHADOWMESH_PIN: `sha256:${'ab'.repeat(32)}`, SHADOWMESH_CA: '/ca.crt', SHADOWMESH_CERT: '/me.crt' };
  const defaults = directOptionsOf(resolveConfig({ role: 'node', env: base }));
  assert.ok(defaults !== false && defaults !== undefined);
  assert.equal(defaults.tlsHandshakeTimeoutMs, DEFAULT_DIRECT_TLS_HANDSHAKE_TIMEOUT_MS);
  assert.equal(defaults.maxHandshakesPerAddress, DEFAULT_DIRECT_MAX_HANDSHAKES_PER_ADDRESS);
  assert.throws(
    () => resolveConfig({ role: 'node', env: { ...base, SHADOWMESH_P2P_MAX_HANDSHAKES_PER_ADDRESS: '1000', SHADOWMESH_P2P_HANDSHAKE_TIMEOUT: 'never' } }),
    (err: Error) =>
      /SHADOWMESH_P2P_MAX_HANDSHAKES_PER_ADDRESS \(node\.p2p\.maxHandshakesPerAddress\): expected a whole number in \[1, 256\], got 1000/.test(err.message) &&
      /SHADOWMESH_P2P_HANDSHAKE_TIMEOUT \(node\.p2p\.handshakeTimeout\)/.test(err.message),
  );
});

test('node.p2p.wss false (--no-wss) reaches the direct options; with UDP also off, or with a WSS port set, it is a problem naming the key', () => {
  const base = { SHADOWMESH_RELAY: 'wss://127.0.0.1:8443', SHADOWMESH_PIN: `sha256:${'ab'.repeat(32)}`, SHADOWMESH_CA: '/ca.crt', SHADOWMESH_CERT: '/me.crt' };
  const on = directOptionsOf(resolveConfig({ role: 'node', env: base }));
  assert.ok(on !== false && on !== undefined);
  assert.equal(on.wss, undefined, 'WSS is on by default');
  const off = directOptionsOf(resolveConfig({ role: 'node', env: base, flags: flags({ wss: false }) }));
  assert.ok(off !== false && off !== undefined);
  assert.equal(off.wss, false);
  assert.notEqual(off.udp, false, 'UDP stays on');
  assert.throws(
    () => resolveConfig({ role: 'node', env: { ...base, SHADOWMESH_P2P_WSS: 'false', SHADOWMESH_P2P_UDP: 'false' } }),
    (err: Error) => /node\.p2p\.wss/.test(err.message) && /no carrier/.test(err.message),
  );
  assert.throws(
    () => resolveConfig({ role: 'node', env: { ...base, SHADOWMESH_P2P_WSS: 'false', SHADOWMESH_P2P_PORT: '4433' } }),
    (err: Error) => /node\.p2p\.port/.test(err.message) && /--no-wss/.test(err.message),
  );
});

test('relays: --relay URL with --pin, repeated --relay URL#PINS entries, or node.relays alone; the list keeps node.relay first and the given order', async () => {
  const { relaysOf } = await import('../../src/config/component-options.js');
  const pinA = `sha256:${'0a'.repeat(32)}`;
  const pinB = `sha256:${'0b'.repeat(32)}`;
  const base = { SHADOWMESH_CA: '/ca.crt', SHADOWMESH_CERT: '/me.crt' };
  // The old form: one relay, one pin set, no relay set built.
  assert.deepEqual(relaysOf(resolveConfig({ role: 'node', env: base, flags: flags({ relay: ['wss://r1.example:8443'], pin: `${pinA},${pinB}` }) })), {
    relayUrl: 'wss://r1.example:8443',
    pin: [pinA, pinB],
  });
  // Only entries with their pins: node.relays alone is enough, no node.relay or node.pin needed.
  const many = resolveConfig({ role: 'node', env: base, flags: flags({ relay: [`wss://r2.example:8443#${pinB}`, `wss://r1.example:8443#${pinA}`, `wss://r3.example:8443#${pinA},${pinB}`] }) });
  assert.equal(many.get('node.relays')?.origin, '--relay');
  assert.equal(many.isSet('node.relay'), false);
  assert.deepEqual(relaysOf(many), {
    relayUrl: 'wss://r2.example:8443',
    pin: [pinB],
    relays: [
      { url: 'wss://r2.example:8443', pins: [pinB] },
      { url: 'wss://r1.example:8443', pins: [pinA] },
      { url: 'wss://r3.example:8443', pins: [pinA, pinB] },
    ],
  });
  // One entry alone is a single relay, like --relay URL --pin PIN.
  assert.deepEqual(relaysOf(resolveConfig({ role: 'node', env: base, flags: flags({ relay: [`wss://r2.example:8443#${pinB}`] }) })), { relayUrl: 'wss://r2.example:8443', pin: [pinB] });
  // Mixed: the relay without a pin takes --pin and comes first; SHADOWMESH_RELAYS alone works too.
  const mixed = relaysOf(resolveConfig({ role: 'node', env: base, flags: flags({ relay: [`wss://r2.example:8443#${pinB}`, 'wss://r1.example:8443'], pin: pinA }) }));
  assert.deepEqual(mixed.relays?.map((r) => r.url), ['wss://r1.example:8443', 'wss://r2.example:8443']);
  const fromEnv = relaysOf(resolveConfig({ role: 'node', env: { ...base, SHADOWMESH_RELAYS: `wss://r1.example:8443#${pinA} wss://r2.example:8443#${pinB}` } }));
  assert.deepEqual(fromEnv.relays?.map((r) => r.url), ['wss://r1.example:8443', 'wss://r2.example:8443']);
  const fromFile = relaysOf(resolveConfig({ role: 'node', env: base, file: file(`node:\n  relays:\n    - wss://r3.example:8443#${pinA}\n    - wss://r1.example:8443#${pinB}\n`) }));
  assert.deepEqual(fromFile.relays?.map((r) => r.url), ['wss://r3.example:8443', 'wss://r1.example:8443']);
  // The daemon's options carry the same list.
  const o = await daemonOptionsOf(many);
  assert.equal(o.relayUrl, 'wss://r2.example:8443');
  assert.equal(o.relays?.length, 3);
});

test('relays: malformed --relay values, a relay without its pin, a relay listed twice, and no relay at all are coded problems naming what was written', () => {
  const pinA = `sha256:${'0a'.repeat(32)}`;
  const base = { SHADOWMESH_CA: '/ca.crt', SHADOWMESH_CERT: '/me.crt' };
  const problemsOf = (f: Record<string, unknown>, env: Record<string, string> = base): readonly string[] => {
    try {
      resolveConfig({ role: 'node', env, flags: flags(f) });
    } catch (err) {
      assert.ok(err instanceof ConfigProblems);
      assert.equal(err.code, 'SM_ERR_CONFIG_VALUE');
      return err.problems;
    }
    assert.fail(`accepted ${JSON.stringify(f)}`);
  };
  assert.deepEqual(problemsOf({ relay: ['http://r1.example:8443', `wss://r2.example:8443#sha256:00`] }), [
    '--relay: expected wss://HOST:PORT (its pin set in --pin) or wss://HOST:PORT#PIN[,PIN...], got "http://r1.example:8443"',
    '--relay: expected wss://HOST:PORT (its pin set in --pin) or wss://HOST:PORT#PIN[,PIN...], got "wss://r2.example:8443#sha256:00"',
  ]);
  assert.deepEqual(problemsOf({ relay: ['wss://r1.example:8443', `wss://r2.example:8443#${pinA}`] }), [
    '--relay: has no node.pin (--pin): the two go together; a relay written wss://HOST:PORT#PIN in node.relays carries its own pins',
  ]);
  assert.deepEqual(problemsOf({ relay: [`wss://r2.example:8443#${pinA}`], pin: pinA }), [
    '--pin: has no node.relay (--relay URL): the two go together; a relay written wss://HOST:PORT#PIN in node.relays carries its own pins',
  ]);
  assert.match(problemsOf({ relay: ['wss://r1.example:8443', `wss://r1.example:8443#${pinA}`], pin: pinA })[0]!, /^--relay: lists wss:\/\/r1\.example:8443 twice/);
  assert.deepEqual(problemsOf({}), [
    'node.relay: required; set it with --relay, SHADOWMESH_RELAY, node.relay in the config file (or set node.relays)',
    'node.pin: required; set it with --pin, SHADOWMESH_PIN, node.pin in the config file (or set node.relays)',
  ]);
});

test('requireRoleKeys: false reads the role\'s section without requiring its keys (netcheck); the schema still applies', () => {
  assert.throws(() => resolveConfig({ role: 'node', env: {} }), (err: unknown) => err instanceof ConfigProblems && err.problems.some((p) => p.startsWith('node.relay: required')));
  const cfg = resolveConfig({ role: 'node', requireRoleKeys: false, env: { SHADOWMESH_P2P_STUN: '192.0.2.1:3478' } });
  assert.equal(cfg.string('node.relay'), undefined);
  assert.equal(cfg.string('node.p2p.stun'), '192.0.2.1:3478');
  assert.throws(() => resolveConfig({ role: 'node', requireRoleKeys: false, env: { SHADOWMESH_RELAY: 'http://x' } }), ConfigProblems);
});
