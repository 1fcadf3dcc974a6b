/**
 * A ShadowMesh node, wiring only (STYLE.md §1): the identity, the membership
 * verifier, the relay link and the peer manager, built, started and stopped in
 * order. Policy lives in the parts; this file only connects them.
 *
 * Payloads given to `send` travel end to end inside the peer session; the
 * relay link carries the sealed frames. After every re-admission to the relay
 * the node re-runs its peer handshakes, so a relay restart or failover leaves
 * no stale state behind, and rebuilds its member directory from the list the
 * relay re-sends (every certificate verified here, never trusted from the
 * relay). `attachDevice` adds the TAP/TUN data plane: device frames from
 * members go to the Dataplane, which routes device packets to members.
 */
import { EventEmitter } from 'node:events';
import type { HybridSigner } from '../crypto/hybrid-sign.js';
import type { MemberCertificate } from '../identity/certificate.js';
import type { MembershipVerifier } from '../identity/membership.js';
import { ConfigError } from '../errors.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import { InnerType } from '../wire/constants.js';
import { Dataplane, type DataplaneDevice } from './dataplane/dataplane.js';
import { DIRECTORY_RECHECK_INTERVAL_MS, Directory, type DirectoryEntry } from './directory.js';
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
 * Events: 'payload' (peerId, body), 'inner' (peerId, innerType, body) for data
 * inner types the node does not consume itself, 'established' (peerId, cert),
 * 'relay' (info: RelayEstablished), 'relay_down' (reason), 'member_up' /
 * 'member_down' (entry: DirectoryEntry).
 */
export class ShadowNode extends EventEmitter {
  readonly link: RelayLink;
  readonly peers: PeerManager<MemberCertificate>;
  readonly directory: Directory;
  #dataplane: Dataplane | null = null;
  readonly #logger: Logger;
  readonly #clock: Clock;
  #admissions = 0;
  #running = false;
  #recheck: TimerHandle | null = null;

  constructor(deps: NodeDeps, options: NodeOptions) {
    super();
    const clock = deps.clock ?? systemClock;
    this.#clock = clock;
    this.#logger = deps.logger ?? silentLogger;
    this.directory = new Directory({ verifier: deps.verifier, selfPeerId: deps.peerId, clock, logger: this.#logger.child('directory') });
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
      // The relay re-sends the full member list after every admission.
      this.directory.clear();
      if (this.#admissions > 1) this.peers.rehandshakeAll();
      this.emit('relay', info);
    });
    this.link.on('peer_up', (cert: Uint8Array, onlineSinceMs: number) => { this.directory.onPeerUp(cert, onlineSinceMs); });
    this.link.on('peer_down', (peerId: Uint8Array) => { this.directory.onPeerDown(peerId); });
    this.directory.on('up', (e: DirectoryEntry) => this.emit('member_up', e));
    this.directory.on('down', (e: DirectoryEntry) => {
      this.#dataplane?.forgetPeer(e.hex);
      this.emit('member_down', e);
    });
    this.link.on('down', (reason: unknown) => this.emit('relay_down', reason));
    this.peers.on('payload', (peerId: Uint8Array, body: Uint8Array) => this.emit('payload', peerId, body));
    this.peers.on('inner', (peerId: Uint8Array, innerType: number, body: Uint8Array) => {
      if (innerType === InnerType.DeviceFrame) this.#dataplane?.fromPeer(peerId, body);
      else this.emit('inner', peerId, innerType, body);
    });
    this.peers.on('established', (peerId: Uint8Array, cert: MemberCertificate) => this.emit('established', peerId, cert));
  }

  /** Add the TAP/TUN data plane (before or after start). One device per node. */
  attachDevice(device: DataplaneDevice): Dataplane {
    if (this.#dataplane) throw new ConfigError('SM_ERR_CONFIG_DEVICE', 'attachDevice: this node already has a device');
    this.#dataplane = new Dataplane({ device, peers: this.peers, members: this.directory, clock: this.#clock, logger: this.#logger.child('dataplane') });
    if (this.#running) this.#dataplane.start();
    return this.#dataplane;
  }

  get dataplane(): Dataplane | null {
    return this.#dataplane;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.peers.start();
    this.#dataplane?.start();
    this.link.start();
    this.#scheduleRecheck();
  }

  /** Members whose certificates expired or were revoked leave the directory (and with it, routing). */
  #scheduleRecheck(): void {
    this.#recheck = this.#clock.schedule(DIRECTORY_RECHECK_INTERVAL_MS, () => {
      if (!this.#running) return;
      this.directory.recheck(this.#clock.now());
      this.#scheduleRecheck();
    });
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#recheck?.cancel();
    this.#recheck = null;
    await this.link.stop();
    this.#dataplane?.stop();
    this.peers.stop();
  }

  send(peerId: Uint8Array, payload: Uint8Array): 'sent' | 'queued' | 'dropped' {
    return this.peers.sendPayload(peerId, payload);
  }

  peerList(): PeerInfo[] {
    return this.peers.peers();
  }
}
