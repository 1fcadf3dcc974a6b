/**
 * The service units in deploy/systemd/ (docs/configuration.md "Running under
 * systemd") are valid and stay hardened:
 *
 *  - `systemd-analyze verify` accepts both. It also insists that ExecStart's
 *    binary exists, and the shipped units honestly name /usr/bin/shadowmesh
 *    (where `npm i -g` puts it), so each is verified as a temporary copy
 *    whose /usr/bin/shadowmesh points at a stub script.
 *  - `systemd-analyze security --offline=true` rates each at or below the
 *    exposure measured when the hardening was written (systemd 252, Debian
 *    12): node 2.0, relay 1.5 (both were 5.2 and 4.4 as Type=simple units
 *    with the first sandbox). A loosened unit scores higher and fails here;
 *    if a newer systemd weighs settings differently, re-measure and record
 *    the new numbers with the version.
 *  - The settings the design depends on are spelled out, so removing one
 *    fails with its name even where the score would hide it: Type=notify,
 *    the capability sets, the system call filter, the device allow list,
 *    and no MemoryDenyWriteExecute (V8's JIT needs writable-then-executable
 *    memory).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../testkit/repo-root.js';

/** systemd-analyze reads one unit in well under a second; generous for a loaded machine. */
const ANALYZE_TIMEOUT_MS = 60_000;
/** Where the shipped units expect the command (`npm i -g` with Node in /usr). */
const SHIPPED_BINARY = '/usr/bin/shadowmesh';

/** Highest exposure accepted per unit, as measured with systemd 252 (see the header). */
const MAX_EXPOSURE: Readonly<Record<string, number>> = Object.freeze({
  'shadowmesh-node.service': 2.0,
  'shadowmesh-relay.service': 1.5,
});

/** Settings both units must hold, exactly as written. */
const COMMON: readonly string[] = [
  'Type=notify',
  'NotifyAccess=main',
  'NoNewPrivileges=yes',
  'ProtectSystem=strict',
  'ProtectHome=yes',
  'PrivateTmp=yes',
  'SystemCallFilter=@system-service',
  'SystemCallArchitectures=native',
  'RestrictNamespaces=yes',
  'LockPersonality=yes',
  'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK',
];
const PER_UNIT: Readonly<Record<string, readonly string[]>> = Object.freeze({
  'shadowmesh-node.service': ['CapabilityBoundingSet=CAP_NET_ADMIN', 'AmbientCapabilities=CAP_NET_ADMIN', 'DevicePolicy=closed', 'DeviceAllow=/dev/net/tun rw', 'StateDirectory=shadowmesh'],
  // jemalloc with immediate purging: the relay's memory per member (docs/configuration.md "Relay memory").
  'shadowmesh-relay.service': ['CapabilityBoundingSet=', 'AmbientCapabilities=', 'PrivateDevices=yes', 'StateDirectory=shadowmesh-relay', 'Environment=LD_PRELOAD=libjemalloc.so.2', 'Environment=MALLOC_CONF=dirty_decay_ms:0,muzzy_decay_ms:0'],
});

const ROOT = repoRoot();
const UNITS = Object.keys(MAX_EXPOSURE);

function analyze(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('systemd-analyze', args, { encoding: 'utf8', timeout: ANALYZE_TIMEOUT_MS });
  if (r.error !== undefined) assert.fail(`systemd-analyze: ${r.error.message} (Debian: apt-get install systemd; .ci/run installs it)`);
  return r;
}

/** Copies of the units in a temp dir whose /usr/bin/shadowmesh is an executable stub. */
function verifiableCopies(): { dir: string; paths: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'sm-units-'));
  const stub = join(dir, 'shadowmesh');
  writeFileSync(stub, '#!/bin/sh\nexit 0\n');
  chmodSync(stub, 0o755);
  const paths = UNITS.map((unit) => {
    const text = readFileSync(join(ROOT, 'deploy/systemd', unit), 'utf8');
    assert.ok(text.includes(`ExecStart=${SHIPPED_BINARY} `), `${unit}: ExecStart runs ${SHIPPED_BINARY}`);
    const path = join(dir, unit);
    writeFileSync(path, text.split(SHIPPED_BINARY).join(stub));
    return path;
  });
  return { dir, paths };
}

/** The [Service] section's lines (comments dropped). */
function serviceLines(unit: string): Set<string> {
  const text = readFileSync(join(ROOT, 'deploy/systemd', unit), 'utf8');
  const section = text.split(/^\[/m).find((s) => s.startsWith('Service]')) ?? '';
  return new Set(section.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')));
}

test('systemd-analyze verify accepts both units', () => {
  const { dir, paths } = verifiableCopies();
  try {
    const r = analyze(['verify', ...paths]);
    const ours = `${r.stdout}${r.stderr}`.split('\n').filter((l) => UNITS.some((u) => l.includes(u)));
    assert.equal(r.status, 0, `systemd-analyze verify failed:\n${r.stdout}${r.stderr}`);
    assert.deepEqual(ours, [], 'no warning about our units');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const unit of UNITS) {
  test(`${unit}: systemd-analyze security rates it at most ${MAX_EXPOSURE[unit]!.toFixed(1)}`, () => {
    const help = analyze(['security', '--help']);
    assert.match(help.stdout, /--offline/, 'this systemd-analyze supports --offline (systemd 250 or newer)');
    const { dir, paths } = verifiableCopies();
    try {
      const r = analyze(['security', '--offline=true', '--no-pager', paths[UNITS.indexOf(unit)]!]);
      const m = /Overall exposure level for \S+: (\d+\.\d+)/.exec(r.stdout);
      assert.ok(m !== null, `no exposure level in:\n${r.stdout}${r.stderr}`);
      const exposure = Number(m[1]);
      assert.ok(exposure <= MAX_EXPOSURE[unit]!, `${unit}: exposure ${exposure} > ${MAX_EXPOSURE[unit]}; the unit was loosened:\n${r.stdout.split('\n').filter((l) => l.startsWith('✗')).join('\n')}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`${unit}: Type=notify and the hardening it relies on are set, MemoryDenyWriteExecute is not`, () => {
    const lines = serviceLines(unit);
    const missing = [...COMMON, ...PER_UNIT[unit]!].filter((l) => !lines.has(l));
    assert.deepEqual(missing, [], `${unit} lacks settings`);
    assert.ok(![...lines].some((l) => l.startsWith('MemoryDenyWriteExecute=')), 'MemoryDenyWriteExecute breaks V8 (it compiles code at run time)');
  });
}
