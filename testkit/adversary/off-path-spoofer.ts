/**
 * An off-path spoofer for adversary tests (docs/threat-model.md; docs/protocol.md
 * §3.5.6): someone who cannot see a UDP path's traffic and holds no session key,
 * but can send UDP datagrams that carry a path's source address and port —
 * whole peer frames, UDP_FRAGMENTs reassembling into anything (forged
 * PATH_PROBE_ACKs for guessed probe ids among them), forged UDP probes, junk.
 *
 * How the source address is spoofed. Every datagram leaves an ordinary UDP
 * socket bound to the claimed source, so the receiving kernel and the node
 * see that exact address and port (no seam inside the node):
 *
 *   - `OffPathSpoofer.as(address, port)` binds that address:port. On one
 *     host the port is free once the peer's own socket is gone (a test
 *     stops the peer's UDP transport, which closes its socket without a
 *     close notice: to the node, the peer fell silent). What arrives on the
 *     socket is counted (`received`) and never read: the spoofer stays
 *     off-path in what it knows.
 *   - `OffPathSpoofer.randomSources(n)` binds `n` sockets to random
 *     127.x.y.z addresses (all of 127/8 is loopback on Linux), for floods
 *     "from anywhere".
 *
 * In a network namespace lab the same effect for a live peer socket comes
 * from an SNAT rule on the spoofer's host (`iptables -t nat -A POSTROUTING
 * -p udp --sport X -j SNAT --to-source IP:PORT`); this kit does not set
 * that up.
 *
 * Bounds: every send loop here is bounded in count or time by its caller's
 * arguments; `close()` releases every socket and is idempotent.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { encodeProbe } from '../../src/node/path/probe-frames.js';
import { UDP_FRAGMENT_HEADER_BYTES, UdpFrameType, UdpProbePurpose } from '../../src/wire/constants.js';
import { encodeUdpProbe, putUdpFragmentHeader } from '../../src/wire/udp-frames.js';

export interface UdpAddress {
  address: string;
  port: number;
}

function bind(address: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket({ type: address.includes(':') ? 'udp6' : 'udp4', reuseAddr: false });
    const onError = (err: Error): void => {
      try { s.close(); } catch { /* already closed */ }
      reject(err);
    };
    s.once('error', onError);
    s.bind({ address, port, exclusive: true }, () => {
      s.off('error', onError);
      s.on('error', () => { /* a test sender: a send error ends nothing */ });
      resolve(s);
    });
  });
}

export class OffPathSpoofer {
  /** Datagrams handed to the sockets. */
  sent = 0;
  /** Datagrams that arrived on the spoofer's sockets (counted, never read). */
  received = 0;
  readonly #sockets: Socket[];
  #next = 0;
  #closed = false;

  private constructor(sockets: Socket[]) {
    this.#sockets = sockets;
    for (const s of sockets) s.on('message', () => { this.received++; });
  }

  /** A spoofer whose datagrams carry exactly `address`:`port` as their source (the port must be free on this host). */
  static async as(address: string, port: number): Promise<OffPathSpoofer> {
    return new OffPathSpoofer([await bind(address, port)]);
  }

  /** A spoofer sending from `count` random loopback addresses (127.x.y.z, any port), in turn. */
  static async randomSources(count: number): Promise<OffPathSpoofer> {
    if (!Number.isInteger(count) || count < 1 || count > 256) throw new RangeError(`randomSources count: expected 1..256, got ${count}`);
    const sockets: Socket[] = [];
    try {
      while (sockets.length < count) {
        const b = randomBytes(3);
        sockets.push(await bind(`127.${b[0]! % 254 + 1}.${b[1]!}.${b[2]! % 254 + 1}`, 0));
      }
    } catch (err) {
      for (const s of sockets) s.close();
      throw err;
    }
    return new OffPathSpoofer(sockets);
  }

  /** The source addresses this spoofer sends from. */
  get sources(): UdpAddress[] {
    return this.#sockets.map((s) => ({ address: s.address().address, port: s.address().port }));
  }

  /** Send one datagram to `to` (from the next source in turn). False once closed. */
  send(to: UdpAddress, bytes: Uint8Array): boolean {
    if (this.#closed) return false;
    const s = this.#sockets[this.#next++ % this.#sockets.length]!;
    s.send(bytes, to.port, to.address);
    this.sent++;
    return true;
  }

  /**
   * Send `make()`'s datagrams to `to` at full rate for `durationMs` (yielding to the event
   * loop every `batch` datagrams so the node in the same process runs), at most `maxDatagrams`.
   * Resolves with the number sent.
   */
  async flood(to: UdpAddress, make: () => Uint8Array, durationMs: number, maxDatagrams = 50_000_000, batch = 64): Promise<number> {
    const end = Date.now() + durationMs;
    let n = 0;
    while (!this.#closed && Date.now() < end && n < maxDatagrams) {
      for (let i = 0; i < batch && n < maxDatagrams; i++, n++) this.send(to, make());
      await new Promise((r) => setImmediate(r));
    }
    return n;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(this.#sockets.map((s) => new Promise<void>((resolve) => { try { s.close(() => resolve()); } catch { resolve(); } })));
  }
}

// ---------------------------------------------------------------- datagram builders (no keys needed)

/** `frame` split into UDP_FRAGMENT datagrams (at least two, as a sender would) under `frameId`. */
export function fragmentsOf(frame: Uint8Array, frameId: number, count = 2): Uint8Array[] {
  const n = Math.max(2, Math.min(count, frame.length));
  const per = Math.ceil(frame.length / n);
  const out: Uint8Array[] = [];
  for (let i = 0, off = 0; off < frame.length; i++, off += per) {
    const part = frame.subarray(off, Math.min(frame.length, off + per));
    const d = new Uint8Array(UDP_FRAGMENT_HEADER_BYTES + part.length);
    putUdpFragmentHeader(d, 0, frameId >>> 0, i, Math.ceil(frame.length / per));
    d.set(part, UDP_FRAGMENT_HEADER_BYTES);
    out.push(d);
  }
  return out;
}

/** A PATH_PROBE_ACK (docs/protocol.md §3.4) for a guessed probe id: what a forger hopes the path manager takes as an answer. */
export function forgedProbeAck(id: bigint, sentAtMs = Date.now()): Uint8Array {
  return encodeProbe({ ack: true, id, sentAtMs });
}

/** A PATH_PROBE for `id` (the receiver would answer it). */
export function forgedProbe(id: bigint, sentAtMs = Date.now()): Uint8Array {
  return encodeProbe({ ack: false, id, sentAtMs });
}

/** A well-formed UDP probe or ack claiming `senderPeerId`, with a MAC of random bytes (the forger has no key). */
export function forgedUdpProbe(senderPeerId: Uint8Array, ack: boolean, purpose: UdpProbePurpose = UdpProbePurpose.Liveness, embed: Uint8Array = new Uint8Array(0)): Uint8Array {
  const bytes = encodeUdpProbe({ ack, purpose, senderPeerId, txid: randomBytes(16), timestampMs: Date.now(), embed, padding: 0 });
  bytes.set(randomBytes(16), bytes.length - 16);
  return bytes;
}

/** A DATA-typed peer frame (docs/protocol.md §2) of `size` random bytes after its header: sealed by nobody. */
export function forgedDataFrame(size = 64): Uint8Array {
  const f = new Uint8Array(Math.max(24, size));
  f.set(randomBytes(f.length));
  f[0] = 1;
  f[1] = 0x24;
  f[2] = 0;
  f[3] = 0;
  return f;
}

/** `bytes` with 1..4 random bytes changed (a mutated valid datagram). */
export function mutate(bytes: Uint8Array): Uint8Array {
  const out = Uint8Array.from(bytes);
  if (out.length === 0) return out;
  const flips = 1 + (randomBytes(1)[0]! & 3);
  for (let i = 0; i < flips; i++) out[randomBytes(2).readUInt16LE(0) % out.length] = randomBytes(1)[0]!;
  return out;
}

/** The UDP_FRAGMENT type byte, for tests that build fragments by hand. */
export const UDP_FRAGMENT_TYPE = UdpFrameType.UdpFragment;
