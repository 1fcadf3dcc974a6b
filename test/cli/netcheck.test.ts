/**
 * `shadowmesh netcheck` through the real CLI against real relay processes
 * on loopback (each answers STUN on UDP at its own port): the reflexive
 * address and port each relay saw (the loopback address and the port the
 * report says it asked from), the relay latency from a pinned TLS
 * handshake, the NAT mapping classified once two relays answer, a wrong pin
 * and a silent STUN server reported with their codes, and the coded errors
 * for nothing to check and nothing answering. No daemon, no root.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCliAsync } from '../../testkit/daemon-process.js';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';
import type { NetcheckReport } from '../../src/node/path/netcheck-probe.js';

let net: TestNetwork;
let r1: RelayProcess;
let r2: RelayProcess;
let home: string;

before(async () => {
  net = await createTestNetwork({ members: ['alice'] });
  home = await mkdtemp(join(tmpdir(), 'sm-netcheck-'));
  [r1, r2] = await Promise.all([startRelayProcess({ caFile: net.caFile }), startRelayProcess({ caFile: net.caFile })]);
});

after(async () => {
  await Promise.all([r1?.stop(), r2?.stop()]);
  await net?.cleanup();
  if (home) await rm(home, { recursive: true, force: true });
});

/** netcheck with an empty home (no config file) and the given environment. */
function netcheck(args: string[], env: Record<string, string> = {}) {
  return runCliAsync(['netcheck', ...args], { SHADOWMESH_HOME: home, ...env });
}

test('one relay: its STUN answer is the loopback address and the asking port, its latency comes from a pinned TLS handshake; one server cannot classify the NAT', async () => {
  const r = await netcheck(['--relay', r1.url, '--pin', r1.pin, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as NetcheckReport;
  assert.equal(report.udp, true);
  assert.ok(report.localPort > 0);
  assert.equal(report.stun.length, 1);
  const s = report.stun[0]!;
  assert.ok(s.ok, JSON.stringify(s));
  assert.equal(s.server, `127.0.0.1:${r1.port}`);
  assert.equal(s.address, '127.0.0.1');
  assert.equal(s.port, report.localPort);
  assert.equal(s.reflexive, `127.0.0.1:${report.localPort}`);
  assert.ok(s.rttMs >= 0);
  assert.deepEqual(report.reflexive, [`127.0.0.1:${report.localPort}`]);
  assert.equal(report.mapping, 'unknown');
  assert.equal(report.filtering, 'unknown');
  assert.equal(report.relays.length, 1);
  const relay = report.relays[0]!;
  assert.ok(relay.ok, JSON.stringify(relay));
  assert.equal(relay.url, r1.url);
  assert.ok(Number.isFinite(relay.latencyMs) && relay.latencyMs >= 0);
  assert.equal(report.preferredRelay, r1.url);
});

test('two relays (node.relays): both answer STUN with the same mapping, so the mapping is endpoint-independent; both latencies are reported', async () => {
  const r = await netcheck(['--json'], { SHADOWMESH_RELAY: r1.url, SHADOWMESH_PIN: r1.pin, SHADOWMESH_RELAYS: `${r2.url}#${r2.pin}` });
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as NetcheckReport;
  assert.deepEqual(report.stun.map((s) => s.server).sort(), [`127.0.0.1:${r1.port}`, `127.0.0.1:${r2.port}`].sort());
  for (const s of report.stun) {
    assert.ok(s.ok, JSON.stringify(s));
    assert.equal(s.reflexive, `127.0.0.1:${report.localPort}`);
  }
  assert.deepEqual(report.reflexive, [`127.0.0.1:${report.localPort}`]);
  assert.equal(report.mapping, 'endpoint-independent');
  assert.deepEqual(report.relays.map((x) => [x.url, x.ok]).sort(), [[r1.url, true], [r2.url, true]].sort());
  assert.ok(report.preferredRelay === r1.url || report.preferredRelay === r2.url);
});

test('the readable report names the reflexive address, the mapping and each relay\'s latency', async () => {
  const r = await netcheck(['--relay', r1.url, '--pin', r1.pin]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Report:\n/);
  assert.match(r.stdout, /\* UDP: true \(asked from local port (\d+)\)/);
  const port = /local port (\d+)/.exec(r.stdout)![1];
  assert.match(r.stdout, new RegExp(`\\* Reflexive address: 127\\.0\\.0\\.1:${port}\\n`));
  assert.match(r.stdout, /\* NAT mapping: unknown\n/);
  // A duration as formatDuration writes it (12ms, 1s500ms on a busy machine).
  assert.match(r.stdout, new RegExp(`- ${r1.url.replace(/[.]/g, '\\.')}: (\\d+(ms|s|m|h))+\\n`));
});

test('a wrong pin and a STUN server that never answers are reported with their codes; the rest still answers', async () => {
  const silent = createSocket('udp4');
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
  try {
    const silentPort = silent.address().port;
    const r = await netcheck(['--relay', r1.url, '--pin', r2.pin, '--stun', `127.0.0.1:${r1.port},127.0.0.1:${silentPort}`, '--timeout', '500ms', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout) as NetcheckReport;
    const relay = report.relays[0]!;
    assert.equal(relay.ok, false);
    assert.equal(!relay.ok && relay.code, 'SM_ERR_RELAY_PIN');
    assert.equal(report.preferredRelay, null);
    const quiet = report.stun.find((s) => s.server === `127.0.0.1:${silentPort}`)!;
    assert.equal(quiet.ok, false);
    assert.equal(!quiet.ok && quiet.code, 'SM_ERR_STUN_TIMEOUT');
    assert.equal(report.udp, true);
    assert.equal(report.mapping, 'unknown');
  } finally {
    silent.close();
  }
});

test('nothing to check and nothing answering are one coded line (JSON with --json), exit 1', async () => {
  const none = await netcheck([]);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /^shadowmesh: nothing to check: .* \(SM_ERR_CLI_NETCHECK_NO_TARGET\)\n$/);
  const silent = createSocket('udp4');
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
  try {
    const r = await netcheck(['--stun', `127.0.0.1:${silent.address().port}`, '--timeout', '300ms', '--json']);
    assert.equal(r.status, 1);
    assert.equal((JSON.parse(r.stdout) as NetcheckReport).udp, false);
    assert.equal((JSON.parse(r.stderr) as { error: { code: string } }).error.code, 'SM_ERR_CLI_NETCHECK_UNREACHABLE');
  } finally {
    silent.close();
  }
  const pinless = await netcheck(['--relay', r1.url]);
  assert.equal(pinless.status, 1);
  assert.match(pinless.stderr, /node\.pin: required with node\.relay.*\(SM_ERR_CONFIG_VALUE\)\n$/);
});
