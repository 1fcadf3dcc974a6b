/**
 * A hand-driven relay client for hostile-case tests: it opens TLS and the
 * WebSocket like RelayLink does, but lets the test send any bytes and read
 * every frame. Not a product API. 127.0.0.1 only.
 */
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { WebSocket } from 'ws';
import { randomBytes } from '../src/crypto/bytes.js';
import { RELAY_AUTH_EXPORTER_BYTES, RELAY_AUTH_EXPORTER_LABEL, RelayAuthClient } from '../src/handshake/relay-auth.js';
import type { TestMember } from './test-network.js';
import { FrameType } from '../src/wire/constants.js';
import { decodeRelayFrame, type RelayFrame } from '../src/wire/relay-frames.js';

/** Bound on any single wait in these tests. */
export const WAIT_MS = 5_000;

export interface RawClient {
  socket: TLSSocket;
  ws: WebSocket;
  exporter: Uint8Array;
  /** Every binary message received so far, in order. */
  received: Buffer[];
  /** Resolves with the next message (or rejects after WAIT_MS / on close). */
  next(): Promise<Buffer>;
  nextFrame(): Promise<RelayFrame>;
  /** The next frame that is not presence (PRESENCE, or PEER_UP / PEER_DOWN of older relays, arrive whenever members come and go). */
  nextNonPresence(): Promise<RelayFrame>;
  send(bytes: Uint8Array): void;
  closed: Promise<{ code: number }>;
  close(): void;
}

export async function connectRaw(host: string, port: number, options: { pause?: boolean } = {}): Promise<RawClient> {
  const socket = tlsConnect({ host, port, rejectUnauthorized: false, minVersion: 'TLSv1.3', ALPNProtocols: ['http/1.1'] });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  const exporter = new Uint8Array(socket.exportKeyingMaterial(RELAY_AUTH_EXPORTER_BYTES, RELAY_AUTH_EXPORTER_LABEL, Buffer.alloc(0)));
  const ws = new WebSocket(`wss://${host}:${port}/`, { createConnection: () => socket, perMessageDeflate: false, maxPayload: 1 << 20 });
  const received: Buffer[] = [];
  const waiters: Array<{ resolve: (b: Buffer) => void; reject: (e: Error) => void }> = [];
  let readIndex = 0;
  let isClosed = false;
  ws.on('message', (data: Buffer) => {
    received.push(data);
    const w = waiters.shift();
    if (w) {
      readIndex++;
      w.resolve(data);
    }
  });
  ws.on('error', () => undefined);
  const closed = new Promise<{ code: number }>((resolve) => ws.once('close', (code) => {
    isClosed = true;
    for (const w of waiters.splice(0)) w.reject(new Error(`closed (${code})`));
    resolve({ code });
  }));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  if (options.pause === true) socket.pause();
  const next = (): Promise<Buffer> => {
    if (readIndex < received.length) return Promise.resolve(received[readIndex++] as Buffer);
    if (isClosed) return Promise.reject(new Error('closed'));
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('raw client: no message within WAIT_MS')), WAIT_MS);
      waiters.push({ resolve: (b) => { clearTimeout(t); resolve(b); }, reject: (e) => { clearTimeout(t); reject(e); } });
    });
  };
  return {
    socket,
    ws,
    exporter,
    received,
    next,
    nextFrame: async () => decodeRelayFrame(await next()),
    nextNonPresence: async () => {
      // Bounded: each wait is bounded by WAIT_MS and a relay announces at most its members.
      for (let i = 0; i < 10_000; i++) {
        const f = decodeRelayFrame(await next());
        if (f.type !== FrameType.PeerUp && f.type !== FrameType.PeerDown && f.type !== FrameType.Presence) return f;
      }
      throw new Error('raw client: only presence frames');
    },
    send: (bytes) => ws.send(bytes, { binary: true }),
    closed,
    close: () => ws.terminate(),
  };
}

/** Run admission by hand as `member`; returns the client once ESTABLISHED arrived. */
export async function admitRaw(host: string, port: number, member: TestMember, options: { pause?: boolean } = {}): Promise<RawClient> {
  const c = await connectRaw(host, port);
  const auth = new RelayAuthClient({ signer: member.signer, certificate: member.certBytes });
  c.send(auth.hello(randomBytes));
  c.send(auth.onChallenge(await c.next(), c.exporter));
  auth.onEstablished(await c.next());
  if (options.pause === true) c.socket.pause();
  return c;
}

/** Poll `check` every 25 ms until it returns a value other than undefined, or fail after `ms`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, ms = WAIT_MS): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last !== undefined ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Resolve with the first emission of `event` (arguments as an array), or reject after `ms`. */
export function once(emitter: NodeJS.EventEmitter, event: string, ms = WAIT_MS): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`no '${event}' within ${ms} ms`));
    }, ms);
    const on = (...args: unknown[]): void => {
      clearTimeout(t);
      resolve(args);
    };
    emitter.once(event, on);
  });
}
