/**
 * What netcheck measures (src/node/path/netcheck-probe.ts), in process: two STUN
 * responders on loopback (different ports) both see the asking socket's
 * port, so the mapping classifies as endpoint-independent (as the node's
 * own discovery would: src/stun/nat-mapping.ts); a relay nobody listens for
 * is a result with its code, never a throw; a name that does not resolve
 * is a STUN result with SM_ERR_STUN_BAD_SERVER. Also the targets netcheck
 * reads from the configuration and the readable report.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { runNetcheck, type NetcheckReport } from '../../../src/node/path/netcheck-probe.js';
import { formatNetcheck, netcheckTargets } from '../../../src/cli/netcheck.js';
import { resolveConfig } from '../../../src/config/resolve-config.js';
import { StunResponder } from '../../../src/stun/stun-responder.js';

const responders: StunResponder[] = [];

before(async () => {
  for (let i = 0; i < 2; i++) {
    const r = new StunResponder({}, { host: '127.0.0.1', port: 0 });
    await r.start();
    responders.push(r);
  }
});

after(async () => {
  for (const r of responders) await r.stop();
});

/** A TCP port with nothing listening on it (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

test('two STUN servers seeing the same address and port: endpoint-independent; a refused relay is a coded result', async () => {
  const stun = responders.map((r) => ({ host: '127.0.0.1', port: r.address!.port }));
  const url = `wss://127.0.0.1:${await closedPort()}`;
  const report = await runNetcheck({ stun, relays: [{ url, pins: [`sha256:${'0'.repeat(64)}`] }] }, { timeoutMs: 2_000 });
  assert.equal(report.udp, true);
  assert.deepEqual(report.reflexive, [`127.0.0.1:${report.localPort}`]);
  assert.equal(report.mapping, 'endpoint-independent');
  for (const s of report.stun) assert.ok(s.ok && s.port === report.localPort, JSON.stringify(s));
  assert.equal(report.relays.length, 1);
  assert.equal(report.relays[0]!.ok, false);
  assert.equal(!report.relays[0]!.ok && report.relays[0]!.code, 'SM_ERR_RELAY_TLS');
  assert.equal(report.preferredRelay, null);
});

test('a STUN host name that does not resolve is a coded result, and the others still answer', async () => {
  const report = await runNetcheck({ stun: [{ host: 'no-such-host.invalid', port: 3478 }, { host: '127.0.0.1', port: responders[0]!.address!.port }], relays: [] }, { timeoutMs: 2_000 });
  const bad = report.stun.find((s) => s.server === 'no-such-host.invalid:3478')!;
  assert.equal(bad.ok, false);
  assert.equal(!bad.ok && bad.code, 'SM_ERR_STUN_BAD_SERVER');
  assert.equal(report.udp, true);
  assert.equal(report.mapping, 'unknown');
});

test('no STUN server: nothing asked, UDP false, mapping unknown', async () => {
  const report = await runNetcheck({ stun: [], relays: [] }, { timeoutMs: 100 });
  assert.deepEqual({ udp: report.udp, localPort: report.localPort, stun: report.stun, mapping: report.mapping }, { udp: false, localPort: 0, stun: [], mapping: 'unknown' });
});

test('targets: node.relay with node.pin, then node.relays; STUN "relay" asks every relay on its own port, a list replaces it', () => {
  const pin = `sha256:${'a'.repeat(64)}`;
  const pin2 = `sha256:${'b'.repeat(64)}`;
  const env = { SHADOWMESH_RELAY: 'wss://r1.example:8443', SHADOWMESH_PIN: pin, SHADOWMESH_RELAYS: `wss://r2.example:9443#${pin2}` };
  const cfg = resolveConfig({ role: 'node', requireRoleKeys: false, env });
  assert.deepEqual(netcheckTargets(cfg), {
    relays: [{ url: 'wss://r1.example:8443', pins: [pin] }, { url: 'wss://r2.example:9443', pins: [pin2] }],
    stun: [{ host: 'r1.example', port: 8443 }, { host: 'r2.example', port: 9443 }],
  });
  const listed = netcheckTargets(resolveConfig({ role: 'node', requireRoleKeys: false, env: { ...env, SHADOWMESH_P2P_STUN: '192.0.2.1:3478' } }));
  assert.deepEqual(listed.stun, [{ host: '192.0.2.1', port: 3478 }]);
  assert.deepEqual(netcheckTargets(resolveConfig({ role: 'node', requireRoleKeys: false, env: {} })), { relays: [], stun: [] });
});

test('the readable report lists each STUN answer and relay, failures with their codes', () => {
  const report: NetcheckReport = {
    udp: true, localPort: 4000,
    stun: [{ server: '192.0.2.1:3478', ok: true, reflexive: '198.51.100.7:61000', address: '198.51.100.7', port: 61000, rttMs: 12 }, { server: '192.0.2.2:3478', ok: false, code: 'SM_ERR_STUN_TIMEOUT', message: 'no answer' }],
    reflexive: ['198.51.100.7:61000'], mapping: 'unknown', filtering: 'unknown', filteringNote: 'n',
    relays: [{ url: 'wss://r.example:443', ok: true, latencyMs: 30 }], preferredRelay: 'wss://r.example:443',
  };
  const text = formatNetcheck(report);
  assert.match(text, /\* Reflexive address: 198\.51\.100\.7:61000\n/);
  assert.match(text, /- 192\.0\.2\.1:3478: 198\.51\.100\.7:61000 in 12ms\n/);
  assert.match(text, /- 192\.0\.2\.2:3478: no answer \(SM_ERR_STUN_TIMEOUT\)\n/);
  assert.match(text, /- wss:\/\/r\.example:443: 30ms\n/);
  assert.match(text, /\* Preferred relay: wss:\/\/r\.example:443\n/);
});
