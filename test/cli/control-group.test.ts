/**
 * `up --control-group`: a real group and two real non-root users, created
 * here (names prefixed sm-) and removed afterwards even when a test fails.
 * The member of the group runs `shadowmesh status` through runuser against
 * the daemon's socket and succeeds; the other user is refused (permission
 * denied, SM_ERR_CONTROL_PATH). An unknown group stops `up` with
 * SM_ERR_CONTROL_GROUP. Needs root (useradd, runuser); skipped otherwise.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCliAsync, startDaemon, type CliRun, type DaemonProcess } from '../../testkit/daemon-process.js';
import { CLI_MAIN_PATH, startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';

const isRoot = process.getuid?.() === 0;
const suffix = `${process.pid % 100_000}`;
const GROUP = `sm-ctl${suffix}`;
const IN_USER = `sm-in${suffix}`;
const OUT_USER = `sm-out${suffix}`;

let net: TestNetwork;
let relay: RelayProcess;
let work: string;
let daemon: DaemonProcess | undefined;

function must(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
}

/** `shadowmesh ARGS` as `user`, through runuser (a login-free switch of user and groups). */
function runAs(user: string, args: string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn('runuser', ['-u', user, '--', process.execPath, CLI_MAIN_PATH, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

before(async () => {
  if (!isRoot) return;
  must('groupadd', [GROUP]);
  must('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', '--groups', GROUP, IN_USER]);
  must('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', OUT_USER]);
  net = await createTestNetwork({ members: ['alice'] });
  work = await mkdtemp(join(tmpdir(), 'sm-group-'));
  await chmod(work, 0o711); // the users must be able to reach the socket's directory
  relay = await startRelayProcess({ caFile: net.caFile, crlFile: net.crlFile });
});

after(async () => {
  await daemon?.stop();
  await relay?.stop();
  await net?.cleanup();
  if (work) await rm(work, { recursive: true, force: true });
  if (isRoot) {
    spawnSync('userdel', [IN_USER]);
    spawnSync('userdel', [OUT_USER]);
    spawnSync('groupdel', [GROUP]);
  }
});

test('with --control-group the group\'s member runs status without sudo; another user is refused', { skip: !isRoot && 'needs root' }, async () => {
  const m = net.member('alice');
  const sock = join(work, 'run', 'control.sock');
  daemon = await startDaemon(['--relay', relay.url, '--pin', relay.pin, '--ca', net.caFile, '--cert', m.certFile, '--dir', m.dir, '--dev', 'none', '--no-direct', '--control', sock, '--control-group', GROUP]);
  const gid = Number(spawnSync('getent', ['group', GROUP], { encoding: 'utf8' }).stdout.split(':')[2]);
  const st = await stat(sock);
  assert.equal(st.mode & 0o777, 0o660);
  assert.equal(st.gid, gid);
  const dir = await stat(join(work, 'run'));
  assert.equal(dir.mode & 0o777, 0o710);
  assert.equal(dir.gid, gid);

  const member = await runAs(IN_USER, ['status', '--json', '--control', sock]);
  assert.equal(member.status, 0, member.stderr);
  assert.equal((JSON.parse(member.stdout) as { name: string }).name, 'alice');

  const other = await runAs(OUT_USER, ['status', '--control', sock]);
  assert.equal(other.status, 1, other.stdout);
  assert.match(other.stderr, /permission denied .*\(SM_ERR_CONTROL_PATH\)\n$/);
});

test('an unknown --control-group stops up with one coded line', { skip: !isRoot && 'needs root' }, async () => {
  const m = net.member('alice');
  const r = await runCliAsync(['up', '--relay', relay.url, '--pin', relay.pin, '--ca', net.caFile, '--cert', m.certFile, '--dir', m.dir, '--dev', 'none', '--no-direct', '--control', join(work, 'x.sock'), '--control-group', 'sm-no-such-group']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /control socket group "sm-no-such-group" does not exist.*\(SM_ERR_CONTROL_GROUP\)\n$/);
});
