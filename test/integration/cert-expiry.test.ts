/**
 * Certificate expiry warnings as an operator meets them (docs/architecture.md
 * "Certificate expiry"): a CA made with `ca init --valid 20d` and a member
 * certificate from `ca sign --valid 10d`, through the real CLI; a real relay
 * and a real daemon (`up --dev none`) with --metrics. The relay warns about
 * the CA in its log, /stats and its gauge; the daemon warns about both
 * certificates in its log, `status` (text and --json) and its gauge, with
 * the exact notAfter timestamps. The `ca` commands warn on stderr.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCliAsync, startDaemon, type CliRun, type DaemonProcess } from '../../testkit/daemon-process.js';
import { freePort } from '../../testkit/free-port.js';
import { loggedRecords } from '../../testkit/log-records.js';
import { scrape } from '../../testkit/metrics-scrape.js';
import { seriesValue } from '../../testkit/prometheus-exposition.js';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';

const GAUGE = 'shadowmesh_certificate_expiry_timestamp_seconds';
const DAY = 86_400_000;

let work = '';
let relay: RelayProcess | undefined;
let daemon: DaemonProcess | undefined;
let relayMetrics = 0;
let nodeMetrics = 0;
let sock = '';
let init: CliRun;
let sign: CliRun;
let caNotAfterMs = 0;
let memberNotAfterMs = 0;

function ok(r: CliRun, what: string): CliRun {
  assert.equal(r.status, 0, `${what}: ${r.stderr}`);
  return r;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'sm-cert-expiry-'));
  const caDir = join(work, 'ca');
  init = ok(await runCliAsync(['ca', 'init', '--dir', caDir, '--valid', '20d', '--json']), 'ca init');
  caNotAfterMs = Date.parse((JSON.parse(init.stdout) as { notAfter: string }).notAfter);
  ok(await runCliAsync(['keygen', '--dir', join(work, 'id')]), 'keygen');
  sign = ok(await runCliAsync(['ca', 'sign', '--ca', caDir, '--name', 'alice', '--ip', '10.78.0.2/24', '--valid', '10d', '--pub', join(work, 'id', 'identity.pub'), '--out', join(work, 'alice.crt')]), 'ca sign');
  const shown = ok(await runCliAsync(['ca', 'show', join(work, 'alice.crt'), '--json']), 'ca show');
  memberNotAfterMs = Date.parse((JSON.parse(shown.stdout) as { notAfter: string }).notAfter);
  relayMetrics = await freePort();
  relay = await startRelayProcess({ caFile: join(caDir, 'ca.crt'), args: ['--metrics', `127.0.0.1:${relayMetrics}`] });
  nodeMetrics = await freePort();
  sock = join(work, 'alice.sock');
  daemon = await startDaemon(['--relay', relay.url, '--pin', relay.pin, '--ca', join(caDir, 'ca.crt'), '--cert', join(work, 'alice.crt'), '--dir', join(work, 'id'),
    '--dev', 'none', '--no-direct', '--control', sock, '--metrics', `127.0.0.1:${nodeMetrics}`]);
});

after(async () => {
  await daemon?.stop();
  await relay?.stop();
  if (work !== '') await rm(work, { recursive: true, force: true });
});

test('ca init and ca sign warn on stderr that the CA ends within 30 days; ca show gives a member certificate\'s time left', async () => {
  assert.equal(caNotAfterMs - Date.parse((JSON.parse(init.stdout) as { notBefore: string }).notBefore), 20 * DAY);
  const warning = (JSON.parse(init.stderr) as { warning: { cert: string; state: string; notAfter: string } }).warning;
  assert.deepEqual([warning.cert, warning.state, warning.notAfter], ['ca', 'expiring', new Date(caNotAfterMs).toISOString()]);
  assert.match(sign.stderr, /^shadowmesh: warning: CA certificate expires at \S+ \(19d23h left\); renew it\n$/);
  const [text, json, far] = await Promise.all([
    runCliAsync(['ca', 'show', join(work, 'alice.crt'), '--ca-cert', join(work, 'ca', 'ca.crt')]),
    runCliAsync(['ca', 'show', join(work, 'alice.crt'), '--json']),
    runCliAsync(['ca', 'init', '--dir', join(work, 'far-ca')]),
  ]);
  assert.match(ok(text, 'ca show').stdout, /^expires: {3}9d23h left \(WARNING: ends within 30 days, renew it\)$/m);
  assert.match(text.stderr, /CA certificate expires at/, 'the CA given with --ca-cert is warned about too');
  const j = JSON.parse(ok(json, 'ca show --json').stdout) as { daysLeft: number; expiry: string; remainingSeconds: number };
  assert.deepEqual([j.daysLeft, j.expiry], [9, 'expiring']);
  assert.ok(j.remainingSeconds > 9 * 86_400 && j.remainingSeconds <= 10 * 86_400);
  assert.equal(ok(far, 'ca init (10 years)').stderr, '', 'a CA far from its end is not warned about');
});

test('the relay logs a warning about the CA at start, and reports it in /stats and its gauge', async () => {
  const warned = loggedRecords(relay!.stderr(), /^CA certificate expires at /, 'warn');
  assert.equal(warned.length, 1, relay!.stderr());
  assert.equal(warned[0]!['notAfter'], new Date(caNotAfterMs).toISOString());
  const stats = await relay!.stats();
  assert.equal(stats.certificates?.ca?.state, 'expiring');
  assert.equal(stats.certificates?.ca?.notAfterMs, caNotAfterMs);
  assert.equal(stats.certificates?.tls.selfSigned, true);
  assert.equal(stats.certificates?.tls.state, 'ok', 'a self-signed TLS certificate renews itself');
  const f = await scrape(relayMetrics);
  assert.equal(seriesValue(f, GAUGE, { cert: 'ca' }), Math.floor(caNotAfterMs / 1000));
  assert.equal(seriesValue(f, GAUGE, { cert: 'tls' }), Math.floor(stats.certificates!.tls.notAfterMs / 1000));
  assert.equal(f.get(GAUGE)?.type, 'gauge');
});

test('the daemon logs warnings for its certificate and the CA\'s, and status and /metrics report both', async () => {
  const member = loggedRecords(daemon!.stderr(), /^member certificate expires at /, 'warn');
  const ca = loggedRecords(daemon!.stderr(), /^CA certificate expires at /, 'warn');
  assert.equal(member.length, 1, daemon!.stderr());
  assert.equal(ca.length, 1, daemon!.stderr());
  assert.equal(member[0]!['notAfter'], new Date(memberNotAfterMs).toISOString());
  const [json, text] = await Promise.all([runCliAsync(['status', '--json', '--control', sock]), runCliAsync(['status', '--control', sock])]);
  const s = JSON.parse(ok(json, 'status --json').stdout) as { certificates: Record<string, { notAfterMs: number; notAfter: string; remainingMs: number; state: string; level: string }> };
  assert.deepEqual(Object.keys(s.certificates).sort(), ['ca', 'member']);
  assert.equal(s.certificates['member']!.notAfterMs, memberNotAfterMs);
  assert.equal(s.certificates['member']!.state, 'expiring');
  assert.equal(s.certificates['member']!.level, 'warn');
  assert.ok(s.certificates['member']!.remainingMs > 9 * DAY && s.certificates['member']!.remainingMs <= 10 * DAY);
  assert.equal(s.certificates['ca']!.notAfterMs, caNotAfterMs);
  assert.equal(s.certificates['ca']!.state, 'expiring');
  const esc = (ms: number): string => new Date(ms).toISOString().replace(/\./g, '\\.');
  assert.match(ok(text, 'status').stdout, new RegExp(`^cert {7}expires ${esc(memberNotAfterMs)} \\(in 9d23h(\\d+m)?\\) WARNING: ends within 30 days, renew it$`, 'm'));
  assert.match(text.stdout, new RegExp(`^ca cert {4}expires ${esc(caNotAfterMs)} \\(in 19d23h(\\d+m)?\\) WARNING: ends within 30 days, renew it$`, 'm'));
  const f = await scrape(nodeMetrics);
  assert.equal(seriesValue(f, GAUGE, { cert: 'member' }), Math.floor(memberNotAfterMs / 1000));
  assert.equal(seriesValue(f, GAUGE, { cert: 'ca' }), Math.floor(caNotAfterMs / 1000));
});
