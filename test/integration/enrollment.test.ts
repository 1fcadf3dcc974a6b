/**
 * Enrollment end to end on loopback with real processes
 * (docs/architecture.md "Enrollment"): a relay, `shadowmesh ca serve` and
 * members started with nothing but `up --join TOKEN --dev none`. Two
 * members join, get distinct pool addresses and ping each other; a member
 * restarted without --join uses what it stored. An expired token, a
 * used-up token, a token with a wrong pin and an unreachable service are
 * refused with their codes; garbage, oversized and misrouted HTTP requests
 * get coded 4xx answers and the service keeps serving (a third member
 * joins afterwards). A member renews with its certificate key and no token;
 * another key, a wrong pin and a revoked member are refused.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { connect } from 'node:tls';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HybridSigner } from '../../src/crypto/hybrid-sign.js';
import { initCa, revokeMembers } from '../../src/identity/ca.js';
import { loadMemberCertificate } from '../../src/identity/files.js';
import { loadIdentity } from '../../src/identity/key-file.js';
import { requestRenew } from '../../src/enroll/join-client.js';
import { rejectsWithCode } from '../../testkit/expect-code.js';
import { encodeJoinToken } from '../../src/enroll/join-token.js';
import { createTokenRecord } from '../../src/enroll/token-store.js';
import { runCliAsync, startDaemon, waitFor, type DaemonProcess } from '../../testkit/daemon-process.js';
import { startEnrollService, type EnrollServiceProcess } from '../../testkit/enroll-service-process.js';
import { freePort } from '../../testkit/free-port.js';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';

let work = '';
let caDir = '';
let relay: RelayProcess;
let service: EnrollServiceProcess;
const daemons: DaemonProcess[] = [];

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'sm-enroll-it-'));
  caDir = join(work, 'ca');
  await initCa(caDir, { name: 'enroll test' });
  relay = await startRelayProcess({ caFile: join(caDir, 'ca.crt'), crlFile: join(caDir, 'crl') });
  service = await startEnrollService(['--ca', caDir, '--pool', '10.61.0.0/24', '--relay', `${relay.url}#${relay.pin}`]);
});

after(async () => {
  for (const d of daemons) await d.stop();
  await service?.stop();
  await relay?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function token(args: string[] = []): Promise<string> {
  const r = await runCliAsync(['ca', 'token', '--ca', caDir, ...args]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^smj1\.[A-Za-z0-9_-]+\n$/);
  return r.stdout.trim();
}

function home(name: string): string {
  return join(work, name);
}

function joinArgs(name: string, tok: string): string[] {
  return ['--join', tok, '--hostname', name, '--dev', 'none', '--no-direct', '--control', join(work, `${name}.sock`)];
}

/** The one coded line `up --join` prints on a refusal. */
async function refused(name: string, tok: string): Promise<string> {
  const r = await runCliAsync(['up', ...joinArgs(name, tok)], { SHADOWMESH_HOME: home(name) });
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stderr.trimEnd().split('\n').filter((l) => l.startsWith('shadowmesh: '));
  assert.equal(lines.length, 1, r.stderr);
  return /\((SM_ERR_[A-Z0-9_]+)\)$/.exec(lines[0]!)?.[1] ?? lines[0]!;
}

function raw(method: string, path: string, body?: Buffer | string): Promise<{ status: number; json: { error?: { code: string }; ok?: boolean } }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: service.host, port: service.port, method, path, rejectUnauthorized: false, minVersion: 'TLSv1.3', agent: false, headers: body !== undefined ? { 'content-length': Buffer.byteLength(body) } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => { text += c; }).on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as { error?: { code: string } } });
        } catch (err) {
          reject(new Error(`not JSON: ${text.slice(0, 200)} (${String(err)})`));
        }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('two members join with nothing but a token each, get distinct pool addresses and ping each other; a restart without --join uses what was stored', async () => {
  const [t1, t2] = [await token(['--groups', 'web']), await token()];
  for (const [name, tok] of [['m1', t1], ['m2', t2]] as const) daemons.push(await startDaemon(joinArgs(name, tok!), { SHADOWMESH_HOME: home(name) }));
  const addr = daemons.map((d) => d.readyLine.split(' ')[5]);
  assert.deepEqual(addr, ['10.61.0.1/24', '10.61.0.2/24']);
  const config = await readFile(join(home('m1'), 'config.yaml'), 'utf8');
  assert.ok(config.includes(`${relay.url}#${relay.pin}`), config);

  await waitFor('m2 in m1\'s directory', async () => ((await runCliAsync(['whois', 'm2', '--control', join(work, 'm1.sock')])).status === 0 ? true : undefined), 15_000);
  const ping = await runCliAsync(['ping', 'm2', '--count', '2', '--control', join(work, 'm1.sock')]);
  assert.equal(ping.status, 0, ping.stderr + ping.stdout);
  const back = await runCliAsync(['ping', 'm1', '--count', '1', '--control', join(work, 'm2.sock')]);
  assert.equal(back.status, 0, back.stderr + back.stdout);
  const whois = await runCliAsync(['whois', 'm1', '--json', '--control', join(work, 'm2.sock')]);
  assert.deepEqual((JSON.parse(whois.stdout) as { groups: string[] }).groups, ['web']);

  // Restart m1 without the token: same identity, same address, the service is not asked.
  const m1Id = daemons[0]!.shortId;
  await daemons[0]!.stop();
  daemons[0] = await startDaemon(['--dev', 'none', '--no-direct', '--control', join(work, 'm1.sock')], { SHADOWMESH_HOME: home('m1') });
  assert.equal(daemons[0].shortId, m1Id);
  assert.equal(daemons[0].readyLine.split(' ')[5], '10.61.0.1/24');
  // And with the (spent) token again: still the stored enrollment.
  await daemons[0].stop();
  daemons[0] = await startDaemon(joinArgs('m1', t1!), { SHADOWMESH_HOME: home('m1') });
  assert.equal(daemons[0].readyLine.split(' ')[5], '10.61.0.1/24');

  // The spent token on a new machine: used up.
  assert.equal(await refused('m3', t1!), 'SM_ERR_ENROLL_TOKEN_USED_UP');
});

test('an expired token, a wrong pin, an unknown token and an unreachable service are refused with their codes', async () => {
  const { record, secret } = await createTokenRecord(caDir, { ttlMs: 1000, uses: 1, nowMs: Date.now() - 60_000 });
  const expired = encodeJoinToken({ host: service.host, port: service.port, pin: service.pin, id: record.id, secret });
  assert.equal(await refused('x1', expired), 'SM_ERR_ENROLL_TOKEN_EXPIRED');

  const fresh = await createTokenRecord(caDir, { ttlMs: 60_000, uses: 1 });
  const wrongPin = encodeJoinToken({ host: service.host, port: service.port, pin: relay.pin, id: fresh.record.id, secret: fresh.secret });
  assert.equal(await refused('x2', wrongPin), 'SM_ERR_ENROLL_PIN');
  const wrongSecret = encodeJoinToken({ host: service.host, port: service.port, pin: service.pin, id: fresh.record.id, secret: new Uint8Array(32) });
  assert.equal(await refused('x3', wrongSecret), 'SM_ERR_ENROLL_TOKEN_UNKNOWN');
  const closed = encodeJoinToken({ host: '127.0.0.1', port: await freePort(), pin: service.pin, id: fresh.record.id, secret: fresh.secret });
  assert.equal(await refused('x4', closed), 'SM_ERR_ENROLL_UNREACHABLE');
  assert.equal(await refused('x5', 'smj1.garbage'), 'SM_ERR_ENROLL_TOKEN_MALFORMED');
});

test('garbage, oversized and misrouted requests get coded 4xx answers and the service keeps serving', async () => {
  const cases: Array<[string, string, Buffer | string | undefined, number, string]> = [
    ['POST', '/v1/join', 'garbage', 400, 'SM_ERR_ENROLL_REQUEST'],
    ['POST', '/v1/join', '{"v":1}', 400, 'SM_ERR_ENROLL_REQUEST'],
    ['POST', '/v1/join', Buffer.alloc(100_000, 0x41), 413, 'SM_ERR_ENROLL_TOO_LARGE'],
    ['GET', '/v1/join', undefined, 404, 'SM_ERR_ENROLL_NOT_FOUND'],
    ['DELETE', '/', undefined, 404, 'SM_ERR_ENROLL_NOT_FOUND'],
  ];
  for (const [method, path, body, status, code] of cases) {
    const r = await raw(method, path, body);
    assert.equal(r.status, status, `${method} ${path}`);
    assert.equal(r.json.error?.code, code);
  }
  // Not HTTP at all, over TLS: a coded 400 and the connection closed.
  const junk = await new Promise<string>((resolve, reject) => {
    const sock = connect({ host: service.host, port: service.port, rejectUnauthorized: false, minVersion: 'TLSv1.3' }, () => sock.end('\x00\x01 not http at all\r\n\r\n'));
    let text = '';
    sock.setEncoding('utf8').on('data', (c: string) => { text += c; }).on('close', () => resolve(text)).on('error', reject);
  });
  assert.match(junk, /^HTTP\/1\.1 400 /);
  assert.match(junk, /"code":"SM_ERR_ENROLL_REQUEST"/);
  const health = await raw('GET', '/v1/health');
  assert.equal(health.status, 200);
  // Still serving joins: the next member gets the next free address.
  daemons.push(await startDaemon(joinArgs('m4', await token()), { SHADOWMESH_HOME: home('m4') }));
  assert.equal(daemons[daemons.length - 1]!.readyLine.split(' ')[5], '10.61.0.3/24');
  // Every refusal was logged with its code.
  assert.match(service.stderr(), /SM_ERR_ENROLL_TOO_LARGE/);
  assert.match(service.stderr(), /SM_ERR_ENROLL_TOKEN_EXPIRED/);
});

test('a member renews through the same service with its certificate key and no token: same name, addresses and groups, later end; a wrong key or a revoked member is refused', async () => {
  const dir = home('m1');
  const target = JSON.parse(await readFile(join(dir, 'enrollment.json'), 'utf8')) as { host: string; port: number; pin: string };
  assert.deepEqual(target, { host: service.host, port: service.port, pin: service.pin });
  const old = await loadMemberCertificate(join(dir, 'member.crt'));
  const { signer } = await loadIdentity(dir);
  try {
    const r = await requestRenew(target, signer, old.raw);
    assert.equal(r.certificate.name, old.name);
    assert.deepEqual(r.certificate.addresses, old.addresses);
    assert.deepEqual(r.certificate.groups, ['web']);
    assert.ok(r.certificate.notAfterMs >= old.notAfterMs);
    assert.notDeepEqual(r.certificate.serial, old.serial);
    const other = HybridSigner.generate();
    await rejectsWithCode(() => requestRenew(target, other, old.raw), 'SM_ERR_ENROLL_PROOF');
    other.destroy();
    await rejectsWithCode(() => requestRenew({ ...target, pin: relay.pin }, signer, old.raw), 'SM_ERR_ENROLL_PIN');
    await revokeMembers(caDir, [old.peerId]);
    await rejectsWithCode(() => requestRenew(target, signer, r.certificate.raw), 'SM_ERR_CERT_REVOKED');
  } finally {
    signer.destroy();
  }
  assert.match(service.stderr(), /"msg":"member renewed"/);
});

test('requests from one source beyond the rate limit are refused with SM_ERR_ENROLL_RATE_LIMITED (last: it locks this source out for a while)', async () => {
  const codes: string[] = [];
  for (let i = 0; i < 40; i++) {
    const r = await raw('GET', '/v1/health');
    codes.push(r.status === 200 ? 'ok' : r.json.error?.code ?? String(r.status));
  }
  assert.ok(codes.includes('SM_ERR_ENROLL_RATE_LIMITED'), codes.join(' '));
  assert.ok(codes.every((c) => c === 'ok' || c === 'SM_ERR_ENROLL_RATE_LIMITED'), codes.join(' '));
  assert.match(service.stderr(), /"code":"SM_ERR_ENROLL_RATE_LIMITED"/);
});
