/**
 * UdpSendAddresses (src/node/path/udp-send-address.ts): the socket form of a
 * destination, and a lookup that answers IP literals at once while host
 * names still resolve through dns.lookup. The last test sends over loopback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { UdpSendAddresses, UDP_SEND_ADDRESS_CACHE_MAX } from '../../../src/node/path/udp-send-address.js';

test('target: IPv4 is mapped on a dual-stack socket only; IPv6 and IPv4 on udp4 pass unchanged', () => {
  const dual = new UdpSendAddresses(true);
  assert.equal(dual.target('192.0.2.7'), '::ffff:192.0.2.7');
  assert.equal(dual.target('192.0.2.7'), '::ffff:192.0.2.7');
  assert.equal(dual.target('2001:db8::1'), '2001:db8::1');
  const v4 = new UdpSendAddresses(false);
  assert.equal(v4.target('192.0.2.7'), '192.0.2.7');
  assert.equal(v4.target('2001:db8::1'), '2001:db8::1');
});

test('lookup answers a literal from target() synchronously with the socket family', () => {
  for (const [dual, addr, want, family] of [[true, '192.0.2.7', '::ffff:192.0.2.7', 6], [false, '192.0.2.7', '192.0.2.7', 4], [true, '2001:db8::1', '2001:db8::1', 6]] as const) {
    const a = new UdpSendAddresses(dual);
    const to = a.target(addr);
    assert.equal(to, want);
    let got: [unknown, string, number] | null = null;
    a.lookup(to, family, (err, address, fam) => { got = [err, address, fam]; });
    assert.deepEqual(got, [null, want, family]);
  }
});

test('lookup defers anything target() did not produce to dns.lookup (asynchronously, as before)', async () => {
  const a = new UdpSendAddresses(false);
  a.target('2001:db8::1'); // an IPv6 literal is no destination for a udp4 socket: not answered here
  let sync = true;
  const r = await new Promise<[unknown, string, number]>((resolve) => {
    a.lookup('127.0.0.1', 4, (err, address, family) => resolve([err, address, family]));
    sync = false;
  });
  assert.equal(sync, false);
  assert.deepEqual(r, [null, '127.0.0.1', 4]);
  sync = true;
  await new Promise<void>((resolve) => {
    a.lookup('2001:db8::1', 4, () => resolve());
    sync = false;
  });
  assert.equal(sync, false);
});

test('the tables are bounded: past the limit they start over and still answer', () => {
  const a = new UdpSendAddresses(false);
  for (let i = 0; i <= UDP_SEND_ADDRESS_CACHE_MAX; i++) a.target(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  const to = a.target('192.0.2.9');
  let got: string | null = null;
  a.lookup(to, 4, (_e, address) => { got = address; });
  assert.equal(got, '192.0.2.9');
});

test('a socket created with the lookup delivers datagrams to a literal destination', async () => {
  const a = new UdpSendAddresses(false);
  const rx = createSocket('udp4');
  const tx = createSocket({ type: 'udp4', lookup: a.lookup });
  try {
    rx.bind(0, '127.0.0.1');
    await once(rx, 'listening');
    const port = rx.address().port;
    const got = once(rx, 'message');
    tx.send(Buffer.from('hello'), port, a.target('127.0.0.1'));
    const [msg] = (await got) as [Buffer];
    assert.equal(msg.toString(), 'hello');
  } finally {
    rx.close();
    tx.close();
  }
});
