/**
 * A lightweight simulated member for the relay benchmarks (bench/relay-scale.ts,
 * bench/relay-forwarding.ts): TLS and the WebSocket as RelayLink opens them,
 * the real admission (HELLO with the member's CA-signed certificate, AUTH with
 * its hybrid signature over the relay's challenge and the TLS exporter), then
 * nothing but answering the relay's PINGs and handing frames to a callback.
 * It fetches no certificates: PRESENCE (docs/protocol.md §1) is read and
 * discarded like every other frame.
 * No node, no sessions, no buffering of what arrives: thousands fit in one
 * process. Benchmarks only; it does not check the relay's pin.
 */
import { connect as tlsConnect } from 'node:tls';
import { WebSocket } from 'ws';
import { HybridSigner } from '../src/crypto/hybrid-sign.js';
import { randomBytes } from '../src/crypto/bytes.js';
import { RELAY_AUTH_EXPORTER_BYTES, RELAY_AUTH_EXPORTER_LABEL, RelayAuthClient } from '../src/handshake/relay-auth.js';
import { FrameType } from '../src/wire/constants.js';
import { decodeRelayFrame, encodeRelayFrame } from '../src/wire/relay-frames.js';

/** One admission's bound; a slower one fails. */
const ADMIT_TIMEOUT_MS = 30_000;

export interface LightMember {
  ws: WebSocket;
  /** Bytes received since admission began. */
  bytesIn: number;
  close(): void;
}

/** Admit `m` by hand; the connection stays open, answering PINGs and handing every other frame to `onFrame` (default: discarded). */
export function admitLight(relay: { host: string; port: number }, m: { seed: Uint8Array; certRaw: Uint8Array }, onFrame?: (data: Buffer) => void): Promise<LightMember> {
  return new Promise<LightMember>((resolve, reject) => {
    const socket = tlsConnect({ host: relay.host, port: relay.port, rejectUnauthorized: false, minVersion: 'TLSv1.3', ALPNProtocols: ['http/1.1'] });
    const held: LightMember = { ws: null as unknown as WebSocket, bytesIn: 0, close: () => held.ws?.terminate() };
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('admission timeout'));
    }, ADMIT_TIMEOUT_MS);
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.once('secureConnect', () => {
      const exporter = new Uint8Array(socket.exportKeyingMaterial(RELAY_AUTH_EXPORTER_BYTES, RELAY_AUTH_EXPORTER_LABEL, Buffer.alloc(0)));
      const ws = new WebSocket(`wss://${relay.host}:${relay.port}/`, { createConnection: () => socket, perMessageDeflate: false, maxPayload: 1 << 20 });
      held.ws = ws;
      const signer = HybridSigner.fromSeed(m.seed);
      const auth = new RelayAuthClient({ signer, certificate: m.certRaw });
      let step = 0;
      ws.on('error', () => undefined);
      ws.once('close', () => {
        clearTimeout(timer);
        if (step < 2) reject(new Error('closed during admission'));
        if (step < 2) signer.destroy();
      });
      ws.on('message', (data: Buffer) => {
        held.bytesIn += data.length;
        if (step < 2) {
          try {
            if (step === 0) {
              step = 1;
              ws.send(auth.onChallenge(data, exporter));
              return;
            }
            auth.onEstablished(data);
          } catch (err) {
            // A refusal (relay full, handshake timeout, …): this admission failed.
            step = 3;
            signer.destroy();
            clearTimeout(timer);
            ws.terminate();
            reject(err as Error);
            return;
          }
          step = 2;
          signer.destroy();
          clearTimeout(timer);
          resolve(held);
        } else if (onFrame !== undefined && data.length > 16) {
          onFrame(data);
        } else if (data.length <= 16) {
          // PING (PRESENCE and CERT are larger): only PINGs need an answer.
          try {
            const f = decodeRelayFrame(data);
            if (f.type === FrameType.Ping) ws.send(encodeRelayFrame({ type: FrameType.Pong, nonce: f.nonce }));
          } catch {
            // not a frame we answer
          }
        }
      });
      ws.once('open', () => ws.send(auth.hello(randomBytes)));
    });
  });
}

