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
import { upAvailable } from '../../testkit/netns-shadowmesh.js';
import { startPolicyLab, type PolicyLab } from '../../testkit/policy-lab.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const skip = !isRoot ? 'needs root (network namespaces)' : !upAvailable() ? 'this build has no `shadowmesh up`' : false;

const IP = { web: '10.10.20.3', db: '10.10.20.4', ops: '10.10.20.5' } as const;
const POLICY_V1 = 'rules:\n  - name: web-to-db\n    from: group:web\n    to: group:db\n    proto: tcp\n    ports: [5432]\n  - name: ops-any\n    from: group:ops\n    to: any\n    proto: any\n';
const POLICY_V2 = POLICY_V1 + '  - name: web-ssh-db\n    from: group:web\n    to: group:db\n    proto: tcp\n    ports: [22]\n';

describe('network policy in the data plane', { skip }, () => {
  let p: PolicyLab | undefined;

  before(async () => {
    p = await startPolicyLab({ dev: 'tun', ifname: 'smtun0', ip: IP, policy: POLICY_V1 });
  });

  after(async () => {
    await p?.teardown();
  });

  test('allowed flows connect, others are dropped and counted under their rule', async () => {
    const { connects, drops, logs } = p!;
    assert.equal(await p!.version('db'), 1);
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
    const { connects, logs } = p!;
    const db = p!.daemon.db;
    p!.install(await p!.sign(POLICY_V2));
    db.proc.signal('SIGHUP');
    let v: number | null = null;
    for (let i = 0; i < 10 && v !== 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      v = await p!.version('db');
    }
    assert.equal(v, 2, `db applied version 2 within about 1 s${logs()}`);
    assert.ok(await connects('web', 'db', 22, 5_000), `web -> db tcp/22 is allowed by version 2${logs()}`);

    p!.install(p!.initial, ['db']);
    db.proc.signal('SIGHUP');
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal(await p!.version('db'), 2, 'the older file is refused');
    assert.match(db.proc.stderr(), /SM_ERR_POLICY_ROLLBACK/);
    assert.ok(await connects('web', 'db', 22, 5_000), 'version 2 still in force');
  });
});
