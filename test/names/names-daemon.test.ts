/**
 * The names responder inside real `shadowmesh up` processes (docs/configuration.md
 * "Names"): a relay process, members alice and bob with `--dev none` on relay
 * paths, alice with `--dns` on a loopback port, an upstream of her own on
 * loopback and `--metrics`. Queries go over real UDP sockets: bob.mesh is
 * bob's certificate address while bob is a member, NXDOMAIN once his daemon
 * stopped; other names reach the upstream; garbage is dropped; the
 * shadowmesh_dns_* counters in alice's /metrics follow each of these. A
 * third member asking for alice's address cannot start.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dnsPacket, { type DecodedPacket, type RecordType } from 'dns-packet';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';
import { runCliAsync, startDaemon, waitFor, type DaemonProcess } from '../../testkit/daemon-process.js';
import { seriesValue } from '../../testkit/prometheus-exposition.js';
import { freePort } from '../../testkit/free-port.js';
import { scrape } from '../../testkit/metrics-scrape.js';

type Answer = DecodedPacket & { rcode: string };

let net: TestNetwork;
let relay: RelayProcess;
let sockDir: string;
let upstream: Socket;
const daemons: Record<string, DaemonProcess> = {};
let dnsPort = 0;
let metricsPort = 0;

function upArgs(member: string, extra: string[]): string[] {
  const m = net.member(member);
  return ['--relay', relay.url, '--pin', relay.pin, '--ca', net.caFile, '--cert', m.certFile, '--dir', m.dir, '--dev', 'none', '--no-direct', '--control', join(sockDir, `${member}.sock`), ...extra];
}

/** One query over UDP to alice's responder; undefined when nothing came back within 3 s. */
function ask(name: string, type: RecordType): Promise<Answer | undefined> {
  const s = createSocket('udp4');
  return new Promise((resolve) => {
    const timer = setTimeout(() => { s.close(); resolve(undefined); }, 3_000);
    s.once('message', (msg) => { clearTimeout(timer); s.close(); resolve(dnsPacket.decode(msg) as Answer); });
    s.send(dnsPacket.encode({ type: 'query', id: 31337, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] }), dnsPort, '127.0.0.1');
  });
}

const data = (p: Answer | undefined): string[] => (p?.answers ?? []).map((a) => (a as { data: string }).data);

before(async () => {
  net = await createTestNetwork({ members: ['alice', 'bob', 'carol'] });
  sockDir = await mkdtemp(join(tmpdir(), 'sm-dns-'));
  relay = await startRelayProcess({ caFile: net.caFile });
  upstream = createSocket('udp4');
  upstream.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    upstream.send(dnsPacket.encode({ type: 'response', id: q.id ?? 0, questions: q.questions ?? [], answers: [{ type: 'A', name: q.questions?.[0]?.name ?? '', ttl: 60, data: '192.0.2.44' }] }), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => upstream.bind(0, '127.0.0.1', resolve));
  dnsPort = await freePort();
  metricsPort = await freePort();
  daemons['bob'] = await startDaemon(upArgs('bob', []));
  daemons['alice'] = await startDaemon(upArgs('alice', ['--dns', `127.0.0.1:${dnsPort}`, '--dns-upstream', `127.0.0.1:${upstream.address().port}`, '--metrics', `127.0.0.1:${metricsPort}`]));
});

after(async () => {
  for (const d of Object.values(daemons)) await d.stop();
  upstream?.close();
  await relay?.stop();
  await net?.cleanup();
  if (sockDir) await rm(sockDir, { recursive: true, force: true });
});

test('a member name answers its certificate address while the member is listed, NXDOMAIN once it left', async () => {
  const bobIp = net.member('bob').certificate.addresses[0]!.replace(/\/\d+$/, '');
  const first = await waitFor('bob.mesh from alice', async () => { const p = await ask('bob.mesh', 'A'); return data(p).length > 0 ? p : undefined; }, 20_000, 200);
  assert.deepEqual(data(first), [bobIp]);
  assert.equal(first.rcode, 'NOERROR');
  const self = await ask('alice.mesh', 'A');
  assert.deepEqual(data(self), [net.member('alice').certificate.addresses[0]!.replace(/\/\d+$/, '')]);
  const ptr = await ask(`${bobIp.split('.').reverse().join('.')}.in-addr.arpa`, 'PTR');
  assert.deepEqual(data(ptr), ['bob.mesh']);
  await daemons['bob']!.stop();
  delete daemons['bob'];
  const gone = await waitFor('bob.mesh to be NXDOMAIN', async () => { const p = await ask('bob.mesh', 'A'); return p?.rcode === 'NXDOMAIN' ? p : undefined; }, 20_000, 200);
  assert.equal(gone.answers?.length, 0);
});

test('other names reach the upstream; garbage is dropped; /metrics counts all of it', async () => {
  const before = await scrape(metricsPort);
  const fwd0 = seriesValue(before, 'shadowmesh_dns_forwarded_total', { outcome: 'answered' }) ?? 0;
  const drop0 = seriesValue(before, 'shadowmesh_dns_drops_total', { reason: 'malformed' }) ?? 0;
  const nx0 = seriesValue(before, 'shadowmesh_dns_answers_total', { rcode: 'nxdomain' }) ?? 0;
  const q0 = seriesValue(before, 'shadowmesh_dns_queries_total') ?? 0;
  assert.deepEqual(data(await ask('www.example.net', 'A')), ['192.0.2.44']);
  assert.equal((await ask('carol.mesh', 'A'))?.rcode, 'NXDOMAIN');
  const junk = createSocket('udp4');
  await new Promise<void>((resolve) => junk.send(Buffer.from('000100000001000000000000ff', 'hex'), dnsPort, '127.0.0.1', () => resolve()));
  junk.close();
  // The daemon still answers after the garbage, and the drop is counted.
  const f = await waitFor('the malformed drop counted', async () => { const s = await scrape(metricsPort); return (seriesValue(s, 'shadowmesh_dns_drops_total', { reason: 'malformed' }) ?? 0) > drop0 ? s : undefined; }, 5_000, 100);
  assert.deepEqual(data(await ask('alice.mesh', 'A')), [net.member('alice').certificate.addresses[0]!.replace(/\/\d+$/, '')]);
  assert.equal(seriesValue(f, 'shadowmesh_dns_forwarded_total', { outcome: 'answered' }), fwd0 + 1);
  assert.equal(seriesValue(f, 'shadowmesh_dns_answers_total', { rcode: 'nxdomain' }), nx0 + 1);
  assert.equal(seriesValue(f, 'shadowmesh_dns_queries_total'), q0 + 3);
});

test('a --dns address that is taken stops `up` with SM_ERR_NAMES_BIND', async () => {
  const r = await runCliAsync(['up', ...upArgs('carol', ['--dns', `127.0.0.1:${dnsPort}`])]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /SM_ERR_NAMES_BIND/);
});
