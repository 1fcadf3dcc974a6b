/**
 * Direct paths through another VPN rank below the wire (src/node/path/path-rank.ts,
 * docs/architecture.md "The selector"), checked against the interfaces a real
 * namespace reports: the lab's veth is a link of the machine, a TUN device
 * of the kind WireGuard and other VPNs create is not, even though its
 * subnet is a private one. Needs root; skipped otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createNetnsLab } from '../../src/demo/netns-lab.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const RANK_MODULE = new URL('../../src/node/path/path-rank.js', import.meta.url).href;
const TUNNEL_DEV = 'smvpn0';
const TUNNEL_ADDRESS = '10.99.0.1/24';
const TUNNEL_PEER = '10.99.0.2';

test('in a namespace with a veth and a TUN device: the veth peer is on-link and ranks first, the peer behind the TUN does not', { skip: !isRoot }, async () => {
  const lab = await createNetnsLab({ nodes: ['a', 'b'] });
  try {
    await lab.check('a', ['ip', 'tuntap', 'add', 'dev', TUNNEL_DEV, 'mode', 'tun']);
    await lab.check('a', ['ip', 'addr', 'add', TUNNEL_ADDRESS, 'dev', TUNNEL_DEV]);
    await lab.check('a', ['ip', 'link', 'set', TUNNEL_DEV, 'up']);
    const wire = lab.ip('b');
    const script = [
      `import { directPathRank, isOnLinkNow } from ${JSON.stringify(RANK_MODULE)};`,
      `const hosts = ${JSON.stringify([wire, TUNNEL_PEER, '127.0.0.1', '198.51.100.1'])};`,
      'process.stdout.write(JSON.stringify(hosts.map((h) => [isOnLinkNow(h), directPathRank("udp", h + ":41641", isOnLinkNow)])));',
    ].join('\n');
    const r = await lab.check('a', [process.execPath, '--input-type=module', '-e', script]);
    const [onWire, throughTunnel, loopback, internet] = JSON.parse(r.stdout) as Array<[boolean, number]>;
    assert.deepEqual(onWire, [true, 0], `${wire} on the veth`);
    assert.deepEqual(throughTunnel, [false, 1], `${TUNNEL_PEER} behind ${TUNNEL_DEV}`);
    assert.deepEqual(loopback, [true, 0], 'loopback');
    assert.deepEqual(internet, [false, 2], 'a public address');
  } finally {
    await lab.teardown();
  }
});
