/** NAT mapping classification (src/stun/nat-mapping.ts), RFC 4787 §4.1 terms. */

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';

import { classifyMapping } from '../../src/stun/nat-mapping.js';

const LOCAL = [{ address: '192.168.1.20', port: 40000 }, { address: 'fd00::20', port: 40000 }];
const S1 = { address: '198.51.100.1', port: 3478 };
const S2 = { address: '203.0.113.1', port: 3478 };
const S3 = { address: '203.0.113.1', port: 3479 };

describe('classifyMapping', () => {
  it('none: the servers see the local address and port (also as IPv4-mapped text)', () => {
    assert.equal(classifyMapping(LOCAL, [{ server: S1, mapped: { address: '192.168.1.20', port: 40000 } }]), 'none');
    assert.equal(
      classifyMapping(LOCAL, [
        { server: S1, mapped: { address: '::ffff:192.168.1.20', port: 40000 } },
        { server: S2, mapped: { address: 'FD00:0::20', port: 40000 } },
      ]),
      'none',
    );
  });

  it('unknown: no answers, or a NAT seen by only one server (twice)', () => {
    assert.equal(classifyMapping(LOCAL, []), 'unknown');
    const nat = { address: '198.51.100.77', port: 50000 };
    assert.equal(classifyMapping(LOCAL, [{ server: S1, mapped: nat }]), 'unknown');
    assert.equal(classifyMapping(LOCAL, [{ server: S1, mapped: nat }, { server: { address: '::ffff:198.51.100.1', port: 3478 }, mapped: nat }]), 'unknown');
  });

  it('a NAT that changes only the port is still a NAT', () => {
    assert.equal(classifyMapping(LOCAL, [{ server: S1, mapped: { address: '192.168.1.20', port: 40001 } }]), 'unknown');
  });

  it('endpoint-independent: every server sees the same mapping', () => {
    const nat = { address: '198.51.100.77', port: 50000 };
    assert.equal(classifyMapping(LOCAL, [{ server: S1, mapped: nat }, { server: S2, mapped: nat }, { server: S3, mapped: { ...nat } }]), 'endpoint-independent');
  });

  it('endpoint-dependent: the mapping differs per server, by port or by address', () => {
    assert.equal(
      classifyMapping(LOCAL, [
        { server: S1, mapped: { address: '198.51.100.77', port: 50000 } },
        { server: S2, mapped: { address: '198.51.100.77', port: 50001 } },
      ]),
      'endpoint-dependent',
    );
    assert.equal(
      classifyMapping(LOCAL, [
        { server: S2, mapped: { address: '198.51.100.77', port: 50000 } },
        { server: S3, mapped: { address: '198.51.100.78', port: 50000 } },
      ]),
      'endpoint-dependent',
    );
  });
});
