/**
 * Issue 11's relay holes, against an in-process RelayServer on 127.0.0.1:
 * one source address cannot take the pending (pre-admission) slots every
 * member needs to get in, and a member's certificate costs one hybrid CA
 * signature verification however often it is presented, while revocation
 * and expiry still refuse it on every HELLO.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MembershipVerifier } from '../../src/identity/membership.js';
import { loadRevocationList } from '../../src/identity/files.js';
import { RelayLink } from '../../src/node/path/relay-link.js';
import { DEFAULT_MAX_PENDING_PER_ADDRESS } from '../../src/relay/relay-options.js';
import { RelayServer } from '../../src/relay/relay-server.js';
import { TlsIdentity } from '../../src/relay/tls-identity.js';
import { createTestNetwork, type TestMember, type TestNetwork } from '../../testkit/test-network.js';
import { systemClock, type Clock } from '../../src/util/clock.js';
import { RelayErrorCode } from '../../src/wire/constants.js';

/** Bound on every wait here. */
const WAIT_MS = 15_000;
/** The attacker's source: another loopback address (all of 127/8 is local on Linux). */
const ATTACKER_ADDRESS = '127.0.0.2';

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function shiftedClock(): Clock & { shiftMs: number } {
  const c = {
    shiftMs: 0,
    now: () => Date.now() + c.shiftMs,
    schedule: (ms: number, fn: () => void) => systemClock.schedule(ms, fn),
  };
  return c;
}

async function withRelay<T>(
  net: TestNetwork,
  verifier: MembershipVerifier,
  options: ConstructorParameters<typeof RelayServer>[1],
  fn: (relay: RelayServer<ReturnType<MembershipVerifier['verify']>>, clock: Clock & { shiftMs: number }) => Promise<T>,
): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'sm-relay-limits-'));
  const clock = shiftedClock();
  const tls = await TlsIdentity.load({ dataDir: dir, hostnames: ['127.0.0.1'] }, Date.now());
  const relay = new RelayServer({ verifier, tls, clock }, { host: '127.0.0.1', port: 0, stun: false, ...options });
  await relay.start();
  try {
    return await fn(relay, clock);
  } finally {
    await relay.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Admit `m` once through a real RelayLink; resolves with 'established' or the refusal's relay code. */
async function admitOnce(relay: RelayServer<never> | RelayServer<ReturnType<MembershipVerifier['verify']>>, m: TestMember): Promise<'established' | number> {
  const link = new RelayLink({ signer: m.signer, certificate: m.certBytes }, { url: relay.url, pin: relay.pin, reconnectBaseMs: 60_000, reconnectMaxMs: 60_000, connectTimeoutMs: 5_000 });
  try {
    return await new Promise<'established' | number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${m.name}: no answer from the relay`)), WAIT_MS);
      link.once('established', () => { clearTimeout(timer); resolve('established'); });
      link.once('refused', (err: { relayCode: number }) => { clearTimeout(timer); resolve(err.relayCode); });
      link.start();
    });
  } finally {
    await link.stop();
  }
}

test('one source address filling the relay with unfinished connections cannot keep a member from another address out', async () => {
  const net = await createTestNetwork({ members: ['alice'] });
  const verifier = new MembershipVerifier(net.ca);
  const sockets: Socket[] = [];
  try {
    // Global limits as small as a test can make them: 4 members, 64 in admission.
    await withRelay(net, verifier, { maxClients: 4, maxPending: 64, handshakeTimeoutMs: 3_000 }, async (relay) => {
      let closed = 0;
      const FLOOD = 400;
      for (let i = 0; i < FLOOD; i++) {
        const s = netConnect({ host: '127.0.0.1', port: relay.port, localAddress: ATTACKER_ADDRESS });
        s.on('error', () => undefined);
        s.once('close', () => closed++);
        sockets.push(s);
      }
      await until('the attacker\'s connections to be accepted or cut', () => sockets.every((s) => !s.connecting || s.destroyed));
      // The per-address share is all the attacker keeps; the rest are cut at accept.
      const share = DEFAULT_MAX_PENDING_PER_ADDRESS;
      await until('connections past the per-address share to be cut', () => closed >= FLOOD - share);
      assert.ok(FLOOD - closed <= share, `${FLOOD - closed} connections from one address still open`);
      assert.ok((relay.snapshot().admissionsRefused['pending-per-address'] ?? 0) >= FLOOD - share);
      // A member from 127.0.0.1 still gets in while the attacker holds its share.
      assert.equal(await admitOnce(relay, net.member('alice')), 'established');
      // The attacker's remaining connections never finish TLS: cut at the handshake timeout.
      await until('the attacker\'s last connections to be cut', () => closed === FLOOD);
    });
  } finally {
    for (const s of sockets) s.destroy();
    await net.cleanup();
  }
});

test('a certificate presented again costs no second CA signature check; revoked or expired ones are still refused', async () => {
  const net = await createTestNetwork({ members: ['alice', 'bob'] });
  const verifier = new MembershipVerifier(net.ca);
  // Spy: count the full verifications (decode + hybrid CA signature + validity) the relay asks for.
  let fullVerifications = 0;
  const realVerify = verifier.verify.bind(verifier);
  verifier.verify = (bytes, nowMs) => {
    fullVerifications++;
    return realVerify(bytes, nowMs);
  };
  try {
    await withRelay(net, verifier, {}, async (relay, clock) => {
      for (let i = 0; i < 5; i++) assert.equal(await admitOnce(relay, net.member('alice')), 'established');
      assert.equal(fullVerifications, 1, 'five admissions of one certificate, one signature check');
      assert.equal(await admitOnce(relay, net.member('bob')), 'established');
      assert.equal(fullVerifications, 2);
      // Revoked after it was cached: refused on the next HELLO all the same.
      await net.revoke(net.member('alice'));
      verifier.setRevocationList(await loadRevocationList(net.crlFile, net.ca));
      assert.equal(await admitOnce(relay, net.member('alice')), RelayErrorCode.Revoked);
      // Expired after it was cached (the relay's clock moves two years on): refused all the same.
      clock.shiftMs = 2 * 365 * 24 * 3_600_000;
      assert.equal(await admitOnce(relay, net.member('bob')), RelayErrorCode.CertValidity);
      const cache = relay.snapshot().certificateCache;
      assert.ok(cache !== undefined && cache.hits >= 4, JSON.stringify(cache));
    });
  } finally {
    await net.cleanup();
  }
});
