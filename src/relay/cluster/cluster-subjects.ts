/**
 * NATS subjects of one network's relay cluster (docs/architecture.md
 * "Relay cluster").
 *
 * Every subject starts with `shadowmesh.<network id>`, the network id being
 * the first 16 bytes (32 hex digits) of SHA-256 over the network CA's
 * certificate: two networks sharing one NATS server never read each other's
 * presence or frames, and the prefix names no member and no key. Under it:
 *
 *   <prefix>.presence          every relay publishes and subscribes: hello,
 *                              heartbeats, member lists, joins, leaves
 *   <prefix>.frames.<relay>    sealed frames for members attached to <relay>
 *                              (its 32-hex-digit instance id); only that
 *                              relay subscribes
 *
 * The prefix separates networks, it does not protect them: isolation
 * against another NATS user is the NATS account's job (docs/threat-model.md
 * "Relay cluster over NATS").
 */
import { sha256, toHex } from '../../crypto/bytes.js';

/** Bytes of the CA hash kept in the prefix: 128 bits, no accidental collision between networks. */
export const NETWORK_ID_BYTES = 16;

export interface ClusterSubjects {
  readonly prefix: string;
  readonly presence: string;
  frames(relayIdHex: string): string;
}

/** The subjects for the network whose CA certificate is `caRaw`. */
export function clusterSubjects(caRaw: Uint8Array): ClusterSubjects {
  const prefix = `shadowmesh.${toHex(sha256(caRaw).subarray(0, NETWORK_ID_BYTES))}`;
  return Object.freeze({
    prefix,
    presence: `${prefix}.presence`,
    frames: (relayIdHex: string) => `${prefix}.frames.${relayIdHex}`,
  });
}
