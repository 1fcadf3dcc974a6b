/**
 * The end-to-end peer handshake: pure initiator and responder state machines
 * (docs/architecture.md "Sessions and keys"; docs/handshake.md; frames in docs/protocol.md §2).
 * No sockets, no timers, no logging: (state, bytes, now, rng) in; next state,
 * bytes to send and the finished keys out. The node carries the bytes through
 * the relay (or any path) and owns retries and timeouts.
 *
 *   I -> R  HS_INIT   senderIndex_I, timestamp, nonce, kemPublic_I (X25519 ‖ ML-KEM-1024), cert_I
 *   R -> I  HS_RESP   senderIndex_R, receiverIndex = senderIndex_I, kemCiphertext, cert_R,
 *                     sig_R = Sign_R("peer-resp", h2)
 *   I -> R  HS_FINISH receiverIndex = senderIndex_R, sig_I = Sign_I("peer-finish", h3)
 *
 *   h1 = H(h0 ‖ INIT), h2 = H(h1 ‖ RESP without sig_R), h3 = H(h2 ‖ sig_R)
 *   ss = hybrid KEM shared secret (binds both secrets, ciphertexts, public keys)
 *   keys = HKDF(salt = h3, ikm = ss) -> i->r, r->i, path-auth   (key-schedule.ts)
 *
 * Each side checks the other's member certificate against the network CA and
 * that it names the peer it meant to talk to; both sign the transcript, which
 * contains both certificates and both ephemeral contributions, so a relay that
 * swaps any message (a KEM key, a ciphertext, a certificate) breaks a signature
 * and the handshake never completes. The responder installs keys only after
 * FINISH proved the initiator holds its identity key.
 *
 * States:
 *   initiator:  sent_init --RESP ok--> done
 *   responder:  sent_resp --FINISH ok--> done
 *   either:     any --policy failure--> failed
 *
 * Error contract (HandshakeError, `fatal` says which kind):
 *   - fatal = false: drop this message, the machine is unchanged and still waits
 *     (malformed frame, wrong index, bad signature, a certificate that does not
 *     verify — any of these could be injected by a third party, so they must not
 *     kill a genuine handshake in progress);
 *   - fatal = true: the machine is dead (`failed`); discard it (used after done,
 *     or a message for a machine that already failed).
 * Ephemeral secrets are wiped as soon as they are used, in `finally`.
 *
 * HS_INIT carries no signature: it is authenticated only by the initiator's
 * FINISH signature over h3, which contains it. Until `onFinish` succeeds an
 * INIT proves nothing about its sender, so callers must not change any state
 * because of one (docs/handshake.md §4). `verifyInit` holds the checks that
 * need no expensive work of ours beyond certificate verification, so a caller
 * can put its rate limits between them and `respondVerified`. A cookie on an
 * INIT (handshake.md §6) is outside the transcript: h1 hashes the INIT
 * without it, so a re-sent INIT with a cookie keys the same handshake.
 */
import { HandshakeError } from '../errors.js';
import { equalBytes, wipe } from '../crypto/bytes.js';
import { HybridKemKeyPair, hybridEncapsulate } from '../crypto/hybrid-kem.js';
import { hybridVerify } from '../crypto/hybrid-sign.js';
import { FrameType, HS_COOKIE_MAC_BYTES, HYBRID_SIGNATURE_BYTES, NONCE_BYTES } from '../wire/constants.js';
import { decodePeerFrame, encodePeerFrame, initWithoutCookie, type PeerFrame } from '../wire/peer-frames.js';
import { deriveKeys, transcriptMix, transcriptStart } from './key-schedule.js';

export const SIG_CONTEXT_RESP = 'peer-resp';
export const SIG_CONTEXT_FINISH = 'peer-finish';

/** What the handshake needs to know about a verified certificate (a MemberCertificate fits). */
export interface VerifiedPeer {
  peerId: Uint8Array;
  publicKey: Uint8Array;
}

/** The consumer-side view of the membership verifier: throws a coded error when `certBytes` is not a valid member. */
export interface CertificateVerifier<P extends VerifiedPeer = VerifiedPeer> {
  verify(certBytes: Uint8Array, nowMs: number): P;
}

/** Signs with our identity key (a HybridSigner fits; vectors pass a deterministic one). */
export interface TranscriptSigner {
  sign(context: string, message: Uint8Array): Uint8Array;
}

export interface HandshakeIdentity<P extends VerifiedPeer = VerifiedPeer> {
  signer: TranscriptSigner;
  /** Our own member certificate, encoded. */
  certificate: Uint8Array;
  verifier: CertificateVerifier<P>;
}

/** Keys a finished handshake hands to the session layer (node/session's SessionKeys is this type). The caller owns and wipes the buffers. */
export interface HandshakeKeys {
  /** Our receiver index: DATA frames sent TO us carry it. */
  localIndex: number;
  /** The peer's index: our DATA frames carry it. */
  remoteIndex: number;
  /** 32 bytes: seals what we send. */
  sendKey: Uint8Array;
  /** 32 bytes: opens what we receive. */
  recvKey: Uint8Array;
  /** 32 bytes, reserved for direct-path authentication; kept with the key pair and wiped with it. */
  pathAuthKey: Uint8Array;
  /** True when we sent HS_INIT: only the initiator rekeys on time (node/session/session-timers.ts). */
  isInitiator: boolean;
  /** When the handshake finished, on the caller's clock (ms since epoch). */
  establishedAtMs: number;
}

export interface HandshakeResult<P extends VerifiedPeer = VerifiedPeer> {
  keys: HandshakeKeys;
  peer: P;
}

export type Rng = (n: number) => Uint8Array;

export type InitiatorState = 'sent_init' | 'done' | 'failed';
export type ResponderState = 'sent_resp' | 'done' | 'failed';

function drop(code: string, message: string, cause?: unknown): HandshakeError {
  return new HandshakeError(code, message, { cause, fatal: false });
}

function dead(code: string, message: string): HandshakeError {
  return new HandshakeError(code, message, { fatal: true });
}

/** True if `err` is a handshake error after which the machine is dead. */
export function isFatal(err: unknown): boolean {
  return (err as { fatal?: unknown } | null)?.fatal === true;
}

function decodeAs<T extends PeerFrame['type']>(bytes: Uint8Array, type: T): Extract<PeerFrame, { type: T }> {
  let frame: PeerFrame;
  try {
    frame = decodePeerFrame(bytes);
  } catch (err) {
    throw drop('SM_ERR_HS_MALFORMED', `handshake message does not decode: ${(err as Error).message}`, err);
  }
  if (frame.type !== type) throw drop('SM_ERR_HS_UNEXPECTED', `expected frame type ${type}, got ${frame.type}`);
  return frame as Extract<PeerFrame, { type: T }>;
}

function verifyPeer<P extends VerifiedPeer>(id: HandshakeIdentity<P>, cert: Uint8Array, expectedPeerId: Uint8Array, nowMs: number): P {
  let peer: P;
  try {
    peer = id.verifier.verify(cert, nowMs);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw drop('SM_ERR_HS_CERT', `peer certificate refused: ${(err as Error).message}${typeof code === 'string' ? ` (${code})` : ''}`, err);
  }
  if (!equalBytes(peer.peerId, expectedPeerId)) {
    throw drop('SM_ERR_HS_PEER_MISMATCH', 'certificate names another peer than the one this handshake is with');
  }
  return peer;
}

function checkIndex(name: string, index: number): void {
  if (!Number.isInteger(index) || index < 0 || index > 0xffff_ffff) {
    throw new HandshakeError('SM_ERR_HS_ARGUMENT', `${name}: expected a u32, got ${index}`);
  }
}

/**
 * Initiator side. Create with `HandshakeInitiator.start`, send `init`, feed the
 * RESP to `onResponse`, send the returned `finish`, install the returned keys.
 */
export class HandshakeInitiator<P extends VerifiedPeer = VerifiedPeer> {
  #state: InitiatorState = 'sent_init';
  readonly #id: HandshakeIdentity<P>;
  readonly #peerId: Uint8Array;
  readonly #localIndex: number;
  readonly #kem: HybridKemKeyPair;
  /** h1 = H(h0 ‖ INIT) */
  readonly #h1: Uint8Array;
  /** The encoded HS_INIT to send (and resend unchanged on retry: the responder dedups by timestamp). */
  readonly init: Uint8Array;
  readonly startedAtMs: number;

  private constructor(id: HandshakeIdentity<P>, peerId: Uint8Array, localIndex: number, kem: HybridKemKeyPair, init: Uint8Array, nowMs: number) {
    this.#id = id;
    this.#peerId = peerId;
    this.#localIndex = localIndex;
    this.#kem = kem;
    this.init = init;
    this.startedAtMs = nowMs;
    this.#h1 = transcriptMix(transcriptStart(), init);
  }

  /**
   * @param timestampMs strictly increasing per initiator identity (the caller keeps the last one);
   *   the responder refuses an INIT whose timestamp is not newer than the last it accepted from us.
   * @param kemSeed optional fixed seed for vectors (96 bytes, see HybridKemKeyPair.generate)
   */
  static start<P extends VerifiedPeer>(
    id: HandshakeIdentity<P>, peerId: Uint8Array, localIndex: number, timestampMs: number, nowMs: number, rng: Rng, kemSeed?: Uint8Array,
  ): HandshakeInitiator<P> {
    checkIndex('localIndex', localIndex);
    const kem = HybridKemKeyPair.generate(kemSeed);
    const init = encodePeerFrame({
      type: FrameType.HsInit,
      senderIndex: localIndex,
      timestampMs,
      nonce: rng(NONCE_BYTES),
      kemPublic: kem.publicKey,
      cert: id.certificate,
    });
    return new HandshakeInitiator(id, peerId, localIndex, kem, init, nowMs);
  }

  get state(): InitiatorState {
    return this.#state;
  }

  get failed(): boolean {
    return this.#state === 'failed';
  }

  get localIndex(): number {
    return this.#localIndex;
  }

  get peerId(): Uint8Array {
    return this.#peerId;
  }

  /** `init` with the responder's cookie appended (handshake.md §6): the same handshake, re-sent. A new buffer. */
  initWithCookie(cookie: Uint8Array): Uint8Array {
    if (cookie.length !== HS_COOKIE_MAC_BYTES) {
      throw new HandshakeError('SM_ERR_HS_ARGUMENT', `cookie: expected ${HS_COOKIE_MAC_BYTES} bytes, got ${cookie.length}`);
    }
    const out = new Uint8Array(this.init.length + HS_COOKIE_MAC_BYTES);
    out.set(this.init, 0);
    out.set(cookie, this.init.length);
    return out;
  }

  /** Process HS_RESP. Returns FINISH to send and the session keys, or throws HandshakeError (see contract). */
  onResponse(bytes: Uint8Array, nowMs: number): HandshakeResult<P> & { finish: Uint8Array } {
    if (this.#state !== 'sent_init') throw dead('SM_ERR_HS_STATE', `initiator is ${this.#state}`);
    const resp = decodeAs(bytes, FrameType.HsResp);
    if (resp.receiverIndex !== this.#localIndex) throw drop('SM_ERR_HS_INDEX', 'response is for another handshake');
    const peer = verifyPeer(this.#id, resp.cert, this.#peerId, nowMs);

    const signedPrefix = bytes.subarray(0, bytes.length - HYBRID_SIGNATURE_BYTES);
    const h2hash = transcriptMix(this.#h1, signedPrefix);
    if (!hybridVerify(peer.publicKey, SIG_CONTEXT_RESP, h2hash, resp.signature)) {
      throw drop('SM_ERR_HS_SIGNATURE', 'responder signature does not verify');
    }
    let ss: Uint8Array | undefined;
    try {
      try {
        ss = this.#kem.decapsulate(resp.kemCiphertext);
      } catch (err) {
        throw drop('SM_ERR_HS_KEM', `decapsulation failed: ${(err as Error).message}`, err);
      }
      const h3 = transcriptMix(h2hash, resp.signature);
      const finish = encodePeerFrame({
        type: FrameType.HsFinish,
        receiverIndex: resp.senderIndex,
        signature: this.#id.signer.sign(SIG_CONTEXT_FINISH, h3),
      });
      const k = deriveKeys(ss, h3);
      this.#state = 'done';
      this.#kem.destroy();
      return {
        finish,
        peer,
        keys: {
          localIndex: this.#localIndex,
          remoteIndex: resp.senderIndex,
          sendKey: k.initiatorToResponder,
          recvKey: k.responderToInitiator,
          pathAuthKey: k.pathAuth,
          isInitiator: true,
          establishedAtMs: nowMs,
        },
      };
    } finally {
      wipe(ss);
    }
  }

  /** Abandon the handshake and wipe the ephemeral secret. */
  destroy(): void {
    if (this.#state === 'sent_init') this.#state = 'failed';
    this.#kem.destroy();
  }
}

/** An HS_INIT whose certificate verified and names the sender the transport gave: not yet authenticated (see the header). */
export interface VerifiedInit<P extends VerifiedPeer = VerifiedPeer> {
  peer: P;
  senderIndex: number;
  timestampMs: number;
  kemPublic: Uint8Array;
  /** The INIT without any cookie: what h1 hashes. A view of the input. */
  transcriptBytes: Uint8Array;
}

/**
 * Responder side. Created from an HS_INIT by `HandshakeResponder.respond`
 * (or `verifyInit` then `respondVerified`), which returns the machine and
 * the RESP to send; feed HS_FINISH to `onFinish`.
 */
export class HandshakeResponder<P extends VerifiedPeer = VerifiedPeer> {
  #state: ResponderState = 'sent_resp';
  readonly #id: HandshakeIdentity<P>;
  readonly #peer: P;
  readonly #localIndex: number;
  readonly #remoteIndex: number;
  readonly #h3: Uint8Array;
  #sharedSecret: Uint8Array;
  /** The encoded HS_RESP to send (resend unchanged if the same INIT arrives again). */
  readonly resp: Uint8Array;
  /** The initiator's INIT timestamp, for the caller's replay check. */
  readonly initTimestampMs: number;
  readonly createdAtMs: number;

  private constructor(
    id: HandshakeIdentity<P>, peer: P, localIndex: number, remoteIndex: number, h3: Uint8Array, ss: Uint8Array,
    resp: Uint8Array, initTimestampMs: number, nowMs: number,
  ) {
    this.#id = id;
    this.#peer = peer;
    this.#localIndex = localIndex;
    this.#remoteIndex = remoteIndex;
    this.#h3 = h3;
    this.#sharedSecret = ss;
    this.resp = resp;
    this.initTimestampMs = initTimestampMs;
    this.createdAtMs = nowMs;
  }

  /**
   * Process HS_INIT that the transport says came from `srcPeerId`. Throws a
   * non-fatal HandshakeError to drop it. The caller checks the returned
   * machine's `initTimestampMs` against the last one accepted from this peer.
   * @param encapsSeed optional fixed seed for vectors (64 bytes, see hybridEncapsulate)
   */
  static respond<P extends VerifiedPeer>(
    id: HandshakeIdentity<P>, bytes: Uint8Array, srcPeerId: Uint8Array, localIndex: number, nowMs: number, encapsSeed?: Uint8Array,
  ): HandshakeResponder<P> {
    checkIndex('localIndex', localIndex);
    return HandshakeResponder.respondVerified(id, HandshakeResponder.verifyInit(id, bytes, srcPeerId, nowMs), localIndex, nowMs, encapsSeed);
  }

  /**
   * Decode HS_INIT and verify its certificate names `srcPeerId`; no KEM or
   * signing work. Throws a non-fatal HandshakeError to drop it. The result
   * aliases `bytes`: use it before the buffer is reused.
   */
  static verifyInit<P extends VerifiedPeer>(id: HandshakeIdentity<P>, bytes: Uint8Array, srcPeerId: Uint8Array, nowMs: number): VerifiedInit<P> {
    const init = decodeAs(bytes, FrameType.HsInit);
    const peer = verifyPeer(id, init.cert, srcPeerId, nowMs);
    return { peer, senderIndex: init.senderIndex, timestampMs: init.timestampMs, kemPublic: init.kemPublic, transcriptBytes: initWithoutCookie(init, bytes) };
  }

  /** The expensive half of `respond`: encapsulate to the INIT's key and sign the transcript. */
  static respondVerified<P extends VerifiedPeer>(
    id: HandshakeIdentity<P>, init: VerifiedInit<P>, localIndex: number, nowMs: number, encapsSeed?: Uint8Array,
  ): HandshakeResponder<P> {
    checkIndex('localIndex', localIndex);
    const peer = init.peer;
    let enc: { cipherText: Uint8Array; sharedSecret: Uint8Array };
    try {
      enc = hybridEncapsulate(init.kemPublic, encapsSeed);
    } catch (err) {
      throw drop('SM_ERR_HS_KEM', `encapsulation failed: ${(err as Error).message}`, err);
    }
    const h1 = transcriptMix(transcriptStart(), init.transcriptBytes);
    const resp = encodePeerFrame({
      type: FrameType.HsResp,
      senderIndex: localIndex,
      receiverIndex: init.senderIndex,
      kemCiphertext: enc.cipherText,
      cert: id.certificate,
      signature: new Uint8Array(HYBRID_SIGNATURE_BYTES),
    });
    const sigOffset = resp.length - HYBRID_SIGNATURE_BYTES;
    const h2 = transcriptMix(h1, resp.subarray(0, sigOffset));
    const sig = id.signer.sign(SIG_CONTEXT_RESP, h2);
    resp.set(sig, sigOffset);
    const h3 = transcriptMix(h2, sig);
    return new HandshakeResponder(id, peer, localIndex, init.senderIndex, h3, enc.sharedSecret, resp, init.timestampMs, nowMs);
  }

  get state(): ResponderState {
    return this.#state;
  }

  get failed(): boolean {
    return this.#state === 'failed';
  }

  get localIndex(): number {
    return this.#localIndex;
  }

  get peer(): P {
    return this.#peer;
  }

  /** Process HS_FINISH. Returns the session keys, or throws HandshakeError (see contract). */
  onFinish(bytes: Uint8Array, nowMs: number): HandshakeResult<P> {
    if (this.#state !== 'sent_resp') throw dead('SM_ERR_HS_STATE', `responder is ${this.#state}`);
    const fin = decodeAs(bytes, FrameType.HsFinish);
    if (fin.receiverIndex !== this.#localIndex) throw drop('SM_ERR_HS_INDEX', 'finish is for another handshake');
    if (!hybridVerify(this.#peer.publicKey, SIG_CONTEXT_FINISH, this.#h3, fin.signature)) {
      throw drop('SM_ERR_HS_SIGNATURE', 'initiator signature does not verify');
    }
    const k = deriveKeys(this.#sharedSecret, this.#h3);
    this.#state = 'done';
    wipe(this.#sharedSecret);
    return {
      peer: this.#peer,
      keys: {
        localIndex: this.#localIndex,
        remoteIndex: this.#remoteIndex,
        sendKey: k.responderToInitiator,
        recvKey: k.initiatorToResponder,
        pathAuthKey: k.pathAuth,
        isInitiator: false,
        establishedAtMs: nowMs,
      },
    };
  }

  destroy(): void {
    if (this.#state === 'sent_resp') this.#state = 'failed';
    wipe(this.#sharedSecret);
  }
}
