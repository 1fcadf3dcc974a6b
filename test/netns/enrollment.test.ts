/**
 * Enrollment in network namespaces (issue 16's Show; docs/architecture.md
 * "Enrollment"): a CA enrollment service (`shadowmesh ca serve`), a relay
 * and three fresh namespaces that hold nothing but a join token each. All
 * three run `shadowmesh up --join TOKEN` with real TUN devices, get
 * distinct pool addresses and ping each other through the kernel; a
 * used-up and an expired token are refused with their codes. The lab
 * (namespaces sm-<id>-*) is created and torn down by the test, also when it
 * fails. Needs root; skipped otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNetnsLab, type LabProcess } from '../../src/demo/netns-lab.js';
import { CLI_MAIN_PATH } from '../../src/demo/cli-entry.js';
import { encodeJoinToken } from '../../src/enroll/join-token.js';
import { createTokenRecord } from '../../src/enroll/token-store.js';
import { initCa } from '../../src/identity/ca.js';
import { startLabRelay, upAvailable, waitForPing, START_TIMEOUT_MS } from '../../testkit/netns-shadowmesh.js';
import { ENROLL_READY_LINE } from '../../testkit/enroll-service-process.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const skip = !isRoot ? 'needs root (network namespaces)' : !upAvailable() ? 'this build has no `shadowmesh up`' : false;
const ENROLL_PORT = 7443;
const MEMBERS = ['m1', 'm2', 'm3'] as const;
const READY = /^node [0-9a-f]{8} up: device (\S+) (\S+) via relay /;
/** Admission, the relay's member list and the first session; generous for a loaded machine. */
const PING_TIMEOUT_MS = 30_000;

test('three namespaces holding only a token each join through ca serve, get distinct addresses and ping each other over TUN', { skip, timeout: 240_000 }, async () => {
  const lab = await createNetnsLab({ nodes: ['ca', 'relay', ...MEMBERS, 'late'] });
  const work = mkdtempSync(join(tmpdir(), 'sm-enroll-netns-'));
  lab.onTeardown(() => rmSync(work, { recursive: true, force: true }));
  try {
    const caDir = join(work, 'ca');
    await initCa(caDir, { name: 'netns enrollment' });
    const relay = await startLabRelay(lab, 'relay', { caFile: join(caDir, 'ca.crt'), crlFile: join(caDir, 'crl') });
    const serve = lab.spawn('ca', [process.execPath, CLI_MAIN_PATH, 'ca', 'serve', '--ca', caDir, '--listen', `${lab.ip('ca')}:${ENROLL_PORT}`, '--pool', '10.62.0.0/24', '--relay', `${relay.url}#${relay.pin}`], { label: 'ca:serve' });
    const ready = await serve.waitForLine(ENROLL_READY_LINE, START_TIMEOUT_MS);
    assert.equal(ready[1], lab.ip('ca'));

    // One single-use token per member, made by the CLI as an operator would (the endpoint comes from CADIR).
    const tokens: string[] = [];
    for (const _ of MEMBERS) {
      const r = await lab.check('ca', [process.execPath, CLI_MAIN_PATH, 'ca', 'token', '--ca', caDir, '--ttl', '10m']);
      tokens.push(r.stdout.trim());
    }
    const procs: LabProcess[] = [];
    const addresses: string[] = [];
    for (const [i, m] of MEMBERS.entries()) {
      const home = join(work, m); // empty: the member brings nothing but the token
      const p = lab.spawn(m, [process.execPath, CLI_MAIN_PATH, 'up', '--join', tokens[i]!, '--hostname', m, '--dev', 'tun', '--name', 'smtun0', '--control', join(work, `${m}.sock`)], { label: `${m}:up`, env: { SHADOWMESH_HOME: home } });
      procs.push(p);
      const line = await p.waitForLine(READY, START_TIMEOUT_MS).catch((err: unknown) => {
        throw new Error(`${m} did not come up: ${String(err)}\nstderr: ${p.stderr().slice(-3_000)}\nca serve: ${serve.stderr().slice(-2_000)}`);
      });
      assert.equal(line[1], 'smtun0');
      addresses.push(line[2]!);
    }
    assert.deepEqual(addresses, ['10.62.0.1/24', '10.62.0.2/24', '10.62.0.3/24']);
    const host = (i: number) => addresses[i]!.split('/')[0]!;
    for (const [i, from] of MEMBERS.entries()) {
      for (const [j] of MEMBERS.entries()) {
        if (i === j) continue;
        const ms = await waitForPing(lab, from, host(j), PING_TIMEOUT_MS);
        assert.ok(ms !== null, `${from} cannot ping ${host(j)}\n${from}: ${procs[i]!.stderr().slice(-2_000)}`);
      }
    }

    // A spent token and an expired one, from a fourth fresh namespace: refused with their codes.
    const refuse = async (token: string, code: string) => {
      const r = await lab.exec('late', [process.execPath, CLI_MAIN_PATH, 'up', '--join', token, '--dev', 'none'], { env: { SHADOWMESH_HOME: join(work, `late-${code}`) }, timeoutMs: 60_000 });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`\\(${code}\\)\\n$`));
    };
    await refuse(tokens[0]!, 'SM_ERR_ENROLL_TOKEN_USED_UP');
    const old = await createTokenRecord(caDir, { ttlMs: 1_000, uses: 1, nowMs: Date.now() - 60_000 });
    await refuse(encodeJoinToken({ host: lab.ip('ca'), port: ENROLL_PORT, pin: ready[3]!, id: old.record.id, secret: old.secret }), 'SM_ERR_ENROLL_TOKEN_EXPIRED');
  } finally {
    await lab.teardown();
  }
});
