/**
 * SOCKS5 streams through an exit node (issue 14; docs/architecture.md
 * "Streams"; docs/threat-model.md §3.8), real
 * processes in network namespaces: a relay; member X (certificate with the
 * exit mark, `up --dev none --advertise-exit-node`, no device) whose
 * namespace also has a veth to an "internet" namespace `inet`
 * (203.0.113.0/24, TEST-NET-3, only inside this lab) where an HTTP server
 * answers with the address it sees; member P `up --dev none --socks5
 * 127.0.0.1:PORT --exit-node x` run as the unprivileged user nobody. P's
 * namespace has no route to the internet at all.
 *
 *   - curl --socks5-hostname through P fetches from the server by IP
 *     (IPv4 and IPv6, 2001:db8:1::/64); the server sees X's internet-side
 *     address.
 *   - A CONNECT to 127.0.0.1 (X's own loopback, where a server listens) is
 *     refused with SOCKS reply 0x05 and counted on X as
 *     streams.refused_exit_denied; nothing reaches that server.
 *   - X's daemon killed (SIGKILL): once X leaves P's directory, a CONNECT to
 *     the server is answered 0x03 (network unreachable) and counted as
 *     streams.socks_no_exit_node; curl fails; P never connects itself.
 *
 * Needs root (namespaces, switching to nobody); skipped otherwise.
 * Namespaces are sm-<id>-*, removed by the lab's teardown in after() (and
 * its exit hook); only processes the lab started are stopped, by pid.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, chown, copyFile, mkdir } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createNetnsLab, type LabProcess, type NetnsLab } from '../../src/demo/netns-lab.js';
import { startLabDaemon, startLabRelay, upAvailable, type LabDaemon, type LabRelay } from '../../testkit/netns-shadowmesh.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const skip = !isRoot ? 'needs root (network namespaces)' : !upAvailable() ? 'this build has no `shadowmesh up`' : false;

const NOBODY = { uid: 65534, gid: 65534 };
const MESH_X = '10.10.10.2';
const MESH_P = '10.10.10.3';
const INET_GW = '203.0.113.1';
const INET_HOST = '203.0.113.10';
const INET6_GW = '2001:db8:1::1';
const INET6_HOST = '2001:db8:1::10';
const HTTP_PORT = 8080;
const LOOPBACK_PORT = 8081;
const SOCKS_PORT = 1080;
/** X listed in P's directory and the first stream through it: admission, presence and the end-to-end handshake. */
const READY_MS = 60_000;
/** A killed member leaves P's directory when the relay reports it and any live session to it ends: poll this long. */
const EXIT_GONE_MS = 90_000;
const POLL_MS = 500;
const FETCH_TIMEOUT_S = 10;

/** The server answers with the address it sees the request come from. */
const SEEN_SERVER = (host: string, port: number): string => `require('node:http').createServer((q, s) => s.end(q.socket.remoteAddress.replace(/^::ffff:/, ''))).listen(${port}, '${host}', () => console.log('listening'));`;
/** A TCP service on x's loopback that says when anything connects. */
const LOOPBACK_SERVER = `require('node:net').createServer((c) => { console.log('connection'); c.destroy(); }).listen(${LOOPBACK_PORT}, '127.0.0.1', () => console.log('listening'));`;
/** One SOCKS5 CONNECT (no auth) to an IPv4 address through the proxy: prints the reply code (REP), or "closed". */
const SOCKS_CONNECT = (ip: string, port: number): string => `
const s = require('node:net').connect(${SOCKS_PORT}, '127.0.0.1');
let got = Buffer.alloc(0);
s.on('connect', () => s.write(Buffer.from([5, 1, 0, 5, 1, 0, 1, ${ip.split('.').join(', ')}, ${port >> 8}, ${port & 0xff}])));
s.on('data', (c) => { got = Buffer.concat([got, c]); if (got.length >= 4) { console.log(String(got[3])); s.destroy(); } });
s.on('error', () => {});
s.on('close', () => { if (got.length < 4) console.log('closed'); });
setTimeout(() => { console.log('timeout'); process.exit(0); }, 20000).unref();
`;

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

describe('SOCKS5 streams through an exit node (--dev none, fail closed)', { skip }, () => {
  let lab: NetnsLab | undefined;
  let net: TestNetwork;
  let relay: LabRelay;
  let x: LabDaemon | undefined;
  let p: LabDaemon | undefined;
  let loopback: LabProcess | undefined;

  async function socksReply(ip: string, port: number): Promise<string> {
    const r = await lab!.exec('p', [process.execPath, '-e', SOCKS_CONNECT(ip, port)], { timeoutMs: 30_000 });
    return r.stdout.trim();
  }

  async function fetchThroughP(host = INET_HOST): Promise<string | null> {
    const r = await lab!.exec('p', ['curl', '-s', '--max-time', String(FETCH_TIMEOUT_S), '--socks5-hostname', `127.0.0.1:${SOCKS_PORT}`, `http://${host.includes(':') ? `[${host}]` : host}:${HTTP_PORT}/`], { timeoutMs: (FETCH_TIMEOUT_S + 5) * 1000 });
    return r.code === 0 ? r.stdout : null;
  }

  async function drops(d: LabDaemon): Promise<Record<string, number>> {
    return ((await d.status()) as { drops?: Record<string, number> }).drops ?? {};
  }

  type ExitStatus = { use: string | null; state: string; name: string | null; advertising: boolean; streamsOnly?: boolean };
  async function exitStatus(d: LabDaemon): Promise<ExitStatus | undefined> {
    return ((await d.status()) as { exitNode?: ExitStatus }).exitNode;
  }
  function pick(e: ExitStatus | undefined): Partial<ExitStatus> | undefined {
    return e === undefined ? undefined : { use: e.use, state: e.state, name: e.name, advertising: e.advertising, streamsOnly: e.streamsOnly };
  }

  before(async () => {
    lab = await createNetnsLab({ nodes: ['relay', 'x', 'p', 'inet'] });
    try {
      net = await createTestNetwork();
      lab.onTeardown(() => rmSync(net.dir, { recursive: true, force: true }));
      // The internet: reachable only through x (inet leaves the lab bridge; p has no route there).
      await lab.check('inet', ['ip', 'link', 'set', 'eth0', 'down']);
      await lab.check('x', ['ip', 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'wan0']);
      await lab.check('x', ['ip', 'link', 'set', 'wan0', 'netns', lab.node('inet').ns]);
      await lab.check('x', ['ip', 'addr', 'add', `${INET_GW}/24`, 'dev', 'up0']);
      await lab.check('x', ['ip', 'link', 'set', 'up0', 'up']);
      await lab.check('inet', ['ip', 'addr', 'add', `${INET_HOST}/24`, 'dev', 'wan0']);
      await lab.check('inet', ['ip', 'link', 'set', 'wan0', 'up']);
      await lab.check('x', ['ip', 'addr', 'add', `${INET6_GW}/64`, 'dev', 'up0', 'nodad']);
      await lab.check('inet', ['ip', 'addr', 'add', `${INET6_HOST}/64`, 'dev', 'wan0', 'nodad']);
      const server = lab.spawn('inet', [process.execPath, '-e', SEEN_SERVER('::', HTTP_PORT)], { label: 'inet:http' });
      await server.waitForLine(/listening/, 10_000);
      // A service on x's own loopback: no member may reach it through x as an exit node.
      loopback = lab.spawn('x', [process.execPath, '-e', LOOPBACK_SERVER], { label: 'x:loopback' });
      await loopback.waitForLine(/listening/, 10_000);

      relay = await startLabRelay(lab, 'relay', { caFile: net.caFile, crlFile: net.crlFile });
      const mx = await net.addMember('x', { address: `${MESH_X}/24`, exit: true });
      const mp = await net.addMember('p', { address: `${MESH_P}/24` });
      x = await startLabDaemon(lab, 'x', { relay, caFile: net.caFile, certFile: mx.certFile, dir: mx.dir, dev: 'none', ifname: '-', args: ['--advertise-exit-node'] });
      // p runs as nobody: its identity, certificates and control socket live in a directory nobody owns.
      const pdir = join(net.dir, 'p-nobody');
      await chmod(net.dir, 0o755);
      await mkdir(pdir, { mode: 0o700 });
      for (const f of ['identity.key', 'identity.pub', 'member.crt']) await copyFile(join(mp.dir, f), join(pdir, f));
      await copyFile(net.caFile, join(pdir, 'ca.crt'));
      for (const f of ['', 'identity.key', 'identity.pub', 'member.crt', 'ca.crt']) await chown(join(pdir, f), NOBODY.uid, NOBODY.gid);
      p = await startLabDaemon(lab, 'p', {
        relay, caFile: join(pdir, 'ca.crt'), certFile: join(pdir, 'member.crt'), dir: pdir, dev: 'none', ifname: '-', user: NOBODY,
        control: join(pdir, 'control.sock'), env: { HOME: pdir },
        args: ['--socks5', `127.0.0.1:${SOCKS_PORT}`, '--exit-node', 'x'],
      });
    } catch (err) {
      await lab.teardown();
      throw err;
    }
  });

  after(async () => {
    await lab?.teardown();
  });

  test('the proxy member runs as nobody and has no route to the internet', async () => {
    const uid = (await lab!.exec('p', ['ps', '-o', 'uid=', '-p', String(p!.proc.pid)])).stdout.trim();
    assert.equal(uid, String(NOBODY.uid));
    const direct = await lab!.exec('p', ['curl', '-s', '--max-time', '3', `http://${INET_HOST}:${HTTP_PORT}/`], { timeoutMs: 10_000 });
    assert.notEqual(direct.code, 0, 'p reaches the internet without the proxy: the test would prove nothing');
  });

  test('curl --socks5-hostname fetches from the internet through x; the server sees x', async () => {
    const deadline = Date.now() + READY_MS;
    let body: string | null = null;
    while (body === null && Date.now() < deadline) {
      body = await fetchThroughP();
      if (body === null) await sleep(POLL_MS);
    }
    assert.equal(body, INET_GW, `no fetch through x within ${READY_MS} ms\nx stderr: ${x!.proc.stderr().slice(-3_000)}\np stderr: ${p!.proc.stderr().slice(-3_000)}`);
    // status shows the streams' exit node on both sides.
    assert.deepEqual(pick(await exitStatus(p!)), { use: 'x', state: 'active', name: 'x', advertising: false, streamsOnly: true });
    assert.deepEqual(pick(await exitStatus(x!)), { use: null, state: 'none', name: null, advertising: true, streamsOnly: true });
    // IPv6 too, though p's certificate has no IPv6 address: x connects, the server sees x's IPv6 address.
    assert.equal(await fetchThroughP(INET6_HOST), INET6_GW);
  });

  test("x's own loopback is refused (0x05), counted on x, and never reached", async () => {
    const before = (await drops(x!))['streams.refused_exit_denied'] ?? 0;
    assert.equal(await socksReply('127.0.0.1', LOOPBACK_PORT), '5');
    assert.equal((await drops(x!))['streams.refused_exit_denied'], before + 1);
    await sleep(500);
    assert.ok(!loopback!.stdout().includes('connection'), 'the loopback service was reached');
  });

  test('x killed: the SOCKS reply turns to 0x03 (counted), curl fails, nothing goes out from p', async () => {
    x!.proc.signal('SIGKILL');
    await x!.proc.exited;
    const deadline = Date.now() + EXIT_GONE_MS;
    let reply = '';
    while (Date.now() < deadline) {
      reply = await socksReply(INET_HOST, HTTP_PORT);
      if (reply === '3') break;
      await sleep(POLL_MS);
    }
    assert.equal(reply, '3', `still ${reply} ${EXIT_GONE_MS} ms after x was killed`);
    assert.ok(((await drops(p!))['streams.socks_no_exit_node'] ?? 0) >= 1);
    assert.equal((await exitStatus(p!))?.state, 'offline');
    assert.equal(await fetchThroughP(), null);
  });
});
