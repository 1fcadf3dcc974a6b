/**
 * Peer frames a malicious relay (or anyone who saw a member's certificate)
 * can make without any member's key, for adversary tests of the handshake
 * and peer state (docs/handshake.md §4, §6; docs/threat-model.md "Malicious
 * relay"). Deliver them with MaliciousRelay.deliverAs(dst, claimedSrc, bytes).
 *
 *   forgedInit(cert, timestampMs, opts?)  an HS_INIT carrying `cert` (a real
 *       member's public certificate, or another's) with any timestamp, a fresh
 *       KEM key and nonce; optionally a cookie. It is well formed and its
 *       certificate verifies, but nobody can complete its handshake: that
 *       takes the certificate's identity key.
 *   junkInit(rng?)  bytes with an HS_INIT header and random content: fails to
 *       decode.
 *   unknownIndexData(rng?)  a well-formed DATA frame for a random receiver
 *       index: what a node sees from a peer that lost its keys.
 *   randomPeerId(rng?)  32 random bytes: a sender id no certificate names.
 *
 * Every function returns a new buffer; none keeps state.
 */
import { randomBytes } from '../../src/crypto/bytes.js';
import { HandshakeInitiator } from '../../src/handshake/peer-handshake.js';
import { DATA_MIN_BYTES, FrameType, PEER_ID_BYTES, PROTOCOL_VERSION } from '../../src/wire/constants.js';

type Rng = (n: number) => Uint8Array;

/** An INIT needs no signature; a signer that refuses proves it. */
const NO_SIGNER = { sign(): Uint8Array { throw new Error('forged INITs are not signed'); } };
/** Certificates are never checked when making an INIT. */
const NO_VERIFIER = { verify(): never { throw new Error('not used to make an INIT'); } };

export function forgedInit(cert: Uint8Array, timestampMs: number, opts: { nowMs?: number; senderIndex?: number; cookie?: Uint8Array; rng?: Rng } = {}): Uint8Array {
  const rng = opts.rng ?? randomBytes;
  const nowMs = opts.nowMs ?? Date.now();
  const init = HandshakeInitiator.start(
    { signer: NO_SIGNER, certificate: cert, verifier: NO_VERIFIER },
    new Uint8Array(PEER_ID_BYTES), opts.senderIndex ?? 0x5eed, timestampMs, nowMs, rng,
  );
  try {
    return opts.cookie === undefined ? init.init : init.initWithCookie(opts.cookie);
  } finally {
    init.destroy();
  }
}

export function junkInit(rng: Rng = randomBytes): Uint8Array {
  const bytes = rng(2048);
  bytes.set([PROTOCOL_VERSION, FrameType.HsInit, 0, 0]);
  return bytes;
}

export function unknownIndexData(rng: Rng = randomBytes): Uint8Array {
  const bytes = rng(DATA_MIN_BYTES + 32);
  bytes.set([PROTOCOL_VERSION, FrameType.Data, 0, 0]);
  return bytes;
}

export function randomPeerId(rng: Rng = randomBytes): Uint8Array {
  return rng(PEER_ID_BYTES);
}
