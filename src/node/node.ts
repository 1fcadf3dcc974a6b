/**
 * A ShadowMesh node, wiring only (STYLE.md §1): the identity, the membership
 * verifier, the relay link and the peer manager, built, started and stopped in
 * order. Policy lives in the parts; this file only connects them.
 *
 * Payloads given to `send` travel end to end inside the peer session; the
 * relay link carries the sealed frames. After every re-admission to the relay
 * the node re-runs its peer handshakes, so a relay restart or failover leaves
 * no stale state behind.
 */
import { EventEmitter } from 'node:events';
import type { HybridSigner } from '../crypto/hybrid-sign.js';
import type { MemberCertificate } from '../identity/certificate.js';
import type { MembershipVerifier } from '../identity/membership.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import { PeerManager, type PeerInfo, type PeerManagerOptions } from './peer-manager.js';
import { RelayLink, type RelayEstablished, type RelayLinkOptions } from './relay-link.js';

export interface NodeDeps {
  signer: HybridSigner;
  peerId: Uint8Array;
  /** Our member certificate (decoded; `raw` is sent on the wire). */
  certificate: MemberCertificate;
  verifier: MembershipVerifier;
  logger?: Logger;
  clock?: Clock;
}

export interface NodeOptions {
  relay: RelayLinkOptions;
  peers?: PeerManagerOptions;
}

/**
 * Events: 'payload' (peerId, body), 'established' (peerId, cert),
 * 'relay' (info: RelayEstablished), 'relay_down' (reason).
 */
export class ShadowNode extends EventEmitter {
  readonly link: RelayLink;
  readonly peers: PeerManager<MemberCertificate>;
  readonly #logger: Logger;
  #admissions = 0;
  #running = false;

  constructor(deps: NodeDeps, options: NodeOptions) {
    super();
    const clock = deps.clock ?? systemClock;
    this.#logger = deps.logger ?? silentLogger;
    this.link = new RelayLink(
      { signer: deps.signer, certificate: deps.certificate.raw, logger: this.#logger.child('link'), clock },
      options.relay,
    );
    this.peers = new PeerManager<MemberCertificate>(
      {
        identity: { signer: deps.signer, certificate: deps.certificate.raw, verifier: deps.verifier },
        localPeerId: deps.peerId,
        transport: this.link,
        clock,
        logger: this.#logger.child('peers'),
      },
      options.peers,
    );
    this.link.on('deliver', (src: Uint8Array, payload: Uint8Array) => this.peers.onFrame(src, payload));
    this.link.on('established', (info: RelayEstablished) => {
      this.#admissions++;
      if (this.#admissions > 1) this.peers.rehandshakeAll();
      this.emit('relay', info);
    });
    this.link.on('down', (reason: unknown) => this.emit('relay_down', reason));
    this.peers.on('payload', (peerId: Uint8Array, body: Uint8Array) => this.emit('payload', peerId, body));
    this.peers.on('established', (peerId: Uint8Array, cert: MemberCertificate) => this.emit('established', peerId, cert));
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.peers.start();
    this.link.start();
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    await this.link.stop();
    this.peers.stop();
  }

  send(peerId: Uint8Array, payload: Uint8Array): 'sent' | 'queued' | 'dropped' {
    return this.peers.sendPayload(peerId, payload);
  }

  peerList(): PeerInfo[] {
    return this.peers.peers();
  }
}
