/**
 * A node's whole data path without root: a real relay server (TLS 1.3 WSS on
 * 127.0.0.1, in process) and two ShadowNodes with memory TUN and TAP devices.
 * A packet a device hands alice's node must come out of bob's device, which
 * needs presence (the directory), the handshake, the session and the data
 * plane to work together.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../src/node/device/memory-device.js';
import { startInProcessMesh, waitUntil } from '../../testkit/in-process-mesh.js';
import { macForPeer } from '../../src/node/dataplane/tap-source.js';

function ipv4(src: number[], dst: number[], marker: number): Uint8Array {
  const p = new Uint8Array(28);
  p[0] = 0x45; p[3] = 28; p[8] = 64; p[9] = 17;
  p.set(src, 12); p.set(dst, 16);
  p[27] = marker;
  return p;
}

/** A broadcast Ethernet frame (flooded to every member) from `srcMac` carrying `ip`. */
function ethernet(srcMac: Uint8Array, ip: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + ip.length);
  f.fill(0xff, 0, 6);
  f.set(srcMac, 6);
  f[12] = 0x08;
  f.set(ip, 14);
  return f;
}

for (const kind of ['tun', 'tap'] as const) {
  test(`${kind}: a packet from alice's device comes out of bob's, end to end through the relay`, async () => {
    const mesh = await startInProcessMesh(['alice', 'bob']);
    try {
      const make = (name: string) => {
        const node = mesh.node(name);
        const dev = new MemoryDevice({ kind, mtu: 1400 });
        node.attachDevice(dev);
        node.start();
        return { node, dev };
      };
      const a = make('alice');
      const b = make('bob');
      await waitUntil('presence', () => a.node.directory.list().length === 1 && b.node.directory.list().length === 1);
      const [aIp, bIp] = [[10, 77, 0, 2], [10, 77, 0, 3]];
      assert.deepEqual([...a.node.directory.list()[0]!.addresses[0]!.bytes], bIp, 'alice learned bob and his address from his certificate');
      const alicePeerId = b.node.directory.list()[0]!.peerId;
      const bobPeerId = a.node.directory.list()[0]!.peerId;
      // TAP: alice's frames carry the MAC derived from her peer id, as her daemon sets on her device.
      const packet = kind === 'tun' ? ipv4(aIp, bIp, 0x5a) : ethernet(macForPeer(alicePeerId), ipv4(aIp, bIp, 0x5a));
      for (let i = 0; i < 20 && b.dev.written.length === 0; i++) {
        a.dev.inject([packet]);
        await new Promise((r) => setTimeout(r, 100));
      }
      await waitUntil('bob\'s device got the packet', () => b.dev.written.length > 0);
      assert.deepEqual([...b.dev.written[0]!], [...packet]);
      const dpb = b.node.dataplane!;
      assert.ok(dpb.stats.fromPeers >= 1);
      if (kind === 'tun') {
        // bob's node refuses a packet alice sends with bob's own address as source
        const spoof = ipv4(bIp, bIp, 0x66);
        a.dev.inject([spoof]);
        await waitUntil('spoof counted', () => dpb.stats.drops.spoofed_source === 1);
      } else {
        // bob's node refuses a frame alice sends from bob's MAC
        a.dev.inject([ethernet(macForPeer(bobPeerId), ipv4(aIp, bIp, 0x66))]);
        await waitUntil('spoofed MAC counted', () => dpb.stats.drops.spoofed_mac === 1);
      }
    } finally {
      await mesh.stop();
    }
  });
}
