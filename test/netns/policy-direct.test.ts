/**
 * Direct-path control traffic under the network policy (docs/architecture.md
 * "Network policy"), with real daemons in a netns lab. web and db hold a
 * signed policy whose only rule is `web -> db tcp/5432`; ops runs without
 * one (a member the policy has not reached), so it keeps offering its
 * candidates. The allowed pair web/db goes direct; web and ops, which no
 * rule lets talk, stay on the relay: web withholds its offer and refuses
 * and counts every offer ops sends. A newer version that lets ops reach web
 * (SIGHUP) lets them go direct.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createNetnsLab, type NetnsLab } from '../../src/demo/netns-lab.js';
import { encodeSignedPolicy, signPolicy } from '../../src/policy/ca-policy.js';
import { labHttpGet, peerPath, startLabDaemon, startLabRelay, upAvailable, waitForPeerPath, type LabDaemon } from '../../testkit/netns-shadowmesh.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const skip = !isRoot ? 'needs root (network namespaces)' : !upAvailable() ? 'this build has no `shadowmesh up`' : false;

const IP = { web: '10.10.30.3', db: '10.10.30.4', ops: '10.10.30.5' } as const;
const POLICY_V1 = 'rules:\n  - name: web-to-db\n    from: group:web\n    to: group:db\n    proto: tcp\n    ports: [5432]\n';
const POLICY_V2 = POLICY_V1 + '  - name: ops-to-web\n    from: group:ops\n    to: group:web\n    proto: any\n';
const LISTED_MS = 30_000;
/** Bound for a pair to go direct once it may (retries back off; generous on a busy machine). */
const TO_DIRECT_MS = 45_000;
/** How long the kept-apart pair is watched for a direct path that must not come. */
const WATCH_APART_MS = 8_000;
/** web's Prometheus listener, on loopback inside its namespace. */
const METRICS_PORT = 9465;

describe('direct paths under the network policy', { skip }, () => {
  let lab: NetnsLab | undefined;
  let net: TestNetwork | undefined;
  const d: Partial<Record<'web' | 'db' | 'ops', LabDaemon>> = {};
  const policyFile = (m: string): string => join(net!.dir, `policy-${m}.signed`);
  const logs = (): string => Object.entries(d).map(([k, v]) => `\n${k}: ${v!.proc.stderr().slice(-2_000)}`).join('');
  const drops = async (m: 'web' | 'db' | 'ops'): Promise<Record<string, number>> => ((await d[m]!.status()) as { drops: Record<string, number> }).drops;
  const meshPing = async (from: 'web' | 'db' | 'ops', to: 'web' | 'db' | 'ops'): Promise<void> => {
    const r = await d[from]!.cli(['ping', to, '--count', '2'], 30_000);
    assert.equal(r.code, 0, `mesh ping ${from} -> ${to}: ${r.stderr}${logs()}`);
  };

  before(async () => {
    lab = await createNetnsLab({ nodes: ['relay', 'web', 'db', 'ops'] });
    net = await createTestNetwork();
    const dir = net.dir;
    lab.onTeardown(() => rmSync(dir, { recursive: true, force: true }));
    const v1 = encodeSignedPolicy(await signPolicy(net.caDir, POLICY_V1));
    for (const m of ['web', 'db'] as const) writeFileSync(policyFile(m), v1);
    const relay = await startLabRelay(lab, 'relay', { caFile: net.caFile, crlFile: net.crlFile, args: [] });
    for (const m of ['web', 'db', 'ops'] as const) {
      const mem = await net.addMember(m, { address: `${IP[m]}/24`, groups: [m] });
      d[m] = await startLabDaemon(lab, m, { relay, caFile: net.caFile, dev: 'tun', ifname: 'smtun0', certFile: mem.certFile, dir: mem.dir, args: m === 'ops' ? [] : ['--policy', policyFile(m), ...(m === 'web' ? ['--metrics', `127.0.0.1:${METRICS_PORT}`] : [])] });
    }
    for (const [a, b] of [['web', 'db'], ['web', 'ops'], ['ops', 'web']] as const) {
      assert.ok(await waitForPeerPath(d[a]!, b, () => true, LISTED_MS) !== null, `${a} never listed ${b}${logs()}`);
    }
  });

  after(async () => {
    await lab?.teardown();
    await net?.cleanup();
  });

  test('the allowed pair goes direct; the pair the policy keeps apart stays on the relay, its offers refused and counted', async () => {
    await meshPing('web', 'db');
    assert.ok(await waitForPeerPath(d.web!, 'db', (p) => p.path === 'direct', TO_DIRECT_MS) !== null, `web never went direct to db: ${JSON.stringify(await peerPath(d.web!, 'db'))}${logs()}`);

    await meshPing('ops', 'web');
    let refused = 0;
    for (let i = 0; i < 100 && refused === 0; i++) {
      await new Promise((r) => setTimeout(r, 200));
      refused = (await drops('web'))['offers.policy'] ?? 0;
    }
    assert.ok(refused > 0, `web counts the offers of ops it refused: ${JSON.stringify(await drops('web'))}${logs()}`);
    const direct = await waitForPeerPath(d.web!, 'ops', (p) => p.path === 'direct' || p.directs.length > 0, WATCH_APART_MS);
    assert.equal(direct, null, `web and ops must not get a direct path: ${JSON.stringify(direct)}`);
    const fromOps = await peerPath(d.ops!, 'web');
    assert.ok(fromOps !== null && fromOps.path === 'relay' && fromOps.directs.length === 0, `ops reaches web over the relay only: ${JSON.stringify(fromOps)}`);
    assert.equal((await drops('ops'))['offers.policy'] ?? 0, 0, 'web never sent ops an offer to refuse');
    const metrics = await labHttpGet(lab!, 'web', '127.0.0.1', METRICS_PORT, '/metrics');
    const series = /^shadowmesh_drops_total\{component="offers",reason="policy"\} (\d+)/m.exec(metrics.body);
    assert.ok(series !== null && Number(series[1]) > 0, `Prometheus counts the refusals: ${metrics.body.split('\n').filter((l) => l.includes('offers')).join('; ')}`);
  });

  test('a newer version that lets ops reach web lets them go direct', async () => {
    writeFileSync(policyFile('web'), encodeSignedPolicy(await signPolicy(net!.caDir, POLICY_V2)));
    d.web!.proc.signal('SIGHUP');
    const onWeb = await waitForPeerPath(d.web!, 'ops', (p) => p.path === 'direct', TO_DIRECT_MS);
    assert.ok(onWeb !== null, `web never went direct to ops under version 2: ${JSON.stringify(await peerPath(d.web!, 'ops'))}${logs()}`);
  });
});
