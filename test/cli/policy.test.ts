/**
 * `shadowmesh ca policy sign` and `shadowmesh policy test` as a user runs
 * them (src/cli/policy.ts): versions that grow, every file problem with its
 * line, allowed/denied with the rule and exit status 0/1, --json, and the
 * errors for a tampered or foreign signed policy, an unknown member and a
 * bad flow.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../testkit/identity-fixtures.js';
import { isOneLineError, runCli } from '../../testkit/cli-run.js';

const POLICY = `rules:
  - name: web-to-db
    from: group:web
    to: group:db
    proto: tcp
    ports: 5432
  - name: ops-anything
    from: group:ops
    to: any
    proto: any
`;

function ok(r: { status: number | null; stderr: string }): void {
  assert.equal(r.status, 0, r.stderr);
}

test('ca policy sign and policy test, from a CA directory with three members', async () => {
  const { dir: cwd, cleanup } = await tempDir('sm-cli-policy-');
  try {
    ok(runCli(['ca', 'init', '--dir', 'ca'], { cwd }));
    for (const [name, ip, group] of [['web1', '10.10.0.2/24', 'web'], ['db1', '10.10.0.3/24', 'db'], ['ops1', '10.10.0.4/24', 'ops']] as const) {
      ok(runCli(['keygen', '--dir', name], { cwd }));
      ok(runCli(['ca', 'sign', '--ca', 'ca', '--name', name, '--ip', ip, '--groups', group, '--pub', `${name}/identity.pub`, '--out', `${name}.crt`], { cwd }));
    }
    await writeFile(join(cwd, 'policy.yaml'), POLICY);

    const first = runCli(['ca', 'policy', 'sign', 'policy.yaml', '--ca', 'ca', '--json'], { cwd });
    ok(first);
    const signed = JSON.parse(first.stdout) as { version: number; rules: number; chatRules: number | null; file: string };
    assert.equal(signed.version, 1);
    assert.equal(signed.rules, 2);
    assert.equal(signed.chatRules, null);
    assert.equal(signed.file, join(cwd, 'policy.signed'));
    const second = runCli(['ca', 'policy', 'sign', 'policy.yaml', '--ca', 'ca', '--out', 'v2.signed'], { cwd });
    ok(second);
    assert.match(second.stdout, /Signed policy version 2 \(2 rules\), written to .*v2\.signed/);

    const allowed = runCli(['policy', 'test', 'web1', 'db1', 'tcp/5432', '--policy', 'v2.signed', '--ca', 'ca'], { cwd });
    ok(allowed);
    assert.match(allowed.stdout, /^allowed: web1 \(10\.10\.0\.2; web\) -> db1 \(10\.10\.0\.3; db\) tcp\/5432, by rule web-to-db\n$/);

    const denied = runCli(['policy', 'test', 'db1', 'web1', 'tcp/5432', '--policy', 'v2.signed', '--ca', 'ca', '--json'], { cwd });
    assert.equal(denied.status, 1, denied.stderr);
    assert.equal(denied.stderr, '');
    const d = JSON.parse(denied.stdout) as { allowed: boolean; rule: string; policyVersion: number; from: { name: string; groups: string[] } };
    assert.deepEqual([d.allowed, d.rule, d.policyVersion, d.from.name, d.from.groups], [false, 'default-deny', 2, 'db1', ['db']]);

    const byAddress = JSON.parse(runCli(['policy', 'test', '10.10.0.4', '10.10.0.3', 'icmp', '--policy', 'policy.yaml', '--ca', 'ca', '--json'], { cwd }).stdout) as { allowed: boolean; rule: string; from: { name: string }; policyVersion: null };
    assert.deepEqual([byAddress.allowed, byAddress.rule, byAddress.from.name, byAddress.policyVersion], [true, 'ops-anything', 'ops1', null]);
    const stranger = runCli(['policy', 'test', '10.99.0.1', 'db1', 'tcp/5432', '--policy', 'policy.yaml', '--ca', 'ca'], { cwd });
    assert.equal(stranger.status, 1);
    assert.match(stranger.stdout, /^denied: 10\.99\.0\.1 -> db1 .* by rule default-deny \(no rule matched\)/);

    // Certificates alone (no CA directory), YAML policy.
    const certs = runCli(['policy', 'test', 'web1', 'db1', 'tcp/5432', '--policy', 'policy.yaml', '--cert', 'web1.crt', '--cert', 'db1.crt'], { cwd });
    ok(certs);
    assert.match(certs.stdout, /by rule web-to-db/);

    // A revoked member is no longer known by name.
    ok(runCli(['ca', 'revoke', '--ca', 'ca', '--cert', 'web1.crt'], { cwd }));
    assert.ok(isOneLineError(runCli(['policy', 'test', 'web1', 'db1', 'tcp/5432', '--policy', 'policy.yaml', '--ca', 'ca'], { cwd }), 'SM_ERR_POLICY_UNKNOWN_ENDPOINT'));
  } finally {
    await cleanup();
  }
});

test('errors: an invalid file with every problem at its line, tampered and foreign signed policies, unknown names, bad flows, --json errors', async () => {
  const { dir: cwd, cleanup } = await tempDir('sm-cli-policy-');
  try {
    ok(runCli(['ca', 'init', '--dir', 'ca'], { cwd }));
    ok(runCli(['ca', 'init', '--dir', 'other'], { cwd }));
    await writeFile(join(cwd, 'policy.yaml'), POLICY);
    await writeFile(join(cwd, 'bad.yaml'), 'rules:\n  - name: a\n    from: group:web\n    to: nowhere\n    proto: tcp\n    ports: 99999\n');

    const bad = runCli(['ca', 'policy', 'sign', 'bad.yaml', '--ca', 'ca'], { cwd });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /bad\.yaml:4:9: rule a to: "nowhere"/);
    assert.match(bad.stderr, /bad\.yaml:6:12: rule a ports: "99999" is not a port/);
    assert.match(bad.stderr, /\(SM_ERR_POLICY_INVALID\)\n$/);
    assert.ok(!bad.stderr.includes('    at '));
    const badJson = runCli(['ca', 'policy', 'sign', 'bad.yaml', '--ca', 'ca', '--json'], { cwd });
    assert.equal((JSON.parse(badJson.stderr) as { error: { code: string } }).error.code, 'SM_ERR_POLICY_INVALID');
    // Nothing was signed: the next good file is version 1.
    const v1 = runCli(['ca', 'policy', 'sign', 'policy.yaml', '--ca', 'ca', '--json'], { cwd });
    ok(v1);
    assert.equal((JSON.parse(v1.stdout) as { version: number }).version, 1);

    const blob = await readFile(join(cwd, 'policy.signed'), 'utf8');
    const lines = blob.split('\n');
    const i = 5;
    lines[i] = (lines[i]![0] === 'A' ? 'B' : 'A') + lines[i]!.slice(1);
    await writeFile(join(cwd, 'tampered.signed'), lines.join('\n'));
    const tampered = runCli(['policy', 'test', '10.10.0.2', '10.10.0.3', 'tcp/5432', '--policy', 'tampered.signed', '--ca', 'ca'], { cwd });
    assert.equal(tampered.status, 1);
    assert.match(tampered.stderr, /SM_ERR_POLICY_(SIGNATURE|MALFORMED)\)\n$/);
    assert.ok(isOneLineError(runCli(['policy', 'test', '10.10.0.2', '10.10.0.3', 'tcp/5432', '--policy', 'policy.signed', '--ca', 'other'], { cwd }), 'SM_ERR_POLICY_OTHER_CA'));
    assert.ok(isOneLineError(runCli(['policy', 'test', '10.10.0.2', '10.10.0.3', 'tcp/5432', '--policy', 'policy.signed'], { cwd }), 'SM_ERR_CONFIG_CA'));
    assert.ok(isOneLineError(runCli(['policy', 'test', 'nobody', '10.10.0.3', 'tcp/5432', '--policy', 'policy.yaml', '--ca', 'ca'], { cwd }), 'SM_ERR_POLICY_UNKNOWN_ENDPOINT'));
    for (const flow of ['tcp', 'tcp/0', 'tcp/70000', 'icmp/8', 'sctp/1', 'TCP/22']) {
      assert.ok(isOneLineError(runCli(['policy', 'test', '10.10.0.2', '10.10.0.3', flow, '--policy', 'policy.yaml'], { cwd }), 'SM_ERR_POLICY_FLOW'), flow);
    }
    const jsonErr = runCli(['policy', 'test', 'nobody', '10.10.0.3', 'tcp/1', '--policy', 'policy.yaml', '--json'], { cwd });
    assert.equal(jsonErr.status, 1);
    assert.equal((JSON.parse(jsonErr.stderr) as { error: { code: string } }).error.code, 'SM_ERR_POLICY_UNKNOWN_ENDPOINT');
    assert.equal(runCli(['policy', 'test', 'a', 'b'], { cwd }).status, 2, 'a missing argument is a usage error');
  } finally {
    await cleanup();
  }
});
