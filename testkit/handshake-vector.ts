/**
 * Reproducible peer handshakes for the committed vectors
 * (test/vectors/handshake-v1.json, docs/handshake.md §5). Every random input
 * is fixed: identity seeds, the initiator's KEM seed, the responder's
 * encapsulation seed, indices, timestamp, nonce and deterministic ML-DSA
 * signing (rnd = 32 zero bytes). Certificates are inputs (they carry a CA
 * signature made once), so they are stored in the vector file as they are.
 */
import { HybridSigner } from '../src/crypto/hybrid-sign.js';
import { fromHex, sha256, toHex } from '../src/crypto/bytes.js';
import { decodeCaCertificate } from '../src/identity/certificate.js';
import { MembershipVerifier } from '../src/identity/membership.js';
import { peerIdFromPublicKey } from '../src/identity/peer-id.js';
import { HandshakeInitiator, HandshakeResponder, type TranscriptSigner } from '../src/handshake/peer-handshake.js';

export interface HandshakeVectorInputs {
  caCert: string;
  initiatorSeed: string;
  initiatorCert: string;
  responderSeed: string;
  responderCert: string;
  kemSeed: string;
  encapsSeed: string;
  nonce: string;
  initiatorIndex: number;
  responderIndex: number;
  timestampMs: number;
  nowMs: number;
}

export interface HandshakeVectorOutputs {
  initSha256: string;
  initLength: number;
  respSha256: string;
  respLength: number;
  finishSha256: string;
  finishLength: number;
  keyInitiatorToResponder: string;
  keyResponderToInitiator: string;
  keyPathAuth: string;
}

const ZERO_RND = new Uint8Array(32);

function deterministic(signer: HybridSigner): TranscriptSigner {
  return { sign: (context, message) => signer.sign(context, message, ZERO_RND) };
}

export function runHandshakeVector(v: HandshakeVectorInputs): HandshakeVectorOutputs {
  const ca = decodeCaCertificate(fromHex(v.caCert));
  const verifier = new MembershipVerifier(ca);
  const iSigner = HybridSigner.fromSeed(fromHex(v.initiatorSeed));
  const rSigner = HybridSigner.fromSeed(fromHex(v.responderSeed));
  const iId = { signer: deterministic(iSigner), certificate: fromHex(v.initiatorCert), verifier };
  const rId = { signer: deterministic(rSigner), certificate: fromHex(v.responderCert), verifier };
  const nonce = fromHex(v.nonce);
  const ini = HandshakeInitiator.start(iId, peerIdFromPublicKey(rSigner.publicKey), v.initiatorIndex, v.timestampMs, v.nowMs, () => nonce, fromHex(v.kemSeed));
  const res = HandshakeResponder.respond(rId, ini.init, peerIdFromPublicKey(iSigner.publicKey), v.responderIndex, v.nowMs, fromHex(v.encapsSeed));
  const a = ini.onResponse(res.resp, v.nowMs);
  const b = res.onFinish(a.finish, v.nowMs);
  if (toHex(a.keys.sendKey) !== toHex(b.keys.recvKey)) throw new Error('vector handshake: keys disagree');
  return {
    initSha256: toHex(sha256(ini.init)),
    initLength: ini.init.length,
    respSha256: toHex(sha256(res.resp)),
    respLength: res.resp.length,
    finishSha256: toHex(sha256(a.finish)),
    finishLength: a.finish.length,
    keyInitiatorToResponder: toHex(a.keys.sendKey),
    keyResponderToInitiator: toHex(a.keys.recvKey),
    keyPathAuth: toHex(a.keys.pathAuthKey),
  };
}
