/**
 * A lying STUN server for adversary tests (docs/threat-model.md "Compromised
 * STUN server"): it answers every Binding request on a UDP socket with the
 * mapped address the test chooses (`answer`), e.g. a loopback, multicast or
 * victim address, instead of the request's real source. By default the relay
 * is a node's STUN server, so this is also what a malicious relay can say.
 *
 * Requests are answered one for one (no amplification) and counted; anything
 * that is not a Binding request is ignored.
 */
import { createSocket, type Socket } from 'node:dgram';
import { decodeStunMessage, encodeBindingSuccess, STUN_METHOD_BINDING, type StunAddress } from '../../src/stun/stun-message.js';

export class LyingStunServer {
  /** What every answer reports as the requester's address; null answers truthfully. */
  answer: StunAddress | null;
  /** Binding requests answered. */
  requests = 0;
  readonly #socket: Socket;
  #port = 0;

  constructor(answer: StunAddress | null, family: 'udp4' | 'udp6' = 'udp4') {
    this.answer = answer;
    this.#socket = createSocket(family);
    this.#socket.on('message', (msg, rinfo) => this.#onMessage(msg, rinfo.address, rinfo.port));
    this.#socket.on('error', () => { /* a test server: errors end nothing */ });
  }

  get port(): number {
    return this.#port;
  }

  async start(host = '127.0.0.1', port = 0): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#socket.once('error', reject);
      this.#socket.bind(port, host, () => { this.#socket.off('error', reject); resolve(); });
    });
    this.#port = this.#socket.address().port;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => { try { this.#socket.close(() => resolve()); } catch { resolve(); } });
  }

  #onMessage(msg: Buffer, address: string, port: number): void {
    let m;
    try {
      m = decodeStunMessage(msg);
    } catch {
      return;
    }
    if (m.class !== 'request' || m.method !== STUN_METHOD_BINDING) return;
    this.requests++;
    const mapped = this.answer ?? { address, port };
    this.#socket.send(encodeBindingSuccess(m.transactionId, mapped), port, address);
  }
}
