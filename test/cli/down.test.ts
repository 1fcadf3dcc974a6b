/**
 * `shadowmesh down` end to end: a real relay and a real `up --dev none`
 * daemon on 127.0.0.1; `down` stops it through the control API (method
 * `shutdown`), the daemon exits 0 as on SIGTERM and its socket is gone once
 * `down` returns; with no daemon, `down` fails with a coded line (or JSON).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatPeerId } from '../../src/identity/peer-id.js';
import { runCliAsync, startDaemon, type DaemonProcess } from '../../testkit/daemon-process.js';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';

let net: TestNetwork;
let relay: RelayProcess;
let sockDir: string;
let daemon: DaemonProcess | undefined;

before(async () => {
  net = await createTestNetwork({ members: ['alice'] });
  sockDir = await mkdtemp(join(tmpdir(), 'sm-down-'));
  relay = await startRelayProcess({ caFile: net.caFile, crlFile: net.crlFile });
});

after(async () => {
  await daemon?.stop();
  await relay?.stop();
  await net?.cleanup();
  if (sockDir) await rm(sockDir, { recursive: true, force: true });
});

test('down stops the daemon through the control API: it answers who stops, exits 0, and its socket is gone when down returns', async () => {
  const sock = join(sockDir, 'alice.sock');
  const m = net.member('alice');
  daemon = await startDaemon(['--relay', relay.url, '--pin', relay.pin, '--ca', net.caFile, '--cert', m.certFile, '--dir', m.dir, '--dev', 'none', '--no-direct', '--control', sock]);
  const r = await runCliAsync(['down', '--json', '--control', sock]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { name: 'alice', peerId: formatPeerId(m.peerId), pid: daemon.pid });
  await assert.rejects(stat(sock), { code: 'ENOENT' });
  assert.equal(await daemon.exited, 0, daemon.stderr());
  assert.match(daemon.stderr(), /"msg":"stopping".*"signal":"shutdown"/);
});

test('down with no daemon: one coded line and exit 1, or the same error as JSON with --json', async () => {
  const sock = join(sockDir, 'nobody.sock');
  const text = await runCliAsync(['down', '--control', sock]);
  assert.equal(text.status, 1);
  assert.equal(text.stdout, '');
  assert.equal(text.stderr, `shadowmesh: no daemon listening on ${sock}: is \`shadowmesh up\` running? (SM_ERR_CONTROL_NO_DAEMON)\n`);
  const json = await runCliAsync(['down', '--json', '--control', sock]);
  assert.equal(json.status, 1);
  assert.equal(json.stdout, '');
  assert.deepEqual(JSON.parse(json.stderr), { error: { code: 'SM_ERR_CONTROL_NO_DAEMON', message: `no daemon listening on ${sock}: is \`shadowmesh up\` running?` } });
});
