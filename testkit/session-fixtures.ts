/**
 * Shared fixtures for the node/session tests: matching key sets for two ends,
 * an event recorder, and a session factory on a FakeClock. Not a test file.
 */
import { randomBytes } from '../src/crypto/bytes.js';
import { FakeClock } from './fake-clock.js';
import { PeerSession, type PeerSessionEvents, type PeerSessionOptions } from '../src/node/session/peer-session.js';
import type { SessionKeys } from '../src/node/session/session-keys.js';
import type { HandshakeReason } from '../src/node/session/session-timers.js';
import { decodePeerFrame, type DataFrameView } from '../src/wire/peer-frames.js';
import { FrameType } from '../src/wire/constants.js';

/** Both ends' view of one handshake: a's send key is b's receive key and back. Every buffer is distinct. */
export function matchingKeys(nowMs: number, aIndex: number, bIndex: number, aIsInitiator = true): { a: SessionKeys; b: SessionKeys } {
  const ab = randomBytes(32);
  const ba = randomBytes(32);
  const path = randomBytes(32);
  return {
    a: { localIndex: aIndex, remoteIndex: bIndex, sendKey: ab, recvKey: ba, pathAuthKey: path, isInitiator: aIsInitiator, establishedAtMs: nowMs },
    b: {
      localIndex: bIndex, remoteIndex: aIndex, sendKey: Uint8Array.from(ba), recvKey: Uint8Array.from(ab),
      pathAuthKey: Uint8Array.from(path), isInitiator: !aIsInitiator, establishedAtMs: nowMs,
    },
  };
}

export class RecordingEvents implements PeerSessionEvents {
  readonly handshakes: HandshakeReason[] = [];
  keepalives = 0;
  gaveUp = 0;
  /** Optional reaction, to test reentrancy. */
  onInitiate: ((reason: HandshakeReason) => void) | null = null;
  initiateHandshake(reason: HandshakeReason): void {
    this.handshakes.push(reason);
    if (this.onInitiate) this.onInitiate(reason);
  }
  sendKeepalive(): void {
    this.keepalives++;
  }
  handshakeGaveUp(): void {
    this.gaveUp++;
  }
}

/** Deterministic rng: all zero bytes (retry jitter 0). */
export const zeroRng = (n: number): Uint8Array => new Uint8Array(n);

export function makeSession(clock: FakeClock, options: PeerSessionOptions = {}, rng = zeroRng): { session: PeerSession; events: RecordingEvents; flushed: Uint8Array[] } {
  const events = new RecordingEvents();
  const session = new PeerSession({ clock, events, rng }, options);
  const flushed: Uint8Array[] = [];
  session.onFlush = (f) => { flushed.push(f); };
  return { session, events, flushed };
}


/** Decode a DATA frame the way the node does. */
export function dataView(frame: Uint8Array): DataFrameView {
  const f = decodePeerFrame(frame);
  if (f.type !== FrameType.Data) throw new Error(`expected DATA, got type ${f.type}`);
  return f;
}

/** The same split decodePeerFrame makes, without validating: lets tests feed tampered headers. */
export function rawView(frame: Uint8Array): DataFrameView {
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.length);
  return { receiverIndex: dv.getUint32(4, true), counter: dv.getBigUint64(8, true), header: frame.subarray(0, 16), sealed: frame.subarray(16) };
}

export function isZero(b: Uint8Array): boolean {
  return b.every((x) => x === 0);
}

export function bytes(...v: number[]): Uint8Array {
  return Uint8Array.from(v);
}

export { FakeClock };
