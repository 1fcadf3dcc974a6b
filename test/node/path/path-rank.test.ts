/**
 * Preference among direct paths (src/node/path/path-rank.ts): UDP before
 * WSS, a local network address before a public one; and, through the path
 * manager, the local-network UDP path is kept when two UDP paths answer
 * with the same RTT.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { directPathRank, isLocalNetworkAddress, remoteHostOf } from '../../../src/node/path/path-rank.js';
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

test('rank: UDP on the local network, UDP across the internet, WSS on the local network, WSS across the internet', () => {
  assert.deepEqual(
    [directPathRank('udp', '10.0.0.2:1'), directPathRank('udp', '198.51.100.2:1'), directPathRank('wss', '[fd00::2]:443'), directPathRank('wss', '198.51.100.2:443')],
    [0, 1, 2, 3],
  );
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
