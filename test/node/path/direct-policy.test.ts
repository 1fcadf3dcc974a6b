/**
 * The direct-path gate of the network policy (src/node/path/direct-policy.ts):
 * certificates read at every call, host addresses taken from "a.b.c.d/nn",
 * an unknown peer refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompiledPolicy } from '../../../src/policy/compiled-policy.js';
import { directPolicyGate, type GateCertificate } from '../../../src/node/path/direct-policy.js';

const POLICY = CompiledPolicy.fromText('rules:\n  - name: lab-to-db\n    from: 10.20.0.0/16\n    to: group:db\n    proto: tcp\n    ports: [5432]\n');
const SELF: GateCertificate = { name: 'db1', groups: ['db'], addresses: ['10.10.0.3/24'] };
const LAB = new Uint8Array(32).fill(1);
const WEB = new Uint8Array(32).fill(2);
const STRANGER = new Uint8Array(32).fill(3);

test('a peer whose host address a rule covers passes; one no rule covers and one without a certificate do not; a renewed certificate counts at once', () => {
  const certs = new Map<number, GateCertificate>([
    [1, { name: 'lab1', groups: [], addresses: ['10.20.0.8/16'] }],
    [2, { name: 'web1', groups: ['web'], addresses: ['10.10.0.2/24'] }],
  ]);
  const gate = directPolicyGate(POLICY, () => SELF, (id) => certs.get(id[0]!) ?? null);
  assert.equal(gate(LAB), true);
  assert.equal(gate(WEB), false, "web's host address 10.10.0.2 is outside 10.20.0.0/16 (its /24 is not what it sends from)");
  assert.equal(gate(STRANGER), false);
  certs.set(2, { name: 'web1', groups: ['web'], addresses: ['10.20.5.5/16'] });
  assert.equal(gate(WEB), true);
});
