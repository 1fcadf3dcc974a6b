import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkTapSource, linkLocalForMac, macForPeer, MAX_IPV6_EXTENSION_HEADERS, tapOwner } from '../../../src/node/dataplane/tap-source.js';

const peerId = Uint8Array.from({ length: 32 }, (_, i) => 0x51 + i);
const owner = tapOwner({ peerId, addresses: [{ family: 4, bytes: new Uint8Array([10, 10, 10, 4]) }, { family: 6, bytes: Uint8Array.from([0xfd, 0, ...new Array<number>(13).fill(0), 4]) }] });
const mac = macForPeer(peerId);
const dstMac = [0x33, 0x33, 0, 0, 0, 1];

function ethernet(etherType: number, payload: Uint8Array, src: Uint8Array = mac): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  f.set(dstMac, 0);
  f.set(src, 6);
  f[12] = etherType >> 8;
  f[13] = etherType & 0xff;
  f.set(payload, 14);
  return f;
}

function ipv6(nextHeader: number, payload: Uint8Array, src = linkLocalForMac(mac)): Uint8Array {
  const p = new Uint8Array(40 + payload.length);
  p[0] = 0x60;
  p[4] = payload.length >> 8;
  p[5] = payload.length & 0xff;
  p[6] = nextHeader;
  p[7] = 255;
  p.set(src, 8);
  p[24] = 0xff; p[25] = 0x02; p[39] = 1;
  p.set(payload, 40);
  return p;
}

/** A Neighbor Advertisement for a foreign target (fe80::1): must be refused wherever it sits. */
function foreignNa(): Uint8Array {
  const m = new Uint8Array(24);
  m[0] = 136;
  m[8] = 0xfe; m[9] = 0x80; m[23] = 1;
  return m;
}

/** `n` hop-by-hop/destination-options headers (8 bytes each, PadN) chained before `last`. */
function extensionChain(n: number, last: number, body: Uint8Array): { first: number; bytes: Uint8Array } {
  const out = new Uint8Array(n * 8 + body.length);
  for (let i = 0; i < n; i++) {
    out[i * 8] = i === n - 1 ? last : 60;
    out[i * 8 + 1] = 0;
    out[i * 8 + 2] = 1; // PadN
    out[i * 8 + 3] = 4;
  }
  out.set(body, n * 8);
  return { first: n === 0 ? last : 0, bytes: out };
}

test('macForPeer: locally administered unicast from the first 6 bytes of the peer id', () => {
  assert.deepEqual([...macForPeer(Uint8Array.from([0xff, 1, 2, 3, 4, 5, 6]))], [0xfe, 1, 2, 3, 4, 5]);
  assert.deepEqual([...macForPeer(Uint8Array.from([0x01, 1, 2, 3, 4, 5]))], [0x02, 1, 2, 3, 4, 5]);
});

test('linkLocalForMac is the modified EUI-64 address Linux gives the interface (RFC 4291 appendix A)', () => {
  // 52:54:00:12:34:56 -> fe80::5054:ff:fe12:3456
  const ll = linkLocalForMac(Uint8Array.from([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]));
  assert.equal(Buffer.from(ll).toString('hex'), 'fe80000000000000' + '505400fffe123456');
});

test('an advertisement for a foreign target is found behind extension headers; too many headers are refused', () => {
  for (const n of [0, 1, MAX_IPV6_EXTENSION_HEADERS]) {
    const { first, bytes } = extensionChain(n, 58, foreignNa());
    assert.equal(checkTapSource(ethernet(0x86dd, ipv6(first, bytes)), 0, owner), 'spoofed_nd', `${n} extension headers`);
  }
  const { first, bytes } = extensionChain(MAX_IPV6_EXTENSION_HEADERS + 1, 58, foreignNa());
  assert.equal(checkTapSource(ethernet(0x86dd, ipv6(first, bytes)), 0, owner), 'ipv6_ext_headers');
});

test("a Redirect may point only at the sender itself: a foreign target would bind another member's address to the sender's MAC", () => {
  const redirect = new Uint8Array(40);
  redirect[0] = 137;
  redirect.set(owner.ipv6[1]!, 8); // target (the better first hop): the sender itself
  redirect.set([0xfd, 0, ...new Array<number>(13).fill(0), 7], 24); // destination
  const foreign = Uint8Array.from(redirect);
  foreign.set([0xfd, 0, ...new Array<number>(13).fill(0), 9], 8); // target: another member's address
  assert.equal(checkTapSource(ethernet(0x86dd, ipv6(58, redirect)), 0, owner), 'ok');
  assert.equal(checkTapSource(ethernet(0x86dd, ipv6(58, foreign)), 0, owner), 'spoofed_nd');
});

test('malformed ND options (zero length, past the end) are refused, as receivers refuse them', () => {
  const ns = new Uint8Array(32);
  ns[0] = 135;
  ns.set(owner.ipv6[1]!, 8);
  ns[24] = 1; ns[25] = 0; // zero-length option
  assert.equal(checkTapSource(ethernet(0x86dd, ipv6(58, ns)), 0, owner), 'spoofed_nd');
  ns[25] = 2; // 16 bytes, only 8 there
  assert.equal(checkTapSource(ethernet(0x86dd, ipv6(58, ns)), 0, owner), 'spoofed_nd');
  ns[25] = 1;
  ns.set(mac, 26);
  assert.equal(checkTapSource(ethernet(0x86dd, ipv6(58, ns)), 0, owner), 'ok');
});

test('truncated headers are runts; a wrong IP version behind its EtherType is not IP', () => {
  assert.equal(checkTapSource(new Uint8Array(13), 0, owner), 'runt');
  assert.equal(checkTapSource(ethernet(0x0806, new Uint8Array(27)), 0, owner), 'runt');
  assert.equal(checkTapSource(ethernet(0x0800, new Uint8Array(19)), 0, owner), 'runt');
  assert.equal(checkTapSource(ethernet(0x86dd, new Uint8Array(39)), 0, owner), 'runt');
  const v6in4 = new Uint8Array(40);
  v6in4[0] = 0x60;
  assert.equal(checkTapSource(ethernet(0x0800, v6in4), 0, owner), 'not_ip');
  const arpOther = new Uint8Array(28);
  arpOther.set([0, 6, 0x08, 0, 6, 4, 0, 1]); // hardware type 6 (IEEE 802), not Ethernet
  assert.equal(checkTapSource(ethernet(0x0806, arpOther), 0, owner), 'spoofed_arp');
});

test('random frames only ever yield a verdict: no throw, input unchanged', () => {
  let seed = 0x5eed;
  const rand = (): number => (seed = (seed * 1_103_515_245 + 12_345) >>> 0) >>> 16;
  const types = [0x0800, 0x0806, 0x86dd, 0x8100, 0x88cc];
  for (let i = 0; i < 5_000; i++) {
    const body = Uint8Array.from({ length: rand() % 200 }, () => rand() & 0xff);
    if (body.length > 6 && (rand() & 1) === 1) body[6] = 58;
    const f = ethernet(types[rand() % types.length]!, body.length > 40 && (rand() & 1) === 1 ? ipv6(body[6]!, body.subarray(40)) : body);
    const copy = Uint8Array.from(f);
    const v = checkTapSource(f, 0, owner);
    assert.equal(typeof v, 'string');
    assert.deepEqual(f, copy);
  }
});
