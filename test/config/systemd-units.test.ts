/**
 * deploy/systemd units, read as systemd reads them (sections, Key=Value,
 * repeated keys, `#` comments): the node gets CAP_NET_ADMIN and nothing
 * more, the relay no capability; both run as their own user, sandboxed,
 * restarted on failure, report readiness themselves (Type=notify) and start
 * the installed command. The example config files pass `config check`.
 * What systemd itself says of them: test/repo/systemd-analyze.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runCliAsync } from '../../testkit/daemon-process.js';
import { CONFIG_ENV, HOME_ENV } from '../../src/config/config-keys.js';

const UNITS_DIR = fileURLToPath(new URL('../../../deploy/systemd/', import.meta.url));

type Unit = Map<string, Map<string, string[]>>;

/** A minimal systemd unit parser: enough to check the keys these units rely on. */
function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | null = null;
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const head = /^\[([A-Za-z]+)\]$/.exec(line);
    if (head) {
      section = new Map();
      unit.set(head[1] as string, section);
      continue;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    assert.ok(kv && section, `line ${i + 1}: not Key=Value inside a section: ${raw}`);
    const [, key, value] = kv as unknown as [string, string, string];
    section.set(key, [...(section.get(key) ?? []), value]);
  }
  return unit;
}

function load(name: string): Unit {
  return parseUnit(readFileSync(UNITS_DIR + name, 'utf8'));
}

function one(unit: Unit, section: string, key: string): string | undefined {
  const values = unit.get(section)?.get(key);
  return values === undefined ? undefined : values[values.length - 1];
}

function commonChecks(unit: Unit, user: string, command: string, extraEnv: readonly string[] = []): void {
  assert.deepEqual([...unit.keys()], ['Unit', 'Service', 'Install']);
  assert.equal(one(unit, 'Service', 'User'), user);
  assert.notEqual(one(unit, 'Service', 'User'), 'root');
  assert.equal(one(unit, 'Service', 'Restart'), 'on-failure');
  assert.equal(one(unit, 'Service', 'NoNewPrivileges'), 'yes');
  assert.equal(one(unit, 'Service', 'ProtectSystem'), 'strict');
  assert.equal(one(unit, 'Service', 'ProtectHome'), 'yes');
  assert.equal(one(unit, 'Install', 'WantedBy'), 'multi-user.target');
  assert.equal(one(unit, 'Service', 'Type'), 'notify', 'ready is reported by the daemon itself (src/cli/service-notify.ts)');
  assert.equal(one(unit, 'Service', 'ExecStart'), `/usr/bin/shadowmesh ${command}`);
  assert.match(one(unit, 'Service', 'ExecStartPre') ?? '', /^\/usr\/bin\/shadowmesh config check --role (node|relay)$/);
  const env = unit.get('Service')?.get('Environment') ?? [];
  const names = env.map((e) => e.split('=')[0]);
  assert.deepEqual(names.sort(), [CONFIG_ENV, HOME_ENV, ...extraEnv].sort());
  const home = env.find((e) => e.startsWith(`${HOME_ENV}=`))!.split('=')[1]!;
  assert.equal(home, `/var/lib/${one(unit, 'Service', 'StateDirectory')}`, 'SHADOWMESH_HOME is the StateDirectory systemd creates for the user');
}

test('the node unit: its own user, CAP_NET_ADMIN only (ambient and bounding), sandboxed, restarted on failure', () => {
  const unit = load('shadowmesh-node.service');
  commonChecks(unit, 'shadowmesh', 'up');
  assert.equal(one(unit, 'Service', 'AmbientCapabilities'), 'CAP_NET_ADMIN');
  assert.equal(one(unit, 'Service', 'CapabilityBoundingSet'), 'CAP_NET_ADMIN');
  assert.equal(one(unit, 'Service', 'PrivateDevices'), undefined, 'the node needs /dev/net/tun');
  assert.match(one(unit, 'Service', 'RestrictAddressFamilies') ?? '', /AF_NETLINK/);
});

test('the relay unit: its own user, no capability at all, reload is SIGHUP', () => {
  const unit = load('shadowmesh-relay.service');
  commonChecks(unit, 'shadowmesh-relay', 'relay', ['LD_PRELOAD', 'MALLOC_CONF']);
  const env = unit.get('Service')?.get('Environment') ?? [];
  assert.ok(env.includes('LD_PRELOAD=libjemalloc.so.2'), 'the relay runs on jemalloc (docs/configuration.md "Relay memory")');
  assert.ok(env.some((e) => /^MALLOC_CONF=.*dirty_decay_ms:0/.test(e)), 'freed pages go back to the kernel at once');
  assert.equal(one(unit, 'Service', 'CapabilityBoundingSet'), '');
  assert.equal(one(unit, 'Service', 'AmbientCapabilities'), '');
  assert.equal(one(unit, 'Service', 'PrivateDevices'), 'yes');
  assert.equal(one(unit, 'Service', 'ExecReload'), '/bin/kill -HUP $MAINPID');
});

test('the example config files pass config check', async () => {
  for (const name of ['node.yaml.example', 'relay.yaml.example']) {
    const r = await runCliAsync(['config', 'check', '--config', UNITS_DIR + name], { SHADOWMESH_HOME: '/nonexistent-shadowmesh-home' });
    assert.equal(r.status, 0, `${name}: ${r.stderr}`);
    assert.equal(r.stdout, 'ok\n');
  }
});

test('the relay cluster example passes config check with the NATS password from the environment, and not without it', async () => {
  const file = UNITS_DIR + 'relay-cluster.yaml.example';
  const ok = await runCliAsync(['config', 'check', '--config', file], { SHADOWMESH_HOME: '/nonexistent-shadowmesh-home', SHADOWMESH_RELAY_CLUSTER_PASSWORD: 'example' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout, 'ok\n');
  const missing = await runCliAsync(['config', 'check', '--config', file], { SHADOWMESH_HOME: '/nonexistent-shadowmesh-home' });
  assert.notEqual(missing.status, 0);
  assert.match(missing.stderr, /relay\.cluster/);
});

test('the nats-server unit runs the Debian binary with the cluster config, unprivileged', () => {
  const unit = load('nats-server.service');
  assert.equal(one(unit, 'Service', 'ExecStart'), '/usr/sbin/nats-server -c /etc/nats/nats-server.conf');
  assert.equal(one(unit, 'Service', 'CapabilityBoundingSet'), '');
  assert.equal(one(unit, 'Service', 'NoNewPrivileges'), 'yes');
});
