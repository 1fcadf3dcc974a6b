/**
 * Subnet routes against real processes in network namespaces (issue 14,
 * docs/architecture.md "Subnet routes"): a relay; member R in namespace `r`
 * whose certificate carries 192.168.50.0/24, running `up
 * --advertise-routes`, with a LAN link (veth) to namespace `lan` where host
 * 192.168.50.10 listens; member A with `--accept-routes`; member B without.
 *
 *   - A gets a kernel route for 192.168.50.0/24 on its TUN device, pings
 *     192.168.50.10 and fetches HTTP from it; R holds a MASQUERADE rule and
 *     forwarding while it runs, and neither once it stopped. The same over
 *     IPv6: fd50::/64 in R's certificate, fd50::10 from A (ip6tables).
 *   - The LAN host reaches A's mesh address through R (no NAT that way):
 *     A takes a source inside R's certified route.
 *   - B (no --accept-routes) has no such kernel route; with one added by
 *     hand its packets to the LAN are dropped and counted by its data plane
 *     (dataplane.no_route) and nothing answers.
 *   - R re-signed without the route (a new certificate of another key):
 *     `--advertise-routes` is refused (SM_ERR_DAEMON_ROUTES_NONE); running
 *     without it but forwarding anyway, A installs no route, its packets to
 *     the LAN are dropped as no_route, and the LAN host's packets to A are
 *     dropped by A as dataplane.spoofed_source.
 *
 * Needs root; skipped otherwise. Namespaces are sm-<id>-*, removed by the
 * lab's teardown in after() (and its exit hook).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createNetnsLab, type NetnsLab } from '../../src/demo/netns-lab.js';
import { measurePing } from '../../testkit/netns-measure.js';
import { labHttpGet, startLabDaemon, startLabRelay, upAvailable, waitForPing, type LabDaemon, type LabNodeOptions, type LabRelay } from '../../testkit/netns-shadowmesh.js';
import { createTestNetwork, type TestMember, type TestNetwork } from '../../testkit/test-network.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const skip = !isRoot ? 'needs root (network namespaces)' : !upAvailable() ? 'this build has no `shadowmesh up`' : false;

const MESH_A = '10.10.10.3';
const MESH_B = '10.10.10.4';
const MESH_R = '10.10.10.2';
const MESH_R2 = '10.10.10.5';
const LAN_NET = '192.168.50.0/24';
const LAN_GW = '192.168.50.1';
const LAN_HOST = '192.168.50.10';
const LAN6_NET = 'fd50::/64';
const LAN6_HOST = 'fd50::10';
const HTTP_PORT = 8080;
const HTTP_BODY = 'hello from the lan';
const IFNAME = 'smtun0';
/** The first ping across a fresh tunnel includes admission and the end-to-end handshake. */
const TUNNEL_READY_MS = 30_000;
/** The accepting node installs a member's route once the relay lists it; poll this long. */
const ROUTE_READY_MS = 20_000;
const POLL_MS = 250;
const PINGS = 5;

const LAN_SERVER = `require('node:http').createServer((q, s) => s.end(${JSON.stringify(HTTP_BODY)})).listen(${HTTP_PORT}, '::', () => console.log('listening'));`;

interface Lab {
  lab: NetnsLab;
  net: TestNetwork;
  relay: LabRelay;
  options(m: TestMember, args?: string[]): LabNodeOptions;
}

async function kernelRoute(lab: NetnsLab, node: string): Promise<string> {
  return (await lab.check(node, ['ip', 'route', 'show', LAN_NET])).stdout.trim();
}

async function waitForRoute(lab: NetnsLab, node: string): Promise<string> {
  const deadline = Date.now() + ROUTE_READY_MS;
  for (;;) {
    const r = await kernelRoute(lab, node);
    if (r !== '' || Date.now() > deadline) return r;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function drops(d: LabDaemon): Promise<Record<string, number>> {
  return ((await d.status()) as { drops: Record<string, number> }).drops;
}

async function masqueradeRules(lab: NetnsLab, node: string): Promise<string[]> {
  const r = await lab.check(node, ['iptables', '-w', '5', '-t', 'nat', '-S', 'POSTROUTING']);
  return r.stdout.split('\n').filter((l) => l.includes('MASQUERADE'));
}

describe('subnet routes signed by the CA (TUN)', { skip }, () => {
  let env: Lab | undefined;
  let lab: NetnsLab | undefined;
  let r: LabDaemon | undefined;
  let a: LabDaemon | undefined;
  let b: LabDaemon | undefined;

  before(async () => {
    lab = await createNetnsLab({ nodes: ['relay', 'a', 'b', 'r', 'lan'] });
    const net = await createTestNetwork();
    lab.onTeardown(() => rmSync(net.dir, { recursive: true, force: true }));
    // The LAN: a veth from r to lan, made in r's namespace and one end moved.
    await lab.check('r', ['ip', 'link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'host0']);
    await lab.check('r', ['ip', 'link', 'set', 'host0', 'netns', lab.node('lan').ns]);
    await lab.check('r', ['ip', 'addr', 'add', `${LAN_GW}/24`, 'dev', 'lan0']);
    await lab.check('r', ['ip', 'link', 'set', 'lan0', 'up']);
    await lab.check('lan', ['ip', 'addr', 'add', `${LAN_HOST}/24`, 'dev', 'host0']);
    await lab.check('r', ['ip', 'addr', 'add', 'fd50::1/64', 'dev', 'lan0', 'nodad']);
    await lab.check('lan', ['ip', 'addr', 'add', `${LAN6_HOST}/64`, 'dev', 'host0', 'nodad']);
    await lab.check('lan', ['ip', 'link', 'set', 'host0', 'up']);
    // The LAN routes the mesh via R (used by the LAN -> A test; A -> LAN is masqueraded).
    await lab.check('lan', ['ip', 'route', 'add', '10.10.10.0/24', 'via', LAN_GW]);
    const server = lab.spawn('lan', [process.execPath, '-e', LAN_SERVER], { label: 'lan:http' });
    await server.waitForLine(/listening/, 10_000);

    const relay = await startLabRelay(lab, 'relay', { caFile: net.caFile, crlFile: net.crlFile });
    const options = (m: TestMember, args: string[] = []): LabNodeOptions => ({ relay, caFile: net.caFile, certFile: m.certFile, dir: m.dir, dev: 'tun', ifname: IFNAME, args });
    env = { lab, net, relay, options };
    const mr = await net.addMember('r', { address: `${MESH_R}/24`, extraAddresses: ['fd00::2/64'], routes: [LAN_NET, LAN6_NET] });
    const ma = await net.addMember('a', { address: `${MESH_A}/24`, extraAddresses: ['fd00::3/64'] });
    const mb = await net.addMember('b', { address: `${MESH_B}/24` });
    r = await startLabDaemon(lab, 'r', options(mr, ['--advertise-routes']));
    a = await startLabDaemon(lab, 'a', options(ma, ['--accept-routes']));
    b = await startLabDaemon(lab, 'b', options(mb));
    const took = await waitForPing(lab, 'a', MESH_R, TUNNEL_READY_MS);
    assert.notEqual(took, null, `no ping a -> r within ${TUNNEL_READY_MS} ms\nr stderr: ${r.proc.stderr().slice(-3_000)}\na stderr: ${a.proc.stderr().slice(-3_000)}`);
  });

  after(async () => {
    await lab?.teardown();
    await env?.net.cleanup();
  });

  test('A with --accept-routes: a kernel route to the LAN, ping and HTTP reach the LAN host through R', async () => {
    const l = env!.lab;
    const route = await waitForRoute(l, 'a');
    assert.match(route, new RegExp(`^${LAN_NET.replace(/\./g, '\\.')} dev ${IFNAME}`), `a's route table: ${route}`);
    const p = await measurePing(l, 'a', LAN_HOST, { count: PINGS, intervalS: 0.2 });
    if (p.received !== PINGS) {
      const diag = [JSON.stringify(await drops(a!)), JSON.stringify(await drops(r!)), (await l.exec('r', ['iptables', '-t', 'nat', '-L', '-v', '-n'])).stdout, (await l.exec('r', ['ip', 'route'])).stdout, (await l.exec('r', ['cat', '/proc/sys/net/ipv4/ip_forward'])).stdout, (await l.exec('r', ['iptables', '-L', '-v', '-n'])).stdout, r!.proc.stderr().slice(-3000)];
      assert.fail(`a -> ${LAN_HOST}: ${p.received}/${p.transmitted}\n${diag.join('\n')}`);
    }
    const res = await labHttpGet(l, 'a', LAN_HOST, HTTP_PORT, '/');
    assert.equal(res.status, 200);
    assert.equal(res.body, HTTP_BODY);
    const st = (await a!.status()) as { routes?: { accepting: boolean; accepted: Array<{ route: string; name: string }> } };
    assert.deepEqual(st.routes?.accepted.map((x) => `${x.route} ${x.name}`), [`${LAN_NET} r`, `${LAN6_NET} r`]);
    const rs = (await r!.status()) as { routes?: { advertised: string[]; snat: boolean } };
    assert.deepEqual(rs.routes?.advertised, [LAN_NET, LAN6_NET]);
    // R forwards and masquerades the mesh towards the LAN while it serves the route.
    assert.equal((await l.check('r', ['cat', '/proc/sys/net/ipv4/ip_forward'])).stdout.trim(), '1');
    const rules = await masqueradeRules(l, 'r');
    assert.equal(rules.length, 1, rules.join('\n'));
    assert.match(rules[0]!, /-s 10\.10\.10\.0\/24 -d 192\.168\.50\.0\/24/);
  });

  test('IPv6: A reaches the LAN host\'s fd50::10 through R (ip6tables masquerade, IPv6 forwarding)', async () => {
    const l = env!.lab;
    assert.match((await l.check('a', ['ip', '-6', 'route', 'show', LAN6_NET])).stdout, new RegExp(`dev ${IFNAME}`));
    const p = await measurePing(l, 'a', LAN6_HOST, { count: PINGS, intervalS: 0.2 });
    assert.equal(p.received, PINGS, `a -> ${LAN6_HOST}: ${p.received}/${p.transmitted}`);
    const res = await labHttpGet(l, 'a', LAN6_HOST, HTTP_PORT, '/');
    assert.equal(res.body, HTTP_BODY);
    assert.equal((await l.check('r', ['cat', '/proc/sys/net/ipv6/conf/all/forwarding'])).stdout.trim(), '1');
    const rules = (await l.check('r', ['ip6tables', '-w', '5', '-t', 'nat', '-S', 'POSTROUTING'])).stdout.split('\n').filter((x) => x.includes('MASQUERADE'));
    assert.equal(rules.length, 1, rules.join('\n'));
    assert.match(rules[0]!, /-s fd00::\/64 -d fd50::\/64/);
  });

  test('the LAN host reaches A through R: A takes sources inside R\'s certified route', async () => {
    const p = await measurePing(env!.lab, 'lan', MESH_A, { count: PINGS, intervalS: 0.2 });
    assert.equal(p.received, PINGS, `lan -> a: ${p.received}/${p.transmitted}`);
  });

  test('B without --accept-routes: no kernel route; a hand-made one only feeds dataplane.no_route', async () => {
    const l = env!.lab;
    assert.equal(await kernelRoute(l, 'b'), '', 'b installed a route without --accept-routes');
    await l.check('b', ['ip', 'route', 'add', LAN_NET, 'dev', IFNAME]);
    const before = (await drops(b!))['dataplane.no_route'] ?? 0;
    const p = await measurePing(l, 'b', LAN_HOST, { count: PINGS, intervalS: 0.2 });
    assert.equal(p.received, 0, `b reached the LAN without accepting routes: ${p.received}/${p.transmitted}`);
    const after = (await drops(b!))['dataplane.no_route'] ?? 0;
    assert.ok(after - before >= PINGS, `dataplane.no_route on b went ${before} -> ${after}`);
  });

  test('R without the route in its certificate: --advertise-routes refused; A installs nothing, drops and counts both ways', async () => {
    const l = env!.lab;
    await r!.stop();
    // Stopping R removed its masquerade rule and restored forwarding, and A dropped the route with R.
    assert.deepEqual(await masqueradeRules(l, 'r'), []);
    assert.equal((await l.check('r', ['cat', '/proc/sys/net/ipv4/ip_forward'])).stdout.trim(), '0');
    assert.equal((await l.check('r', ['cat', '/proc/sys/net/ipv6/conf/all/forwarding'])).stdout.trim(), '0');
    assert.ok(!(await l.check('r', ['ip6tables', '-w', '5', '-t', 'nat', '-S', 'POSTROUTING'])).stdout.includes('MASQUERADE'), 'the ip6tables rule outlived R');
    const gone = Date.now() + ROUTE_READY_MS;
    while ((await kernelRoute(l, 'a')) !== '' && Date.now() < gone) await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    assert.equal(await kernelRoute(l, 'a'), '', 'a kept the route of a member that left');

    const r2 = await env!.net.addMember('r2', { address: `${MESH_R2}/24` });
    let refused = '';
    try {
      await startLabDaemon(l, 'r', { ...env!.options(r2, ['--advertise-routes']), control: `${r2.dir}/control-refused.sock` });
    } catch (err) {
      refused = (err as Error).message;
    }
    assert.match(refused, /SM_ERR_DAEMON_ROUTES_NONE/);

    // The same member forwarding anyway (by hand): nothing it did not get signed is taken from it.
    r = await startLabDaemon(l, 'r', env!.options(r2));
    await l.check('r', ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    await l.check('r', ['iptables', '-w', '5', '-t', 'nat', '-A', 'POSTROUTING', '-s', '10.10.10.0/24', '-d', LAN_NET, '-j', 'MASQUERADE']);
    try {
      assert.notEqual(await waitForPing(l, 'a', MESH_R2, TUNNEL_READY_MS), null, 'no ping a -> r2');
      assert.equal(await kernelRoute(l, 'a'), '', 'a installed a route no certificate carries');
      await l.check('a', ['ip', 'route', 'add', LAN_NET, 'dev', IFNAME]);
      const d0 = await drops(a!);
      const out = await measurePing(l, 'a', LAN_HOST, { count: PINGS, intervalS: 0.2 });
      assert.equal(out.received, 0, `a reached the LAN through a member without the route: ${out.received}/${out.transmitted}`);
      const inbound = await measurePing(l, 'lan', MESH_A, { count: PINGS, intervalS: 0.2 });
      assert.equal(inbound.received, 0, `the LAN reached a through a member without the route: ${inbound.received}/${inbound.transmitted}`);
      const d1 = await drops(a!);
      const noRoute = (d1['dataplane.no_route'] ?? 0) - (d0['dataplane.no_route'] ?? 0);
      const spoofed = (d1['dataplane.spoofed_source'] ?? 0) - (d0['dataplane.spoofed_source'] ?? 0);
      assert.ok(noRoute >= PINGS, `a's dataplane.no_route grew by ${noRoute}`);
      assert.ok(spoofed >= PINGS, `a's dataplane.spoofed_source grew by ${spoofed}`);
    } finally {
      await l.exec('a', ['ip', 'route', 'del', LAN_NET, 'dev', IFNAME]);
    }
  });
});
