/**
 * Transcript hash and key schedule of the peer handshake (docs/handshake.md
 * §3). Kept apart from message processing so the
 * schedule can be read, tested and versioned on its own.
 *
 * Transcript: h0 = SHA-256(PROTOCOL_LABEL); every handshake message (or the
 * signed prefix of one) is mixed in as h' = SHA-256(h ‖ bytes). Because the
 * messages carry both certificates, the initiator's ephemeral hybrid KEM
 * public key and the responder's ciphertext, the final hash binds all of them.
 *
 * Keys: prk = HKDF-Extract(salt = final transcript hash, ikm = hybrid shared
 * secret); each key is HKDF-Expand(prk, label, 32) with a distinct label.
 * The hybrid shared secret itself already binds both component secrets, both
 * ciphertexts and both public keys (src/crypto/hybrid-kem.ts).
 *
 * Returned keys are fresh buffers owned by the caller, who wipes them.
 */
import { hkdfExpand, hkdfExtract } from '../crypto/hkdf.js';
import { sha256, utf8, wipe } from '../crypto/bytes.js';

/** Names every primitive, so a change of any of them changes every key. */
export const PROTOCOL_LABEL = 'shadowmesh peer-handshake v1: x25519+mlkem1024, ed25519+mldsa87, hkdf-sha256';
export const LABEL_INITIATOR_TO_RESPONDER = 'shadowmesh v1 key i->r';
export const LABEL_RESPONDER_TO_INITIATOR = 'shadowmesh v1 key r->i';
/** Reserved for proving session possession on direct paths (re-handshake). */
export const LABEL_PATH_AUTH = 'shadowmesh v1 key path-auth';

export const SESSION_KEY_BYTES = 32;

/** h0, the transcript's starting value. */
export function transcriptStart(): Uint8Array {
  return sha256(utf8(PROTOCOL_LABEL));
}

/** One transcript step: h' = SHA-256(h ‖ bytes). Returns a new buffer; inputs are not modified. */
export function transcriptMix(h: Uint8Array, bytes: Uint8Array): Uint8Array {
  return sha256(h, bytes);
}

export interface DerivedKeys {
  initiatorToResponder: Uint8Array;
  responderToInitiator: Uint8Array;
  pathAuth: Uint8Array;
}

export function deriveKeys(sharedSecret: Uint8Array, transcriptHash: Uint8Array): DerivedKeys {
  const prk = hkdfExtract(transcriptHash, sharedSecret);
  try {
    return {
      initiatorToResponder: hkdfExpand(prk, LABEL_INITIATOR_TO_RESPONDER, SESSION_KEY_BYTES),
      responderToInitiator: hkdfExpand(prk, LABEL_RESPONDER_TO_INITIATOR, SESSION_KEY_BYTES),
      pathAuth: hkdfExpand(prk, LABEL_PATH_AUTH, SESSION_KEY_BYTES),
    };
  } finally {
    wipe(prk);
  }
}
