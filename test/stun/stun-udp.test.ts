/**
 * StunClient against StunResponder over real UDP sockets on loopback
 * (src/stun/stun-client.ts, src/stun/stun-responder.ts): the reflexive
 * address of a loopback socket is its own address and port; a silent
 * server times out within the bound; a response from another source is not
 * consumed; the responder drops junk by reason, keeps its amplification
 * bound, and survives arbitrary datagrams (fast-check).
 */

import { strict as assert } from 'node:assert';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';

import fc from 'fast-check';

import { StunClient } from '../../src/stun/stun-client.js';
import { decodeStunMessage, encodeBindingRequest, encodeBindingSuccess, type StunAddress } from '../../src/stun/stun-message.js';
import { StunResponder } from '../../src/stun/stun-responder.js';

/** Generous bound for a loopback round trip on a loaded 2-core machine. */
const WAIT_MS = 10_000;

async function udpSocket(type: 'udp4' | 'udp6', address: string): Promise<Socket> {
  const s = createSocket(type);
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, address, () => {
      s.off('error', reject);
      resolve();
    });
  });
  return s;
}

function closeSocket(s: Socket): Promise<void> {
  return new Promise((resolve) => s.close(() => resolve()));
}

/** A client wired to a socket: every datagram goes to onMessage first; the rest are kept. */
function wire(socket: Socket, options: ConstructorParameters<typeof StunClient>[1] = {}) {
  const sent: Uint8Array[] = [];
  const unconsumed: Uint8Array[] = [];
  const client = new StunClient(
    {
      send: (bytes, port, address) => {
        sent.push(bytes);
        socket.send(bytes, port, address);
      },
    },
    options,
  );
  socket.on('message', (msg, rinfo) => {
    if (!client.onMessage(msg, { address: rinfo.address, port: rinfo.port })) unconsumed.push(msg);
  });
  return { client, sent, unconsumed };
}

/** One request/response exchange done by hand, for looking at raw responses. */
async function exchange(socket: Socket, to: StunAddress, bytes: Uint8Array): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.off('message', onMessage);
      resolve(null);
    }, 1_000);
    const onMessage = (msg: Buffer): void => {
      clearTimeout(timer);
      socket.off('message', onMessage);
      resolve(msg);
    };
    socket.on('message', onMessage);
    socket.send(bytes, to.port, to.address);
  });
}

async function waitFor(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const TX = new Uint8Array(12).fill(7);

describe('STUN over loopback UDP', () => {
  let responder: StunResponder;
  let server: StunAddress;

  before(async () => {
    // Every test socket is 127.0.0.1: lift the per-source rate so only the rate-limit test below meets it.
    responder = new StunResponder({}, { host: '127.0.0.1', port: 0, perSourceRate: 100_000, perSourceBurst: 100_000 });
    await responder.start();
    assert.ok(responder.address !== null);
    server = responder.address;
  });

  after(async () => {
    await responder.stop();
  });

  it('the client learns its own loopback address and port', async () => {
    const socket = await udpSocket('udp4', '127.0.0.1');
    try {
      const { client } = wire(socket);
      const mapped = await client.binding(server);
      assert.deepEqual(mapped, { address: '127.0.0.1', port: socket.address().port });
      client.close();
    } finally {
      await closeSocket(socket);
    }
  });

  it('works on IPv6 loopback and from a dual-stack socket asking an IPv4 server', async () => {
    const v6 = new StunResponder({}, { host: '::1', port: 0 });
    await v6.start();
    const socket = await udpSocket('udp6', '::1');
    const dual = await udpSocket('udp6', '::');
    try {
      const { client } = wire(socket);
      assert.deepEqual(await client.binding(v6.address!), { address: '::1', port: socket.address().port });
      // The dual-stack socket sees the IPv4 server's replies as ::ffff:127.0.0.1.
      const d = wire(dual);
      assert.deepEqual(await d.client.binding({ address: '::ffff:127.0.0.1', port: server.port }), { address: '127.0.0.1', port: dual.address().port });
      client.close();
      d.client.close();
    } finally {
      await closeSocket(socket);
      await closeSocket(dual);
      await v6.stop();
    }
  });

  it('times out within the bound when nobody answers', async () => {
    const silent = await udpSocket('udp4', '127.0.0.1');
    const socket = await udpSocket('udp4', '127.0.0.1');
    try {
      const { client, sent } = wire(socket, { timeoutMs: 600, initialRtoMs: 100 });
      await assert.rejects(client.binding({ address: '127.0.0.1', port: silent.address().port }), { code: 'SM_ERR_STUN_TIMEOUT' });
      assert.ok(sent.length >= 2 && sent.length <= 4, `${sent.length} transmissions`);
    } finally {
      await closeSocket(socket);
      await closeSocket(silent);
    }
  });

  it('a response with the right transaction id from another source is not consumed', async () => {
    const silent = await udpSocket('udp4', '127.0.0.1');
    const impostor = await udpSocket('udp4', '127.0.0.1');
    const socket = await udpSocket('udp4', '127.0.0.1');
    try {
      const { client, sent, unconsumed } = wire(socket, { timeoutMs: 2_000 });
      const p = client.binding({ address: '127.0.0.1', port: silent.address().port });
      const tx = decodeStunMessage(sent[0]!).transactionId;
      const here = { address: '127.0.0.1', port: socket.address().port };
      impostor.send(encodeBindingSuccess(tx, { address: '6.6.6.6', port: 666 }), here.port, here.address);
      silent.send(encodeBindingSuccess(new Uint8Array(12), { address: '6.6.6.6', port: 666 }), here.port, here.address);
      await waitFor('both datagrams handed back', () => unconsumed.length === 2);
      assert.equal(client.outstanding, 1);
      // The real server answers: consumed.
      silent.send(encodeBindingSuccess(tx, { address: '198.51.100.1', port: 1 }), here.port, here.address);
      assert.deepEqual(await p, { address: '198.51.100.1', port: 1 });
      assert.equal(unconsumed.length, 2);
    } finally {
      await closeSocket(socket);
      await closeSocket(impostor);
      await closeSocket(silent);
    }
  });

  it('responses stay within 2x of the request and carry SOFTWARE and FINGERPRINT when they fit', async () => {
    const socket = await udpSocket('udp4', '127.0.0.1');
    try {
      const bare = encodeBindingRequest(TX);
      const r1 = await exchange(socket, server, bare);
      assert.ok(r1 !== null);
      assert.ok(r1.length <= 2 * bare.length, `${r1.length} bytes for a ${bare.length}-byte request`);
      const m1 = decodeStunMessage(r1);
      assert.deepEqual(m1.xorMapped, { address: '127.0.0.1', port: socket.address().port });
      assert.deepEqual(new Uint8Array(m1.transactionId), TX);
      const full = encodeBindingRequest(TX, { fingerprint: true });
      const r2 = await exchange(socket, server, full);
      assert.ok(r2 !== null && r2.length <= 2 * full.length);
      const m2 = decodeStunMessage(r2);
      assert.equal(m2.software, 'shadowmesh');
      assert.equal(m2.fingerprintOk, true);
    } finally {
      await closeSocket(socket);
    }
  });

  it('drops junk, responses, bad fingerprints and unknown required attributes by reason', async () => {
    const socket = await udpSocket('udp4', '127.0.0.1');
    try {
      const before = structuredClone(responder.stats);
      const badFp = encodeBindingRequest(TX, { fingerprint: true });
      badFp[badFp.length - 1] = (badFp[badFp.length - 1] as number) ^ 1;
      const unknown = new Uint8Array([...encodeBindingRequest(TX), 0x00, 0x06, 0x00, 0x00]);
      unknown[3] = 4;
      assert.equal(await exchange(socket, server, new Uint8Array([1, 2, 3])), null);
      assert.equal(await exchange(socket, server, encodeBindingSuccess(TX, { address: '1.2.3.4', port: 5 })), null);
      assert.equal(await exchange(socket, server, badFp), null);
      assert.equal(await exchange(socket, server, unknown), null);
      const s = responder.stats;
      assert.equal(s.requests - before.requests, 4);
      assert.equal(s.answered, before.answered);
      assert.equal(s.dropped['not-stun'] - before.dropped['not-stun'], 1);
      assert.equal(s.dropped['not-request'] - before.dropped['not-request'], 1);
      assert.equal(s.dropped['bad-fingerprint'] - before.dropped['bad-fingerprint'], 1);
      assert.equal(s.dropped['unknown-attribute'] - before.dropped['unknown-attribute'], 1);
    } finally {
      await closeSocket(socket);
    }
  });

  it('survives arbitrary datagrams and still answers (fast-check)', async () => {
    const socket = await udpSocket('udp4', '127.0.0.1');
    try {
      const stunish = fc.uint8Array({ maxLength: 80 }).map((body) => {
        const b = new Uint8Array([...encodeBindingRequest(TX), ...body]);
        b[3] = body.length & 0xfc;
        return b;
      });
      // One datagram at a time, each awaited: a burst could overflow the socket's receive buffer.
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 300 }), stunish), async (bytes) => {
          const before = responder.stats.requests;
          socket.send(bytes, server.port, server.address);
          await waitFor('the datagram counted', () => responder.stats.requests === before + 1);
        }),
        { numRuns: 300 },
      );
      const { client } = wire(socket);
      assert.deepEqual(await client.binding(server), { address: '127.0.0.1', port: socket.address().port });
      const s = responder.stats;
      const dropped = Object.values(s.dropped).reduce((a, b) => a + b, 0);
      assert.equal(s.answered + dropped, s.requests);
      client.close();
    } finally {
      await closeSocket(socket);
    }
  });

  it('a taken port is a coded startup error; start and stop are idempotent', async () => {
    const clash = new StunResponder({}, { host: '127.0.0.1', port: server.port });
    await assert.rejects(clash.start(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'SM_ERR_STUN_LISTEN');
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${server.port}`));
      return true;
    });
    await clash.stop();
    const r = new StunResponder({}, { host: '127.0.0.1', port: 0 });
    await Promise.all([r.start(), r.start()]);
    await r.stop();
    await r.stop();
    assert.equal(r.address, null);
    assert.throws(() => new StunResponder({}, { host: '', port: 1 }), { code: 'SM_ERR_CONFIG_VALUE' });
  });

  it('rate-limits answers per source address and in total, with bounded per-source state', async () => {
    const limited = new StunResponder({}, { host: '127.0.0.1', port: 0, perSourceRate: 1, perSourceBurst: 2, maxTrackedSources: 2 });
    await limited.start();
    const at = limited.address as StunAddress;
    const sockets: Socket[] = [];
    try {
      const first = await udpSocket('udp4', '127.0.0.1');
      sockets.push(first);
      // Five requests back to back (well inside one refill period of 1 s): the burst of 2 is answered.
      let answered = 0;
      first.on('message', () => answered++);
      for (let i = 0; i < 5; i++) first.send(encodeBindingRequest(TX), at.port, at.address);
      await waitFor('all five counted', () => limited.stats.requests === 5);
      await new Promise((r) => setTimeout(r, 300));
      first.removeAllListeners('message');
      assert.equal(answered, 2, 'the burst of 2 is answered, the rest is not');
      assert.equal(limited.stats.dropped['rate-limited'], 3);
      // Another source address has its own bucket.
      const other = await udpSocket('udp4', '127.0.0.2');
      sockets.push(other);
      assert.notEqual(await exchange(other, at, encodeBindingRequest(TX)), null, 'a different source is answered');
      const third = await udpSocket('udp4', '127.0.0.3');
      sockets.push(third);
      assert.notEqual(await exchange(third, at, encodeBindingRequest(TX)), null);
      assert.equal(limited.trackedSources, 2, 'per-source state stays at its bound');
      assert.equal(limited.stats.answered + Object.values(limited.stats.dropped).reduce((x, y) => x + y, 0), limited.stats.requests);
    } finally {
      for (const s of sockets) await closeSocket(s);
      await limited.stop();
    }
  });
});
