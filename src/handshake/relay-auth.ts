/**
 * Relay admission: the pure state machines behind HELLO → CHALLENGE → AUTH →
 * ESTABLISHED (docs/protocol.md §1, "Admission"). No sockets, no timers, no
 * logging: callers pass bytes, the time and a random source, and get bytes to
 * send, an admitted certificate, or an error (docs/conventions.md §5).
 *
 * Proof of possession. AUTH carries a hybrid signature (Ed25519 + ML-DSA-87),
 * context `relay-auth`, over
 *
 *     SHA-256("shadowmesh relay-auth v1" ‖ exporter[32] ‖ HELLO bytes ‖ CHALLENGE bytes)
 *
 * made with the key of the certificate sent in HELLO (`relayAuthTranscript`).
 * `exporter` is this TLS connection's exporter (label
 * EXPORTER-shadowmesh-relay-auth, 32 bytes), and CHALLENGE holds a fresh relay
 * nonce, so an AUTH is worthless on any other connection or challenge.
 *
 * Server states (RelayAuthServer):
 *
 *     await-hello --onHello ok--> await-auth --onAuth ok--> admitted
 *          |                           |
 *          +------ any error ----------+--------> failed
 *
 * Client states (RelayAuthClient):
 *
 *     start --hello()--> await-challenge --onChallenge ok--> await-established
 *                              |                                   |
 *                              |                   onEstablished ok+--> established
 *                              +------ error or relay ERROR -------+--> failed
 *
 * Error contract. Every error is a RelayAuthError (a HandshakeError):
 *  - `fatal: true` — the machine is now `failed` and must be discarded; the
 *    relay answers with ERROR(`relayCode`) and closes, the client gives up on
 *    this connection. Anything wrong with received bytes is fatal: admission
 *    has no retransmissions, so there is nothing to wait for.
 *  - `fatal: false` — SM_ERR_RELAY_AUTH_STATE: the caller called a method in
 *    the wrong state (a programmer mistake). The machine is unchanged.
 * `failed` tells callers which case they are in without inspecting errors.
 *
 * Codes and their protocol ERROR codes (RELAY_AUTH_CODES): NotMember,
 * CertValidity, Revoked, BadSignature, Protocol. When the relay refuses, the
 * client's error carries the relay's code, mapped to the same SM_ERR_* code
 * the relay used (`errorFromRelayCode`), with `byRelay: true`.
 *
 * Buffers: returned frames are fresh arrays. The admitted certificate is what
 * the verifier returned; this module keeps copies of HELLO/CHALLENGE only until
 * the machine finishes.
 */
import { HandshakeError } from '../errors.js';
import { sha256, utf8 } from '../crypto/bytes.js';
import { hybridVerify, type HybridSigner } from '../crypto/hybrid-sign.js';
import { FrameType, NONCE_BYTES, RelayErrorCode } from '../wire/constants.js';
import { decodeRelayFrame, encodeRelayFrame, type RelayFrame } from '../wire/relay-frames.js';
import { RelayAuthCode, type RelayAuthCodeValue } from './handshake-errors.js';

/** Hybrid-signature context for AUTH (protocol.md §1). */
export const RELAY_AUTH_CONTEXT = 'relay-auth';
/** Versioned label that starts the transcript hash (protocol.md §1). */
export const RELAY_AUTH_LABEL = 'shadowmesh relay-auth v1';
/** TLS exporter label (RFC 8446 §7.5); empty context. */
export const RELAY_AUTH_EXPORTER_LABEL = 'EXPORTER-shadowmesh-relay-auth';
/** TLS exporter length the transcript binds. */
export const RELAY_AUTH_EXPORTER_BYTES = 32;

/** Protocol ERROR/CLOSE code (protocol.md §1) -> SM_ERR_* code, one-to-one. */
const RELAY_CODE_TO_SM: ReadonlyMap<number, RelayAuthCodeValue> = new Map<number, RelayAuthCodeValue>([
  [RelayErrorCode.Protocol, RelayAuthCode.PROTOCOL],
  [RelayErrorCode.NotMember, RelayAuthCode.NOT_MEMBER],
  [RelayErrorCode.CertValidity, RelayAuthCode.CERT_VALIDITY],
  [RelayErrorCode.Revoked, RelayAuthCode.REVOKED],
  [RelayErrorCode.BadSignature, RelayAuthCode.BAD_SIGNATURE],
  [RelayErrorCode.HandshakeTimeout, RelayAuthCode.TIMEOUT],
  [RelayErrorCode.RelayFull, RelayAuthCode.RELAY_FULL],
  [RelayErrorCode.FrameTooLarge, RelayAuthCode.FRAME_TOO_LARGE],
  [RelayErrorCode.RateLimited, RelayAuthCode.RATE_LIMITED],
  [RelayErrorCode.Replaced, RelayAuthCode.REPLACED],
  [RelayErrorCode.ShuttingDown, RelayAuthCode.SHUTTING_DOWN],
  [RelayErrorCode.IdleTimeout, RelayAuthCode.IDLE_TIMEOUT],
]);

/** SM_ERR_* code for a protocol ERROR/CLOSE code; unknown codes map to UNKNOWN. */
export function smCodeOfRelayCode(relayCode: number): RelayAuthCodeValue {
  return RELAY_CODE_TO_SM.get(relayCode) ?? RelayAuthCode.UNKNOWN;
}

/** An admission failure: `relayCode` is the protocol code to send (relay) or that was received (client). */
export class RelayAuthError extends HandshakeError {
  override name = 'RelayAuthError';
  readonly relayCode: number;
  /** True when the relay sent this refusal (client side); false when detected locally. */
  readonly byRelay: boolean;
  constructor(code: RelayAuthCodeValue, relayCode: number, message: string, options?: { cause?: unknown; fatal?: boolean; byRelay?: boolean }) {
    super(code, message, { cause: options?.cause, fatal: options?.fatal ?? true });
    this.relayCode = relayCode;
    this.byRelay = options?.byRelay ?? false;
  }
}

/** The client-side error for a relay's ERROR/CLOSE frame. */
export function errorFromRelayCode(relayCode: number, message: string): RelayAuthError {
  return new RelayAuthError(smCodeOfRelayCode(relayCode), relayCode, `relay refused: ${message || 'no reason given'} (relay code ${relayCode})`, { byRelay: true });
}

/** Membership verifier error codes (src/identity) -> the admission refusal they cause. */
const IDENTITY_REFUSALS: ReadonlyMap<string, [RelayAuthCodeValue, number]> = new Map<string, [RelayAuthCodeValue, number]>([
  // A certificate that does not even decode cannot prove membership either.
  ['SM_ERR_CERT_MALFORMED', [RelayAuthCode.NOT_MEMBER, RelayErrorCode.NotMember]],
  ['SM_ERR_CERT_NOT_MEMBER', [RelayAuthCode.NOT_MEMBER, RelayErrorCode.NotMember]],
  ['SM_ERR_CERT_NOT_YET_VALID', [RelayAuthCode.CERT_VALIDITY, RelayErrorCode.CertValidity]],
  ['SM_ERR_CERT_EXPIRED', [RelayAuthCode.CERT_VALIDITY, RelayErrorCode.CertValidity]],
  ['SM_ERR_CERT_REVOKED', [RelayAuthCode.REVOKED, RelayErrorCode.Revoked]],
]);

/** What the relay needs of a member certificate. `MemberCertificate` (src/identity) fits. */
export interface AdmissibleCertificate {
  readonly peerId: Uint8Array;
  readonly publicKey: Uint8Array;
}

/** The relay's view of membership: MembershipVerifier (src/identity) fits. Throws IdentityError codes on refusal. */
export interface MembershipCheck<C extends AdmissibleCertificate> {
  verify(certBytes: Uint8Array, nowMs: number): C;
}

/** The hash the AUTH signature covers (protocol.md §1). */
export function relayAuthTranscript(exporter: Uint8Array, hello: Uint8Array, challenge: Uint8Array): Uint8Array {
  return sha256(utf8(RELAY_AUTH_LABEL), exporter, hello, challenge);
}

function checkExporter(exporter: Uint8Array): void {
  if (!(exporter instanceof Uint8Array) || exporter.length !== RELAY_AUTH_EXPORTER_BYTES) {
    throw new RelayAuthError(RelayAuthCode.STATE, RelayErrorCode.Protocol, `relay-auth exporter: expected ${RELAY_AUTH_EXPORTER_BYTES} bytes, got ${exporter instanceof Uint8Array ? exporter.length : typeof exporter}`, { fatal: false });
  }
}

function decodeOrFail(bytes: Uint8Array, what: string): RelayFrame {
  try {
    return decodeRelayFrame(bytes);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw new RelayAuthError(RelayAuthCode.PROTOCOL, RelayErrorCode.Protocol, `${what}: frame does not decode (${String(code ?? err)})`, { cause: err });
  }
}

function copy(bytes: Uint8Array): Uint8Array {
  return Uint8Array.prototype.slice.call(bytes) as Uint8Array;
}

// ---------------------------------------------------------------- server side

export type RelayAuthServerState = 'await-hello' | 'await-auth' | 'admitted' | 'failed';

/**
 * The relay's half. One instance per connection; `exporter` is that
 * connection's TLS exporter value (server side of the same TLS session).
 */
export class RelayAuthServer<C extends AdmissibleCertificate> {
  readonly #verifier: MembershipCheck<C>;
  readonly #exporter: Uint8Array;
  #state: RelayAuthServerState = 'await-hello';
  #hello: Uint8Array | null = null;
  #challenge: Uint8Array | null = null;
  #candidate: C | null = null;
  #admitted: C | null = null;

  constructor(deps: { verifier: MembershipCheck<C> }, params: { exporter: Uint8Array }) {
    checkExporter(params.exporter);
    this.#verifier = deps.verifier;
    this.#exporter = copy(params.exporter);
  }

  get state(): RelayAuthServerState {
    return this.#state;
  }

  get failed(): boolean {
    return this.#state === 'failed';
  }

  /** The certificate presented in HELLO (verified for membership), once HELLO was accepted. */
  get presented(): C | null {
    return this.#candidate;
  }

  /** The admitted certificate, once `admitted`. */
  get admitted(): C | null {
    return this.#admitted;
  }

  /**
   * HELLO in, CHALLENGE out. Verifies membership (CA signature, validity at
   * `nowMs`, revocation) before spending a nonce. `rng(n)` must return n
   * fresh CSPRNG bytes.
   */
  onHello(bytes: Uint8Array, nowMs: number, rng: (n: number) => Uint8Array): Uint8Array {
    this.#expect('await-hello', 'onHello');
    return this.#guard(() => {
      const frame = decodeOrFail(bytes, 'HELLO');
      if (frame.type !== FrameType.Hello) {
        throw new RelayAuthError(RelayAuthCode.PROTOCOL, RelayErrorCode.Protocol, `expected HELLO, got frame type ${frame.type}`);
      }
      let cert: C;
      try {
        cert = this.#verifier.verify(frame.cert, nowMs);
      } catch (err) {
        const code = String((err as { code?: unknown }).code ?? '');
        const refusal = IDENTITY_REFUSALS.get(code);
        if (refusal === undefined) throw err;
        throw new RelayAuthError(refusal[0], refusal[1], `certificate refused: ${code}`, { cause: err });
      }
      const serverNonce = rng(NONCE_BYTES);
      if (!(serverNonce instanceof Uint8Array) || serverNonce.length !== NONCE_BYTES) {
        throw new RelayAuthError(RelayAuthCode.STATE, RelayErrorCode.Protocol, `relay-auth rng: expected ${NONCE_BYTES} bytes`, { fatal: false });
      }
      const challenge = encodeRelayFrame({ type: FrameType.Challenge, serverNonce, relayTimeMs: nowMs });
      this.#hello = copy(bytes);
      this.#challenge = challenge;
      this.#candidate = cert;
      this.#state = 'await-auth';
      return challenge;
    });
  }

  /** AUTH in, admitted certificate out. */
  onAuth(bytes: Uint8Array): C {
    this.#expect('await-auth', 'onAuth');
    return this.#guard(() => {
      const frame = decodeOrFail(bytes, 'AUTH');
      if (frame.type !== FrameType.Auth) {
        throw new RelayAuthError(RelayAuthCode.PROTOCOL, RelayErrorCode.Protocol, `expected AUTH, got frame type ${frame.type}`);
      }
      const cert = this.#candidate as C;
      const transcript = relayAuthTranscript(this.#exporter, this.#hello as Uint8Array, this.#challenge as Uint8Array);
      let ok = false;
      try {
        ok = hybridVerify(cert.publicKey, RELAY_AUTH_CONTEXT, transcript, frame.signature);
      } catch (err) {
        throw new RelayAuthError(RelayAuthCode.BAD_SIGNATURE, RelayErrorCode.BadSignature, 'AUTH signature does not verify', { cause: err });
      }
      if (!ok) throw new RelayAuthError(RelayAuthCode.BAD_SIGNATURE, RelayErrorCode.BadSignature, 'AUTH signature does not verify');
      this.#admitted = cert;
      this.#state = 'admitted';
      this.#hello = null;
      this.#challenge = null;
      return cert;
    });
  }

  #expect(state: RelayAuthServerState, method: string): void {
    if (this.#state !== state) {
      throw new RelayAuthError(RelayAuthCode.STATE, RelayErrorCode.Protocol, `relay-auth server: ${method} in state ${this.#state}`, { fatal: false });
    }
  }

  #guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof RelayAuthError && !err.fatal) throw err;
      this.#state = 'failed';
      this.#hello = null;
      this.#challenge = null;
      if (err instanceof RelayAuthError) throw err;
      // Anything unexpected from a collaborator still ends admission as a protocol failure.
      throw new RelayAuthError(RelayAuthCode.PROTOCOL, RelayErrorCode.Protocol, `admission failed: ${(err as Error).message ?? String(err)}`, { cause: err });
    }
  }
}

/** Map any error thrown during admission to the protocol code the relay sends. */
export function relayCodeOf(err: unknown): number {
  return err instanceof RelayAuthError ? err.relayCode : RelayErrorCode.Protocol;
}

// ---------------------------------------------------------------- client side

export type RelayAuthClientState = 'start' | 'await-challenge' | 'await-established' | 'established' | 'failed';

/** What ESTABLISHED tells the node. Fields are copies; they do not alias the frame. */
export interface RelayAdmission {
  sessionId: Uint8Array;
  heartbeatMs: number;
  idleTimeoutMs: number;
  maxFrameBytes: number;
  observedAddress: string;
  observedPort: number;
  /** The relay's clock in CHALLENGE (for skew diagnostics only). */
  relayTimeMs: number;
}

/** The node's signing key, as the relay link needs it. HybridSigner fits. */
export type RelayAuthSigner = Pick<HybridSigner, 'sign'>;

/** The node's half. One instance per connection attempt. */
export class RelayAuthClient {
  readonly #signer: RelayAuthSigner;
  readonly #certificate: Uint8Array;
  #state: RelayAuthClientState = 'start';
  #hello: Uint8Array | null = null;
  #relayTimeMs = 0;

  constructor(deps: { signer: RelayAuthSigner; certificate: Uint8Array }) {
    this.#signer = deps.signer;
    this.#certificate = deps.certificate;
  }

  get state(): RelayAuthClientState {
    return this.#state;
  }

  get failed(): boolean {
    return this.#state === 'failed';
  }

  /** HELLO bytes with a fresh client nonce from `rng`. */
  hello(rng: (n: number) => Uint8Array): Uint8Array {
    this.#expect('start', 'hello');
    const hello = encodeRelayFrame({ type: FrameType.Hello, clientNonce: rng(NONCE_BYTES), cert: this.#certificate });
    this.#hello = hello;
    this.#state = 'await-challenge';
    return hello;
  }

  /**
   * CHALLENGE (or the relay's ERROR) in, AUTH out. `exporter` is this
   * connection's TLS exporter, client side.
   */
  onChallenge(bytes: Uint8Array, exporter: Uint8Array): Uint8Array {
    this.#expect('await-challenge', 'onChallenge');
    checkExporter(exporter);
    return this.#guard(() => {
      const frame = this.#decodeExpecting(bytes, FrameType.Challenge, 'CHALLENGE');
      if (frame.type !== FrameType.Challenge) throw new Error('unreachable');
      const transcript = relayAuthTranscript(exporter, this.#hello as Uint8Array, bytes);
      const signature = this.#signer.sign(RELAY_AUTH_CONTEXT, transcript);
      this.#relayTimeMs = frame.relayTimeMs;
      this.#state = 'await-established';
      this.#hello = null;
      return encodeRelayFrame({ type: FrameType.Auth, signature });
    });
  }

  /** ESTABLISHED (or the relay's ERROR) in, admission details out. */
  onEstablished(bytes: Uint8Array): RelayAdmission {
    this.#expect('await-established', 'onEstablished');
    return this.#guard(() => {
      const frame = this.#decodeExpecting(bytes, FrameType.Established, 'ESTABLISHED');
      if (frame.type !== FrameType.Established) throw new Error('unreachable');
      this.#state = 'established';
      return {
        sessionId: copy(frame.sessionId),
        heartbeatMs: frame.heartbeatMs,
        idleTimeoutMs: frame.idleTimeoutMs,
        maxFrameBytes: frame.maxFrameBytes,
        observedAddress: frame.observedAddress,
        observedPort: frame.observedPort,
        relayTimeMs: this.#relayTimeMs,
      };
    });
  }

  #decodeExpecting(bytes: Uint8Array, type: number, what: string): RelayFrame {
    const frame = decodeOrFail(bytes, what);
    if (frame.type === FrameType.Error || frame.type === FrameType.Close) {
      const message = frame.type === FrameType.Error ? frame.message : frame.reason;
      throw errorFromRelayCode(frame.code, message);
    }
    if (frame.type !== type) {
      throw new RelayAuthError(RelayAuthCode.PROTOCOL, RelayErrorCode.Protocol, `expected ${what}, got frame type ${frame.type}`);
    }
    return frame;
  }

  #expect(state: RelayAuthClientState, method: string): void {
    if (this.#state !== state) {
      throw new RelayAuthError(RelayAuthCode.STATE, RelayErrorCode.Protocol, `relay-auth client: ${method} in state ${this.#state}`, { fatal: false });
    }
  }

  #guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      this.#state = 'failed';
      this.#hello = null;
      if (err instanceof RelayAuthError) throw err;
      throw new RelayAuthError(RelayAuthCode.PROTOCOL, RelayErrorCode.Protocol, `admission failed: ${(err as Error).message ?? String(err)}`, { cause: err });
    }
  }
}
