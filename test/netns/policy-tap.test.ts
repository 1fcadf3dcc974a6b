/**
 * Network policy on TAP devices (docs/architecture.md "Network policy"):
 * three members in groups web, db and ops with real TAP devices in a netns
 * lab and a signed policy `web -> db tcp/5432`, a named deny of web -> db
 * tcp/8080 and `ops -> any`. The IP packet inside each Ethernet frame is
 * checked: the allowed flow connects (its return traffic passes), the
 * denied ones are dropped and counted under their rule, db cannot open to
 * web, ARP passes so ops can ping an allowed peer it never talked to, and
 * a frame of another ethertype is dropped under default-deny.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createNetnsLab, type NetnsLab } from '../../src/demo/netns-lab.js';
import { encodeSignedPolicy, signPolicy } from '../../src/policy/ca-policy.js';
import { measurePing } from '../../testkit/netns-measure.js';
import { startLabDaemon, startLabRelay, upAvailable, waitForPeerPath, type LabDaemon } from '../../testkit/netns-shadowmesh.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const skip = !isRoot ? 'needs root (network namespaces)' : !upAvailable() ? 'this build has no `shadowmesh up`' : false;

const IFNAME = 'smtap0';
const IP = { web: '10.10.40.3', db: '10.10.40.4', ops: '10.10.40.5' } as const;
const POLICY = 'rules:\n  - name: web-to-db\n    from: group:web\n    to: group:db\n    proto: tcp\n    ports: [5432]\n'
  + '  - name: no-web-db-8080\n    action: deny\n    from: group:web\n    to: group:db\n    proto: tcp\n    ports: [8080]\n'
  + '  - name: ops-any\n    from: group:ops\n    to: any\n    proto: any\n';
const LISTED_MS = 30_000;
/** A TCP server on every port given, in the namespace. */
const SERVER = "const n=require('net');for(const p of process.argv.slice(1))n.createServer((s)=>s.end()).listen(Number(p),'0.0.0.0');";
/** Exit 0 when a TCP connection opens within the timeout, else 1. */
const CONNECT = "const s=require('net').connect({host:process.argv[1],port:Number(process.argv[2])});s.on('connect',()=>process.exit(0));s.on('error',()=>process.exit(1));setTimeout(()=>process.exit(1),Number(process.argv[3]));";
/** Send N broadcast Ethernet frames of the local experimental ethertype 0x88b5 from the interface's own MAC. */
const RAW_FRAMES = [
  'import socket,sys',
  's=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)',
  's.bind((sys.argv[1],0))',
  'src=open("/sys/class/net/"+sys.argv[1]+"/address").read().strip().replace(":","")',
  'f=bytes.fromhex("ffffffffffff"+src+"88b5")+bytes(46)',
  '[s.send(f) for _ in range(int(sys.argv[2]))]',
].join('\n');

describe('network policy on TAP', { skip }, () => {
  let lab: NetnsLab | undefined;
  let net: TestNetwork | undefined;
  const d: Partial<Record<'web' | 'db' | 'ops', LabDaemon>> = {};
  const logs = (): string => Object.entries(d).map(([k, v]) => `\n${k}: ${v!.proc.stderr().slice(-2_000)}`).join('');
  const connects = async (from: 'web' | 'db' | 'ops', to: 'web' | 'db' | 'ops', port: number, timeoutMs: number): Promise<boolean> => {
    const r = await lab!.exec(from, [process.execPath, '-e', CONNECT, IP[to], String(port), String(timeoutMs)], { timeoutMs: timeoutMs + 10_000 });
    return r.code === 0;
  };
  const drops = async (m: 'web' | 'db' | 'ops'): Promise<Record<string, number>> => ((await d[m]!.status()) as { drops: Record<string, number> }).drops;

  before(async () => {
    lab = await createNetnsLab({ nodes: ['relay', 'web', 'db', 'ops'] });
    net = await createTestNetwork();
    const dir = net.dir;
    lab.onTeardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'policy.signed');
    writeFileSync(file, encodeSignedPolicy(await signPolicy(net.caDir, POLICY)));
    const relay = await startLabRelay(lab, 'relay', { caFile: net.caFile, crlFile: net.crlFile, args: [] });
    for (const m of ['web', 'db', 'ops'] as const) {
      const mem = await net.addMember(m, { address: `${IP[m]}/24`, groups: [m] });
      d[m] = await startLabDaemon(lab, m, { relay, caFile: net.caFile, dev: 'tap', ifname: IFNAME, certFile: mem.certFile, dir: mem.dir, args: ['--policy', file] });
    }
    for (const [a, b] of [['web', 'db'], ['db', 'web'], ['ops', 'db'], ['ops', 'web']] as const) {
      assert.ok(await waitForPeerPath(d[a]!, b, () => true, LISTED_MS) !== null, `${a} never listed ${b}${logs()}`);
    }
    for (const m of ['web', 'db'] as const) lab.spawn(m, [process.execPath, '-e', SERVER, '5432', '22', '8080'], { label: `${m}:tcp` });
  });

  after(async () => {
    await lab?.teardown();
    await net?.cleanup();
  });

  test('the allowed flow connects and its replies pass; denied flows are dropped and counted under their rule', async () => {
    // The servers were just spawned: a refusal before they listen is retried, a bounded number of times.
    let ok = false;
    for (let i = 0; i < 10 && !ok; i++) {
      ok = await connects('web', 'db', 5432, 5_000);
      if (!ok) await new Promise((res) => setTimeout(res, 300));
    }
    assert.ok(ok, `web -> db tcp/5432 is allowed (ARP first, then the handshake both ways)${logs()}`);
    assert.equal(await connects('web', 'db', 8080, 2_000), false, 'web -> db tcp/8080 is denied by its rule');
    assert.ok(((await drops('db'))['policy.no-web-db-8080'] ?? 0) > 0, `db counts it under no-web-db-8080: ${JSON.stringify(await drops('db'))}`);
    assert.equal(await connects('web', 'db', 22, 2_000), false, 'web -> db tcp/22 matches no rule');
    assert.ok(((await drops('db'))['policy.default-deny'] ?? 0) > 0, `db counts it under default-deny: ${JSON.stringify(await drops('db'))}`);
    const before = (await drops('web'))['policy.default-deny'] ?? 0;
    assert.equal(await connects('db', 'web', 8080, 2_000), false, 'db cannot open to web, although web -> db replies pass');
    assert.ok(((await drops('web'))['policy.default-deny'] ?? 0) > before, 'web counts it');
  });

  test('ARP passes, so ops pings web and db, which it never talked to', async () => {
    for (const to of ['web', 'db'] as const) {
      const p = await measurePing(lab!, 'ops', IP[to], { count: 5, intervalS: 0.2 });
      assert.ok(p.received > 0, `ops -> ${to}: ${p.received}/${p.transmitted} replies${logs()}`);
    }
  });

  test('a frame of another ethertype is dropped under default-deny', async () => {
    const before = (await drops('web'))['policy.default-deny'] ?? 0;
    const r = await lab!.exec('web', ['/usr/bin/python3', '-c', RAW_FRAMES, IFNAME, '5'], { timeoutMs: 10_000 });
    assert.equal(r.code, 0, `raw frames sent: ${r.stderr}`);
    let after = before;
    for (let i = 0; i < 20 && after < before + 5; i++) {
      await new Promise((res) => setTimeout(res, 100));
      after = (await drops('web'))['policy.default-deny'] ?? 0;
    }
    assert.ok(after >= before + 5, `web drops the 5 frames of ethertype 0x88b5 under default-deny: ${before} -> ${after}`);
  });
});
