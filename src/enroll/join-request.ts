/**
 * The body of `POST /v1/join` to the enrollment service, its parser and
 * the proof of possession (docs/architecture.md "Enrollment"):
 *
 *     {"v": 1, "token": "<16 hex>", "secret": "<base64url, 32 bytes>",
 *      "name": "<member name>", "publicKey": "<base64, 2624 bytes>",
 *      "proof": "<base64, 4691 bytes>"}
 *
 * The proof is the member key's hybrid signature (context JOIN_PROOF_CONTEXT)
 * over token id || TLS exporter || SHA-256(name): it shows the requester
 * holds the private key the certificate will name, and the TLS exporter
 * (RFC 8446 §7.5, label EXPORTER_LABEL, 32 bytes) ties it to this one
 * connection, so a recorded request cannot be replayed elsewhere. A renewal
 * request (authenticated by the member's current key instead of a token)
 * signs the same kind of message under its own context.
 *
 * parseJoinRequest never throws anything but SM_ERR_ENROLL_REQUEST: any
 * bytes in, a checked request or a coded refusal out.
 */
import { concatBytes, sha256 } from '../crypto/bytes.js';
import { HYBRID_SIGN_PUBLIC_BYTES, HYBRID_SIGNATURE_BYTES, hybridVerify, type HybridSigner } from '../crypto/hybrid-sign.js';
import { checkName } from '../identity/cert-fields.js';
import { EnrollCode, EnrollError } from './enroll-errors.js';
import { TOKEN_SECRET_BYTES } from './join-token.js';
import { base64Field, requestObject } from './request-body.js';

export const JOIN_PROOF_CONTEXT = 'shadowmesh-enroll-join-v1';
export const EXPORTER_LABEL = 'EXPORTER-shadowmesh-enroll';
export const EXPORTER_BYTES = 32;

export interface JoinRequest {
  tokenId: string;
  secret: Uint8Array;
  name: string;
  publicKey: Uint8Array;
  proof: Uint8Array;
}

const KEYS = ['v', 'token', 'secret', 'name', 'publicKey', 'proof'];

function refuse(why: string): EnrollError {
  return new EnrollError(EnrollCode.REQUEST, `malformed join request: ${why}`);
}

export function parseJoinRequest(body: Uint8Array): JoinRequest {
  const o = requestObject(body, 'join', refuse);
  const extra = Object.keys(o).find((k) => !KEYS.includes(k));
  if (extra !== undefined) throw refuse(`unknown field ${JSON.stringify(extra.slice(0, 64))}`);
  if (o['v'] !== 1) throw refuse('v: expected 1');
  const tokenId = o['token'];
  if (typeof tokenId !== 'string' || !/^[0-9a-f]{16}$/.test(tokenId)) throw refuse('token: expected 16 hex digits');
  const name = o['name'];
  if (typeof name !== 'string') throw refuse('name: expected a string');
  try {
    checkName(name, 'name');
  } catch (err) {
    throw refuse((err as Error).message);
  }
  return {
    tokenId,
    secret: base64Field(o['secret'], 'secret', refuse, { bytes: TOKEN_SECRET_BYTES, url: true }),
    name,
    publicKey: base64Field(o['publicKey'], 'publicKey', refuse, { bytes: HYBRID_SIGN_PUBLIC_BYTES }),
    proof: base64Field(o['proof'], 'proof', refuse, { bytes: HYBRID_SIGNATURE_BYTES }),
  };
}

function proofMessage(tokenId: string, exporter: Uint8Array, name: string): Uint8Array {
  return concatBytes(Uint8Array.from(Buffer.from(tokenId, 'hex')), exporter, sha256(new TextEncoder().encode(name)));
}

/** The request body a member sends, signed with its new key over this connection's exporter. */
export function buildJoinRequest(signer: HybridSigner, tokenId: string, secret: Uint8Array, name: string, exporter: Uint8Array): string {
  const proof = signer.sign(JOIN_PROOF_CONTEXT, proofMessage(tokenId, exporter, name));
  return JSON.stringify({
    v: 1,
    token: tokenId,
    secret: Buffer.from(secret).toString('base64url'),
    name,
    publicKey: Buffer.from(signer.publicKey).toString('base64'),
    proof: Buffer.from(proof).toString('base64'),
  });
}

/** SM_ERR_ENROLL_PROOF unless the proof verifies for this connection's exporter. */
export function checkJoinProof(req: JoinRequest, exporter: Uint8Array): void {
  let ok = false;
  try {
    ok = hybridVerify(req.publicKey, JOIN_PROOF_CONTEXT, proofMessage(req.tokenId, exporter, req.name), req.proof);
  } catch {
    ok = false;
  }
  if (!ok) throw new EnrollError(EnrollCode.PROOF, 'the proof of possession of the member key does not verify for this connection');
}
