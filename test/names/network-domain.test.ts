/**
 * The network domain (src/names/network-domain.ts; docs/configuration.md
 * "Names"): the spelling rules, and in real `shadowmesh up` processes the
 * domain the CA certificate carries (`ca init --domain corp.mesh`) used by
 * `--dns` unless `--dns-domain` overrides it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dnsPacket, { type DecodedPacket } from 'dns-packet';
import { isNetworkDomain, normalizeNetworkDomain } from '../../src/names/network-domain.js';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';
import { runCliAsync, startDaemon, type DaemonProcess } from '../../testkit/daemon-process.js';
import { freePort } from '../../testkit/free-port.js';

test('domains: labels of letters, digits and inner hyphens; normalized to lower case without the root dot', () => {
  for (const ok of ['mesh', 'corp.example', 'Corp.Mesh.', 'a-1.b']) assert.equal(isNetworkDomain(ok), true, ok);
  for (const bad of ['', '.', 'a..b', '-a', 'a-', 'a_b.mesh', 'x'.repeat(64), `${'a.'.repeat(127)}ab`]) assert.equal(isNetworkDomain(bad), false, bad);
  assert.equal(normalizeNetworkDomain('Corp.Mesh.'), 'corp.mesh');
  assert.throws(() => normalizeNetworkDomain('a b'), { code: 'SM_ERR_NAMES_DOMAIN' });
});

let net: TestNetwork;
let relay: RelayProcess;
let sockDir: string;
const daemons: DaemonProcess[] = [];

/** One A query over UDP; undefined when nothing came back within 3 s. */
function ask(port: number, name: string): Promise<(DecodedPacket & { rcode: string }) | undefined> {
  const s = createSocket('udp4');
  return new Promise((resolve) => {
    const timer = setTimeout(() => { s.close(); resolve(undefined); }, 3_000);
    s.once('message', (msg) => { clearTimeout(timer); s.close(); resolve(dnsPacket.decode(msg) as DecodedPacket & { rcode: string }); });
    s.send(dnsPacket.encode({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] }), port, '127.0.0.1');
  });
}

function upArgs(member: string, extra: string[]): string[] {
  const m = net.member(member);
  return ['--relay', relay.url, '--pin', relay.pin, '--ca', net.caFile, '--cert', m.certFile, '--dir', m.dir, '--dev', 'none', '--no-direct', '--control', join(sockDir, `${member}.sock`), ...extra];
}

before(async () => {
  net = await createTestNetwork({ members: ['alice', 'bob'], caDomain: 'corp.mesh' });
  sockDir = await mkdtemp(join(tmpdir(), 'sm-domain-'));
  relay = await startRelayProcess({ caFile: net.caFile });
});

after(async () => {
  for (const d of daemons) await d.stop();
  await relay?.stop();
  await net?.cleanup();
  if (sockDir) await rm(sockDir, { recursive: true, force: true });
});

test('`ca show` of the CA certificate names its domain', async () => {
  const r = await runCliAsync(['ca', 'show', net.caFile, '--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /corp\.mesh/);
});

test('`up --dns` answers under the CA certificate\'s domain; --dns-domain overrides it', async () => {
  const alicePort = await freePort();
  const bobPort = await freePort();
  daemons.push(await startDaemon(upArgs('alice', ['--dns', `127.0.0.1:${alicePort}`, '--dns-upstream', '127.0.0.1:9'])));
  daemons.push(await startDaemon(upArgs('bob', ['--dns', `127.0.0.1:${bobPort}`, '--dns-upstream', '127.0.0.1:9', '--dns-domain', 'Other.Test'])));
  const aliceIp = net.member('alice').certificate.addresses[0]!.replace(/\/\d+$/, '');
  const bobIp = net.member('bob').certificate.addresses[0]!.replace(/\/\d+$/, '');
  const a = await ask(alicePort, 'alice.corp.mesh');
  assert.equal(a?.rcode, 'NOERROR');
  assert.deepEqual((a?.answers ?? []).map((x) => (x as { data: string }).data), [aliceIp]);
  const b = await ask(bobPort, 'bob.other.test');
  assert.deepEqual((b?.answers ?? []).map((x) => (x as { data: string }).data), [bobIp]);
  const notMesh = await ask(alicePort, 'alice.mesh');
  assert.notDeepEqual((notMesh?.answers ?? []).map((x) => (x as { data: string }).data), [aliceIp], 'the default domain is not used when the CA names one');
});
