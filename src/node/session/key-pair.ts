/**
 * One key pair of a peer session: the sealer for our direction, the opener
 * and replay window for theirs, the indices that name it on the wire
 * (docs/protocol.md §2, DATA receiverIndex) and the handed-over key buffers.
 *
 * Lifecycle: current (seals and opens) -> retired (opens only, during the
 * previous-key grace; its sealer is destroyed at once) -> destroyed (every
 * copy of the key material wiped, including the caller's SessionKeys buffers,
 * which this object owns). Which transitions happen when is decided by
 * session-timers.ts; this class only carries them out.
 */
import { AeadOpener, AeadSealer, type AeadAlgorithm } from '../../crypto/aead.js';
import { wipe } from '../../crypto/bytes.js';
import { ReplayWindow } from './replay-window.js';
import type { SessionKeys } from './session-keys.js';
import type { TimedKeyPair } from './session-timers.js';

export class KeyPair implements TimedKeyPair {
  readonly localIndex: number;
  readonly remoteIndex: number;
  readonly isInitiator: boolean;
  readonly createdAtMs: number;
  readonly replay: ReplayWindow;
  readonly opener: AeadOpener;
  /** null once retired or destroyed: a retired pair never seals. */
  sealer: AeadSealer | null;
  retiredAtMs: number | null = null;
  destroyed = false;
  /** The caller's buffers (SessionKeys), wiped in destroy(). */
  readonly #sendKey: Uint8Array;
  readonly #recvKey: Uint8Array;
  readonly #pathAuthKey: Uint8Array;
  /** Frames sealed before the sealer was destroyed (kept for `sent` after retirement). */
  #sentAtRetire = 0n;

  /** `nowMs` caps the creation time: a handshake clock ahead of ours must not extend the key's life. */
  constructor(keys: SessionKeys, alg: AeadAlgorithm, sendLimit: bigint, replayWindow: number, nowMs: number) {
    this.localIndex = keys.localIndex;
    this.remoteIndex = keys.remoteIndex;
    this.isInitiator = keys.isInitiator;
    this.createdAtMs = Math.min(keys.establishedAtMs, nowMs);
    this.#sendKey = keys.sendKey;
    this.#recvKey = keys.recvKey;
    this.#pathAuthKey = keys.pathAuthKey;
    this.replay = new ReplayWindow(replayWindow);
    this.sealer = new AeadSealer(alg, keys.sendKey, { limit: sendLimit });
    try {
      this.opener = new AeadOpener(alg, keys.recvKey);
    } catch (err) {
      this.sealer.destroy();
      throw err;
    }
  }

  /** Frames sealed under this pair. */
  get sent(): bigint {
    return this.sealer !== null ? this.sealer.sent : this.#sentAtRetire;
  }

  /** The direct-path authentication key; null once destroyed. Aliases the handed-over buffer: do not keep it. */
  get pathAuthKey(): Uint8Array | null {
    return this.destroyed ? null : this.#pathAuthKey;
  }

  /** Stop sealing: from now on this pair only opens, until destroyed. */
  retire(nowMs: number): void {
    if (this.retiredAtMs !== null) return;
    this.retiredAtMs = nowMs;
    if (this.sealer !== null) {
      this.#sentAtRetire = this.sealer.sent;
      this.sealer.destroy();
      this.sealer = null;
    }
    wipe(this.#sendKey);
  }

  /** Wipe every copy of the key material. Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.sealer !== null) {
      this.#sentAtRetire = this.sealer.sent;
      this.sealer.destroy();
      this.sealer = null;
    }
    this.opener.destroy();
    this.replay.reset();
    wipe(this.#sendKey, this.#recvKey, this.#pathAuthKey);
  }
}
