/**
 * Tests for src/wire/ip-address.ts: strict IPv4 / IPv6 text parsing and
 * canonical RFC 5952 output, including "::" placement and IPv4-mapped forms.
 */

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';

import { canonicalIpText, formatHostPort, formatIpAddress, parseIpAddress, unmapIpv4 } from '../../src/wire/ip-address.js';
import { hex } from '../../testkit/wire-bytes.js';
import { throwsWire } from '../../testkit/expect-code.js';

describe('parseIpAddress', () => {
  it('parses strict dotted IPv4', () => {
    assert.deepEqual(parseIpAddress('203.0.113.7'), { family: 4, bytes: hex('cb007107') });
    assert.deepEqual(parseIpAddress('0.0.0.0'), { family: 4, bytes: hex('00000000') });
    assert.deepEqual(parseIpAddress('255.255.255.255'), { family: 4, bytes: hex('ffffffff') });
  });

  it('parses IPv6 in every RFC 4291 text form', () => {
    const cases: Array<[string, string]> = [
      ['::', '00000000000000000000000000000000'],
      ['::1', '00000000000000000000000000000001'],
      ['1::', '00010000000000000000000000000000'],
      ['2001:db8::1', '20010db8000000000000000000000001'],
      ['2001:DB8:0:0:0:0:0:1', '20010db8000000000000000000000001'],
      ['2001:0db8:0000:0000:0000:0000:0000:0001', '20010db8000000000000000000000001'],
      ['1:2:3:4:5:6:7::', '00010002000300040005000600070000'],
      ['::2:3:4:5:6:7:8', '00000002000300040005000600070008'],
      ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
      ['::ffff:192.0.2.1', '00000000000000000000ffffc0000201'],
      ['::FFFF:c000:201', '00000000000000000000ffffc0000201'],
      ['64:ff9b::10.0.0.1', '0064ff9b00000000000000000a000001'],
      ['1:2:3:4:5:6:1.2.3.4', '00010002000300040005000601020304'],
      ['::1.2.3.4', '00000000000000000000000001020304'],
    ];
    for (const [text, bytes] of cases) {
      assert.deepEqual(parseIpAddress(text), { family: 6, bytes: hex(bytes) }, text);
    }
  });

  it('rejects everything else with SM_ERR_WIRE_FIELD', () => {
    const bad = [
      '', ' ', 'localhost', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.04', '1.2.3.-4', '1.2.3.4 ',
      ' 1.2.3.4', '+1.2.3.4', '1..2.3', '0x1.2.3.4', '１.2.3.4', ':', ':::', '1:::2', '::1::', '1::2::3',
      ':1:2:3:4:5:6:7', '1:2:3:4:5:6:7:', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7:8::',
      '::1:2:3:4:5:6:7:8', '1:2:3:4::5:6:7:8', '12345::', 'g::', '::1.2.3', '::1.2.3.256', '1.2.3.4::',
      '::1.2.3.4:5', '1:2:3:4:5:6:7:1.2.3.4', 'fe80::1%eth0', '[::1]', '::1/128', '::01.2.3.4',
      '0000:0000:0000:0000:0000:0000:0000:0000:0', 'a'.repeat(100),
    ];
    for (const text of bad) throwsWire(() => parseIpAddress(text), 'SM_ERR_WIRE_FIELD');
    throwsWire(() => parseIpAddress(5 as unknown as string), 'SM_ERR_WIRE_FIELD');
  });
});

describe('formatIpAddress', () => {
  it('writes IPv4 dotted', () => {
    assert.equal(formatIpAddress(hex('0a000001')), '10.0.0.1');
  });

  it('writes canonical RFC 5952 IPv6', () => {
    const cases: Array<[string, string]> = [
      ['00000000000000000000000000000000', '::'],
      ['00000000000000000000000000000001', '::1'],
      ['20010db8000000000000000000000001', '2001:db8::1'],
      // §4.2.2: a single zero group is not shortened.
      ['20010db8000000010001000100010001', '2001:db8:0:1:1:1:1:1'],
      // §4.2.3: the longest run wins; on a tie the first.
      ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
      ['20010000000000010000000000000001', '2001:0:0:1::1'],
      ['20010000000000010000000000010001', '2001::1:0:0:1:1'],
      ['00010000000000010000000000000000', '1:0:0:1::'],
      // §4.3: lowercase, §4.1: no leading zeros.
      ['abcd00ef0000000000000000000f0000', 'abcd:ef::f:0'],
      ['00010002000300040005000600070008', '1:2:3:4:5:6:7:8'],
      // §5: IPv4-mapped in mixed notation; other prefixes stay hex.
      ['00000000000000000000ffffc0000201', '::ffff:192.0.2.1'],
      ['00000000000000000000ffff00000000', '::ffff:0.0.0.0'],
      ['00000000000000000000000001020304', '::102:304'],
      ['0064ff9b00000000000000000a000001', '64:ff9b::a00:1'],
      ['000000000000000000010000ffff0000', '::1:0:ffff:0'],
    ];
    for (const [bytes, text] of cases) {
      assert.equal(formatIpAddress(hex(bytes)), text, bytes);
      assert.deepEqual(parseIpAddress(text).bytes, hex(bytes), text);
    }
  });

  it('rejects lengths other than 4 and 16', () => {
    for (const n of [0, 3, 5, 15, 17]) throwsWire(() => formatIpAddress(new Uint8Array(n)), 'SM_ERR_WIRE_FIELD');
  });
});

describe('canonical text for keys and logs', () => {
  it('unmapIpv4 strips only an IPv4-mapped prefix', () => {
    assert.equal(unmapIpv4('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(unmapIpv4('::ffff:1'), '::ffff:1');
    assert.equal(unmapIpv4('2001:db8::1'), '2001:db8::1');
    assert.equal(unmapIpv4('192.0.2.1'), '192.0.2.1');
  });

  it('canonicalIpText: RFC 5952 text, IPv4-mapped as IPv4, null for anything that is no address', () => {
    assert.equal(canonicalIpText('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
    assert.equal(canonicalIpText('::FFFF:c000:0201'), '192.0.2.1');
    assert.equal(canonicalIpText('192.0.2.1'), '192.0.2.1');
    for (const bad of ['', 'host', '1.2.3', '::g']) assert.equal(canonicalIpText(bad), null, bad);
  });

  it('formatHostPort brackets IPv6, unmaps IPv4-mapped, and leaves other text as it is', () => {
    assert.equal(formatHostPort('192.0.2.1', 443), '192.0.2.1:443');
    assert.equal(formatHostPort('2001:db8::1', 41641), '[2001:db8::1]:41641');
    assert.equal(formatHostPort('::ffff:192.0.2.1', 80), '192.0.2.1:80');
    assert.equal(formatHostPort('?', 0), '?:0');
  });
});
