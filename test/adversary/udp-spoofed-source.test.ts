/**
 * Issue 11, defect 3 (docs/protocol.md §3.5.5, §3.5.6): an off-path spoofer
 * who sends UDP from a path's source address cannot keep a dead UDP path
 * trusted. Two in-process nodes get a real UDP path; the peer's UDP socket
 * then goes silent (its transport stops: no close notice) and the spoofer
 * (testkit/adversary/off-path-spoofer.ts) takes over its exact
 * address:port, spraying fragments that reassemble into PATH_PROBE_ACKs for
 * every probe id it can guess, bare acks, forged UDP probes and forged DATA.
 * The node must declare the path dead and carry the traffic elsewhere, so
 * payloads keep arriving.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startInProcessMesh, waitUntil } from '../../testkit/in-process-mesh.js';
import { OffPathSpoofer, forgedDataFrame, forgedProbeAck, forgedUdpProbe, fragmentsOf } from '../../testkit/adversary/off-path-spoofer.js';

/** Probe ids the spoofer guesses: the path manager numbers its probes from 1, a few per second per path. */
const GUESSED_PROBE_IDS = 1_500;

test('a spoofer sending from a dead UDP path\'s address (fragmented forged probe acks, bare acks, forged probes and DATA) cannot keep it trusted: the node falls back and payloads keep arriving', async () => {
  const mesh = await startInProcessMesh(['alice', 'bob']);
  const { net } = mesh;
  let spoofer: OffPathSpoofer | null = null;
  let spraying = true;
  try {
    const a = mesh.node('alice');
    const b = mesh.node('bob');
    a.start();
    b.start();
    const bob = net.member('bob').peerId;
    const alice = net.member('alice').peerId;
    const got = new Set<number>();
    b.on('payload', (_p: Uint8Array, body: Uint8Array) => { got.add(Buffer.from(body).readUInt32LE(0)); });
    let seq = 0;
    const sendOne = (): number => {
      const buf = Buffer.alloc(64);
      buf.writeUInt32LE(seq, 0);
      a.send(bob, buf);
      return seq++;
    };
    await waitUntil('relay admission', () => a.link.established !== null && b.link.established !== null);
    await waitUntil('a UDP path both ways', () => {
      sendOne();
      return a.paths.pathInfo(bob)?.carrier === 'udp' && b.paths.pathInfo(alice)?.carrier === 'udp';
    }, 30_000);
    const remote = a.paths.pathInfo(bob)!.remote;
    const m = /^127\.0\.0\.1:(\d+)$/.exec(remote);
    assert.ok(m !== null, `the UDP path's remote is a loopback address: ${remote}`);
    const bobPort = Number(m[1]);
    assert.equal(bobPort, b.udp!.port);

    // Bob's UDP socket falls silent (no close notice reaches alice) and the spoofer takes its address.
    await b.udp!.stop();
    spoofer = await OffPathSpoofer.as('127.0.0.1', bobPort);
    const target = { address: '127.0.0.1', port: a.udp!.port };
    const sp = spoofer;
    let frameId = 0x4000_0000;
    const spray = async (): Promise<void> => {
      for (let round = 0; spraying && round < 2_000; round++) {
        for (let id = 1; id <= GUESSED_PROBE_IDS; id++) {
          const ack = forgedProbeAck(BigInt(id));
          for (const f of fragmentsOf(ack, frameId++)) sp.send(target, f);
          if (id % 100 === 0) {
            sp.send(target, ack);
            sp.send(target, forgedUdpProbe(bob, true, undefined, ack));
            sp.send(target, forgedDataFrame(80));
            await new Promise((r) => setImmediate(r));
          }
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const spraying$ = spray();

    // Alice's probes go unanswered by anyone holding the session: the path is declared dead and closed.
    await waitUntil('alice declares the spoofed UDP path dead', () => {
      sendOne();
      return a.udp!.pathsTo(bob).length === 0 && a.paths.pathInfo(bob)?.carrier !== 'udp';
    }, 15_000);
    // Traffic sent while the spoofer keeps going arrives (on the relay or a WSS path).
    const from = seq;
    for (let i = 0; i < 100; i++) {
      sendOne();
      await new Promise((r) => setTimeout(r, 5));
    }
    await waitUntil('every payload sent after the fallback', () => { for (let n = from; n < seq; n++) if (!got.has(n)) return false; return true; }, 15_000);
    assert.notEqual(a.paths.pathInfo(bob)?.carrier, 'udp', 'the spoofed path was not chosen again');
    assert.ok(sp.sent > GUESSED_PROBE_IDS, `the spoofer sent ${sp.sent} datagrams`);
    // The forged acks were refused and counted, not taken as liveness.
    assert.ok(a.udp!.stats.drops.unauthenticated_probe > 0, `unauthenticated_probe drops: ${a.udp!.stats.drops.unauthenticated_probe}`);
    assert.equal(a.udp!.stats.drops.bad_mac > 0, true, 'forged UDP probes fail their MAC');
    assert.equal(a.udp!.pathsTo(bob).length, 0, 'no UDP path to bob was opened again from the spoofed address');
    spraying = false;
    await spraying$;
  } finally {
    spraying = false;
    await spoofer?.close();
    await mesh.stop();
  }
});
