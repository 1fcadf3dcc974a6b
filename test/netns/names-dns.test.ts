/**
 * Member names through the system resolver, with real daemons in network
 * namespaces (issue 15 "Names"; docs/configuration.md "Names"). A relay in
 * `relay`, `shadowmesh up` daemons with TUN devices in `a` and `b` (mesh
 * 10.10.10.3/24 and .4/24, relay paths only so that a member leaving the
 * relay leaves the directory at once), a's daemon with `--dns` on its own
 * mesh address, and a tiny DNS server in `relay` as a's upstream.
 * /etc/netns/<a's namespace>/resolv.conf (and nsswitch.conf: files, dns)
 * point a's libc at the responder; both are created here and removed after.
 *
 *   1. `getent hosts b.mesh` gives b's mesh address, `getent hosts
 *      10.10.10.4` gives b.mesh, and `ping b.mesh` gets an answer.
 *   2. An unknown member name fails (NXDOMAIN); a name outside the mesh is
 *      forwarded to the upstream and answered with its address.
 *   3. Once b's daemon stops, b.mesh fails within a bound.
 *
 * Needs root and a build with `shadowmesh up`; skipped otherwise.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { LabProcess, NetnsLab } from '../../src/demo/netns-lab.js';
import { upAvailable } from '../../testkit/netns-shadowmesh.js';
import { LAB_MESH_A, LAB_MESH_B, startLabMesh, type LabMesh } from '../../testkit/netns-lab-mesh.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const skip = !isRoot ? 'needs root (network namespaces)' : !upAvailable() ? 'this build has no `shadowmesh up`' : false;

const UPSTREAM_PORT = 5353;
/** What the tiny upstream answers for every A query (TEST-NET-1). */
const UPSTREAM_ANSWER = '192.0.2.7';
/** b's leave reaching a through the relay, plus libc's retries; generous for a loaded machine. */
const LEAVE_MS = 20_000;
const POLL_MS = 250;
const ETC_NETNS = '/etc/netns';
const TINY_DNS = fileURLToPath(new URL('../../testkit/tiny-dns-server.js', import.meta.url));

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('member names through the system resolver', { skip }, () => {
  let mesh: LabMesh | undefined;
  let lab: NetnsLab | undefined;
  let upstream: LabProcess | undefined;
  let etcDir: string | undefined;
  /** /etc/netns did not exist before: removed again once empty. */
  let createdEtcNetns = false;
  const removeEtc = (dir: string): void => {
    rmSync(dir, { recursive: true, force: true });
    if (createdEtcNetns) {
      try {
        rmdirSync(ETC_NETNS);
      } catch {
        // not empty (another lab's files) or gone already
      }
    }
  };

  const logs = (): string => mesh?.logs() ?? '';
  const getent = (name: string) => lab!.exec('a', ['getent', 'hosts', name], { timeoutMs: 20_000 });

  before(async () => {
    mesh = await startLabMesh({
      daemonArgs: (node, l) => node === 'a'
        ? ['--no-direct', '--dns', `${LAB_MESH_A}:53`, '--dns-upstream', `${l.ip('relay')}:${UPSTREAM_PORT}`, '--no-dns-resolved']
        : ['--no-direct'],
    });
    lab = mesh.lab;
    const dir = `${ETC_NETNS}/${lab.node('a').ns}`;
    etcDir = dir;
    createdEtcNetns = !existsSync(ETC_NETNS);
    lab.onTeardown(() => removeEtc(dir));
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${dir}/resolv.conf`, `nameserver ${LAB_MESH_A}\noptions timeout:2 attempts:2\n`);
    writeFileSync(`${dir}/nsswitch.conf`, 'hosts: files dns\n');
    upstream = lab.spawn('relay', [process.execPath, TINY_DNS, lab.ip('relay'), String(UPSTREAM_PORT), UPSTREAM_ANSWER]);
    await upstream.waitForLine(/tiny-dns listening/, 10_000);
  });

  after(async () => {
    if (etcDir !== undefined) removeEtc(etcDir);
    await mesh?.stop();
  });

  test('b.mesh resolves to b, its address back to b.mesh, and ping b.mesh is answered', async () => {
    const r = await getent('b.mesh');
    assert.equal(r.code, 0, `getent hosts b.mesh: ${r.stdout}${r.stderr}${logs()}`);
    assert.match(r.stdout, new RegExp(`^${LAB_MESH_B.replaceAll('.', '\\.')}\\s+b\\.mesh`, 'm'));
    const back = await getent(LAB_MESH_B);
    assert.equal(back.code, 0, `getent hosts ${LAB_MESH_B}: ${back.stdout}${back.stderr}${logs()}`);
    assert.match(back.stdout, /\sb\.mesh\b/);
    const ping = await lab!.exec('a', ['ping', '-c', '1', '-w', '20', 'b.mesh'], { timeoutMs: 30_000 });
    assert.equal(ping.code, 0, `ping b.mesh: ${ping.stdout}${ping.stderr}${logs()}`);
    assert.match(ping.stdout, new RegExp(`PING b\\.mesh \\(${LAB_MESH_B.replaceAll('.', '\\.')}\\)`));
  });

  test('an unknown member is NXDOMAIN; a name outside the mesh goes to the upstream', async () => {
    const unknown = await getent('nobody.mesh');
    assert.notEqual(unknown.code, 0, `getent hosts nobody.mesh answered: ${unknown.stdout}`);
    const outside = await getent('www.example.org');
    assert.equal(outside.code, 0, `getent hosts www.example.org: ${outside.stdout}${outside.stderr}${logs()}`);
    assert.match(outside.stdout, new RegExp(`^${UPSTREAM_ANSWER.replaceAll('.', '\\.')}\\s+www\\.example\\.org`, 'm'));
  });

  test('once b stops, b.mesh no longer resolves', async () => {
    await mesh!.b.stop();
    const deadline = Date.now() + LEAVE_MS;
    let last = await getent('b.mesh');
    for (let i = 0; last.code === 0 && Date.now() < deadline && i < LEAVE_MS / POLL_MS; i++) {
      await sleep(POLL_MS);
      last = await getent('b.mesh');
    }
    assert.notEqual(last.code, 0, `b.mesh still resolves ${LEAVE_MS} ms after b stopped: ${last.stdout}${logs()}`);
    const a = await getent('a.mesh');
    assert.equal(a.code, 0, `a.mesh (the node itself) should still resolve: ${a.stdout}${a.stderr}`);
  });
});
