/**
 * Network policy in the data plane (src/node/dataplane/dataplane.ts,
 * docs/architecture.md "Network policy"), with an in-memory device and
 * directory: this node is db1 (group db); web1 (group web) may reach it on
 * tcp/5432 only, ops1 (group ops) on anything. Denied packets are dropped
 * and counted under their rule; replies to what this node opened pass; ARP
 * passes on TAP; without a policy nothing changes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dataplane, type DataplaneMember } from '../../../src/node/dataplane/dataplane.js';
import { VNET_HDR_BYTES } from '../../../src/node/device/vnet-header.js';
import { macForPeer } from '../../../src/node/dataplane/tap-source.js';
import { CompiledPolicy } from '../../../src/policy/compiled-policy.js';
import { PolicyEngine } from '../../../src/policy/policy-engine.js';
import { FakeClock } from '../../../testkit/fake-clock.js';
import { FakeDevice, hex, ip4, memberDirectory } from '../../../testkit/dataplane-fakes.js';

const SELF = new Uint8Array(32).fill(0xa1);
const WEB = new Uint8Array(32).fill(0xb2);
const OPS = new Uint8Array(32).fill(0xc3);
const SELF_IP = '10.10.10.3';
const WEB_IP = '10.10.10.4';
const OPS_IP = '10.10.10.5';

function member(id: Uint8Array, addr: string, name: string, group: string): DataplaneMember {
  return { peerId: id, hex: hex(id), addresses: [{ family: 4, bytes: ip4(addr) }], name, cert: { groups: [group] } };
}
const members = [member(WEB, WEB_IP, 'web1', 'web'), member(OPS, OPS_IP, 'ops1', 'ops')];
const directory = memberDirectory(members);

const POLICY = (outbound = false) => CompiledPolicy.fromText(
  `outbound: ${outbound}\nrules:\n  - name: web-to-db\n    from: group:web\n    to: group:db\n    proto: tcp\n    ports: [5432]\n  - name: ops-any\n    from: group:ops\n    to: any\n    proto: any\n`,
  'policy.yaml',
);

function setup(kind: 'tap' | 'tun', policy: CompiledPolicy | null) {
  const device = new FakeDevice(kind, true);
  const sent: string[] = [];
  const peers = { sendInner: (id: Uint8Array) => { sent.push(hex(id)); return 'sent' as const; } };
  const clock = new FakeClock();
  const dp = new Dataplane({ device, peers, members: directory, clock });
  if (policy !== null) dp.setPolicy(new PolicyEngine(policy, clock), { name: 'db1', groups: ['db'] });
  dp.start();
  return { device, sent, dp };
}

/** An IPv4 TCP segment header (ports only) at `off`. */
function tcp4(src: string, dst: string, sport: number, dport: number, off = VNET_HDR_BYTES): Uint8Array {
  const p = new Uint8Array(off + 40);
  p[off] = 0x45;
  p[off + 9] = 6;
  p.set(ip4(src), off + 12);
  p.set(ip4(dst), off + 16);
  p[off + 20] = sport >> 8; p[off + 21] = sport & 0xff;
  p[off + 22] = dport >> 8; p[off + 23] = dport & 0xff;
  return p;
}

function frame(dst: ArrayLike<number>, src: ArrayLike<number>, etherType: number, payload: Uint8Array): Uint8Array {
  const off = VNET_HDR_BYTES;
  const p = new Uint8Array(off + 14 + payload.length);
  p.set(dst, off);
  p.set(src, off + 6);
  p[off + 12] = etherType >> 8;
  p[off + 13] = etherType & 0xff;
  p.set(payload, off + 14);
  return p;
}
const BCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

function arpRequest(src: ArrayLike<number>, spa: string, tpa: string): Uint8Array {
  const a = new Uint8Array(28);
  a.set([0, 1, 0x08, 0, 6, 4, 0, 1]);
  a.set(src, 8);
  a.set(ip4(spa), 14);
  a.set(ip4(tpa), 24);
  return frame(BCAST, src, 0x0806, a);
}

const flush = () => new Promise<void>((r) => queueMicrotask(r));

test('TUN inbound: an allowed flow passes, a denied one is dropped and counted under its rule', async () => {
  const { device, dp } = setup('tun', POLICY());
  dp.fromPeer(WEB, tcp4(WEB_IP, SELF_IP, 40000, 5432));
  dp.fromPeer(WEB, tcp4(WEB_IP, SELF_IP, 40001, 22));
  dp.fromPeer(WEB, tcp4(WEB_IP, SELF_IP, 40002, 22));
  dp.fromPeer(OPS, tcp4(OPS_IP, SELF_IP, 40003, 22));
  await flush();
  assert.equal(device.written.length, 2, 'web tcp/5432 and ops tcp/22 reach the device');
  assert.deepEqual(dp.policyDrops(), { 'default-deny': 2 });
  assert.equal(dp.stats.fromPeers, 2);
});

test('TUN: the reply to a flow this node opened passes inbound; the same packet unsolicited does not', async () => {
  const { device, sent, dp } = setup('tun', POLICY());
  dp.fromPeer(WEB, tcp4(WEB_IP, SELF_IP, 80, 50000));
  await flush();
  assert.equal(device.written.length, 0, 'web may not open to db on tcp/50000');
  device.read(tcp4(SELF_IP, WEB_IP, 50000, 80));
  assert.deepEqual(sent, [hex(WEB)], 'outbound is not enforced: db opens to web');
  dp.fromPeer(WEB, tcp4(WEB_IP, SELF_IP, 80, 50000));
  await flush();
  assert.equal(device.written.length, 1, 'the reply passes');
  assert.deepEqual(dp.policyDrops(), { 'default-deny': 1 });
});

test('TUN outbound: true also checks what this node sends', () => {
  const { device, sent, dp } = setup('tun', POLICY(true));
  device.read(tcp4(SELF_IP, WEB_IP, 50000, 80), tcp4(SELF_IP, OPS_IP, 50001, 22));
  assert.deepEqual(sent, [], 'db is in no rule as a sender');
  assert.deepEqual(dp.policyDrops(), { 'default-deny': 2 });
});

test('TAP: ARP passes; IP inside Ethernet is checked; another ethertype is dropped under default-deny', async () => {
  const { device, dp } = setup('tap', POLICY());
  const macWeb = macForPeer(WEB);
  const macSelf = macForPeer(SELF);
  dp.fromPeer(WEB, arpRequest(macWeb, WEB_IP, SELF_IP));
  dp.fromPeer(WEB, frame(macSelf, macWeb, 0x0800, tcp4(WEB_IP, SELF_IP, 40000, 5432, 0)));
  dp.fromPeer(WEB, frame(macSelf, macWeb, 0x0800, tcp4(WEB_IP, SELF_IP, 40001, 22, 0)));
  await flush();
  assert.equal(device.written.length, 2, 'ARP and tcp/5432');
  assert.equal(device.written[0]![VNET_HDR_BYTES + 13], 0x06, 'the ARP frame went through');
  assert.deepEqual(dp.policyDrops(), { 'default-deny': 1 });
});

test('no policy: everything that passes the source rule reaches the device, nothing is counted', async () => {
  const { device, dp } = setup('tun', null);
  dp.fromPeer(WEB, tcp4(WEB_IP, SELF_IP, 40001, 22));
  dp.fromPeer(WEB, tcp4(WEB_IP, SELF_IP, 40000, 5432));
  await flush();
  assert.equal(device.written.length, 2);
  assert.equal(dp.policy, null);
  assert.deepEqual(dp.policyDrops(), {});
});

test('a new policy replaces the rules: a flow allowed before is dropped after', async () => {
  const clock = new FakeClock();
  const { device, dp } = setup('tun', null);
  const engine = new PolicyEngine(POLICY(), clock);
  dp.setPolicy(engine, { name: 'db1', groups: ['db'] });
  dp.fromPeer(OPS, tcp4(OPS_IP, SELF_IP, 40003, 22));
  engine.setPolicy(CompiledPolicy.fromText('rules: []\n', 'v2.yaml'));
  dp.fromPeer(OPS, tcp4(OPS_IP, SELF_IP, 40003, 22));
  await flush();
  assert.equal(device.written.length, 1);
  assert.deepEqual(dp.policyDrops(), { 'default-deny': 1 });
});

test('routed traffic meets the policy: CIDR selectors see the LAN address behind a member serving a route', async () => {
  const GW = new Uint8Array(32).fill(0xd4);
  const gw: DataplaneMember = { ...member(GW, '10.10.10.6', 'gw1', 'gw'), routes: [{ family: 4, bytes: ip4('192.168.50.0'), prefix: 24 }] };
  const routed = {
    byAddress: (a: Uint8Array) => (Buffer.compare(a, ip4('10.10.10.6')) === 0 ? gw : undefined),
    byRoute: (a: Uint8Array) => (a[0] === 192 && a[1] === 168 && a[2] === 50 ? gw : undefined),
    get: (id: Uint8Array | string) => ((typeof id === 'string' ? id : hex(id)) === gw.hex ? gw : undefined),
    list: () => [gw],
  };
  const policy = CompiledPolicy.fromText(
    'outbound: true\nrules:\n  - name: lan-web\n    from: group:db\n    to: 192.168.50.0/24\n    proto: tcp\n    ports: [80]\n',
    'policy.yaml',
  );
  const device = new FakeDevice('tun', true);
  const sent: string[] = [];
  const clock = new FakeClock();
  const dp = new Dataplane({ device, peers: { sendInner: (id: Uint8Array) => { sent.push(hex(id)); return 'sent' as const; } }, members: routed, clock, acceptRoutes: true });
  const engine = new PolicyEngine(policy, clock);
  dp.setPolicy(engine, { name: 'db1', groups: ['db'] });
  dp.start();
  device.read(tcp4(SELF_IP, '192.168.50.10', 40_000, 80), tcp4(SELF_IP, '192.168.50.10', 40_001, 22));
  assert.deepEqual(sent, [gw.hex], 'only the allowed port went to the member serving the route');
  // The reply from the LAN host passes (tracked); an unsolicited packet from the LAN does not.
  dp.fromPeer(GW, tcp4('192.168.50.10', SELF_IP, 80, 40_000));
  dp.fromPeer(GW, tcp4('192.168.50.10', SELF_IP, 5_555, 22));
  await new Promise((r) => setImmediate(r));
  assert.equal(device.written.length, 1);
  assert.equal(dp.policyDrops()['default-deny'], 2);
});
