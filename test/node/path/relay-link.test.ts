/**
 * RelayLink against real relay processes: pinning before any byte of the
 * protocol, CA-verified relays, reconnection after a relay restart or a
 * silent relay, graceful relay shutdown, re-admission with a renewed
 * certificate, and option validation.
 */
import { fetchPresenceCerts } from '../../../testkit/presence-certs.js';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { RelayLink, type RelayLinkOptions } from '../../../src/node/path/relay-link.js';
import { RelayLinkCode } from '../../../src/node/path/path-errors.js';
import { RelayAuthCode } from '../../../src/handshake/handshake-errors.js';
import { startRelayProcess, type RelayProcess } from '../../../testkit/relay-process.js';
import { createTestNetwork, type TestMember, type TestNetwork } from '../../../testkit/test-network.js';
import { eventually, once } from '../../../testkit/raw-relay-client.js';
import { signMember } from '../../../src/identity/ca.js';

let net: TestNetwork;
let scratch: string;
const links: RelayLink[] = [];
const relays: RelayProcess[] = [];

before(async () => {
  net = await createTestNetwork({ members: ['alice', 'bob', 'carol', 'dave', 'erin'] });
  scratch = mkdtempSync(join(tmpdir(), 'sm-link-'));
});

after(async () => {
  await Promise.all(links.map((l) => l.stop()));
  for (const r of relays) {
    r.signal('SIGCONT');
    await r.stop();
  }
  await net?.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

async function relayProcess(args: string[] = [], extra: { dataDir?: string; port?: number } = {}): Promise<RelayProcess> {
  const r = await startRelayProcess({ caFile: net.caFile, args, ...extra });
  relays.push(r);
  return r;
}

function link(m: TestMember, options: RelayLinkOptions): RelayLink {
  const l = new RelayLink({ signer: m.signer, certificate: m.certBytes }, { reconnectBaseMs: 50, reconnectMaxMs: 300, ...options });
  links.push(l);
  return l;
}

const configError = (re: RegExp) => (e: unknown) => {
  const err = e as { code?: string; message?: string };
  return typeof err.code === 'string' && err.code.startsWith('SM_ERR_CONFIG_') && re.test(err.message ?? '');
};

test('options: exactly one of pin and tlsCaFile, a wss URL, a well-formed pin, no unknown keys', () => {
  const m = net.member('alice');
  const deps = { signer: m.signer, certificate: m.certBytes };
  const pin = 'sha256:' + 'ab'.repeat(32);
  assert.throws(() => new RelayLink(deps, { url: 'wss://127.0.0.1:1' }), configError(/exactly one/));
  assert.throws(() => new RelayLink(deps, { url: 'wss://127.0.0.1:1', pin, tlsCaFile: '/x' }), configError(/exactly one/));
  assert.throws(() => new RelayLink(deps, { url: 'https://127.0.0.1:1', pin }), configError(/url/));
  assert.throws(() => new RelayLink(deps, { url: 'wss://127.0.0.1:1', pin: 'sha256:XYZ' }), configError(/pin/));
  assert.throws(() => new RelayLink(deps, { url: 'wss://127.0.0.1:1', pin, reconnectMaxMs: 10, reconnectBaseMs: 100 }), configError(/reconnectMaxMs/));
  assert.throws(() => new RelayLink(deps, { url: 'wss://127.0.0.1:1', pin, retries: 3 } as unknown as RelayLinkOptions), configError(/retries/));
  assert.throws(() => new RelayLink(deps, { url: 'wss://127.0.0.1:1', tlsCaFile: join(scratch, 'missing.pem') }), configError(/tlsCaFile/));
});

test('send() before admission is dropped and counted; a bad peer id is a programmer error', () => {
  const m = net.member('alice');
  const l = link(m, { url: 'wss://127.0.0.1:9', pin: 'sha256:' + '00'.repeat(32) });
  assert.equal(l.send(new Uint8Array(32), Uint8Array.of(1)), false);
  assert.equal(l.stats.drops['not-established'], 1);
  assert.throws(() => l.send(new Uint8Array(31), Uint8Array.of(1)), (e: Error & { code?: string }) => e.code === 'SM_ERR_RELAY_ARG');
});

test('a wrong pin: the link refuses the relay before any HELLO, counts it and retries', async () => {
  const relay = await relayProcess();
  const wrongPin = 'sha256:' + [...relay.pin.slice(7)].reverse().join('');
  const l = link(net.member('alice'), { url: relay.url, pin: wrongPin });
  const downs: Array<{ code: string }> = [];
  l.on('down', (r: { code: string }) => downs.push(r));
  l.start();
  await eventually('two pin failures', () => ((l.stats.failures[RelayLinkCode.PIN] ?? 0) >= 2 ? true : undefined));
  await l.stop();
  assert.ok(downs.length >= 2 && downs.every((d) => d.code === RelayLinkCode.PIN), JSON.stringify(downs));
  assert.equal(l.established, null);
  assert.equal(l.stats.connects, 0);
  const stats = await relay.stats();
  assert.equal(stats.admissionAttempts, 0, 'the relay saw no HELLO');
  assert.equal(stats.totalConnections, 0, 'not even a WebSocket');
  // The right pin works against the same relay.
  const ok = link(net.member('alice'), { url: relay.url, pin: relay.pin });
  const est = once(ok, 'established');
  ok.start();
  await est;
  await ok.stop();
});

test('tlsCaFile: a relay certificate that chains to the file is accepted, another is refused', async () => {
  const relay = await relayProcess();
  // Fetch the relay's (self-signed) certificate and trust it as the CA.
  const der = await new Promise<Buffer>((resolve, reject) => {
    const s = tlsConnect({ host: relay.host, port: relay.port, rejectUnauthorized: false }, () => {
      resolve(s.getPeerCertificate(true).raw);
      s.end();
    });
    s.on('error', reject);
  });
  const caFile = join(scratch, 'relay-ca.pem');
  writeFileSync(caFile, new X509Certificate(der).toString());
  const good = link(net.member('bob'), { url: relay.url, tlsCaFile: caFile });
  const est = once(good, 'established');
  good.start();
  await est;
  await good.stop();
  // Another relay (another key) is not vouched for by that file.
  const other = await relayProcess();
  const bad = link(net.member('bob'), { url: other.url, tlsCaFile: caFile });
  const down = once(bad, 'down');
  bad.start();
  const [reason] = (await down) as [{ code: string }];
  assert.equal(reason.code, RelayLinkCode.TLS);
  await bad.stop();
  assert.equal((await other.stats()).admissionAttempts, 0);
});

test('relay restart with the same data dir: same pin, and the link re-admits by itself', async () => {
  const dataDir = join(scratch, 'restart-data');
  const first = await relayProcess([], { dataDir });
  const l = link(net.member('carol'), { url: first.url, pin: first.pin });
  const seen: number[] = [];
  l.on('established', () => seen.push(Date.now()));
  const est1 = once(l, 'established');
  l.start();
  await est1;
  const down = once(l, 'down');
  first.signal('SIGKILL');
  await first.exited;
  await down;
  const second = await relayProcess([], { dataDir, port: first.port });
  assert.equal(second.pin, first.pin, 'the pin survives a restart');
  await eventually('re-admission', () => (seen.length >= 2 ? true : undefined), 10_000);
  assert.equal(l.stats.connects, 2);
  assert.ok(l.stats.reconnects >= 1);
  assert.notEqual(l.established, null);
  // And it works: the relay counts it as a fresh admission.
  assert.equal((await second.stats()).admissions, 1);
  await l.stop();
});

test('a relay that goes silent is declared dead after its idle timeout, and the link comes back', async () => {
  const relay = await relayProcess(['--heartbeat', '200ms', '--idle-timeout', '800ms']);
  const l = link(net.member('dave'), { url: relay.url, pin: relay.pin, connectTimeoutMs: 1_000 });
  const est = once(l, 'established');
  l.start();
  await est;
  const down = once(l, 'down', 5_000);
  relay.signal('SIGSTOP');
  try {
    const [reason] = (await down) as [{ code: string }];
    assert.equal(reason.code, RelayLinkCode.DEAD);
  } finally {
    relay.signal('SIGCONT');
  }
  await once(l, 'established', 10_000);
  assert.ok(l.stats.connects >= 2);
  await l.stop();
});

test('SIGTERM: the relay closes members with ShuttingDown and exits 0 promptly', async () => {
  const relay = await relayProcess();
  const l = link(net.member('erin'), { url: relay.url, pin: relay.pin });
  const est = once(l, 'established');
  l.start();
  await est;
  const down = once(l, 'down');
  const started = Date.now();
  relay.signal('SIGTERM');
  const [reason] = (await down) as [{ code: string }];
  assert.equal(reason.code, RelayAuthCode.SHUTTING_DOWN);
  assert.equal(await relay.exited, 0);
  assert.ok(Date.now() - started < 5_000, `exit took ${Date.now() - started} ms`);
  await l.stop();
});

test('renewCertificate: the link re-admits at once with the new certificate, marked as a renewal, and the relay announces it; one renewed while connecting re-admits right after', async () => {
  const relay = await relayProcess();
  const renewed = async (m: TestMember): Promise<Uint8Array> =>
    (await signMember(net.caDir, { name: m.name, addresses: [...m.certificate.addresses], publicKey: m.publicKey, validMs: 400 * 86_400_000 })).raw;
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
  const watcher = link(net.member('dave'), { url: relay.url, pin: relay.pin });
  const announced: string[] = [];
  fetchPresenceCerts(watcher);
  watcher.on('peer_up', (cert: Uint8Array) => announced.push(hex(cert)));
  watcher.start();
  await once(watcher, 'established');

  const alice = net.member('alice');
  const a = link(alice, { url: relay.url, pin: relay.pin });
  const admissions: { renewal: boolean }[] = [];
  a.on('established', (info: { renewal: boolean }) => admissions.push(info));
  a.start();
  await eventually('the first admission', () => admissions.length === 1 ? true : undefined);
  assert.equal(admissions[0]!.renewal, false);
  const next = await renewed(alice);
  assert.equal(a.renewCertificate(next), true);
  await eventually('the renewal admission', () => admissions.length === 2 ? true : undefined);
  assert.equal(admissions[1]!.renewal, true);
  assert.equal(a.stats.renewals, 1);
  assert.deepEqual(a.stats.failures, {}, 'a renewal is no failure');
  await eventually('the relay announcing the renewed certificate', () => announced.includes(hex(next)) ? true : undefined);

  // Renewed while the first attempt is still under way: that attempt admits with the old certificate,
  // then the link re-admits with the new one at once.
  const erin = net.member('erin');
  const e = link(erin, { url: relay.url, pin: relay.pin });
  const eAdmissions: { renewal: boolean }[] = [];
  e.on('established', (info: { renewal: boolean }) => eAdmissions.push(info));
  const nextErin = await renewed(erin);
  e.start();
  assert.equal(e.renewCertificate(nextErin), false, 'not admitted yet: nothing to re-admit');
  await eventually('the admission and the renewal right after it', () => eAdmissions.length === 2 ? true : undefined);
  assert.deepEqual(eAdmissions.map((i) => i.renewal), [false, true]);
  await eventually('the relay announcing erin\'s renewed certificate', () => announced.includes(hex(nextErin)) ? true : undefined);
  assert.equal((await relay.stats()).disconnects['cert-expired'] ?? 0, 0);
});
