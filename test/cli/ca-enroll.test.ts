/**
 * `shadowmesh ca token` and `ca serve` through the real CLI
 * (src/cli/ca-enroll.ts): a token line and its --json, --list and
 * --revoke, the endpoint taken from CADIR or --endpoint, and one-line coded
 * errors for what an operator can get wrong; `up --hostname` without
 * --join is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJoinToken } from '../../src/enroll/join-token.js';
import { initCa } from '../../src/identity/ca.js';
import { isOneLineError, runCli } from '../../testkit/cli-run.js';

async function withCa(fn: (cwd: string, caDir: string) => Promise<void>): Promise<void> {
  const cwd = await mkdtemp(join(tmpdir(), 'sm-ca-enroll-'));
  try {
    await initCa(join(cwd, 'ca'));
    await fn(cwd, join(cwd, 'ca'));
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
}

test('ca token prints one decodable line; --json, --list and --revoke show and remove it; the pin is the service key\'s and stays', async () => {
  await withCa(async (cwd, caDir) => {
    const a = runCli(['ca', 'token', '--ca', caDir, '--endpoint', 'ca.example.net:7443', '--groups', 'web,db'], { cwd });
    assert.equal(a.status, 0, a.stderr);
    assert.equal(a.stdout.split('\n').length, 2);
    const t = decodeJoinToken(a.stdout);
    assert.equal(t.host, 'ca.example.net');
    assert.equal(t.port, 7443);
    const b = runCli(['ca', 'token', '--ca', caDir, '--endpoint', '[2001:db8::1]:7443', '--uses', '3', '--ttl', '2h', '--json'], { cwd });
    assert.equal(b.status, 0, b.stderr);
    const j = JSON.parse(b.stdout) as { token: string; pin: string; id: string; usesLeft: number; groups: string[]; state: string; endpoint: string };
    assert.equal(j.pin, t.pin, 'the service key in CADIR is reused');
    assert.equal(j.usesLeft, 3);
    assert.equal(j.state, 'valid');
    assert.equal(j.endpoint, '[2001:db8::1]:7443');
    assert.equal(decodeJoinToken(j.token).id, j.id);

    const list = runCli(['ca', 'token', '--ca', caDir, '--list', '--json'], { cwd });
    const rows = (JSON.parse(list.stdout) as { tokens: Array<{ id: string; groups: string[] }> }).tokens;
    assert.deepEqual(rows.map((r) => r.id).sort(), [t.id, j.id].sort());
    assert.deepEqual(rows.find((r) => r.id === t.id)!.groups, ['web', 'db']);
    const text = runCli(['ca', 'token', '--ca', caDir, '--list'], { cwd });
    assert.match(text.stdout, new RegExp(`^${t.id}  valid    uses left 1  expires \\S+  groups web,db$`, 'm'));

    assert.equal(runCli(['ca', 'token', '--ca', caDir, '--revoke', t.id], { cwd }).stdout, `revoked join token ${t.id}\n`);
    assert.ok(isOneLineError(runCli(['ca', 'token', '--ca', caDir, '--revoke', t.id], { cwd }), 'SM_ERR_ENROLL_TOKEN_UNKNOWN'));
    assert.equal((JSON.parse(runCli(['ca', 'token', '--ca', caDir, '--list', '--json'], { cwd }).stdout) as { tokens: unknown[] }).tokens.length, 1);

    // The endpoint ca serve recorded is the default.
    await writeFile(join(caDir, 'enroll-endpoint'), '192.0.2.10:7443\n');
    const c = runCli(['ca', 'token', '--ca', caDir], { cwd });
    assert.equal(decodeJoinToken(c.stdout).host, '192.0.2.10');
  });
});

test('operator mistakes are one coded line each', async () => {
  await withCa(async (cwd, caDir) => {
    const cases: Array<[string[], string]> = [
      [['ca', 'token', '--ca', caDir], 'SM_ERR_CONFIG_VALUE'], // no endpoint recorded yet
      [['ca', 'token', '--ca', caDir, '--endpoint', 'nohostport'], 'SM_ERR_CONFIG_VALUE'],
      [['ca', 'token', '--ca', caDir, '--endpoint', 'h:1', '--uses', '0'], 'SM_ERR_CONFIG_VALUE'],
      [['ca', 'token', '--ca', caDir, '--endpoint', 'h:1', '--uses', 'many'], 'SM_ERR_CONFIG_VALUE'],
      [['ca', 'token', '--ca', caDir, '--endpoint', 'h:1', '--ttl', '31d'], 'SM_ERR_CONFIG_DURATION'],
      [['ca', 'token', '--ca', caDir, '--endpoint', 'h:1', '--groups', 'a b'], 'SM_ERR_CERT_FIELD'],
      [['ca', 'token', '--ca', join(cwd, 'nope'), '--endpoint', 'h:1'], 'SM_ERR_ID_MISSING'],
      [['ca', 'serve', '--ca', caDir, '--pool', '10.0.0.0/33', '--relay', `wss://r:1#sha256:${'0'.repeat(64)}`], 'SM_ERR_CONFIG_VALUE'],
      [['ca', 'serve', '--ca', caDir, '--pool', '10.0.0.0/24'], 'SM_ERR_CONFIG_VALUE'],
      [['ca', 'serve', '--ca', caDir, '--pool', '10.0.0.0/24', '--relay', 'wss://r:1'], 'SM_ERR_CONFIG_VALUE'],
      [['up', '--hostname', 'x', '--dev', 'none'], 'SM_ERR_CONFIG_VALUE'],
    ];
    for (const [args, code] of cases) {
      const r = runCli(args, { cwd, env: { SHADOWMESH_HOME: join(cwd, 'home') } });
      assert.ok(isOneLineError(r, code), `${args.join(' ')}: ${r.status} ${r.stderr}`);
    }
  });
});
