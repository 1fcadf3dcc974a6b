/**
 * Tests for streamRoute (src/node/stream/node-streams.ts; docs/architecture.md
 * "Streams"): where the SOCKS5 proxy, HTTP CONNECT and port forwards send a
 * stream. The owner of the address wins, then a certified route; an
 * address outside our mesh subnets goes to the chosen exit node only while
 * it is listed with the CA's exit mark ('no_exit' otherwise: the proxy
 * refuses, it never connects directly); without an exit node, nowhere.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { parseRoute, prefixContains } from '../../../src/identity/cert-routes.js';
import { parseCidr } from '../../../src/identity/cidr.js';
import { streamRoute, type StreamDirectory } from '../../../src/node/stream/node-streams.js';

const id = (n: number): Uint8Array => new Uint8Array(32).fill(n);
const ip = (...b: number[]): Uint8Array => Uint8Array.from(b);

interface Fake { peerId: Uint8Array; name: string; addresses: string[]; exit: boolean; route?: string }

function directory(members: Fake[]): StreamDirectory {
  const holds = (text: string, a: Uint8Array): boolean => {
    const r = parseRoute(text);
    return r.address.length === a.length && prefixContains(r.address, r.prefix, a);
  };
  return {
    byAddress: (a) => members.find((m) => m.addresses.some((t) => { const c = parseCidr(t); return c.address.length === a.length && c.address.every((b, i) => b === a[i]); })),
    byRoute: (a) => members.find((m) => m.route !== undefined && holds(m.route, a)),
    list: () => members.map((m) => ({ peerId: m.peerId, name: m.name, cert: { addresses: m.addresses, exit: m.exit } })) as unknown as ReturnType<StreamDirectory['list']>,
  };
}

const OURS = [parseCidr('10.77.0.9/24'), parseCidr('fd00::9/64')];
const bob: Fake = { peerId: id(2), name: 'bob', addresses: ['10.77.0.2/24'], exit: false, route: '192.168.50.0/24' };
const x: Fake = { peerId: id(3), name: 'x', addresses: ['10.77.0.3/24', 'fd00::3/64'], exit: true };
const plain: Fake = { peerId: id(4), name: 'plain', addresses: ['10.77.0.4/24'], exit: false };

describe('stream route', () => {
  it('the owner, then a certified route, win over the exit node', () => {
    const route = streamRoute(directory([bob, x]), () => OURS, () => 'x');
    assert.deepEqual(route(ip(10, 77, 0, 2)), bob.peerId);
    assert.deepEqual(route(ip(192, 168, 50, 7)), bob.peerId);
  });

  it('an address outside the mesh goes to the marked exit node, by name or mesh address, IPv4 and IPv6', () => {
    assert.deepEqual(streamRoute(directory([bob, x]), () => OURS, () => 'x')(ip(203, 0, 113, 10)), x.peerId);
    assert.deepEqual(streamRoute(directory([bob, x]), () => OURS, () => '10.77.0.3')(ip(203, 0, 113, 10)), x.peerId);
    assert.deepEqual(streamRoute(directory([x]), () => OURS, () => 'x')(Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, ...new Array(12).fill(0)])), x.peerId);
  });

  it('an unowned address inside our mesh subnets never goes to the exit node', () => {
    const route = streamRoute(directory([x]), () => OURS, () => 'x');
    assert.equal(route(ip(10, 77, 0, 200)), null);
    assert.equal(route(Uint8Array.from([0xfd, ...new Array(14).fill(0), 0x42])), null);
  });

  it('the chosen exit node not listed, or listed without the exit mark: no_exit (fail closed)', () => {
    assert.equal(streamRoute(directory([bob]), () => OURS, () => 'x')(ip(203, 0, 113, 10)), 'no_exit');
    assert.equal(streamRoute(directory([bob, plain]), () => OURS, () => 'plain')(ip(203, 0, 113, 10)), 'no_exit');
  });

  it('without an exit node an unowned address goes nowhere; the selection is read on every call', () => {
    let use: string | null = null;
    const route = streamRoute(directory([x]), () => OURS, () => use);
    assert.equal(route(ip(203, 0, 113, 10)), null);
    use = 'x';
    assert.deepEqual(route(ip(203, 0, 113, 10)), x.peerId);
    use = null;
    assert.equal(route(ip(203, 0, 113, 10)), null);
  });
});
