/**
 * Configuration as a user meets it, through real CLI processes on 127.0.0.1:
 * `config check` reports every problem of a file at once with its path;
 * flags > SHADOWMESH_* > file > defaults, seen through `config show --json`
 * and through the port a relay actually listens on; `relay` and `up` run
 * from a config file alone.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { CLI_MAIN_PATH, parseRelayStartupLine, startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';
import { runCliAsync, startDaemon, waitFor } from '../../testkit/daemon-process.js';
import { freePort } from '../../testkit/free-port.js';

let dir: string;
let net: TestNetwork;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sm-config-'));
  net = await createTestNetwork({ members: ['alice'] });
});

after(async () => {
  await net?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function writeConfig(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

/** An isolated home, so no ~/.shadowmesh/config.yaml of the machine is read. */
function env(extra: Record<string, string> = {}): Record<string, string> {
  return { SHADOWMESH_HOME: join(dir, 'home'), ...extra };
}

interface Shown {
  config: { node: Record<string, unknown> & { p2p: Record<string, unknown> }; relay: Record<string, unknown>; log: Record<string, unknown> };
  sources: Record<string, string>;
}

async function show(args: string[], extraEnv: Record<string, string> = {}): Promise<Shown> {
  const r = await runCliAsync(['config', 'show', '--json', ...args], env(extraEnv));
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Shown;
}

test('config check reports every problem of an invalid file at once, each with its path and the expected form', async () => {
  const file = await writeConfig('bad.yaml', [
    'log:',
    '  level: loud',
    'node:',
    '  relay: http://relay.example',
    '  mtu: 9',
    '  p2p:',
    '    retryInterval: soon',
    '    healthCheckIntervall: 1s',
    'relay:',
    '  heartbeat: 5',
    '  maxClients: many',
    'colour: blue',
    '',
  ].join('\n'));
  const r = await runCliAsync(['config', 'check', '--config', file], env());
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stdout, '');
  const expected: RegExp[] = [
    /^ {2}log\.level: expected one of debug, info, warn, error, silent, got "loud"$/m,
    /^ {2}node\.relay: expected wss:\/\/HOST:PORT, got "http:\/\/relay\.example"$/m,
    /^ {2}node\.mtu: expected a whole number in \[1280, 65535\], got 9$/m,
    /^ {2}node\.p2p\.retryInterval: expected a duration like 30s, 5m, 24h, got "soon"$/m,
    /^ {2}node\.p2p\.healthCheckIntervall: unknown key \(known here: .*healthCheckInterval/m,
    /^ {2}relay\.heartbeat: expected a duration like 30s, 5m, 24h, got 5$/m,
    /^ {2}relay\.maxClients: expected a whole number in \[1, 1000000\], got "many"$/m,
    /^ {2}colour: unknown key \(known here: log, node, relay\)$/m,
  ];
  for (const re of expected) assert.match(r.stderr, re);
  assert.match(r.stderr, /^shadowmesh: 8 configuration problems \(SM_ERR_CONFIG_VALUE\):$/m);
  assert.ok(!r.stderr.includes('    at '), 'no stack trace');
});

test('config check: YAML syntax errors name the line; a good file says ok; --role requires what the role needs', async () => {
  const broken = await writeConfig('broken.yaml', 'node:\n  relay: [unclosed\n');
  const b = await runCliAsync(['config', 'check', '--config', broken], env());
  assert.equal(b.status, 1);
  assert.match(b.stderr, /not valid YAML.*line \d+, column \d+/s);
  assert.match(b.stderr, /SM_ERR_CONFIG_FILE/);

  const good = await writeConfig('good.yaml', '# a relay\nrelay:\n  listen: 127.0.0.1:9443\n  heartbeat: 30s\n');
  const ok = await runCliAsync(['config', 'check', '--config', good], env());
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout, 'ok\n');
  const role = await runCliAsync(['config', 'check', '--config', good, '--role', 'relay'], env());
  assert.equal(role.status, 1);
  assert.match(role.stderr, /relay\.ca: required; set it with --ca, SHADOWMESH_CA, relay\.ca in the config file/);
  const withCa = await runCliAsync(['config', 'check', '--config', good, '--role', 'relay'], env({ SHADOWMESH_CA: '/etc/shadowmesh/ca.crt' }));
  assert.equal(withCa.status, 0, withCa.stderr);
});

test('cross-key rules are checked too: a trust window not longer than the probe interval, idle timeout not above heartbeat', async () => {
  const file = await writeConfig('cross.yaml', 'node:\n  p2p:\n    healthCheckInterval: 2s\n    trustWindow: 1s\nrelay:\n  heartbeat: 1m\n  idleTimeout: 30s\n');
  const r = await runCliAsync(['config', 'check', '--config', file], env());
  assert.equal(r.status, 1);
  assert.match(r.stderr, /node\.p2p\.trustWindow: must be longer than node\.p2p\.healthCheckInterval \(2s\)/);
  assert.match(r.stderr, /relay\.idleTimeout: must be longer than relay\.heartbeat \(1m\)/);
  const envBad = await runCliAsync(['config', 'check'], env({ SHADOWMESH_P2P_CONNECT_TIMEOUT: 'later' }));
  assert.equal(envBad.status, 1);
  assert.match(envBad.stderr, /SHADOWMESH_P2P_CONNECT_TIMEOUT \(node\.p2p\.connectTimeout\): expected a duration like 30s, 5m, 24h, got "later"/);
});

test('precedence env > file > defaults in config show --json, with each value\'s source', async () => {
  const file = await writeConfig('layers.yaml', 'node:\n  relay: wss://file.example:8443\n  startupTimeout: 20s\n  p2p:\n    retryInterval: 2s\n');
  const defaults = await show(['--config', await writeConfig('empty.yaml', '')]);
  assert.equal(defaults.config.node.p2p['retryInterval'], '1s');
  assert.equal(defaults.sources['node.p2p.retryInterval'], 'default');
  assert.equal(defaults.config.node['control'], join(dir, 'home', 'control.sock'));

  const fromFile = await show(['--config', file]);
  assert.equal(fromFile.config.node.p2p['retryInterval'], '2s');
  assert.equal(fromFile.sources['node.p2p.retryInterval'], `file ${file}`);
  assert.equal(fromFile.config.node['relay'], 'wss://file.example:8443');

  const fromEnv = await show(['--config', file], { SHADOWMESH_P2P_RETRY_INTERVAL: '30s', SHADOWMESH_RELAY: 'wss://env.example:443', SHADOWMESH_TLS_CERT_LIFETIME: '10s', SHADOWMESH_LOG_LEVEL: 'debug' });
  assert.equal(fromEnv.config.node.p2p['retryInterval'], '30s');
  assert.equal(fromEnv.sources['node.p2p.retryInterval'], 'env SHADOWMESH_P2P_RETRY_INTERVAL');
  assert.equal(fromEnv.config.node['relay'], 'wss://env.example:443');
  assert.equal((fromEnv.config.node['tls'] as Record<string, unknown>)['certLifetime'], '10s');
  assert.equal(fromEnv.config.log['level'], 'debug');
  assert.equal(fromEnv.config.node['startupTimeout'], '20s', 'a key the environment does not set stays from the file');

  // The home directory's config.yaml is read when no --config is given.
  const home = join(dir, 'home2');
  await rm(home, { recursive: true, force: true });
  await import('node:fs/promises').then((fs) => fs.mkdir(home, { recursive: true }));
  await writeFile(join(home, 'config.yaml'), 'node:\n  dev: none\n');
  const implicit = await show([], { SHADOWMESH_HOME: home });
  assert.equal(implicit.config.node['dev'], 'none');
  assert.equal(implicit.sources['node.dev'], `file ${join(home, 'config.yaml')}`);
});

test('config show redacts secrets and notes each source as a YAML comment', async () => {
  const file = await writeConfig('secret.yaml', 'node:\n  passphrase: correct horse battery staple\n');
  const r = await runCliAsync(['config', 'show', '--config', file], env({ SHADOWMESH_PIN: `sha256:${'ab'.repeat(32)}` }));
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!r.stdout.includes('correct horse'), 'the passphrase never appears');
  assert.match(r.stdout, /passphrase: <redacted> # file /);
  assert.match(r.stdout, /pin: sha256:(ab){32} # env SHADOWMESH_PIN/);
  assert.match(r.stdout, /retryInterval: 1s # default/);
  const envSecret = await runCliAsync(['config', 'show', '--json'], env({ SHADOWMESH_PASSPHRASE: 'hunter2-secret' }));
  assert.equal(envSecret.status, 0, envSecret.stderr);
  assert.ok(!envSecret.stdout.includes('hunter2-secret'));
});

/** Spawn `relay ARGS` and resolve with its startup line, then stop it (by pid). */
async function relayStartupPort(args: string[], extraEnv: Record<string, string>): Promise<number> {
  const child = spawn(process.execPath, [CLI_MAIN_PATH, 'relay', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] ?? '', ...env(extraEnv) } });
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      let err = '';
      const timer = setTimeout(() => reject(new Error(`no startup line; stderr: ${err}`)), 15_000);
      child.stderr!.setEncoding('utf8').on('data', (c: string) => { err += c; });
      child.stdout!.setEncoding('utf8').on('data', (c: string) => {
        out += c;
        const nl = out.indexOf('\n');
        if (nl >= 0) { clearTimeout(timer); resolve(out.slice(0, nl)); }
      });
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`relay exited ${String(code)}: ${err}`)); });
    });
    const parsed = parseRelayStartupLine(line);
    assert.ok(parsed, line);
    assert.equal(parsed.host, '127.0.0.1');
    return parsed.port;
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
    await exited;
  }
}

test('a relay started from a config file listens where the file says; SHADOWMESH_RELAY_LISTEN beats the file and --listen beats both', async () => {
  const [filePort, envPort, flagPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const file = await writeConfig('relay.yaml', `relay:\n  listen: 127.0.0.1:${filePort}\n  ca: ${net.caFile}\n  data: relay-data\n  heartbeat: 10s\n`);
  assert.equal(await relayStartupPort(['--config', file], {}), filePort);
  assert.equal(await relayStartupPort(['--config', file], { SHADOWMESH_RELAY_LISTEN: `127.0.0.1:${envPort}` }), envPort);
  assert.equal(await relayStartupPort(['--config', file, '--listen', `127.0.0.1:${flagPort}`], { SHADOWMESH_RELAY_LISTEN: `127.0.0.1:${envPort}` }), flagPort);
});

test('up runs from a config file alone (relay, pin, CA, certificate, device, p2p and control all from it)', async () => {
  let relay: RelayProcess | undefined;
  try {
    relay = await startRelayProcess({ caFile: net.caFile });
    const alice = net.member('alice');
    const control = join(dir, 'alice.sock');
    const file = await writeConfig('node.yaml', [
      'node:',
      `  relay: ${relay.url}`,
      `  pin: ${relay.pin}`,
      `  ca: ${net.caFile}`,
      `  cert: ${alice.certFile}`,
      `  dir: ${alice.dir}`,
      '  dev: none',
      `  control: ${control}`,
      '  startupTimeout: 20s',
      '  p2p:',
      '    listen: 127.0.0.1',
      '    retryInterval: 3s',
      '    connectTimeout: 5s',
      '  tls:',
      '    certLifetime: 1h',
      '',
    ].join('\n'));
    const check = await runCliAsync(['config', 'check', '--config', file, '--role', 'node'], env());
    assert.equal(check.status, 0, check.stderr);
    const d = await startDaemon(['--config', file], env());
    try {
      assert.match(d.readyLine, new RegExp(`^node [0-9a-f]{8} up: device none \\S+ via relay ${relay.url.replace(/[.]/g, '\\.')}$`));
      const st = await runCliAsync(['status', '--json', '--control', control], env());
      assert.equal(st.status, 0, st.stderr);
    } finally {
      assert.equal(await d.stop(), 0);
    }
  } finally {
    await relay?.stop();
  }
});

/** GET http://host:port/path over plain HTTP; status and body. */
async function httpGet(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.text() };
}

/** The metrics URL a process logged ("metrics listening", url …/metrics). */
function metricsUrlIn(stderr: string): string | undefined {
  for (const l of stderr.split('\n')) {
    if (!l.startsWith('{')) continue;
    const r = JSON.parse(l) as Record<string, unknown>;
    if (r['msg'] === 'metrics listening') return String(r['url']);
  }
  return undefined;
}

test('the metrics listener and the relay certificate lifetime are keys: file, SHADOWMESH_METRICS_LISTEN and --metrics, checked and shown like every other', async () => {
  const file = await writeConfig('metrics.yaml', 'node:\n  metrics:\n    listen: 127.0.0.1:9469\nrelay:\n  metrics:\n    listen: "[::1]:9470"\n  tls:\n    certLifetime: 1h\n');
  const shown = await show(['--config', file]);
  assert.equal((shown.config.node['metrics'] as Record<string, unknown>)['listen'], '127.0.0.1:9469');
  assert.equal((shown.config.relay['metrics'] as Record<string, unknown>)['listen'], '[::1]:9470');
  assert.equal((shown.config.relay['tls'] as Record<string, unknown>)['certLifetime'], '1h');
  const fromEnv = await show(['--config', file], { SHADOWMESH_METRICS_LISTEN: '127.0.0.1:9999', SHADOWMESH_RELAY_TLS_CERT_LIFETIME: '2h' });
  assert.equal(fromEnv.sources['node.metrics.listen'], 'env SHADOWMESH_METRICS_LISTEN');
  assert.equal(fromEnv.sources['relay.metrics.listen'], 'env SHADOWMESH_METRICS_LISTEN', 'one variable for both roles');
  assert.equal((fromEnv.config.relay['tls'] as Record<string, unknown>)['certLifetime'], '2h');
  assert.equal((fromEnv.config.node['tls'] as Record<string, unknown>)['certLifetime'], '1d', 'the direct-path lifetime is another key');

  const bad = await writeConfig('metrics-bad.yaml', `relay:\n  ca: ${net.caFile}\n  cert: /etc/relay.pem\n  key: /etc/relay.key\n  metrics:\n    listen: localhost\n  tls:\n    certLifetime: 5s\n`);
  const r = await runCliAsync(['config', 'check', '--config', bad, '--role', 'relay'], env());
  assert.equal(r.status, 1);
  assert.match(r.stderr, /relay\.metrics\.listen: expected HOST:PORT or \[IPV6\]:PORT, e\.g\. 127\.0\.0\.1:9469, got "localhost"/);
  assert.match(r.stderr, /relay\.tls\.certLifetime: expected a duration like 30s, 5m, 24h, at least 10s, got "5s"/);
  const mixed = await writeConfig('lifetime-with-cert.yaml', `relay:\n  ca: ${net.caFile}\n  cert: /etc/relay.pem\n  key: /etc/relay.key\n  tls:\n    certLifetime: 1h\n`);
  const r2 = await runCliAsync(['config', 'check', '--config', mixed, '--role', 'relay'], env());
  assert.equal(r2.status, 1);
  assert.match(r2.stderr, /relay\.tls\.certLifetime: sets the lifetime of the self-signed certificate; an operator certificate/);
});

test('relay and up serve /metrics at the address of their config file', async () => {
  const relayFile = await writeConfig('relay-metrics.yaml', `relay:\n  metrics:\n    listen: 127.0.0.1:0\n  tls:\n    certLifetime: 1h\n`);
  let relay: RelayProcess | undefined;
  try {
    relay = await startRelayProcess({ caFile: net.caFile, args: ['--config', relayFile], env: env() });
    const url = await waitFor('the relay logs its metrics address', async () => metricsUrlIn(relay!.stderr()));
    const m = await httpGet(url);
    assert.equal(m.status, 200);
    assert.match(m.body, /^shadowmesh_relay_connections_active 0$/m);
    const cert = relay.stderr();
    assert.ok(!/TLS certificate renewed/.test(cert), 'a 1 h certificate is not renewed at once');

    const alice = net.member('alice');
    const nodeFile = await writeConfig('node-metrics.yaml', [
      'node:', `  relay: ${relay.url}`, `  pin: ${relay.pin}`, `  ca: ${net.caFile}`, `  cert: ${alice.certFile}`, `  dir: ${alice.dir}`,
      '  dev: none', `  control: ${join(dir, 'alice-m.sock')}`, '  p2p:', '    enabled: false', '  metrics:', '    listen: 127.0.0.1:0', '',
    ].join('\n'));
    const d = await startDaemon(['--config', nodeFile], env());
    try {
      const nodeUrl = await waitFor('the node logs its metrics address', async () => metricsUrlIn(d.stderr()));
      const ready = await httpGet(nodeUrl.replace(/\/metrics$/, '/ready'));
      assert.equal(ready.status, 200, ready.body);
      assert.match((await httpGet(nodeUrl)).body, /^# TYPE shadowmesh_/m);
    } finally {
      await d.stop();
    }
  } finally {
    await relay?.stop();
  }
});
