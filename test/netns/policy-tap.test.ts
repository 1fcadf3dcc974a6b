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
import { measurePing } from '../../testkit/netns-measure.js';
import { upAvailable } from '../../testkit/netns-shadowmesh.js';
import { startPolicyLab, type PolicyLab } from '../../testkit/policy-lab.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const skip = !isRoot ? 'needs root (network namespaces)' : !upAvailable() ? 'this build has no `shadowmesh up`' : false;

const IFNAME = 'smtap0';
const IP = { web: '10.10.40.3', db: '10.10.40.4', ops: '10.10.40.5' } as const;
const POLICY = 'rules:\n  - name: web-to-db\n    from: group:web\n    to: group:db\n    proto: tcp\n    ports: [5432]\n'
  + '  - name: no-web-db-8080\n    action: deny\n    from: group:web\n    to: group:db\n    proto: tcp\n    ports: [8080]\n'
  + '  - name: ops-any\n    from: group:ops\n    to: any\n    proto: any\n';
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
  let p: PolicyLab | undefined;

  before(async () => {
    p = await startPolicyLab({ dev: 'tap', ifname: IFNAME, ip: IP, policy: POLICY });
  });

  after(async () => {
    await p?.teardown();
  });

  test('the allowed flow connects and its replies pass; denied flows are dropped and counted under their rule', async () => {
    const { connects, drops, logs } = p!;
    assert.ok(await connects('web', 'db', 5432, 15_000), `web -> db tcp/5432 is allowed (ARP first, then the handshake both ways)${logs()}`);
    assert.equal(await connects('web', 'db', 8080, 2_000), false, 'web -> db tcp/8080 is denied by its rule');
    assert.ok(((await drops('db'))['policy.no-web-db-8080'] ?? 0) > 0, `db counts it under no-web-db-8080: ${JSON.stringify(await drops('db'))}`);
    assert.equal(await connects('web', 'db', 22, 2_000), false, 'web -> db tcp/22 matches no rule');
    assert.ok(((await drops('db'))['policy.default-deny'] ?? 0) > 0, `db counts it under default-deny: ${JSON.stringify(await drops('db'))}`);
    const before = (await drops('web'))['policy.default-deny'] ?? 0;
    assert.equal(await connects('db', 'web', 8080, 2_000), false, 'db cannot open to web, although web -> db replies pass');
    assert.ok(((await drops('web'))['policy.default-deny'] ?? 0) > before, 'web counts it');
  });

  test('ARP passes, so ops pings web and db, which it never talked to', async () => {
    const { lab, logs } = p!;
    for (const to of ['web', 'db'] as const) {
      const ping = await measurePing(lab, 'ops', IP[to], { count: 5, intervalS: 0.2 });
      assert.ok(ping.received > 0, `ops -> ${to}: ${ping.received}/${ping.transmitted} replies${logs()}`);
    }
  });

  test('a frame of another ethertype is dropped under default-deny', async () => {
    const { lab, drops } = p!;
    const before = (await drops('web'))['policy.default-deny'] ?? 0;
    const r = await lab.exec('web', ['/usr/bin/python3', '-c', RAW_FRAMES, IFNAME, '5'], { timeoutMs: 10_000 });
    assert.equal(r.code, 0, `raw frames sent: ${r.stderr}`);
    let after = before;
    for (let i = 0; i < 20 && after < before + 5; i++) {
      await new Promise((res) => setTimeout(res, 100));
      after = (await drops('web'))['policy.default-deny'] ?? 0;
    }
    assert.ok(after >= before + 5, `web drops the 5 frames of ethertype 0x88b5 under default-deny: ${before} -> ${after}`);
  });
});
