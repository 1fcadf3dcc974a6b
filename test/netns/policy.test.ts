/**
 * Network policy enforced by real daemons (docs/architecture.md "Network
 * policy"): three members in groups web, db and ops with TUN devices in a
 * netns lab, a signed policy `web -> db tcp/5432` and `ops -> any`. Allowed
 * flows connect, others are dropped and counted under their rule; db cannot
 * open to web; a newer version applied with SIGHUP changes an outcome; an
 * older one is refused and the policy stays.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createNetnsLab, type NetnsLab } from '../../src/demo/netns-lab.js';
import { encodeSignedPolicy, signPolicy } from '../../src/policy/ca-policy.js';
import type { SignedPolicy } from '../../src/policy/signed-policy.js';
import { startLabDaemon, startLabRelay, upAvailable, waitForPeerPath, type LabDaemon } from '../../testkit/netns-shadowmesh.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const skip = !isRoot ? 'needs root (network namespaces)' : !upAvailable() ? 'this build has no `shadowmesh up`' : false;

const IP = { web: '10.10.20.3', db: '10.10.20.4', ops: '10.10.20.5' } as const;
const POLICY_V1 = 'rules:\n  - name: web-to-db\n    from: group:web\n    to: group:db\n    proto: tcp\n    ports: [5432]\n  - name: ops-any\n    from: group:ops\n    to: any\n    proto: any\n';
const POLICY_V2 = POLICY_V1 + '  - name: web-ssh-db\n    from: group:web\n    to: group:db\n    proto: tcp\n    ports: [22]\n';
const LISTED_MS = 30_000;
/** A TCP server on every port given, in the namespace. */
const SERVER = "const n=require('net');for(const p of process.argv.slice(1))n.createServer((s)=>s.end()).listen(Number(p),'0.0.0.0');";
/** Exit 0 when a TCP connection opens within the timeout, else 1. */
const CONNECT = "const s=require('net').connect({host:process.argv[1],port:Number(process.argv[2])});s.on('connect',()=>process.exit(0));s.on('error',()=>process.exit(1));setTimeout(()=>process.exit(1),Number(process.argv[3]));";

describe('network policy in the data plane', { skip }, () => {
  let lab: NetnsLab | undefined;
  let net: TestNetwork | undefined;
  let v1: SignedPolicy | undefined;
  const d: Partial<Record<'web' | 'db' | 'ops', LabDaemon>> = {};
  const policyFile = (m: string): string => join(net!.dir, `policy-${m}.signed`);
  const logs = (): string => Object.entries(d).map(([k, v]) => `\n${k}: ${v!.proc.stderr().slice(-2_000)}`).join('');
  const connects = async (from: 'web' | 'db' | 'ops', to: 'web' | 'db' | 'ops', port: number, timeoutMs: number): Promise<boolean> => {
    const r = await lab!.exec(from, [process.execPath, '-e', CONNECT, IP[to], String(port), String(timeoutMs)], { timeoutMs: timeoutMs + 10_000 });
    return r.code === 0;
  };
  const drops = async (m: 'web' | 'db' | 'ops'): Promise<Record<string, number>> => ((await d[m]!.status()) as { drops: Record<string, number> }).drops;
  const version = async (m: 'web' | 'db' | 'ops'): Promise<number | null> => ((await d[m]!.status()) as { policyVersion: number | null }).policyVersion;
  const install = (sp: SignedPolicy): void => { for (const m of ['web', 'db', 'ops']) writeFileSync(policyFile(m), encodeSignedPolicy(sp)); };

  before(async () => {
    lab = await createNetnsLab({ nodes: ['relay', 'web', 'db', 'ops'] });
    net = await createTestNetwork();
    const dir = net.dir;
    lab.onTeardown(() => rmSync(dir, { recursive: true, force: true }));
    v1 = await signPolicy(net.caDir, POLICY_V1);
    install(v1);
    const relay = await startLabRelay(lab, 'relay', { caFile: net.caFile, crlFile: net.crlFile, args: [] });
    for (const m of ['web', 'db', 'ops'] as const) {
      const mem = await net.addMember(m, { address: `${IP[m]}/24`, groups: [m] });
      d[m] = await startLabDaemon(lab, m, { relay, caFile: net.caFile, dev: 'tun', ifname: 'smtun0', certFile: mem.certFile, dir: mem.dir, args: ['--policy', policyFile(m)] });
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

  test('allowed flows connect, others are dropped and counted under their rule', async () => {
    assert.equal(await version('db'), 1);
    assert.ok(await connects('web', 'db', 5432, 15_000), `web -> db tcp/5432 is allowed${logs()}`);
    assert.equal(await connects('web', 'db', 22, 2_000), false, 'web -> db tcp/22 is denied');
    assert.ok(((await drops('db'))['policy.default-deny'] ?? 0) > 0, `db counts the drop under default-deny: ${JSON.stringify(await drops('db'))}`);
    assert.ok(await connects('ops', 'db', 22, 15_000), `ops -> db tcp/22${logs()}`);
    assert.ok(await connects('ops', 'web', 8080, 15_000), `ops -> web tcp/8080${logs()}`);
    const before = (await drops('web'))['policy.default-deny'] ?? 0;
    assert.equal(await connects('db', 'web', 8080, 2_000), false, 'db cannot open to web');
    assert.ok(((await drops('web'))['policy.default-deny'] ?? 0) > before, 'web counts it');
  });

  test('a newer version with SIGHUP changes the outcome; an older one is refused and the policy stays', async () => {
    install(await signPolicy(net!.caDir, POLICY_V2));
    d.db!.proc.signal('SIGHUP');
    let v: number | null = null;
    for (let i = 0; i < 10 && v !== 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      v = await version('db');
    }
    assert.equal(v, 2, `db applied version 2 within about 1 s${logs()}`);
    assert.ok(await connects('web', 'db', 22, 5_000), `web -> db tcp/22 is allowed by version 2${logs()}`);

    writeFileSync(policyFile('db'), encodeSignedPolicy(v1!));
    d.db!.proc.signal('SIGHUP');
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal(await version('db'), 2, 'the older file is refused');
    assert.match(d.db!.proc.stderr(), /SM_ERR_POLICY_ROLLBACK/);
    assert.ok(await connects('web', 'db', 22, 5_000), 'version 2 still in force');
  });
});
