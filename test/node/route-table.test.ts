import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RouteTable } from '../../src/node/route-table.js';
import { parseRoute } from '../../src/identity/cert-routes.js';
import { parseIpAddress } from '../../src/wire/ip-address.js';

const addr = (t: string) => parseIpAddress(t).bytes;
function add(t: RouteTable<string>, route: string, v: string): boolean {
  const r = parseRoute(route);
  return t.add(r.address, r.prefix, v);
}

test('longest prefix wins, IPv4 and IPv6; no match is undefined', () => {
  const t = new RouteTable<string>();
  assert.ok(add(t, '192.168.0.0/16', 'wide'));
  assert.ok(add(t, '192.168.50.0/24', 'lan'));
  assert.ok(add(t, '192.168.50.128/25', 'half'));
  assert.ok(add(t, 'fd50::/48', 'wide6'));
  assert.ok(add(t, 'fd50:0:0:7::/64', 'lan6'));
  assert.ok(add(t, '10.0.0.0/7', 'odd')); // a prefix that is not a byte boundary
  assert.equal(t.lookup(addr('192.168.50.10')), 'lan');
  assert.equal(t.lookup(addr('192.168.50.200')), 'half');
  assert.equal(t.lookup(addr('192.168.51.1')), 'wide');
  assert.equal(t.lookup(addr('11.255.0.1')), 'odd');
  assert.equal(t.lookup(addr('12.0.0.1')), undefined);
  assert.equal(t.lookup(addr('fd50:0:0:7::9')), 'lan6');
  assert.equal(t.lookup(addr('fd50:0:0:8::9')), 'wide6');
  assert.equal(t.lookup(addr('fd51::1')), undefined);
  assert.equal(t.lookup(new Uint8Array(5)), undefined);
  assert.equal(t.size, 6);
});

test('a prefix has one holder: a second add is refused; remove only by the holder; empty lengths vanish', () => {
  const t = new RouteTable<string>();
  assert.ok(add(t, '192.168.50.0/24', 'r'));
  assert.equal(add(t, '192.168.50.0/24', 'x'), false);
  const r = parseRoute('192.168.50.0/24');
  assert.equal(t.remove(r.address, r.prefix, 'x'), false);
  assert.equal(t.lookup(addr('192.168.50.1')), 'r');
  assert.ok(t.remove(r.address, r.prefix, 'r'));
  assert.equal(t.lookup(addr('192.168.50.1')), undefined);
  assert.equal(t.size, 0);
});
