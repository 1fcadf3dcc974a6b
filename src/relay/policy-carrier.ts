/**
 * The network policy a relay carries (docs/architecture.md "Network policy";
 * docs/protocol.md §1 POLICY): the CA-signed blob its operator gave it, sent
 * as one POLICY frame to every member right after ESTABLISHED and to every
 * admitted member when a newer one is set. The relay never reads, changes or
 * signs the blob: the daemon above verified it (src/relay-daemon/), and
 * members verify it again, as the relay is not trusted to vouch for it.
 *
 * The frame is encoded once per blob and the same bytes go to every member.
 * A member whose send queue is full at that moment is skipped and counted
 * (the relay's 'queue-full' drop): it gets the policy at its next admission.
 * Nothing here throws on a send; `set` throws only SM_ERR_WIRE_* for a blob
 * outside 1..MAX_POLICY_BLOB_BYTES (the daemon refuses those first).
 */
import { FrameType } from '../wire/constants.js';
import { encodeRelayFrame } from '../wire/relay-frames.js';

/** What the carrier needs of a connection: ClientConnection fits. */
export interface PolicyReceiver {
  readonly state: string;
  sendFrame(bytes: Uint8Array): boolean;
}

export class PolicyCarrier {
  /** The POLICY frame of the blob in force, or null when the relay carries none. */
  #frame: Uint8Array | null = null;
  /** Its version, as the caller verified it (for /stats; never read from the blob here). */
  #version = 0;
  /** POLICY frames handed to members' sockets, and skipped on a full queue. */
  readonly stats = { sent: 0, skipped: 0 };

  get carrying(): boolean {
    return this.#frame !== null;
  }

  /** The version carried (as given to `set`); 0 when none. */
  get version(): number {
    return this.#version;
  }

  /** Carry `blob` (of `version`) from now on (a copy is encoded) and send it to every member in `admitted`. Returns how many got it. */
  set(blob: Uint8Array, version: number, admitted: Iterable<PolicyReceiver>): number {
    this.#frame = encodeRelayFrame({ type: FrameType.Policy, blob });
    this.#version = version;
    let sent = 0;
    for (const conn of admitted) if (this.sendTo(conn)) sent++;
    return sent;
  }

  /** Send the policy in force to one admitted member (after its ESTABLISHED); false when none is carried or its queue is full. */
  sendTo(conn: PolicyReceiver): boolean {
    if (this.#frame === null || conn.state !== 'admitted') return false;
    if (conn.sendFrame(this.#frame)) {
      this.stats.sent++;
      return true;
    }
    this.stats.skipped++;
    return false;
  }
}
