/**
 * `shadowmesh ip` and `shadowmesh whois` through the real CLI against real
 * daemons (`up --dev none`): this node's and a member's addresses, -4/-6,
 * --json, the member's groups and certificate expiry, and the coded errors
 * for unknown names and addresses and a missing address family.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatPeerId } from '../../src/identity/peer-id.js';
import { ControlClient } from '../../src/node/control/control-client.js';
import { runCliAsync, startDaemon, waitFor, type DaemonProcess } from '../../testkit/daemon-process.js';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';

let net: TestNetwork;
let relay: RelayProcess;
let work: string;
const daemons: DaemonProcess[] = [];
let sock = '';

before(async () => {
  net = await createTestNetwork({ members: ['alice'] });
  await net.addMember('bob', { groups: ['web'] });
  work = await mkdtemp(join(tmpdir(), 'sm-whois-'));
  sock = join(work, 'alice.sock');
  relay = await startRelayProcess({ caFile: net.caFile, crlFile: net.crlFile });
  for (const name of ['alice', 'bob']) {
    const m = net.member(name);
    daemons.push(await startDaemon(['--relay', relay.url, '--pin', relay.pin, '--ca', net.caFile, '--cert', m.certFile, '--dir', m.dir, '--dev', 'none', '--no-direct', '--control', join(work, `${name}.sock`)]));
  }
  const alice = new ControlClient({ path: sock });
  await waitFor('bob in alice\'s directory', async () => ((await alice.call('users', {})) as { users: Array<{ name: string }> }).users.some((u) => u.name === 'bob') || undefined, 15_000);
});

after(async () => {
  for (const d of daemons) await d.stop();
  await relay?.stop();
  await net?.cleanup();
  if (work) await rm(work, { recursive: true, force: true });
});

test('ip prints this node\'s or a member\'s mesh addresses, one per line; -4 filters; --json gives name, peer id and addresses', async () => {
  const runs = await Promise.all([
    runCliAsync(['ip', '--control', sock]),
    runCliAsync(['ip', '-4', '--control', sock]),
    runCliAsync(['ip', 'bob', '--control', sock]),
    runCliAsync(['ip', 'bob', '--json', '--control', sock]),
  ]);
  for (const r of runs) assert.equal(r.status, 0, r.stderr);
  assert.equal(runs[0]!.stdout, '10.77.0.2\n');
  assert.equal(runs[1]!.stdout, '10.77.0.2\n');
  assert.equal(runs[2]!.stdout, '10.77.0.3\n');
  assert.deepEqual(JSON.parse(runs[3]!.stdout), { name: 'bob', peerId: formatPeerId(net.member('bob').peerId), addresses: ['10.77.0.3'] });
});

test('ip: no IPv6 address, an unknown name, and -4 with -6 are refused with their codes (usage: exit 2)', async () => {
  const [v6, unknown, both] = await Promise.all([
    runCliAsync(['ip', '-6', '--control', sock]),
    runCliAsync(['ip', 'mallory', '--json', '--control', sock]),
    runCliAsync(['ip', '-4', '-6', '--control', sock]),
  ]);
  assert.equal(v6.status, 1);
  assert.equal(v6.stderr, 'shadowmesh: alice has no IPv6 mesh address (SM_ERR_CLI_NO_ADDRESS)\n');
  assert.equal(unknown.status, 1);
  assert.equal((JSON.parse(unknown.stderr) as { error: { code: string } }).error.code, 'SM_ERR_CONTROL_UNKNOWN_NAME');
  assert.equal(both.status, 2);
  assert.match(both.stderr, /\(SM_ERR_CLI_USAGE\)\n$/);
});

test('whois by address and by name: name, peer id, addresses, groups, certificate expiry, online, path; --json is the API object', async () => {
  const bob = net.member('bob');
  const [text, json, self] = await Promise.all([
    runCliAsync(['whois', '10.77.0.3', '--control', sock]),
    runCliAsync(['whois', 'bob', '--json', '--control', sock]),
    runCliAsync(['whois', 'alice', '--control', sock]),
  ]);
  assert.equal(text.status, 0, text.stderr);
  const expires = new Date(bob.certificate.notAfterMs).toISOString();
  assert.match(text.stdout, /^name {7}bob\n/);
  assert.match(text.stdout, new RegExp(`^peer {7}${formatPeerId(bob.peerId)}$`, 'm'));
  assert.match(text.stdout, /^addresses {2}10\.77\.0\.3\/24$/m);
  assert.match(text.stdout, /^groups {5}web$/m);
  assert.match(text.stdout, new RegExp(`^cert {7}expires ${expires.replace(/\./g, '\\.')} \\(in `, 'm'));
  assert.match(text.stdout, /^online {5}yes$/m);
  assert.match(text.stdout, /^path {7}relay$/m);
  assert.equal(json.status, 0, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout), {
    self: false, name: 'bob', peerId: formatPeerId(bob.peerId), addresses: ['10.77.0.3/24'], groups: ['web'],
    certExpires: expires, certExpiresMs: bob.certificate.notAfterMs, online: true, path: 'relay', carrier: 'relay', remote: 'relay',
  });
  assert.equal(self.status, 0, self.stderr);
  assert.match(self.stdout, /^name {7}alice \(this node\)$/m);
  assert.match(self.stdout, /^path {7}this node$/m);
});

test('whois: an unknown address or name is one coded line (JSON with --json), exit 1; --help lists what it takes', async () => {
  const [addr, name, help, ipHelp] = await Promise.all([
    runCliAsync(['whois', '10.77.0.99', '--control', sock]),
    runCliAsync(['whois', 'mallory', '--json', '--control', sock]),
    runCliAsync(['whois', '--help']),
    runCliAsync(['ip', '--help']),
  ]);
  assert.equal(addr.status, 1);
  assert.match(addr.stderr, /^shadowmesh: no member holds the mesh address 10\.77\.0\.99 .*\(SM_ERR_CONTROL_UNKNOWN_ADDRESS\)\n$/);
  assert.equal(name.status, 1);
  assert.equal(name.stdout, '');
  assert.equal((JSON.parse(name.stderr) as { error: { code: string } }).error.code, 'SM_ERR_CONTROL_UNKNOWN_NAME');
  for (const f of ['<target>', '--json', '--control']) assert.ok(help.stdout.includes(f), `whois --help mentions ${f}`);
  for (const f of ['[name]', '-4', '-6', '--json', '--control']) assert.ok(ipHelp.stdout.includes(f), `ip --help mentions ${f}`);
});
