/**
 * Preference among direct paths (src/node/path/path-rank.ts): UDP before
 * WSS, an address on a link of this machine before another local network
 * address (one reached through a tunnel device), that before a public one;
 * and, through the path manager, the better-ranked UDP path is kept when
 * two UDP paths answer with the same RTT.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NetworkInterfaceInfo } from 'node:os';
import { directPathRank, isLocalNetworkAddress, isOnLinkNow, onLinkTest, remoteHostOf } from '../../../src/node/path/path-rank.js';
import { memoryPathPair } from '../../../testkit/memory-path.js';
import { A, B, Lab, dataFrame, tally } from '../../../testkit/path-manager-lab.js';

test('local network addresses: private, loopback, link-local, unique-local; not public, not carrier-grade NAT', () => {
  for (const a of ['10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '127.0.0.1', '169.254.3.4', '::1', 'fd00::1', 'fc12::9', 'fe80::1', '::ffff:192.168.0.7']) {
    assert.equal(isLocalNetworkAddress(a), true, a);
  }
  for (const a of ['198.51.100.1', '172.15.0.1', '172.32.0.1', '100.64.0.1', '8.8.8.8', '2001:db8::1', 'fec0::1', '', 'not-an-ip']) {
    assert.equal(isLocalNetworkAddress(a), false, a);
  }
  assert.equal(remoteHostOf('[fd00::1]:41641'), 'fd00::1');
  assert.equal(remoteHostOf('10.0.0.2:41641'), '10.0.0.2');
  assert.equal(remoteHostOf('relay'), '');
});

/** An interface entry as os.networkInterfaces() gives it. */
function iface(cidr: string, mac: string, internal = false): NetworkInterfaceInfo {
  const [address] = cidr.split('/') as [string];
  const v6 = address.includes(':');
  return v6
    ? { address, netmask: '', family: 'IPv6', mac, internal, cidr, scopeid: 0 }
    : { address, netmask: '', family: 'IPv4', mac, internal, cidr };
}

/** A machine on a LAN (eth0) that also runs a WireGuard tunnel (wg0) and a tun-based VPN with IPv6 (tun1). */
const machine = {
  lo: [iface('127.0.0.1/8', '00:00:00:00:00:00', true), iface('::1/128', '00:00:00:00:00:00', true)],
  eth0: [iface('192.168.1.10/24', '52:54:00:12:34:56'), iface('fe80::5054:ff:fe12:3456/64', '52:54:00:12:34:56')],
  wg0: [iface('10.99.0.1/24', '00:00:00:00:00:00')],
  tun1: [iface('fd7a:115c:a1e0::1/48', '00:00:00:00:00:00'), iface('100.100.1.1/32', '00:00:00:00:00:00')],
  broken: [{ ...iface('10.5.0.1/16', '52:54:00:00:00:01'), cidr: null }],
};

test('on-link: the subnets of interfaces with a link-layer address and loopback; never a tunnel device', () => {
  const onLink = onLinkTest(machine);
  for (const a of ['192.168.1.20', '192.168.1.255', '::ffff:192.168.1.7', '127.0.0.1', '127.8.9.10', '::1', 'fe80::1', 'fe80::1%eth0']) {
    assert.equal(onLink(a), true, a);
  }
  for (const a of ['192.168.2.20', '10.99.0.2', '10.99.0.1', 'fd7a:115c:a1e0::2', '100.100.1.1', '10.5.0.2', '198.51.100.1', '', 'not-an-ip', '[fe80::1]']) {
    assert.equal(onLink(a), false, a);
  }
  assert.equal(onLinkTest({})('127.0.0.1'), false, 'an empty table has no links');
  // This machine always has loopback.
  assert.equal(isOnLinkNow('127.0.0.1'), true);
  assert.equal(isOnLinkNow('198.51.100.1'), false);
});

test('rank: UDP on a link, through a tunnel, across the internet; then WSS the same way', () => {
  const onLink = onLinkTest(machine);
  assert.deepEqual(
    [
      directPathRank('udp', '192.168.1.20:1', onLink), directPathRank('udp', '10.99.0.2:1', onLink), directPathRank('udp', '198.51.100.2:1', onLink),
      directPathRank('wss', '[fe80::2]:443', onLink), directPathRank('wss', '[fd7a:115c:a1e0::2]:443', onLink), directPathRank('wss', '198.51.100.2:443', onLink),
    ],
    [0, 1, 2, 3, 4, 5],
  );
  assert.equal(directPathRank('udp', '10.0.0.2:1', () => false), 1, 'a local network address not on a link of ours');
});

test('two UDP paths with the same RTT, one through another VPN established first: the one on the wire wins after the dwell', () => {
  const onLink = onLinkTest(machine);
  const lab = new Lab({ manager: { timers: { switchDwellMs: 1_000 } }, onLink });
  lab.connectorEnabled = false;
  const tunnel = memoryPathPair({ clock: lab.clock, peerA: A, peerB: B }, { latencyMs: 1, carrier: 'udp', remoteOfB: '10.99.0.2:41641', remoteOfA: '10.99.0.1:41641' });
  lab.a.addDirectPath(B, tunnel.a);
  lab.b.addDirectPath(A, tunnel.b);
  let n = 0;
  const run = (ms: number): void => {
    for (let i = 0; i < ms; i++) {
      lab.a.send(B, dataFrame(n));
      n++;
      lab.clock.advance(1);
    }
  };
  run(300);
  assert.equal(lab.a.pathInfo(B)!.remote, '10.99.0.2:41641');
  const wire = memoryPathPair({ clock: lab.clock, peerA: A, peerB: B }, { latencyMs: 1, carrier: 'udp', remoteOfB: '192.168.1.20:41641', remoteOfA: '192.168.1.10:41641' });
  lab.a.addDirectPath(B, wire.a);
  lab.b.addDirectPath(A, wire.b);
  run(1_500);
  assert.equal(lab.a.pathInfo(B)!.remote, '192.168.1.20:41641', 'the on-link path wins at equal RTT, busy or not');
  run(2_000);
  assert.equal(lab.a.pathInfo(B)!.remote, '192.168.1.20:41641', 'and stays');
  lab.clock.advance(3_000);
  const t = tally(lab.atB, n);
  assert.equal(t.missing, 0, 'nothing lost');
  assert.equal(t.duplicates, 0, 'nothing duplicated');
  lab.stop();
});

test('two UDP paths with the same RTT: the one to the local network address is kept after the dwell, and nothing is lost', () => {
  const lab = new Lab({ manager: { timers: { switchDwellMs: 1_000 } } });
  lab.connectorEnabled = false;
  const pub = memoryPathPair({ clock: lab.clock, peerA: A, peerB: B }, { latencyMs: 3, carrier: 'udp', remoteOfB: '198.51.100.2:41641', remoteOfA: '198.51.100.1:41641' });
  lab.a.addDirectPath(B, pub.a);
  lab.b.addDirectPath(A, pub.b);
  let n = 0;
  const run = (ms: number): void => {
    for (let i = 0; i < ms; i++) {
      lab.a.send(B, dataFrame(n));
      n++;
      lab.clock.advance(1);
    }
  };
  run(300);
  assert.equal(lab.a.pathInfo(B)!.remote, '198.51.100.2:41641');
  const lan = memoryPathPair({ clock: lab.clock, peerA: A, peerB: B }, { latencyMs: 3, carrier: 'udp', remoteOfB: '192.168.1.20:41641', remoteOfA: '192.168.1.10:41641' });
  lab.a.addDirectPath(B, lan.a);
  lab.b.addDirectPath(A, lan.b);
  run(1_500);
  assert.equal(lab.a.pathInfo(B)!.remote, '192.168.1.20:41641', 'the local network path wins at equal RTT');
  run(2_000);
  assert.equal(lab.a.pathInfo(B)!.remote, '192.168.1.20:41641', 'and stays');
  lab.clock.advance(3_000);
  assert.deepEqual(tally(lab.atB, n), { missing: 0, duplicates: 0, outOfOrder: tally(lab.atB, n).outOfOrder, maxReorder: tally(lab.atB, n).maxReorder }, 'nothing lost or duplicated');
  lab.stop();
});
