/**
 * The control API over HTTP with a real daemon (`up --dev none`): curl
 * through the unix socket reads /v1/status and /v1/whois, Server-Sent Events
 * on /v1/events deliver a chat request another member sends, and a request
 * with an Origin header (a browser's) is refused; the CLI's NDJSON on the
 * same socket keeps working. src/node/control/control-http.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatPeerId } from '../../src/identity/peer-id.js';
import { ControlClient } from '../../src/node/control/control-client.js';
import { startDaemon, waitFor, type DaemonProcess } from '../../testkit/daemon-process.js';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';

let net: TestNetwork;
let relay: RelayProcess;
let work: string;
const daemons: DaemonProcess[] = [];

const sock = (name: string): string => join(work, `${name}.sock`);

function curl(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '10', ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ status: err === null ? 0 : Number((err as { code?: unknown }).code ?? 1), stdout, stderr });
    });
  });
}

/** curl's body and the HTTP status it saw (-w appends it on its own line). */
async function curlJson(args: string[]): Promise<{ http: number; json: unknown }> {
  const r = await curl(['-w', '\n%{http_code}', ...args]);
  assert.equal(r.status, 0, r.stderr);
  const nl = r.stdout.lastIndexOf('\n');
  return { http: Number(r.stdout.slice(nl + 1)), json: JSON.parse(r.stdout.slice(0, nl)) };
}

before(async () => {
  net = await createTestNetwork({ members: ['alice'] });
  await net.addMember('bob', { groups: ['web', 'ops'] });
  work = await mkdtemp(join(tmpdir(), 'sm-http-'));
  relay = await startRelayProcess({ caFile: net.caFile, crlFile: net.crlFile });
  for (const name of ['alice', 'bob']) {
    const m = net.member(name);
    daemons.push(await startDaemon(['--relay', relay.url, '--pin', relay.pin, '--ca', net.caFile, '--cert', m.certFile, '--dir', m.dir, '--dev', 'none', '--no-direct', '--control', sock(name)]));
  }
  const alice = new ControlClient({ path: sock('alice') });
  await waitFor('bob in alice\'s directory', async () => ((await alice.call('users', {})) as { users: Array<{ name: string }> }).users.some((u) => u.name === 'bob') || undefined, 15_000);
});

after(async () => {
  for (const d of daemons) await d.stop();
  await relay?.stop();
  await net?.cleanup();
  if (work) await rm(work, { recursive: true, force: true });
});

test('curl --unix-socket reads /v1/status: the same object the CLI gets over NDJSON', async () => {
  const r = await curlJson(['--unix-socket', sock('alice'), 'http://localhost/v1/status']);
  assert.equal(r.http, 200);
  const s = r.json as { name: string; peerId: string; addresses: string[] };
  assert.equal(s.name, 'alice');
  assert.equal(s.peerId, formatPeerId(net.member('alice').peerId));
  assert.deepEqual(s.addresses, ['10.77.0.2/24']);
  const viaNdjson = await new ControlClient({ path: sock('alice') }).status();
  assert.equal(viaNdjson.peerId, s.peerId);
});

test('curl reads /v1/whois for a member: groups, certificate expiry, online; an unknown name is 404 with its code', async () => {
  const r = await curlJson(['--unix-socket', sock('alice'), 'http://localhost/v1/whois?target=10.77.0.3']);
  assert.equal(r.http, 200);
  const w = r.json as { name: string; groups: string[]; online: boolean; certExpiresMs: number };
  assert.equal(w.name, 'bob');
  assert.deepEqual(w.groups, ['web', 'ops']);
  assert.equal(w.online, true);
  assert.equal(w.certExpiresMs, net.member('bob').certificate.notAfterMs);
  const unknown = await curlJson(['--unix-socket', sock('alice'), 'http://localhost/v1/whois?target=mallory']);
  assert.equal(unknown.http, 404);
  assert.equal((unknown.json as { error: { code: string } }).error.code, 'SM_ERR_CONTROL_UNKNOWN_NAME');
});

test('a request with an Origin header, or another Host, is refused with 403 and stops nothing', async () => {
  const origin = await curlJson(['--unix-socket', sock('alice'), '-X', 'POST', '-H', 'Origin: http://localhost:8080', 'http://localhost/v1/shutdown']);
  assert.equal(origin.http, 403);
  assert.equal((origin.json as { error: { code: string } }).error.code, 'SM_ERR_CONTROL_FORBIDDEN');
  const host = await curlJson(['--unix-socket', sock('alice'), 'http://rebind.example/v1/status']);
  assert.equal(host.http, 403);
  assert.equal((await new ControlClient({ path: sock('alice') }).status()).name, 'alice', 'the daemon still runs');
});

test('GET /v1/events delivers a chat event as Server-Sent Events', async () => {
  const data: unknown[] = [];
  let buf = '';
  let headers: Record<string, unknown> = {};
  const req = request({ socketPath: sock('alice'), path: '/v1/events', headers: { Host: 'localhost' } }, (res) => {
    headers = res.headers;
    res.setEncoding('utf8');
    res.on('data', (c: string) => {
      buf += c;
      for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        for (const line of block.split('\n')) if (line.startsWith('data: ')) data.push(JSON.parse(line.slice(6)));
      }
    });
  });
  req.on('error', () => undefined);
  req.end();
  try {
    await waitFor('the event stream', async () => (headers['content-type'] !== undefined ? true : undefined), 5_000, 20);
    assert.equal(headers['content-type'], 'text/event-stream');
    const bob = new ControlClient({ path: sock('bob') });
    const conv = (await bob.call('chat_request', { peer: 'alice' })) as { conversationId: string };
    const event = await waitFor('the chat request event', async () => data.find((e) => (e as { type?: string }).type === 'request') as { conversationId: string; peerId: string } | undefined, 10_000, 20);
    assert.equal(event.conversationId, conv.conversationId);
    assert.equal(event.peerId, formatPeerId(net.member('bob').peerId));
  } finally {
    req.destroy();
  }
});
