import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCidr } from '../../src/identity/cidr.js';
import { parseAddresses } from '../../src/identity/cert-fields.js';
import { throwsWithCode } from '../../testkit/expect-code.js';

test('valid mesh addresses parse to canonical text', () => {
  const cases: Array<[string, string, 4 | 6, number]> = [
    ['10.10.10.3/24', '10.10.10.3/24', 4, 24],
    ['192.168.1.1/32', '192.168.1.1/32', 4, 32],
    ['10.0.0.0/31', '10.0.0.0/31', 4, 31], // RFC 3021: both /31 addresses are hosts
    ['fd00::3/64', 'fd00::3/64', 6, 64],
    ['FD00:0:0:0:0:0:0:3/64', 'fd00::3/64', 6, 64],
    ['2001:db8:0:0:1:0:0:1/48', '2001:db8::1:0:0:1/48', 6, 48],
  ];
  for (const [text, canonical, family, prefix] of cases) {
    const c = parseCidr(text);
    assert.equal(c.text, canonical, text);
    assert.equal(c.family, family);
    assert.equal(c.prefix, prefix);
    assert.equal(c.address.length, family === 4 ? 4 : 16);
  }
});

test('CIDR validation is strict', () => {
  const bad = [
    '10.10.10.3', // no prefix
    '10.10.10.3/', '10.10.10.3/033', '10.10.10.3/33', '10.10.10.3/0', '10.10.10.3/-1', '10.10.10.3/ 24',
    '010.10.10.3/24', '10.10.10/24', '10.10.10.256/24', '10.10.10.3.4/24', ' 10.10.10.3/24',
    '10.10.10.0/24', // network address
    '10.10.10.255/24', // broadcast address
    '0.0.0.0/8', '127.0.0.1/8', '224.0.0.1/24', '169.254.1.1/16', '255.255.255.255/32',
    'fd00::/64', // subnet-router anycast
    '::/128', '::1/128', 'ff02::1/64', 'fe80::1/64', '::ffff:10.0.0.1/120',
    'fd00::3%eth0/64', 'fd00:::3/64', 'fd00::3::4/64', 'fd00::3/129', 'gd00::3/64', '[fd00::3]/64',
    'example.com/24', '',
  ];
  for (const b of bad) throwsWithCode(() => parseCidr(b), 'SM_ERR_CERT_FIELD');
});

test('address lists: 1..8 distinct hosts', () => {
  assert.deepEqual(parseAddresses(['10.0.0.2/24', 'fd00::2/64']).map((c) => c.text), ['10.0.0.2/24', 'fd00::2/64']);
  throwsWithCode(() => parseAddresses([]), 'SM_ERR_CERT_FIELD');
  throwsWithCode(() => parseAddresses(['10.0.0.2/24', '10.0.0.2/16']), 'SM_ERR_CERT_FIELD');
  throwsWithCode(() => parseAddresses(['fd00::2/64', 'FD00:0::2/64']), 'SM_ERR_CERT_FIELD');
  throwsWithCode(() => parseAddresses(Array.from({ length: 9 }, (_, i) => `10.0.0.${i + 1}/24`)), 'SM_ERR_CERT_FIELD');
});
