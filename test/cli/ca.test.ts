import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadCaCertificate, loadMemberCertificate, loadRevocationList } from '../../src/identity/files.js';
import { MembershipVerifier } from '../../src/identity/membership.js';
import { tempDir } from '../../testkit/identity-fixtures.js';
import { isOneLineError, runCli } from '../../testkit/cli-run.js';

test('ca init / sign / show / revoke through the CLI', async () => {
  const { dir, cleanup } = await tempDir('sm-cli-ca-');
  try {
    const cwd = dir;
    const init = runCli(['ca', 'init', '--dir', 'ca', '--name', 'Test Net', '--valid', '3650d', '--json'], { cwd });
    assert.equal(init.status, 0, init.stderr);
    assert.equal((JSON.parse(init.stdout) as { name: string }).name, 'Test Net');
    assert.ok(isOneLineError(runCli(['ca', 'init', '--dir', 'ca'], { cwd }), 'SM_ERR_ID_EXISTS'));

    assert.equal(runCli(['keygen', '--dir', 'alice'], { cwd }).status, 0);
    const sign = runCli(['ca', 'sign', '--ca', 'ca', '--name', 'alice', '--ip', '10.10.10.3/24,fd00::3/64', '--groups', 'ops,dev', '--valid', '30d', '--pub', 'alice/identity.pub', '--out', 'alice.crt'], { cwd });
    assert.equal(sign.status, 0, sign.stderr);
    assert.match(sign.stdout, /addresses: 10\.10\.10\.3\/24, fd00::3\/64/);
    const ca = await loadCaCertificate(join(dir, 'ca', 'ca.crt'));
    const cert = await loadMemberCertificate(join(dir, 'alice.crt'));
    assert.deepEqual(cert.groups, ['ops', 'dev']);
    assert.equal(cert.notAfterMs - cert.notBeforeMs, 30 * 24 * 3600 * 1000);
    new MembershipVerifier(ca).verify(cert.raw, Date.now());

    const show = runCli(['ca', 'show', 'alice.crt', '--ca-cert', 'ca/ca.crt', '--json'], { cwd });
    assert.equal(show.status, 0, show.stderr);
    const shown = JSON.parse(show.stdout) as { kind: string; name: string; status: string };
    assert.equal(shown.kind, 'member-certificate');
    assert.equal(shown.name, 'alice');
    assert.match(shown.status, /^valid member/);
    assert.match(runCli(['ca', 'show', 'ca/ca.crt'], { cwd }).stdout, /CA certificate[\s\S]*Test Net/);

    const revoke = runCli(['ca', 'revoke', '--ca', 'ca', '--cert', 'alice.crt'], { cwd });
    assert.equal(revoke.status, 0, revoke.stderr);
    assert.match(revoke.stdout, /Revocation list #1/);
    const crl = await loadRevocationList(join(dir, 'ca', 'crl'), ca);
    assert.equal(crl.number, 1);
    assert.deepEqual(crl.peerIds, [cert.peerId]);
    const showCrl = JSON.parse(runCli(['ca', 'show', 'ca/crl', '--ca-cert', 'ca/ca.crt', '--json'], { cwd }).stdout) as { number: number; revoked: string[] };
    assert.equal(showCrl.number, 1);
    assert.equal(showCrl.revoked.length, 1);
    const revoked = JSON.parse(runCli(['ca', 'show', 'alice.crt', '--ca-cert', 'ca/ca.crt', '--crl', 'ca/crl', '--json'], { cwd }).stdout) as { status: string };
    assert.match(revoked.status, /SM_ERR_CERT_REVOKED/);
    const second = JSON.parse(runCli(['ca', 'revoke', '--ca', 'ca', '--peer', '00'.repeat(32), '--json'], { cwd }).stdout) as { number: number };
    assert.equal(second.number, 2);
  } finally {
    await cleanup();
  }
});

test('bad input gives a one-line error with a code and exit 1, no stack trace', async () => {
  const { dir, cleanup } = await tempDir('sm-cli-ca-');
  try {
    const cwd = dir;
    assert.equal(runCli(['ca', 'init', '--dir', 'ca'], { cwd }).status, 0);
    assert.equal(runCli(['keygen', '--dir', 'bob'], { cwd }).status, 0);
    await writeFile(join(dir, 'junk.crt'), 'not a certificate\n');
    const base = ['ca', 'sign', '--ca', 'ca', '--name', 'bob', '--pub', 'bob/identity.pub', '--out', 'bob.crt'];
    const cases: Array<[string[], string]> = [
      [[...base, '--ip', '10.10.10.0/24'], 'SM_ERR_CERT_FIELD'],
      [[...base, '--ip', '10.10.10.300/24'], 'SM_ERR_CERT_FIELD'],
      [[...base, '--ip', '10.10.10.3'], 'SM_ERR_CERT_FIELD'],
      [[...base, '--ip', '10.10.10.3/24', '--valid', '1y'], 'SM_ERR_CONFIG_DURATION'],
      [[...base, '--ip', '10.10.10.3/24', '--valid', '20000d'], 'SM_ERR_CERT_FIELD'],
      [[...base, '--ip', '10.10.10.3/24', '--groups', 'bad group'], 'SM_ERR_CERT_FIELD'],
      [['ca', 'sign', '--ca', 'ca', '--name', 'bob', '--ip', '10.10.10.3/24', '--pub', 'absent.pub', '--out', 'x.crt'], 'SM_ERR_ID_MISSING'],
      [['ca', 'sign', '--ca', 'ca', '--name', 'bob', '--ip', '10.10.10.3/24', '--pub', 'junk.crt', '--out', 'x.crt'], 'SM_ERR_ID_ARMOR'],
      [['ca', 'sign', '--ca', 'noca', '--name', 'bob', '--ip', '10.10.10.3/24', '--pub', 'bob/identity.pub', '--out', 'x.crt'], 'SM_ERR_ID_MISSING'],
      [['ca', 'revoke', '--ca', 'ca', '--peer', 'abc'], 'SM_ERR_ID_PEER_ID'],
      [['ca', 'revoke', '--ca', 'ca'], 'SM_ERR_CONFIG_PEER_ID'],
      [['ca', 'show', 'junk.crt'], 'SM_ERR_ID_ARMOR'],
      [['ca', 'show', 'absent.crt'], 'SM_ERR_ID_MISSING'],
    ];
    for (const [args, code] of cases) {
      const r = runCli(args, { cwd });
      assert.ok(isOneLineError(r, code), `${args.join(' ')} -> status ${r.status}, stderr: ${r.stderr}`);
    }
    assert.equal(await readFile(join(dir, 'bob.crt')).catch(() => 'absent'), 'absent', 'nothing written on failure');
  } finally {
    await cleanup();
  }
});

test('help tells the truth about the commands and defaults', () => {
  const r = runCli(['ca', 'sign', '--help'], { cwd: process.cwd() });
  assert.equal(r.status, 0);
  for (const s of ['--ca <CADIR>', '--ip <CIDR>', '--pub <PUBFILE>', '--out <CERTFILE>', '(default: "365d")', 'SHADOWMESH_CA_PASSPHRASE']) assert.ok(r.stdout.includes(s), s);
  const top = runCli(['ca', '--help'], { cwd: process.cwd() });
  for (const s of ['init', 'sign', 'revoke', 'show']) assert.match(top.stdout, new RegExp(`\\b${s}\\b`));
});

test('ca sign of an already-issued key under a new name or without its address is refused; the address is never issued twice', async () => {
  const { dir, cleanup } = await tempDir('sm-cli-ca-');
  try {
    const cwd = dir;
    assert.equal(runCli(['ca', 'init', '--dir', 'ca'], { cwd }).status, 0);
    assert.equal(runCli(['keygen', '--dir', 'alice'], { cwd }).status, 0);
    assert.equal(runCli(['keygen', '--dir', 'bob'], { cwd }).status, 0);
    const sign = (name: string, ip: string, pub: string, out: string, valid = '30d'): ReturnType<typeof runCli> =>
      runCli(['ca', 'sign', '--ca', 'ca', '--name', name, '--ip', ip, '--valid', valid, '--pub', `${pub}/identity.pub`, '--out', out], { cwd });
    assert.equal(sign('alice', '10.10.10.3/24', 'alice', 'alice.crt').status, 0);
    const renamed = sign('alice2', '10.10.10.9/24', 'alice', 'alice2.crt');
    assert.ok(isOneLineError(renamed, 'SM_ERR_CERT_RENEWAL'), renamed.stderr);
    assert.match(renamed.stderr, /ca revoke/);
    const moved = sign('alice', '10.10.10.9/24', 'alice', 'alice2.crt');
    assert.ok(isOneLineError(moved, 'SM_ERR_CERT_RENEWAL'), moved.stderr);
    const shorter = sign('alice', '10.10.10.3/24', 'alice', 'alice2.crt', '1d');
    assert.ok(isOneLineError(shorter, 'SM_ERR_CERT_RENEWAL'), shorter.stderr);
    assert.equal(await readFile(join(dir, 'alice2.crt')).catch(() => 'absent'), 'absent', 'nothing written on refusal');
    // alice.crt is still valid, so its address is not issued to anyone else.
    const taken = sign('bob', '10.10.10.3/24', 'bob', 'bob.crt');
    assert.ok(isOneLineError(taken, 'SM_ERR_CERT_ADDRESS_IN_USE'), taken.stderr);
    // A renewal that keeps the name and the address is fine.
    assert.equal(sign('alice', '10.10.10.3/24', 'alice', 'alice-renewed.crt', '60d').status, 0);
    // Revoking alice frees her address for bob.
    assert.equal(runCli(['ca', 'revoke', '--ca', 'ca', '--cert', 'alice.crt'], { cwd }).status, 0);
    assert.equal(sign('bob', '10.10.10.3/24', 'bob', 'bob.crt').status, 0);
  } finally {
    await cleanup();
  }
});

test('ca sign --help says how re-signing an issued key is judged', () => {
  const r = runCli(['ca', 'sign', '--help'], { cwd: process.cwd() });
  assert.equal(r.status, 0);
  assert.match(r.stdout, /same name/);
  assert.match(r.stdout, /ca revoke/);
});

test('ca sign --route puts subnet routes in the certificate; ca show prints them; bad routes are one-line SM_ERR_CERT_FIELD', async () => {
  const { dir, cleanup } = await tempDir('sm-cli-ca-');
  try {
    const cwd = dir;
    assert.equal(runCli(['ca', 'init', '--dir', 'ca'], { cwd }).status, 0);
    assert.equal(runCli(['keygen', '--dir', 'gw'], { cwd }).status, 0);
    const base = ['ca', 'sign', '--ca', 'ca', '--name', 'gw', '--ip', '10.10.10.2/24', '--pub', 'gw/identity.pub', '--out', 'gw.crt'];
    for (const bad of ['0.0.0.0/0', '::/0', '10.10.0.0/16', '192.168.50.1/24']) {
      const r = runCli([...base, '--route', bad], { cwd });
      assert.ok(isOneLineError(r, 'SM_ERR_CERT_FIELD'), `--route ${bad} -> status ${r.status}, stderr: ${r.stderr}`);
    }
    const sign = runCli([...base, '--route', '192.168.50.0/24', '--route', 'fd50::/64', '--json'], { cwd });
    assert.equal(sign.status, 0, sign.stderr);
    assert.deepEqual((JSON.parse(sign.stdout) as { routes: string[] }).routes, ['192.168.50.0/24', 'fd50::/64']);
    assert.deepEqual((await loadMemberCertificate(join(dir, 'gw.crt'))).routes, ['192.168.50.0/24', 'fd50::/64']);
    const show = runCli(['ca', 'show', 'gw.crt', '--ca-cert', 'ca/ca.crt'], { cwd });
    assert.match(show.stdout, /routes:\s+192\.168\.50\.0\/24, fd50::\/64/);
  } finally {
    await cleanup();
  }
});

test('ca sign --exit marks an exit node; ca show and --json say so; a plain certificate says no', async () => {
  const { dir, cleanup } = await tempDir('sm-cli-ca-');
  try {
    const cwd = dir;
    assert.equal(runCli(['ca', 'init', '--dir', 'ca'], { cwd }).status, 0);
    assert.equal(runCli(['keygen', '--dir', 'x'], { cwd }).status, 0);
    assert.equal(runCli(['keygen', '--dir', 'p'], { cwd }).status, 0);
    const sign = runCli(['ca', 'sign', '--ca', 'ca', '--name', 'x', '--ip', '10.10.10.2/24', '--exit', '--pub', 'x/identity.pub', '--out', 'x.crt', '--json'], { cwd });
    assert.equal(sign.status, 0, sign.stderr);
    assert.equal((JSON.parse(sign.stdout) as { exit: boolean }).exit, true);
    assert.equal((await loadMemberCertificate(join(dir, 'x.crt'))).exit, true);
    assert.match(runCli(['ca', 'show', 'x.crt', '--ca-cert', 'ca/ca.crt'], { cwd }).stdout, /exit node: yes/);
    assert.equal(runCli(['ca', 'sign', '--ca', 'ca', '--name', 'p', '--ip', '10.10.10.3/24', '--pub', 'p/identity.pub', '--out', 'p.crt'], { cwd }).status, 0);
    assert.match(runCli(['ca', 'show', 'p.crt', '--ca-cert', 'ca/ca.crt'], { cwd }).stdout, /exit node: no/);
    assert.match(runCli(['ca', 'sign', '--help'], { cwd }).stdout, /--exit/);
  } finally {
    await cleanup();
  }
});
