/**
 * Handshake timings (issue: core): the full end-to-end peer handshake and
 * relay admission, pure CPU in one process, plus a real admission over a TLS
 * 1.3 WebSocket to a relay process on loopback.
 *
 * Run: node dist/bench/handshake.js [--iterations N]
 * Prints one JSON object on stdout: { node, pqBackend, results: [{ name, n, medianMs, p90Ms }] }.
 * bench/run.ts runs it under this Node and under Node 24 with the native
 * (OpenSSL) ML-KEM/ML-DSA backend, and writes BENCHMARKS.md.
 */
import { parseArgs } from 'node:util';
import { randomBytes } from '../src/crypto/bytes.js';
import { getPqBackend } from '../src/crypto/pq-backend.js';
import { HandshakeInitiator, HandshakeResponder } from '../src/handshake/peer-handshake.js';
import { RelayAuthClient, RelayAuthServer } from '../src/handshake/relay-auth.js';
import { encodeRelayFrame } from '../src/wire/relay-frames.js';
import { FrameType } from '../src/wire/constants.js';
import { fixtureNetwork, FIXTURE_EPOCH_MS } from '../testkit/member-fixture.js';
import { createTestNetwork } from '../testkit/test-network.js';
import { startRelayProcess } from '../testkit/relay-process.js';
import { RelayLink } from '../src/node/path/relay-link.js';
import { silentLogger } from '../src/util/logger.js';

export interface BenchResult {
  name: string;
  n: number;
  medianMs: number;
  p90Ms: number;
}

function summarize(name: string, samples: number[]): BenchResult {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { name, n: s.length, medianMs: +at(0.5).toFixed(3), p90Ms: +at(0.9).toFixed(3) };
}

function timeMs(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { iterations: { type: 'string', default: '20' } } });
  const n = Math.max(3, Number(values.iterations));
  const net = fixtureNetwork();
  const a = net.member('alice', '10.10.10.3/24');
  const b = net.member('bob', '10.10.10.4/24');
  const idA = { signer: a.signer, certificate: a.cert.raw, verifier: net.verifier };
  const idB = { signer: b.signer, certificate: b.cert.raw, verifier: net.verifier };
  const now = FIXTURE_EPOCH_MS;
  const results: BenchResult[] = [];

  const full: number[] = [];
  for (let i = 0; i < n + 2; i++) {
    const ms = timeMs(() => {
      const ini = HandshakeInitiator.start(idA, b.peerId, 1, now + i, now, randomBytes);
      const res = HandshakeResponder.respond(idB, ini.init, a.peerId, 2, now);
      const fin = ini.onResponse(res.resp, now);
      res.onFinish(fin.finish, now);
    });
    if (i >= 2) full.push(ms); // two warm-up rounds
  }
  results.push(summarize('peer handshake, both sides (CPU)', full));

  const adm: number[] = [];
  const exporter = randomBytes(32);
  for (let i = 0; i < n + 2; i++) {
    const ms = timeMs(() => {
      const client = new RelayAuthClient({ signer: a.signer, certificate: a.cert.raw });
      const server = new RelayAuthServer({ verifier: { verify: (c: Uint8Array, t: number) => net.verifier.verify(c, t) } }, { exporter });
      const challenge = server.onHello(client.hello(randomBytes), now, randomBytes);
      server.onAuth(client.onChallenge(challenge, exporter));
    });
    if (i >= 2) adm.push(ms);
  }
  results.push(summarize('relay admission, both sides (CPU)', adm));
  void encodeRelayFrame; void FrameType;

  const tnet = await createTestNetwork({ members: ['alice'] });
  const relay = await startRelayProcess({ caFile: tnet.caFile });
  try {
    const m = tnet.member('alice');
    const real: number[] = [];
    for (let i = 0; i < Math.min(n, 10) + 1; i++) {
      const link = new RelayLink({ signer: m.signer, certificate: m.certBytes, logger: silentLogger }, { url: relay.url, pin: relay.pin });
      const t = process.hrtime.bigint();
      const done = new Promise<void>((resolve) => link.once('established', () => resolve()));
      link.start();
      await done;
      const ms = Number(process.hrtime.bigint() - t) / 1e6;
      await link.stop();
      if (i >= 1) real.push(ms);
    }
    results.push(summarize('admission over TLS 1.3 WSS on loopback (connect to ESTABLISHED)', real));
  } finally {
    await relay.stop();
    await tnet.cleanup();
  }
  process.stdout.write(JSON.stringify({ node: process.version, pqBackend: getPqBackend().name, results }) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
