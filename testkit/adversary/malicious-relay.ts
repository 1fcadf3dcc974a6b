/**
 * A malicious relay for adversary tests (docs/threat-model.md "Malicious
 * relay"): a real RelayServer — real TLS 1.3 WSS, real admission, so real
 * ShadowNodes and `shadowmesh up` processes connect to it unchanged — that
 * additionally does everything a relay operator who turned against the
 * network could do with what the relay legitimately holds:
 *
 *   - forge the sender id of a DELIVER (`deliverAs`): any member may appear
 *     to send any bytes;
 *   - record every member-to-member frame (`seen`) and replay it later, to
 *     the same or another member (`replay`);
 *   - drop or rewrite frames in flight (`onForward`);
 *   - inject presence: PEER_UP with any certificate bytes it has seen or
 *     made up, PEER_DOWN for any peer id (`announceUp`, `announceDown`),
 *     PRESENCE entries naming any peer id with any digest (`announcePresence`);
 *   - answer CERT_REQUEST with any bytes (`onCertRequest`), or push CERT
 *     frames nobody asked for (`sendCert`);
 *   - lie in ESTABLISHED about the member's observed address (`lieObserved`),
 *     so a node advertises whatever address the relay names as its own;
 *   - serve any network policy blob in POLICY (`servePolicy`): an older
 *     version it kept, a tampered one, another CA's, garbage; or any bytes
 *     as a frame (`sendRaw`), e.g. a POLICY whose declared length lies.
 *
 * What it cannot do is what the tests check: open a session's frames, make a
 * certificate the CA did not sign, or make a member act on forged input.
 * For a lying STUN server see lying-stun.ts.
 *
 * `seen` is bounded (the oldest entries go first) so a long test does not
 * grow without limit.
 */
import type { ClientConnection, RelayMemberCertificate } from '../../src/relay/client-connection.js';
import { RelayServer } from '../../src/relay/relay-server.js';
import { FrameType, SEND_HEADER_BYTES } from '../../src/wire/constants.js';
import { encodeRelayFrame, type PresenceEntry } from '../../src/wire/relay-frames.js';
import { toHex } from '../../src/crypto/bytes.js';

/** Frames kept in `seen`: enough for any test's replay, bounded for long runs. */
export const MALICIOUS_RELAY_SEEN_MAX = 10_000;

export interface ForwardedFrame {
  src: Uint8Array;
  dst: Uint8Array;
  /** The end-to-end peer frame (the SEND payload), copied. */
  payload: Uint8Array;
}

/** What `onForward` may decide for a frame in flight: deliver it, drop it, or deliver these bytes instead. */
export type ForwardDecision = 'forward' | 'drop' | Uint8Array;

export class MaliciousRelay<C extends RelayMemberCertificate> extends RelayServer<C> {
  /** Every member-to-member frame the relay routed (or dropped by `onForward`), oldest first, bounded. */
  readonly seen: ForwardedFrame[] = [];
  /** Decide the fate of each routed frame; null forwards everything as an honest relay would. */
  onForward: ((f: ForwardedFrame) => ForwardDecision) | null = null;
  /** Report this address in ESTABLISHED instead of the member's real one (applies to later admissions). */
  lieObserved: { address: string; port: number } | null = null;
  /** Decide the answer to each CERT_REQUEST: 'honest' answers as a relay would, 'drop' not at all, bytes are sent as the certificate. */
  onCertRequest: ((requester: Uint8Array, peerId: Uint8Array) => 'honest' | 'drop' | Uint8Array) | null = null;
  readonly #admitted = new Map<string, ClientConnection<C>>();

  /** Peer ids currently admitted (hex). */
  admittedMembers(): string[] {
    return [...this.#admitted.keys()];
  }

  override admit(conn: ClientConnection<C>): number | null {
    const refusal = super.admit(conn);
    if (refusal === null) this.#admitted.set(conn.peerKey, conn);
    return refusal;
  }

  override closed(conn: ClientConnection<C>): void {
    if (this.#admitted.get(conn.peerKey) === conn) this.#admitted.delete(conn.peerKey);
    super.closed(conn);
  }

  override observedAddress(conn: ClientConnection<C>): { address: string; port: number } {
    return this.lieObserved ?? super.observedAddress(conn);
  }

  override certRequest(conn: ClientConnection<C>, peerId: Uint8Array): void {
    const decision = this.onCertRequest ? this.onCertRequest(new Uint8Array(conn.peerId as Uint8Array), new Uint8Array(peerId)) : 'honest';
    if (decision === 'honest') super.certRequest(conn, peerId);
    else if (decision !== 'drop') conn.sendFrame(encodeRelayFrame({ type: FrameType.Cert, peerId, cert: decision }));
  }

  override forward(src: ClientConnection<C>, frame: Buffer, dst: Uint8Array): void {
    const f: ForwardedFrame = {
      src: new Uint8Array(src.peerId as Uint8Array),
      dst: new Uint8Array(dst),
      payload: new Uint8Array(frame.subarray(SEND_HEADER_BYTES)),
    };
    this.seen.push(f);
    if (this.seen.length > MALICIOUS_RELAY_SEEN_MAX) this.seen.shift();
    const decision = this.onForward ? this.onForward(f) : 'forward';
    if (decision === 'drop') return;
    if (decision === 'forward') {
      super.forward(src, frame, dst);
      return;
    }
    this.deliverAs(dst, f.src, decision);
  }

  /** Deliver `payload` to `dst` claiming it comes from `claimedSrc` (a forged sender id). False if `dst` is not attached. */
  deliverAs(dst: Uint8Array, claimedSrc: Uint8Array, payload: Uint8Array): boolean {
    const target = this.#admitted.get(toHex(dst));
    if (target === undefined) return false;
    return target.sendFrame(encodeRelayFrame({ type: FrameType.Deliver, peerId: claimedSrc, payload }));
  }

  /** Send a recorded frame again, to its original receiver or to `to`, as from its original sender or `as`. */
  replay(f: ForwardedFrame, to: Uint8Array = f.dst, as: Uint8Array = f.src): boolean {
    return this.deliverAs(to, as, f.payload);
  }

  /** Forged PEER_UP to `dst` carrying `cert` (any bytes: a real member's, a revoked one's, garbage). */
  announceUp(dst: Uint8Array, cert: Uint8Array, onlineSinceMs = Date.now()): boolean {
    const target = this.#admitted.get(toHex(dst));
    if (target === undefined) return false;
    return target.sendFrame(encodeRelayFrame({ type: FrameType.PeerUp, onlineSinceMs, cert }));
  }

  /** POLICY to `dst` carrying `blob` (any bytes up to MAX_POLICY_BLOB_BYTES: an old version, a tampered one, garbage). */
  servePolicy(dst: Uint8Array, blob: Uint8Array): boolean {
    const target = this.#admitted.get(toHex(dst));
    if (target === undefined) return false;
    return target.sendFrame(encodeRelayFrame({ type: FrameType.Policy, blob }));
  }

  /** Any bytes as one WebSocket message to `dst`, no encoder checks: frames no honest encoder makes. */
  sendRaw(dst: Uint8Array, bytes: Uint8Array): boolean {
    const target = this.#admitted.get(toHex(dst));
    if (target === undefined) return false;
    return target.sendFrame(bytes);
  }

  /** Forged PRESENCE to `dst`: any peer ids, any digests. */
  announcePresence(dst: Uint8Array, entries: PresenceEntry[]): boolean {
    const target = this.#admitted.get(toHex(dst));
    if (target === undefined) return false;
    return target.sendFrame(encodeRelayFrame({ type: FrameType.Presence, entries }));
  }

  /** An unsolicited CERT to `dst` claiming to be `peerId`'s certificate. */
  sendCert(dst: Uint8Array, peerId: Uint8Array, cert: Uint8Array): boolean {
    const target = this.#admitted.get(toHex(dst));
    if (target === undefined) return false;
    return target.sendFrame(encodeRelayFrame({ type: FrameType.Cert, peerId, cert }));
  }

  /** Forged PEER_DOWN to `dst` for `peerId`, whether or not that member is still attached. */
  announceDown(dst: Uint8Array, peerId: Uint8Array): boolean {
    const target = this.#admitted.get(toHex(dst));
    if (target === undefined) return false;
    return target.sendFrame(encodeRelayFrame({ type: FrameType.PeerDown, peerId }));
  }
}
