/**
 * Pure parts of the netns measurements and their report: ping and iperf3
 * output parsing (testkit/netns-measure.ts), nearest-rank quantiles,
 * the BENCHMARKS.md section (bench/netns-report.ts), and the CPU run time
 * the benches read from /proc (bench/proc-stats.ts). No root needed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIperf3, parsePing, quantile } from '../../testkit/netns-measure.js';
import { renderNetnsSection, type NetnsBenchResult } from '../../bench/netns-report.js';
import { runTimeNs, voluntarySwitches } from '../../bench/proc-stats.js';
import { renderIdleSection } from '../../bench/netns-idle.js';

const PING = `PING 172.31.0.12 (172.31.0.12) 56(84) bytes of data.
64 bytes from 172.31.0.12: icmp_seq=1 ttl=64 time=0.744 ms
64 bytes from 172.31.0.12: icmp_seq=2 ttl=64 time=0.025 ms
64 bytes from 172.31.0.12: icmp_seq=4 ttl=64 time=0.031 ms

--- 172.31.0.12 ping statistics ---
4 packets transmitted, 3 received, 25% packet loss, time 61ms
rtt min/avg/max/mdev = 0.025/0.266/0.744/0.338 ms
`;

test('parsePing takes every reply time and the summary counts', () => {
  const p = parsePing(PING);
  assert.deepEqual(p.rttsMs, [0.744, 0.025, 0.031]);
  assert.equal(p.transmitted, 4);
  assert.equal(p.received, 3);
  assert.ok(Math.abs(p.avgMs - 0.8 / 3) < 1e-9);
  assert.equal(p.p99Ms, 0.744);
});

test('parsePing of no reply gives NaN times and zero received', () => {
  const p = parsePing('PING x\n\n--- x ping statistics ---\n3 packets transmitted, 0 received, 100% packet loss\n');
  assert.equal(p.received, 0);
  assert.equal(p.transmitted, 3);
  assert.ok(Number.isNaN(p.avgMs));
  assert.ok(Number.isNaN(p.p99Ms));
});

test('quantile uses the nearest rank', () => {
  const v = Array.from({ length: 200 }, (_, i) => 200 - i); // 200..1, unsorted input
  assert.equal(quantile(v, 0.99), 198);
  assert.equal(quantile(v, 0.5), 100);
  assert.equal(quantile(v, 1), 200);
  assert.equal(quantile([5], 0.99), 5);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

test('parseIperf3 combines client sent and server received, and surfaces iperf3 errors', () => {
  const client = JSON.stringify({ end: { sum_sent: { bytes: 1000, bits_per_second: 8000, retransmits: 2, seconds: 1 }, streams: [{ sender: { max_snd_wnd: 300 } }, { sender: { max_snd_wnd: 200 } }] } });
  const server = JSON.stringify({ end: { sum_received: { bytes: 990, bits_per_second: 7920, seconds: 1 } } });
  const r = parseIperf3(client, server);
  assert.equal(r.sentBytes, 1000);
  assert.equal(r.receivedBytes, 990);
  assert.equal(r.bitsPerSecond, 7920);
  assert.equal(r.maxSendWindowBytes, 500);
  assert.equal(r.maxUncountedBytes, 0, 'only measureIperf3 knows the socket buffer');
  assert.equal(r.retransmits, 2);
  assert.throws(() => parseIperf3(JSON.stringify({ error: 'unable to connect to server' }), server), /unable to connect/);
  assert.throws(() => parseIperf3('iperf3: error', server), /not JSON/);
  assert.throws(() => parseIperf3(JSON.stringify({ end: {} }), server), /sum_sent/);
});

test('the report shows ratios to the bare veth and to wireguard-go, and unavailable rows with their reason', () => {
  const r: NetnsBenchResult = {
    date: '2026-01-01', cpus: '2 × cpu', node: 'v20.0.0', seconds: 10, pingCount: 200, pingIntervalS: 0.01,
    scenarios: [
      { name: 'bare veth', available: true, singleMbps: 20_000, fourMbps: 25_000, pingAvgMs: 0.03, pingP99Ms: 0.07, pingLoss: 0 },
      { name: 'wireguard-go', available: true, singleMbps: 1_000, fourMbps: 500, pingAvgMs: 0.4, pingP99Ms: 1.5, pingLoss: 0, cpuSPerGb: { single: { sender: 7.5, receiver: 6 }, four: { sender: 8, receiver: 6.25 } } },
      { name: 'ShadowMesh relay path (TUN)', available: true, singleMbps: 600, fourMbps: 700, pingAvgMs: 0.6, pingP99Ms: 1.2, pingLoss: 0, cpuSPerGb: { single: { sender: 10, receiver: 9, relay: 4.5 }, four: { sender: 11, receiver: 9.5 } } },
      { name: 'ShadowMesh relay path (TAP)', available: false, reason: 'no daemon' },
    ],
  };
  const md = renderNetnsSection(r);
  assert.match(md, /\| bare veth \| 20000 \| — \| 1\.00 \| 25000 \| — \| 1\.00 \| 0\.030 \| 0\.070 \| 0\.0 \|/, 'no tunnel process: no CPU per GB');
  assert.match(md, /\| wireguard-go \| 1000 \| 7\.50 \/ 6\.00 \| 0\.05 \| 500 \| 8\.00 \/ 6\.25 \| 0\.02 \| 0\.400 \| 1\.500 \| 0\.0 \|/);
  assert.match(md, /\| ShadowMesh relay path \(TUN\) \| 600 \| 10\.00 \/ 9\.00 \/ 4\.50 \| 0\.03 \| 700 \| 11\.00 \/ 9\.50 \|/);
  assert.match(md, /\| ShadowMesh relay path \(TUN\) \| 0\.60 \| 1\.40 \| \+0\.200 \| -0\.300 \|/);
  assert.match(md, /ShadowMesh relay path \(TAP\) \| not available: no daemon/);
  assert.match(md, /Command: `npm run bench`/);
  assert.match(md, /under Node v20\.0\.0/);
  assert.match(renderNetnsSection(null, 'boom'), /Not measured in this run: boom/);
  assert.match(renderNetnsSection({ ...r, skipped: 'needs root' }), /Not measured in this run: needs root/);
});

test('runTimeNs: a process\'s CPU run time in ns, summed over its threads; null once it is gone', () => {
  // CPU time, not wall time, on both sides: a loaded machine may give this process little of the wall clock.
  const before = runTimeNs(process.pid);
  const cpu0 = process.cpuUsage();
  assert.ok(before !== null && before > 0);
  const giveUpAt = performance.now() + 10_000;
  let spentUs = 0;
  while (spentUs < 30_000 && performance.now() < giveUpAt) {
    const d = process.cpuUsage(cpu0);
    spentUs = d.user + d.system;
  }
  const after = runTimeNs(process.pid)!;
  assert.ok(spentUs >= 30_000, `only ${spentUs} µs of CPU in 10 s`);
  assert.ok(after - before >= spentUs * 1_000 * 0.9, `getrusage counted ${spentUs} µs, schedstat ${(after - before) / 1e3} µs`);
  assert.equal(runTimeNs(2 ** 22 + 1), null, 'a pid above the kernel\'s maximum');
});

test('voluntarySwitches: counts each time the process\'s threads blocked; null once it is gone', async () => {
  const before = voluntarySwitches(process.pid);
  assert.ok(before !== null && before > 0);
  // Each timer wait blocks the main thread in epoll: at least one voluntary switch per wait.
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 2));
  const after = voluntarySwitches(process.pid)!;
  assert.ok(after - before >= 10, `${after - before} switches over 20 blocking waits`); // a wait whose timer is due before epoll is entered does not block
  assert.equal(voluntarySwitches(2 ** 22 + 1), null, 'a pid above the kernel\'s maximum');
});

test('renderIdleSection: the idle table, the first ping\'s median over the rounds, or why nothing was measured', () => {
  const md = renderIdleSection({
    date: '2026-12-07', loadAvg: [0.5, 0.7], options: { seconds: 30, settle: 15, rounds: 3 },
    idle: [{ process: 'daemon a', cpuMsPerS: 2.7182, wakeupsPerS: 5.25 }, { process: 'relay', cpuMsPerS: 1, wakeupsPerS: 4 }],
    wake: [{ firstMs: 1.5, restMedianMs: 1 }, { firstMs: 0.9, restMedianMs: 1.1 }, { firstMs: 2.1, restMedianMs: 0.8 }],
  });
  assert.match(md, /Command: `npm run bench` \(as root; runs `node dist\/bench\/netns-idle\.js`\)/);
  assert.match(md, /\| daemon a \| 2\.72 \| 5\.3 \|/);
  assert.match(md, /3 rounds: median 1\.500 ms \(1\.500, 0\.900, 2\.100\); the next 4, median of the rounds' medians 1\.000 ms/);
  assert.match(renderIdleSection(null, 'needs root'), /Not measured: needs root\./);
});
