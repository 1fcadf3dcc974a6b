/**
 * STUN client (src/stun/stun-client.ts) on virtual time with a recording
 * send function: matching, demultiplexing, retransmission schedule, the
 * bounded timeout, error responses, close and the outstanding bound.
 * Real sockets: test/stun/stun-udp.test.ts.
 */

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';

import { StunClient } from '../../src/stun/stun-client.js';
import { decodeStunMessage, encodeBindingError, encodeBindingRequest, encodeBindingSuccess, type StunAddress } from '../../src/stun/stun-message.js';
import { FakeClock } from '../../testkit/fake-clock.js';

interface Sent { bytes: Uint8Array; port: number; address: string; at: number }

const SERVER: StunAddress = { address: '192.0.2.10', port: 3478 };
const MAPPED: StunAddress = { address: '203.0.113.5', port: 40000 };

function setup(options: ConstructorParameters<typeof StunClient>[1] = {}) {
  const clock = new FakeClock();
  const sent: Sent[] = [];
  const client = new StunClient({ send: (bytes, port, address) => sent.push({ bytes, port, address, at: clock.now() }), clock }, options);
  return { clock, sent, client };
}

function txOf(s: Sent): Uint8Array {
  return decodeStunMessage(s.bytes).transactionId.slice();
}

async function rejection(p: Promise<unknown>): Promise<{ code: string; stunErrorCode?: number }> {
  try {
    await p;
  } catch (err) {
    assert.equal((err as Error).name, 'StunError', String(err));
    return err as { code: string; stunErrorCode?: number };
  }
  return assert.fail('expected a rejection');
}

describe('StunClient', () => {
  it('sends a Binding request with FINGERPRINT and resolves with the XOR-MAPPED address', async () => {
    const { sent, client } = setup();
    const p = client.binding(SERVER);
    assert.equal(sent.length, 1);
    assert.equal(sent[0]?.port, 3478);
    assert.equal(sent[0]?.address, '192.0.2.10');
    const req = decodeStunMessage(sent[0]!.bytes);
    assert.equal(req.class, 'request');
    assert.equal(req.fingerprintOk, true);
    assert.equal(client.onMessage(encodeBindingSuccess(req.transactionId, MAPPED, { fingerprint: true }), SERVER), true);
    assert.deepEqual(await p, MAPPED);
    assert.equal(client.outstanding, 0);
    // A duplicate answer after completion is not ours any more.
    assert.equal(client.onMessage(encodeBindingSuccess(req.transactionId, MAPPED), SERVER), false);
  });

  it('does not consume foreign transaction ids, other sources, requests or non-STUN datagrams', async () => {
    const { sent, client, clock } = setup();
    const p = client.binding(SERVER);
    const tx = txOf(sent[0]!);
    const other = tx.slice();
    other[0] = (other[0] as number) ^ 1;
    assert.equal(client.onMessage(encodeBindingSuccess(other, MAPPED), SERVER), false);
    assert.equal(client.onMessage(encodeBindingSuccess(tx, MAPPED), { address: '192.0.2.11', port: 3478 }), false);
    assert.equal(client.onMessage(encodeBindingSuccess(tx, MAPPED), { address: '192.0.2.10', port: 3479 }), false);
    assert.equal(client.onMessage(encodeBindingRequest(tx), SERVER), false);
    assert.equal(client.onMessage(new Uint8Array([1, 2, 3]), SERVER), false);
    assert.equal(client.onMessage(new Uint8Array(100), SERVER), false);
    // IPv4-mapped source text from a dual-stack socket is the same server.
    assert.equal(client.onMessage(encodeBindingSuccess(tx, MAPPED), { address: '::ffff:192.0.2.10', port: 3478 }), true);
    assert.deepEqual(await p, MAPPED);
    clock.advance(10_000);
  });

  it('falls back to MAPPED-ADDRESS and matches an IPv6 server written non-canonically', async () => {
    const { sent, client } = setup();
    const p = client.binding({ address: '2001:DB8:0:0::1', port: 3478 });
    assert.equal(sent[0]?.address, '2001:db8::1');
    const tx = txOf(sent[0]!);
    const bytes = new Uint8Array(32);
    bytes.set([0x01, 0x01, 0x00, 0x0c, 0x21, 0x12, 0xa4, 0x42]);
    bytes.set(tx, 8);
    bytes.set([0x00, 0x01, 0x00, 0x08, 0x00, 0x01, 0x1f, 0x90, 198, 51, 100, 5], 20);
    assert.equal(client.onMessage(bytes, { address: '2001:db8::1', port: 3478 }), true);
    assert.deepEqual(await p, { address: '198.51.100.5', port: 8080 });
  });

  it('retransmits with a doubling RTO and times out within timeoutMs', async () => {
    const { sent, client, clock } = setup({ timeoutMs: 3000, initialRtoMs: 250 });
    const start = clock.now();
    const p = client.binding(SERVER);
    const result = rejection(p);
    clock.advance(2999);
    assert.equal(client.outstanding, 1);
    clock.advance(1);
    const err = await result;
    assert.equal(err.code, 'SM_ERR_STUN_TIMEOUT');
    assert.deepEqual(sent.map((s) => s.at - start), [0, 250, 750, 1750]);
    // Every transmission is the same request.
    for (const s of sent) assert.deepEqual(s.bytes, sent[0]?.bytes);
    assert.equal(client.stats.retransmits, 3);
    assert.equal(client.stats.timeouts, 1);
    assert.equal(clock.pendingCount, 0);
  });

  it('stops retransmitting after `retransmits` and still waits until the deadline', async () => {
    const { sent, client, clock } = setup({ timeoutMs: 5000, initialRtoMs: 100, retransmits: 2 });
    const result = rejection(client.binding(SERVER));
    clock.advance(4999);
    assert.equal(sent.length, 3);
    assert.equal(client.outstanding, 1);
    clock.advance(1);
    assert.equal((await result).code, 'SM_ERR_STUN_TIMEOUT');
  });

  it('an answer after a retransmission still resolves', async () => {
    const { sent, client, clock } = setup();
    const p = client.binding(SERVER);
    clock.advance(800);
    assert.equal(sent.length, 3);
    assert.equal(client.onMessage(encodeBindingSuccess(txOf(sent[2]!), MAPPED), SERVER), true);
    assert.deepEqual(await p, MAPPED);
    clock.advance(10_000);
    assert.equal(sent.length, 3);
  });

  it('drops a response with a bad FINGERPRINT or malformed body and keeps waiting', async () => {
    const { sent, client } = setup();
    const p = client.binding(SERVER);
    const tx = txOf(sent[0]!);
    const bad = encodeBindingSuccess(tx, MAPPED, { fingerprint: true });
    bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0xff;
    assert.equal(client.onMessage(bad, SERVER), true);
    const malformed = encodeBindingSuccess(tx, MAPPED);
    malformed[25] = 9; // unknown address family
    assert.equal(client.onMessage(malformed, SERVER), true);
    assert.equal(client.stats.dropped.fingerprint, 1);
    assert.equal(client.stats.dropped.malformed, 1);
    assert.equal(client.outstanding, 1);
    assert.equal(client.onMessage(encodeBindingSuccess(tx, MAPPED, { fingerprint: true }), SERVER), true);
    assert.deepEqual(await p, MAPPED);
  });

  it('an error response rejects with SM_ERR_STUN_ERROR and its code', async () => {
    const { sent, client } = setup();
    const result = rejection(client.binding(SERVER));
    assert.equal(client.onMessage(encodeBindingError(txOf(sent[0]!), 420, 'Unknown Attribute'), SERVER), true);
    const err = await result;
    assert.equal(err.code, 'SM_ERR_STUN_ERROR');
    assert.equal(err.stunErrorCode, 420);
  });

  it('a success without an address rejects with SM_ERR_STUN_BAD_RESPONSE', async () => {
    const { sent, client } = setup();
    const result = rejection(client.binding(SERVER));
    const bytes = encodeBindingRequest(txOf(sent[0]!));
    bytes[0] = 0x01; // type 0x0101: a success response with no attributes
    assert.equal(client.onMessage(bytes, SERVER), true);
    assert.equal((await result).code, 'SM_ERR_STUN_BAD_RESPONSE');
  });

  it('close rejects outstanding and later calls, is idempotent, and cancels timers', async () => {
    const { client, clock } = setup();
    const a = rejection(client.binding(SERVER));
    const b = rejection(client.binding({ address: '192.0.2.20', port: 3478 }));
    client.close();
    client.close();
    assert.equal((await a).code, 'SM_ERR_STUN_CLOSED');
    assert.equal((await b).code, 'SM_ERR_STUN_CLOSED');
    assert.equal((await rejection(client.binding(SERVER))).code, 'SM_ERR_STUN_CLOSED');
    assert.equal(clock.pendingCount, 0);
  });

  it('bounds outstanding transactions, rejects bad servers and reports send failures', async () => {
    const { client } = setup({ maxOutstanding: 2 });
    const a = client.binding(SERVER);
    const b = client.binding(SERVER);
    assert.equal((await rejection(client.binding(SERVER))).code, 'SM_ERR_STUN_BUSY');
    assert.equal((await rejection(client.binding({ address: 'relay.example', port: 3478 }))).code, 'SM_ERR_STUN_BAD_SERVER');
    assert.equal((await rejection(client.binding({ address: '1.2.3.4', port: 0 }))).code, 'SM_ERR_STUN_BAD_SERVER');
    client.close();
    await Promise.allSettled([a, b]);
    const failing = new StunClient({ send: () => { throw new Error('socket is closed'); }, clock: new FakeClock() });
    assert.equal((await rejection(failing.binding(SERVER))).code, 'SM_ERR_STUN_SEND');
    assert.equal(failing.outstanding, 0);
  });

  it('rejects bad options at construction', () => {
    const send = (): void => {};
    assert.throws(() => new StunClient({ send }, { timeoutMs: 0 }), { code: 'SM_ERR_CONFIG_VALUE' });
    assert.throws(() => new StunClient({ send }, { retransmits: -1 }), { code: 'SM_ERR_CONFIG_VALUE' });
    assert.throws(() => new StunClient({ send }, { bogus: 1 } as never), { code: 'SM_ERR_CONFIG_UNKNOWN_OPTION' });
  });
});
