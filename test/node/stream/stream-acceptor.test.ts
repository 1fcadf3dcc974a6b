/**
 * Tests for src/node/stream/stream-acceptor.ts (docs/threat-model.md §3.8):
 * a member connects a peer's stream only to its own mesh address (on
 * loopback without a device) or into a route it serves, after the policy;
 * every other destination is refused with its reason and counted, and
 * nothing is dialled.
 */
import { strict as assert } from 'node:assert';
import { createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { LocalStreamAcceptor, type StreamAcceptorSource } from '../../../src/node/stream/stream-acceptor.js';
import type { StreamHandle } from '../../../src/node/stream/stream-mux.js';
import { StreamReason } from '../../../src/wire/constants.js';

const PEER = new Uint8Array(32).fill(1);
const OWN = new Uint8Array([10, 77, 0, 3]);

function handle(): StreamHandle & { written: number[] } {
  const written: number[] = [];
  return { peerHex: '01', id: 1, written, write: (b) => { written.push(...b); return true; }, finish: () => {}, reset: () => {} };
}

describe('stream acceptor', () => {
  let server: Server;
  let port = 0;
  let connections = 0;
  before(async () => {
    server = createServer((s) => { connections++; s.on('error', () => {}); s.end('hi'); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  function acceptor(over: Partial<StreamAcceptorSource> = {}): LocalStreamAcceptor {
    return new LocalStreamAcceptor({
      addresses: () => [{ address: OWN }],
      servedRoutes: () => [],
      hasDevice: () => false,
      policy: () => null,
      ...over,
    });
  }

  it('our own mesh address without a device is served on loopback', async () => {
    const a = acceptor();
    const h = handle();
    const before = connections;
    const r = await a.accept(PEER, OWN, port, h);
    assert.equal(typeof r, 'object');
    for (let i = 0; i < 100 && h.written.length < 2; i++) await new Promise((res) => setTimeout(res, 10));
    assert.equal(Buffer.from(h.written).toString(), 'hi');
    assert.equal(connections, before + 1);
    if (typeof r === 'object') r.abort(StreamReason.Aborted);
  });

  it('another address (another member, the LAN, loopback itself) is refused as not served and never dialled', async () => {
    const a = acceptor();
    const before = connections;
    assert.equal(await a.accept(PEER, new Uint8Array([10, 77, 0, 4]), port, handle()), StreamReason.NotServed);
    assert.equal(await a.accept(PEER, new Uint8Array([127, 0, 0, 1]), port, handle()), StreamReason.NotServed);
    assert.equal(await a.accept(PEER, new Uint8Array(16), port, handle()), StreamReason.NotServed);
    assert.equal(a.refused.not_served, 3);
    assert.equal(connections, before);
  });

  it('a served route is dialled on the destination itself', async () => {
    const a = acceptor({ servedRoutes: () => [{ address: new Uint8Array([127, 0, 0, 0]), prefix: 24 }] });
    const before = connections;
    const r = await a.accept(PEER, new Uint8Array([127, 0, 0, 1]), port, handle());
    assert.equal(typeof r, 'object');
    if (typeof r === 'object') r.abort(StreamReason.Aborted);
    for (let i = 0; i < 100 && connections === before; i++) await new Promise((res) => setTimeout(res, 10));
    assert.equal(connections, before + 1);
  });

  it('the policy is asked with the peer and destination, and a denial refuses', async () => {
    const asked: unknown[] = [];
    const a = acceptor({ policy: (peer, address, p) => { asked.push([peer.length, address, p]); return { allowed: false, rule: 'default-deny' }; } });
    assert.equal(await a.accept(PEER, OWN, port, handle()), StreamReason.Policy);
    assert.deepEqual(asked, [[32, '10.77.0.3', port]]);
    assert.equal(a.refused.policy, 1);
  });

  it('a closed port is refused as connection refused', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const closed = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const a = acceptor();
    assert.equal(await a.accept(PEER, OWN, closed, handle()), StreamReason.ConnectRefused);
    assert.equal(a.refused.connect_refused, 1);
  });

  it('as an exit node: loopback, link-local, unspecified, multicast and other mesh addresses are refused (exit_denied) and never dialled', async () => {
    const a = acceptor({ servesExit: () => true, meshSubnets: () => [{ address: new Uint8Array([10, 77, 0, 0]), prefix: 16 }, { address: Uint8Array.from([0xfd, ...new Array(15).fill(0)]), prefix: 64 }] });
    const before = connections;
    const denied = [
      [127, 0, 0, 1], [127, 9, 9, 9], [169, 254, 1, 1], [0, 0, 0, 0], [224, 0, 0, 1], [10, 77, 0, 4],
      [...new Array(15).fill(0), 1], [0xfe, 0x80, ...new Array(14).fill(0)], [...new Array(10).fill(0), 0xff, 0xff, 127, 0, 0, 1], new Array(16).fill(0),
      [0xfd, ...new Array(14).fill(0), 9],
    ];
    for (const d of denied) assert.equal(await a.accept(PEER, Uint8Array.from(d), port, handle()), StreamReason.NotServed, d.join('.'));
    assert.equal(a.refused.exit_denied, denied.length);
    assert.equal(a.refused.not_served, 0);
    assert.equal(connections, before);
  });

  it('as an exit node with --serve-loopback: loopback is dialled; without the exit role the same address is not served', async () => {
    const exit = acceptor({ servesExit: () => true, serveLoopback: () => true });
    const before = connections;
    const r = await exit.accept(PEER, new Uint8Array([127, 0, 0, 1]), port, handle());
    assert.equal(typeof r, 'object');
    if (typeof r === 'object') r.abort(StreamReason.Aborted);
    for (let i = 0; i < 100 && connections === before; i++) await new Promise((res) => setTimeout(res, 10));
    assert.equal(connections, before + 1);
    const plain = acceptor({ servesExit: () => false, serveLoopback: () => true });
    assert.equal(await plain.accept(PEER, new Uint8Array([127, 0, 0, 1]), port, handle()), StreamReason.NotServed);
    assert.equal(plain.refused.not_served, 1);
  });

  it('as an exit node the policy still decides: a denial refuses before any dial', async () => {
    const a = acceptor({ servesExit: () => true, policy: () => ({ allowed: false, rule: 'default-deny' }) });
    assert.equal(await a.accept(PEER, new Uint8Array([203, 0, 113, 10]), port, handle()), StreamReason.Policy);
    assert.equal(a.refused.policy, 1);
  });
});
