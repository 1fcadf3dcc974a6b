/**
 * CERT_REQUEST against a real relay process on 127.0.0.1 (docs/protocol.md
 * §1 "Presence"; docs/threat-model.md "Malicious member"): what one member
 * can make the relay do. A burst of 1,000 requests gets at most the burst
 * plus the rate's worth of answers, the rest dropped and counted
 * ('cert-rate-limited'); a request for a peer the relay does not list gets
 * no answer and is counted ('cert-unknown'); neither costs the member its
 * link (they are not bad frames), and the answers that do come are the
 * certificate the relay admitted.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CERT_REQUEST_BURST, CERT_REQUESTS_PER_SEC } from '../../src/relay/client-connection.js';
import { FrameType } from '../../src/wire/constants.js';
import { decodeRelayFrame, encodeRelayFrame } from '../../src/wire/relay-frames.js';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';
import { admitRaw, eventually, type RawClient } from '../../testkit/raw-relay-client.js';

let net: TestNetwork;
let relay: RelayProcess;
const clients: RawClient[] = [];

before(async () => {
  net = await createTestNetwork({ members: ['alice', 'bob'] });
  relay = await startRelayProcess({ caFile: net.caFile });
});

after(async () => {
  for (const c of clients) c.close();
  await relay?.stop();
  await net?.cleanup();
});

/** CERT frames among what `c` received so far. */
function certs(c: RawClient): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const b of c.received) {
    try {
      const f = decodeRelayFrame(b);
      if (f.type === FrameType.Cert) out.push(Uint8Array.from(f.cert));
    } catch {
      // not ours to judge here
    }
  }
  return out;
}

test('a burst of CERT_REQUESTs is answered up to the per-member limit, the rest dropped and counted; unknown peers get nothing', async () => {
  const alice = net.member('alice');
  const bob = net.member('bob');
  const a = await admitRaw(relay.host, relay.port, alice);
  const b = await admitRaw(relay.host, relay.port, bob);
  clients.push(a, b);
  await eventually('alice hears of bob', () => (a.received.some((x) => x[1] === FrameType.Presence) ? true : undefined));

  // A peer nobody admitted: no answer, counted.
  a.send(encodeRelayFrame({ type: FrameType.CertRequest, peerId: new Uint8Array(32).fill(0xee) }));
  await eventually('unknown peer counted', async () => (((await relay.stats()).drops['cert-unknown'] ?? 0) === 1 ? true : undefined));
  assert.equal(certs(a).length, 0);

  const N = 1_000;
  const t0 = Date.now();
  const request = encodeRelayFrame({ type: FrameType.CertRequest, peerId: bob.peerId });
  for (let i = 0; i < N; i++) a.send(request);
  const stats = await eventually('every request judged', async () => {
    const s = await relay.stats();
    return (s.presence?.certRequests ?? 0) >= N + 1 ? s : undefined;
  });
  const elapsedS = (Date.now() - t0) / 1000;
  const answered = stats.presence?.certsSent ?? 0;
  const limited = stats.drops['cert-rate-limited'] ?? 0;
  const queueFull = stats.drops['cert-queue-full'] ?? 0;
  assert.equal(answered + limited + queueFull, N, JSON.stringify(stats));
  assert.ok(limited > 0, 'the burst went past the limit');
  assert.ok(answered <= CERT_REQUEST_BURST + Math.ceil(CERT_REQUESTS_PER_SEC * elapsedS) + 1, `${answered} answers in ${elapsedS} s`);
  await eventually('the answers arrived', () => (certs(a).length === answered ? true : undefined));
  for (const c of certs(a)) assert.deepEqual(c, bob.certBytes, 'the certificate the relay admitted');
  // Not bad frames: the link is still up and routes.
  assert.equal(stats.disconnects['bad-frames-limit'] ?? 0, 0);
  const payload = Uint8Array.of(0x24, 7, 7);
  a.send(encodeRelayFrame({ type: FrameType.Send, peerId: bob.peerId, payload }));
  await eventually('bob gets alice\'s frame', () => (b.received.some((x) => x[1] === FrameType.Deliver) ? true : undefined));
});
