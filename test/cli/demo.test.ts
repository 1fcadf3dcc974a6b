import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeMissing, missingNetnsPrerequisites, TUN_DEVICE, type PrerequisiteProbe } from '../../src/demo/prerequisites.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

test('shadowmesh demo --userspace runs a local mesh: both members admitted, session established, every ping answered', () => {
  const r = spawnSync(process.execPath, [MAIN, 'demo', '--userspace', '--count', '3'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /relay listening on wss:\/\/127\.0\.0\.1:\d+ pin sha256:[0-9a-f]{64}/);
  assert.match(r.stdout, /both members admitted/);
  assert.match(r.stdout, /end-to-end session alice <-> bob established/);
  assert.match(r.stdout, /ping 3: alice -> bob -> alice [\d.]+ ms via relay/);
  assert.match(r.stdout, /3\/3 pings answered/);
});

test('shadowmesh demo refuses a bad --count with one line and exit 1', () => {
  const r = spawnSync(process.execPath, [MAIN, 'demo', '--count', 'zero'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^shadowmesh: --count: expected a whole number >= 1, got "zero" \(SM_ERR_CONFIG_VALUE\)\n$/);
});

test('as root, shadowmesh demo runs the mesh in namespaces with TAP devices, pings through it and removes every namespace', { skip: process.getuid?.() !== 0 ? 'needs root (CI runs as root)' : false }, () => {
  const r = spawnSync(process.execPath, [MAIN, 'demo', '--count', '3'], { encoding: 'utf8', timeout: 180_000 });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /in network namespaces \(sm-[0-9a-f]{6}-\*\)/);
  assert.match(r.stdout, /alice up in sm-[0-9a-f]{6}-alice: TAP sm0 10\.10\.10\.3\/24/);
  assert.match(r.stdout, /first ping alice -> bob answered/);
  assert.match(r.stdout, /ping 1: 10\.10\.10\.3 -> 10\.10\.10\.4 [\d.]+ ms; alice's session with bob: path (relay|direct (udp|wss) to 172\.31\.0\.\d+:\d+), frames out\/in \d+\/\d+/);
  assert.match(r.stdout, /3\/3 pings answered/);
  const id = /\((sm-[0-9a-f]{6})-\*\)/.exec(r.stdout)![1]!;
  const after = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  assert.ok(!after.includes(id), `namespaces of ${id} left behind:\n${after}`);
});

function probe(executables: string[], files: string[], path = '/usr/sbin:/usr/bin'): PrerequisiteProbe {
  return { path, isExecutable: (f) => executables.includes(f), exists: (f) => files.includes(f) };
}

test('the namespace demo names each missing prerequisite with its Debian package, and nothing when all are there', () => {
  assert.deepEqual(missingNetnsPrerequisites(probe(['/usr/sbin/ip', '/usr/bin/ping'], [TUN_DEVICE])), []);
  const noPing = missingNetnsPrerequisites(probe(['/usr/sbin/ip'], [TUN_DEVICE]));
  assert.deepEqual(noPing.map((m) => m.what), ['`ping`']);
  assert.match(noPing[0]!.remedy, /apt-get install .*iputils-ping$/);
  const none = missingNetnsPrerequisites(probe([], [], ''));
  assert.deepEqual(none.map((m) => m.what), ['`ip`', '`ping`', `${TUN_DEVICE} (the TUN/TAP driver)`]);
  assert.match(describeMissing(none), /iproute2.*iputils-ping.*modprobe tun.*shadowmesh demo --userspace$/);
  // A directory entry that is not executable does not count.
  assert.equal(missingNetnsPrerequisites(probe(['/usr/sbin/ip', '/opt/ping'], [TUN_DEVICE])).length, 1);
});

test('as root without ping, shadowmesh demo says at once what to install: one coded line, exit 1, no namespace made', { skip: process.getuid?.() !== 0 ? 'needs root (CI runs as root)' : false }, () => {
  const bin = mkdtempSync(join(tmpdir(), 'sm-demo-path-'));
  try {
    // A search path with iproute2's `ip` but no `ping`.
    const ip = spawnSync('sh', ['-c', 'command -v ip'], { encoding: 'utf8' }).stdout.trim();
    assert.ok(ip !== '', 'this machine has no `ip`');
    symlinkSync(ip, join(bin, 'ip'));
    const before = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    const r = spawnSync(process.execPath, [MAIN, 'demo', '--count', '1'], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, PATH: bin } });
    assert.equal(r.status, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /^shadowmesh: the namespace demo needs `ping` \(apt-get install -y --no-install-recommends iputils-ping\); or run the userspace mesh instead: shadowmesh demo --userspace \(SM_ERR_DEMO_PREREQUISITES\)\n$/);
    assert.equal(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout, before, 'a namespace was created');
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});
