/**
 * Automatic certificate renewal in network namespaces (issue 16's Show;
 * docs/architecture.md "Certificate renewal"): an enrollment service
 * (`shadowmesh ca serve --valid 2m`) issues 2-minute certificates; two
 * members in fresh namespaces join with a token each (`up --join`, real TUN
 * devices) and each renews its certificate on its own, twice, while the
 * kernel's ping runs from one to the other every 200 ms. Shows: both
 * members renew at least twice (their log says so, and `status --json`
 * shows a notAfter past the first certificate's end), and the ping stream
 * loses nothing: every numbered echo up to the last one answered came back,
 * once. (The echo in flight when the stream is stopped is not waited for;
 * ping's own summary counts it as lost, so the summary is not the measure.)
 * The lab (namespaces sm-<id>-*) is created and torn down by the test, also
 * when it fails. Needs root; skipped otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNetnsLab, type LabProcess } from '../../src/demo/netns-lab.js';
import { CLI_MAIN_PATH } from '../../src/demo/cli-entry.js';
import { initCa } from '../../src/identity/ca.js';
import { parsePingStream, startLabRelay, upAvailable, waitForPing, START_TIMEOUT_MS } from '../../testkit/netns-shadowmesh.js';
import { ENROLL_READY_LINE } from '../../testkit/enroll-service-process.js';
import { loggedRecords } from '../../testkit/log-records.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const skip = !isRoot ? 'needs root (network namespaces)' : !upAvailable() ? 'this build has no `shadowmesh up`' : false;
const ENROLL_PORT = 7443;
const MEMBERS = ['a', 'b'] as const;
const READY = /^node [0-9a-f]{8} up: device (\S+) (\S+) via relay /;
const LIFETIME = '2m';
/** Two renewals of a 2-minute certificate: at 80 s and at 160 s after the join; bounded well past that. */
const RENEWALS_WITHIN_MS = 230_000;
const PING_INTERVAL_S = 0.2;

test('members with 2-minute certificates from ca serve renew on their own twice during a ping stream that loses nothing', { skip, timeout: 360_000 }, async (t) => {
  const lab = await createNetnsLab({ nodes: ['ca', 'relay', ...MEMBERS] });
  const work = mkdtempSync(join(tmpdir(), 'sm-renew-netns-'));
  lab.onTeardown(() => rmSync(work, { recursive: true, force: true }));
  try {
    const caDir = join(work, 'ca');
    await initCa(caDir, { name: 'netns renewal' });
    const relay = await startLabRelay(lab, 'relay', { caFile: join(caDir, 'ca.crt'), crlFile: join(caDir, 'crl') });
    const serve = lab.spawn('ca', [process.execPath, CLI_MAIN_PATH, 'ca', 'serve', '--ca', caDir, '--listen', `${lab.ip('ca')}:${ENROLL_PORT}`, '--pool', '10.63.0.0/24', '--valid', LIFETIME, '--relay', `${relay.url}#${relay.pin}`], { label: 'ca:serve' });
    await serve.waitForLine(ENROLL_READY_LINE, START_TIMEOUT_MS);

    const procs: Record<string, LabProcess> = {};
    const addresses: Record<string, string> = {};
    for (const m of MEMBERS) {
      const token = (await lab.check('ca', [process.execPath, CLI_MAIN_PATH, 'ca', 'token', '--ca', caDir, '--ttl', '10m'])).stdout.trim();
      const p = lab.spawn(m, [process.execPath, CLI_MAIN_PATH, 'up', '--join', token, '--hostname', m, '--dev', 'tun', '--name', 'smtun0', '--control', join(work, `${m}.sock`)], {
        label: `${m}:up`, env: { SHADOWMESH_HOME: join(work, m), SHADOWMESH_LOG_FORMAT: 'json' },
      });
      procs[m] = p;
      const line = await p.waitForLine(READY, START_TIMEOUT_MS).catch((err: unknown) => {
        throw new Error(`${m} did not come up: ${String(err)}\nstderr: ${p.stderr().slice(-3_000)}\nca serve: ${serve.stderr().slice(-2_000)}`);
      });
      addresses[m] = line[2]!.split('/')[0]!;
    }
    const firstNotAfter: Record<string, number> = {};
    for (const m of MEMBERS) firstNotAfter[m] = await notAfterOf(m);
    assert.ok(firstNotAfter['a']! - Date.now() <= 120_000, 'a 2-minute certificate');
    assert.ok((await waitForPing(lab, 'a', addresses['b']!, 30_000)) !== null, `a cannot ping b\n${procs['a']!.stderr().slice(-2_000)}`);

    // The stream: the kernel's ping every 200 ms until both members have renewed twice.
    const ping = lab.spawn('a', ['ping', '-D', '-n', '-i', String(PING_INTERVAL_S), '-W', '1', addresses['b']!], { label: 'a:ping' });
    /** When each renewal was logged, from the member's log. */
    const renewedAt = (m: string) => loggedRecords(procs[m]!.stderr(), /^member certificate renewed$/).map((r) => String(r['time']));
    const renewals = (m: string) => renewedAt(m).length;
    const deadline = Date.now() + RENEWALS_WITHIN_MS;
    while (Date.now() < deadline && MEMBERS.some((m) => renewals(m) < 2)) await new Promise((r) => setTimeout(r, 1_000));
    // A few more echoes after the last renewal, then the stream stops.
    await new Promise((r) => setTimeout(r, 2_000));
    ping.signal('SIGINT');
    await ping.exited;
    const stream = parsePingStream(ping.stdout());
    const paths = `a's path to b now: ${await pathOf('a', 'b')}, b's to a: ${await pathOf('b', 'a')}`;
    t.diagnostic(`renewals: a ${renewedAt('a').join(' ')}, b ${renewedAt('b').join(' ')}; echoes a -> b: ${stream.answered.length} of ${stream.maxSeq} answered, missing ${JSON.stringify(stream.missing)}; ${paths}`);

    for (const m of MEMBERS) {
      assert.ok(renewals(m) >= 2, `${m} renewed ${renewals(m)} times within ${RENEWALS_WITHIN_MS} ms\n${procs[m]!.stderr().slice(-3_000)}\nca serve: ${serve.stderr().slice(-2_000)}`);
      const now = await notAfterOf(m);
      assert.ok(now > firstNotAfter[m]! + 60_000, `${m}'s certificate in force ends at ${new Date(now).toISOString()}, the first at ${new Date(firstNotAfter[m]!).toISOString()}`);
      assert.ok(procs[m]!.alive(), `${m}'s daemon is still running`);
    }
    assert.ok(Date.now() > firstNotAfter['a']! && Date.now() > firstNotAfter['b']!, 'the stream outlived both first certificates');
    assert.ok(stream.maxSeq >= 600, `a stream of ${stream.maxSeq} echoes`);
    // Sent about every PING_INTERVAL_S from the first answered one on: when each missing echo left.
    const lostAround = stream.missing.map((seq) => `#${seq} (sent about ${new Date(stream.replyAtMs[0]! + (seq - stream.answered[0]!) * PING_INTERVAL_S * 1_000).toISOString()})`);
    assert.deepEqual(stream.missing, [], `echoes lost across the renewals: ${lostAround.join(', ')}; renewals a ${renewedAt('a').join(' ')}, b ${renewedAt('b').join(' ')}; ${paths}\n${procs['a']!.stderr().slice(-3_000)}`);
    assert.deepEqual(stream.duplicates, [], 'echo replies duplicated');
  } finally {
    await lab.teardown();
  }

  async function pathOf(m: string, peer: string): Promise<string> {
    const r = await lab.exec(m, [process.execPath, CLI_MAIN_PATH, 'peers', '--json', '--control', join(work, `${m}.sock`)]);
    let parsed: unknown;
    try {
      parsed = JSON.parse(r.stdout);
    } catch {
      return `unknown (peers: ${r.stdout.slice(0, 200)} ${r.stderr.slice(0, 200)})`;
    }
    const p = (parsed as { peers?: Array<{ name?: string; path?: string; carrier?: string; remote?: string; migrations?: unknown; fallbacks?: number }> }).peers?.find((x) => x.name === peer);
    return p === undefined ? 'none' : JSON.stringify({ path: p.path, carrier: p.carrier, remote: p.remote, migrations: p.migrations, fallbacks: p.fallbacks });
  }

  async function notAfterOf(m: string): Promise<number> {
    const r = await lab.check(m, [process.execPath, CLI_MAIN_PATH, 'status', '--json', '--control', join(work, `${m}.sock`)]);
    const s = JSON.parse(r.stdout) as { certificates?: { member?: { notAfterMs?: number } } };
    const v = s.certificates?.member?.notAfterMs;
    assert.equal(typeof v, 'number', r.stdout);
    return v!;
  }
});
