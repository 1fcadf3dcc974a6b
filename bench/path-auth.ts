/**
 * Re-handshake timing (issue 4 "Targets": re-handshake under 1 ms): the
 * direct-path re-handshake of src/handshake/path-auth.ts — key derivation
 * from the session's path-auth key and a TLS exporter, PATH_REQUEST,
 * PATH_RESPONSE, PATH_COMPLETE, both sides' work in one process — as wall
 * time per exchange and as CPU time (process.cpuUsage) per exchange.
 * Sockets and TLS are not included: they are the transport's, measured by
 * test/node/path/direct-transport.test.ts (logged there).
 *
 * Run: node dist/bench/path-auth.js [--iterations N]
 * Prints one JSON object: { node, results: [{ name, n, medianMs, p90Ms }], cpuMsPerExchange }.
 */
import { parseArgs } from 'node:util';
import { randomBytes } from '../src/crypto/bytes.js';
import { ChallengeReplayCache, PathAuthInitiator, PathAuthResponder } from '../src/handshake/path-auth.js';

interface BenchResult {
  name: string;
  n: number;
  medianMs: number;
  p90Ms: number;
}

function summarize(name: string, samples: number[]): BenchResult {
  const s = [...samples].sort((x, y) => x - y);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { name, n: s.length, medianMs: +at(0.5).toFixed(4), p90Ms: +at(0.9).toFixed(4) };
}

function exchange(key: Uint8Array, exporter: Uint8Array, replayA: ChallengeReplayCache, replayB: ChallengeReplayCache): void {
  const now = Date.now();
  const a = new PathAuthInitiator({ pathAuthKey: key, exporter, replay: replayA });
  const b = new PathAuthResponder({ pathAuthKey: key, exporter, replay: replayB });
  b.onComplete(a.onResponse(b.onRequest(a.request(now, randomBytes), now, randomBytes), now));
  if (!b.done) throw new Error('re-handshake did not complete');
}

function main(): void {
  const { values } = parseArgs({ options: { iterations: { type: 'string', default: '2000' } } });
  const n = Math.max(10, Number(values.iterations));
  const key = randomBytes(32);
  const exporter = randomBytes(32);
  const replayA = new ChallengeReplayCache();
  const replayB = new ChallengeReplayCache();
  for (let i = 0; i < 200; i++) exchange(key, exporter, replayA, replayB); // warm up the JIT and OpenSSL
  const samples: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    exchange(key, exporter, replayA, replayB);
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuMsPerExchange = +((cpu.user + cpu.system) / 1000 / n).toFixed(4);
  const out = { node: process.version, results: [summarize('path re-handshake (both sides, 3 messages)', samples)], cpuMsPerExchange };
  process.stdout.write(JSON.stringify(out) + '\n');
  if (cpuMsPerExchange >= 1) process.stderr.write(`path-auth: ${cpuMsPerExchange} ms CPU per re-handshake, above the 1 ms target\n`);
}

main();
