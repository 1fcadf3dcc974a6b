/**
 * The relay's sweep (src/relay/relay-server.ts; docs/architecture.md
 * "Timers") on a fake clock, with real TLS clients: an idle relay runs it at
 * the steady period (a quarter of the heartbeat), not four times a second,
 * and still pings its members; the deadlines a connection holds for a while
 * only are met when they fall due, not a steady period later: a handshake
 * that never finishes, a member whose certificate expires, a client that
 * ignores the relay's close.
 */
import { after, before, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MembershipVerifier } from '../../src/identity/membership.js';
import type { MemberCertificate } from '../../src/identity/certificate.js';
import { ClientConnection } from '../../src/relay/client-connection.js';
import { RelayServer } from '../../src/relay/relay-server.js';
import { RELAY_DEFAULTS, sweepIntervalMs, type RelayOptions } from '../../src/relay/relay-options.js';
import { TlsIdentity } from '../../src/relay/tls-identity.js';
import type { Clock } from '../../src/util/clock.js';
import type { Logger } from '../../src/util/logger.js';
import { FrameType, RelayErrorCode } from '../../src/wire/constants.js';
import { decodeRelayFrame } from '../../src/wire/relay-frames.js';
import { FakeClock } from '../../testkit/fake-clock.js';
import { admitRaw, connectRaw, eventually, type RawClient } from '../../testkit/raw-relay-client.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';

/** A fake clock that counts the timers it was asked for. */
class CountingClock extends FakeClock implements Clock {
  scheduled = 0;
  override schedule(delayMs: number, fn: () => void): ReturnType<Clock['schedule']> {
    this.scheduled++;
    return super.schedule(delayMs, fn);
  }
}

/** Log lines the relay wrote, message text only. */
function recordingLogger(lines: string[]): Logger {
  const log = (msg: string): void => {
    lines.push(msg);
  };
  const logger: Logger = { debug: log, info: log, warn: log, error: log, child: () => logger };
  return logger;
}

let net: TestNetwork;
let dir: string;
const clients: RawClient[] = [];
const servers: { server: RelayServer<MemberCertificate>; clock: FakeClock }[] = [];

before(async () => {
  net = await createTestNetwork({ members: ['alice'] });
  dir = mkdtempSync(join(tmpdir(), 'sm-relay-sweep-'));
});

after(async () => {
  for (const c of clients) c.close();
  // stop() waits for clients on the relay's clock: move the fake one while it does (bounded: the shutdown grace).
  for (const { server, clock } of servers) {
    let done = false;
    const stopped = server.stop().then(() => {
      done = true;
    });
    for (let i = 0; i < 200 && !done; i++) {
      clock.advance(50);
      await new Promise((r) => setTimeout(r, 5));
    }
    await stopped;
  }
  await net?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function startRelay(clock: FakeClock, sub: string, lines: string[] = [], options: Partial<RelayOptions> = {}): Promise<RelayServer<MemberCertificate>> {
  const tls = await TlsIdentity.load({ dataDir: join(dir, sub) }, clock.now());
  const server = new RelayServer({ verifier: new MembershipVerifier(net.ca), tls, clock, logger: recordingLogger(lines) }, { host: '127.0.0.1', port: 0, ...options });
  servers.push({ server, clock });
  await server.start();
  return server;
}

function framesOf(c: RawClient, type: FrameType): number {
  return c.received.filter((b) => decodeRelayFrame(b).type === type).length;
}

/** Move the fake clock in `step` ms steps, letting real I/O run between them. */
async function advanceBy(clock: FakeClock, ms: number, step: number): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(Math.min(step, ms - t));
    await new Promise((r) => setImmediate(r));
  }
}

test('an idle relay with a member sweeps at the steady period and still sends the heartbeat', async () => {
  const clock = new CountingClock(Date.now());
  const server = await startRelay(clock, 'idle');
  const a = await admitRaw('127.0.0.1', server.port, net.member('alice'));
  clients.push(a);
  const steady = sweepIntervalMs(server.options);
  assert.equal(steady, RELAY_DEFAULTS.heartbeatMs / 4);
  const before = clock.scheduled;
  await advanceBy(clock, 60_000, 250);
  // 60 s at 7.5 s is 8 sweeps (plus one for the certificate's far deadline at most); the old 250 ms sweep made 240.
  const sweeps = clock.scheduled - before;
  assert.ok(sweeps <= 10, `${sweeps} timers in 60 s of idle`);
  // The heartbeat (30 s) went out twice, each at most a steady period late.
  await eventually('two PINGs', () => (framesOf(a, FrameType.Ping) >= 2 ? true : undefined));
  assert.equal(server.stats.admissions, 1);
});

test('a handshake that never finishes is refused at its deadline, not a steady period later', async () => {
  const clock = new FakeClock(Date.now());
  // A handshake timeout shorter than the steady period (7.5 s): no steady sweep falls near the deadline.
  const server = await startRelay(clock, 'handshake', [], { handshakeTimeoutMs: 3_000 });
  clock.advance(1_000);
  const c = await connectRaw('127.0.0.1', server.port);
  clients.push(c);
  await new Promise((r) => setImmediate(r));
  await advanceBy(clock, 2_900, 500);
  assert.equal(framesOf(c, FrameType.Error), 0, 'not refused before the deadline');
  await advanceBy(clock, 200, 50);
  const f = await c.nextFrame();
  assert.equal(f.type, FrameType.Error);
  if (f.type === FrameType.Error) assert.equal(f.code, RelayErrorCode.HandshakeTimeout);
});

test('handshakes that time out one after another do not make the relay walk its members each time', async () => {
  const clock = new FakeClock(Date.now());
  const server = await startRelay(clock, 'walks', [], { handshakeTimeoutMs: 3_000 });
  const a = await admitRaw('127.0.0.1', server.port, net.member('alice'));
  clients.push(a);
  clock.advance(100);
  // Twenty connections that never authenticate, 50 ms apart: twenty handshake deadlines, each met by a sweep.
  const pending: RawClient[] = [];
  for (let i = 0; i < 20; i++) {
    pending.push(await connectRaw('127.0.0.1', server.port));
    clock.advance(50);
  }
  clients.push(...pending);
  await new Promise((r) => setImmediate(r));
  // How often a sweep looks at the admitted member: once per walk of every connection.
  let memberVisits = 0;
  const state = Object.getOwnPropertyDescriptor(ClientConnection.prototype, 'state')!.get!;
  const spy = mock.getter(ClientConnection.prototype, 'state', function (this: ClientConnection<MemberCertificate>) {
    const v = state.call(this);
    if (v === 'admitted') memberVisits++;
    return v;
  });
  try {
    await advanceBy(clock, 3_000, 20);
  } finally {
    spy.mock.restore();
  }
  await eventually('all twenty refused', () => (pending.every((c) => framesOf(c, FrameType.Error) === 1) ? true : undefined));
  // The steady sweep (7.5 s after start) did not fall in this window: the twenty deadline sweeps walked only the
  // pending connections (a walk of every connection at each would look at alice at least twenty times).
  assert.ok(memberVisits <= 2, `the member was looked at ${memberVisits} times`);
});

test('a member whose certificate expires is closed when it expires, and cut after the close grace if it does not close', async () => {
  const alice = net.member('alice');
  // Start a minute before the certificate's end: admitted, then the sweep must act at notAfter.
  const clock = new FakeClock(alice.certificate.notAfterMs - 60_000);
  const lines: string[] = [];
  const server = await startRelay(clock, 'expiry', lines);
  const disconnected = (): number => lines.filter((l) => l.endsWith(' disconnected')).length;
  const a = await admitRaw('127.0.0.1', server.port, alice);
  clients.push(a);
  // The client ignores the relay's close: its socket stops reading, so the WebSocket close handshake cannot finish.
  a.socket.pause();
  await advanceBy(clock, 59_900, 500);
  assert.equal(server.stats.admissions, 1);
  assert.equal(server.localMembers().length, 1, 'still admitted before notAfter');
  await advanceBy(clock, 200, 50);
  assert.equal(server.localMembers().length, 0, 'closed within 100 ms of notAfter');
  assert.equal(server.snapshot().disconnects['cert-expired'], 1);
  // The client does not answer the close: the relay keeps the socket until the close grace (1 s) has passed, then cuts it.
  await advanceBy(clock, RELAY_DEFAULTS.closeGraceMs - 300, 50);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(disconnected(), 0, 'the socket is kept during the close grace');
  await advanceBy(clock, 400, 50);
  await eventually('the socket cut', () => (disconnected() === 1 ? true : undefined));
});
