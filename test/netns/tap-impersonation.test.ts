/**
 * TAP impersonation by a malicious member (issue 11; docs/protocol.md §2.1,
 * the TAP source rule), against real processes in network namespaces: a
 * relay and three `shadowmesh up` daemons on real TAP devices, all members of
 * one network: victim a (10.10.10.3), sender b (10.10.10.4) and impostor m
 * (10.10.10.5). m's owner is root on m and uses its own TAP device
 * (testkit/adversary/malicious-member.ts):
 *
 *   - m adds a's address and announces it with gratuitous ARP from its own
 *     MAC while b sends datagrams to a's address: all reach a, none m; b's
 *     and a's daemons count 'spoofed_arp'.
 *   - m sends datagrams from a's address: none reach b ('spoofed_source').
 *   - m also takes a's MAC and announces again: still all reach a, none m;
 *     b's daemon counts 'spoofed_mac'.
 *
 * The tests run in order on one lab (each attack builds on the last); every
 * datagram count is exact, counted by a listener at each end. Needs root,
 * a build with `shadowmesh up` and arping (iputils-arping); skipped otherwise.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createNetnsLab, type NetnsLab } from '../../src/demo/netns-lab.js';
import { startLabDaemon, startLabRelay, upAvailable, waitForPing, type LabDaemon } from '../../testkit/netns-shadowmesh.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';
import { MaliciousMember, sendUdp, startUdpCounter, waitFor, type UdpCounter } from '../../testkit/adversary/malicious-member.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasArping = spawnSync('arping', ['-V'], { encoding: 'utf8' }).error === undefined;
const skip = !isRoot ? 'needs root (network namespaces)' : !upAvailable() ? 'this build has no `shadowmesh up`' : !hasArping ? 'needs arping (iputils-arping)' : false;

const MESH_A = '10.10.10.3';
const MESH_B = '10.10.10.4';
const MESH_M = '10.10.10.5';
const IFNAME = 'smtap0';
const PORT = 7_300;
/** Datagrams per attack: 10 ms apart, so they span the background announcements. */
const DATAGRAMS = 300;
/** Background gratuitous ARP while the datagrams are sent (one a second). */
const ANNOUNCE_MS = 4_000;
/** Admission, presence and a first end-to-end session for each pair. */
const TUNNEL_READY_MS = 30_000;
/** Datagrams sent at 10 ms pace have all arrived well within this after the sender is done. */
const ARRIVAL_MS = 10_000;
/** After the counts settle, a stray late datagram at the impostor would show within this. */
const SETTLE_MS = 1_000;

interface Drops { drops: Record<string, number> }

async function dropsOf(d: LabDaemon): Promise<Record<string, number>> {
  return ((await d.status()) as Drops).drops;
}

async function neighbourMac(lab: NetnsLab, node: string, ip: string): Promise<string | undefined> {
  const r = await lab.check(node, ['ip', '-j', 'neigh', 'show', ip, 'dev', IFNAME]);
  return (JSON.parse(r.stdout === '' ? '[]' : r.stdout) as Array<{ lladdr?: string }>)[0]?.lladdr?.toLowerCase();
}

describe('TAP: a malicious member cannot take over another member\'s MAC or address', { skip }, () => {
  let lab: NetnsLab | undefined;
  let net: TestNetwork | undefined;
  let a: LabDaemon;
  let b: LabDaemon;
  let m: LabDaemon;
  let mallory: MaliciousMember;
  let atA: UdpCounter;
  let atM: UdpCounter;
  let atB: UdpCounter;
  let macA: string;
  const logs = (): string => [a, b, m].map((d) => `\n${d.node} stderr: ${d.proc.stderr().slice(-2_000)}`).join('');

  before(async () => {
    lab = await createNetnsLab({ nodes: ['relay', 'a', 'b', 'm'] });
    net = await createTestNetwork();
    const dir = net.dir;
    lab.onTeardown(() => rmSync(dir, { recursive: true, force: true }));
    const relay = await startLabRelay(lab, 'relay', { caFile: net.caFile, crlFile: net.crlFile });
    const start = async (node: string, address: string): Promise<LabDaemon> => {
      const member = await net!.addMember(node, { address: `${address}/24` });
      return startLabDaemon(lab!, node, { relay, caFile: net!.caFile, certFile: member.certFile, dir: member.dir, dev: 'tap', ifname: IFNAME });
    };
    a = await start('a', MESH_A);
    b = await start('b', MESH_B);
    m = await start('m', MESH_M);
    for (const [from, to] of [['b', MESH_A], ['b', MESH_M], ['m', MESH_A], ['m', MESH_B]] as const) {
      assert.notEqual(await waitForPing(lab, from, to, TUNNEL_READY_MS), null, `no ping ${from} -> ${to}${logs()}`);
    }
    mallory = new MaliciousMember(lab, 'm', IFNAME);
    macA = await new MaliciousMember(lab, 'a', IFNAME).mac();
    atA = await startUdpCounter(lab, 'a', PORT);
    atM = await startUdpCounter(lab, 'm', PORT);
    atB = await startUdpCounter(lab, 'b', PORT);
  });

  after(async () => {
    await lab?.teardown();
    await net?.cleanup();
  });

  /** b sends DATAGRAMS to a's address while m keeps announcing it; returns what each end counted. */
  async function sendToVictimUnderAttack(): Promise<{ victim: number; impostor: number }> {
    const victim0 = atA.count();
    const impostor0 = atM.count();
    // b has to resolve a's address afresh: a and m both answer.
    await lab!.check('b', ['ip', 'neigh', 'flush', 'dev', IFNAME]);
    await mallory.announce(MESH_A);
    const garp = mallory.keepAnnouncing(MESH_A, ANNOUNCE_MS);
    try {
      assert.equal(await sendUdp(lab!, 'b', { to: MESH_A, port: PORT, count: DATAGRAMS }), DATAGRAMS);
      await waitFor(() => atA.count() - victim0 + atM.count() - impostor0 >= DATAGRAMS, ARRIVAL_MS);
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    } finally {
      await garp.stop();
    }
    return { victim: atA.count() - victim0, impostor: atM.count() - impostor0 };
  }

  test('control: datagrams to a reach a, the counters count them, and honest kernels break no rule', async () => {
    assert.equal(await sendUdp(lab!, 'b', { to: MESH_A, port: PORT, count: 20 }), 20);
    assert.ok(await waitFor(() => atA.count() === 20, ARRIVAL_MS), `a counted ${atA.count()} of 20${logs()}`);
    assert.equal(atM.count(), 0);
    // What the kernels sent so far (ARP, IPv4, IPv6 DAD, MLD and router solicitations from the EUI-64 link-local) all passed.
    for (const d of [a, b, m]) {
      const refused = Object.entries(await dropsOf(d)).filter(([k]) => /^dataplane\.(spoofed_|vlan_tagged|ipv6_ext_headers)/.test(k));
      assert.deepEqual(refused, [], `${d.node} refused honest frames`);
    }
  });

  test("m claims a's address with gratuitous ARP from its own MAC: every datagram to a's address reaches a, none m", async () => {
    await mallory.claimAddress(MESH_A);
    const got = await sendToVictimUnderAttack();
    assert.deepEqual(got, { victim: DATAGRAMS, impostor: 0 }, `datagrams b sent to ${MESH_A}${logs()}`);
    assert.equal(await neighbourMac(lab!, 'b', MESH_A), macA, "b's neighbour entry for a's address names a's MAC");
    const [dropsB, dropsA] = [await dropsOf(b), await dropsOf(a)];
    assert.ok((dropsB['dataplane.spoofed_arp'] ?? 0) > 0, `b counted no spoofed_arp: ${JSON.stringify(dropsB)}`);
    assert.ok((dropsA['dataplane.spoofed_arp'] ?? 0) > 0, `a counted no spoofed_arp: ${JSON.stringify(dropsA)}`);
  });

  test("m sends datagrams from a's address: none reach b", async () => {
    // m's own address first: the control, and a fresh neighbour entry for b, so the spoofed datagrams leave m at once.
    const b0 = atB.count();
    assert.equal(await mallory.sendUdp({ to: MESH_B, port: PORT, count: 20, from: MESH_M }), 20);
    assert.ok(await waitFor(() => atB.count() - b0 === 20, ARRIVAL_MS), `b counted ${atB.count() - b0} of m's 20 honest datagrams${logs()}`);
    const spoofed0 = (await dropsOf(b))['dataplane.spoofed_source'] ?? 0;
    assert.equal(await mallory.sendUdp({ to: MESH_B, port: PORT, count: 50, from: MESH_A }), 50);
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    assert.equal(atB.count() - b0, 20, `b received datagrams with a's source from m${logs()}`);
    const dropsB = await dropsOf(b);
    assert.ok((dropsB['dataplane.spoofed_source'] ?? 0) > spoofed0, `b counted no spoofed_source: ${JSON.stringify(dropsB)}`);
  });

  test("m takes a's MAC as well and announces again: every datagram to a's address still reaches a, none m", async () => {
    await mallory.setMac(macA);
    assert.equal(await mallory.mac(), macA);
    const got = await sendToVictimUnderAttack();
    assert.deepEqual(got, { victim: DATAGRAMS, impostor: 0 }, `datagrams b sent to ${MESH_A}${logs()}`);
    const dropsB = await dropsOf(b);
    assert.ok((dropsB['dataplane.spoofed_mac'] ?? 0) > 0, `b counted no spoofed_mac: ${JSON.stringify(dropsB)}`);
  });
});
