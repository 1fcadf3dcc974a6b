/**
 * Subnet routes on this machine (docs/architecture.md "Subnet routes"):
 *
 *  - accept (`up --accept-routes`): while a member is listed in the
 *    directory, the routes its CA-verified certificate carries are kernel
 *    routes on our TUN device (`ip route replace CIDR dev DEV`), so the
 *    kernel hands their packets to the data plane; they go when the member
 *    leaves the directory, when a newer certificate drops them, and at stop.
 *    A route whose command fails is logged and counted (installFailures), the
 *    daemon keeps running. The data plane decides on its own which member a
 *    packet goes to (Directory.byRoute): a kernel route never widens what the
 *    CA signed.
 *  - advertise (`up --advertise-routes`): this member forwards between the
 *    mesh and the LANs of its own certificate's routes. start() turns IP
 *    forwarding on for the families of those routes (the previous value is
 *    restored at stop) and, with `snat` (the default), adds one masquerade
 *    rule per (own mesh subnet, route) pair, so LAN hosts answer without a
 *    route back to the mesh; stop() deletes them again. Without `snat` the
 *    LAN needs a route to the mesh subnets via this member. A setup failure
 *    undoes what was done and throws DaemonError SM_ERR_DAEMON_ROUTES_SETUP:
 *    the operator asked for it, a half-served LAN is worse than a clear stop.
 *
 * Accepting is a reconciliation, not a queue of events: a directory event
 * involving routes marks the kernel routes stale, and one pass at a time
 * brings them to what the listed members' certificates say (first listed
 * holder of a route wins, as in the directory). A relay that flaps members
 * therefore costs at most one pass in flight and one waiting, never a
 * growing backlog of commands; the state kept is bounded by the directory
 * (at most 8 routes per listed member).
 */
import type { EventEmitter } from 'node:events';
import type { MemberCertificate } from '../identity/certificate.js';
import { parseRoute } from '../identity/cert-routes.js';
import { shortId } from '../identity/peer-id.js';
import type { Logger } from '../util/logger.js';
import type { Routing } from './device/linux-routing.js';
import { meshSubnets, ServingNat } from './serving-nat.js';
import { CoalescingPass } from '../util/coalescing-pass.js';
import type { DirectoryEntry } from './directory.js';
import { DaemonCode, DaemonError } from './node-errors.js';

export interface SubnetRoutesOptions {
  accept: boolean;
  advertise: boolean;
  /** Masquerade mesh sources towards the routes we serve (default true); false: no-NAT mode. */
  snat: boolean;
}

export interface SubnetRoutesDeps {
  /** The TUN device's name. */
  device: string;
  directory: EventEmitter & { list(): DirectoryEntry[] };
  /** Our own certificate: the routes we may serve and the mesh subnets we masquerade. */
  self: MemberCertificate;
  routing: Routing;
  logger: Logger;
  /** Where the forwarding/masquerade journal lives (the daemon's directory; src/node/serving-nat.ts); none: no journal. */
  stateDir?: string;
}

export interface AcceptedRoute {
  route: string;
  peer: string;
  name: string;
}

export class SubnetRoutes {
  readonly #o: SubnetRoutesOptions;
  readonly #d: SubnetRoutesDeps;
  /** Installed kernel routes: route text -> the entry whose certificate holds it. */
  readonly #installed = new Map<string, DirectoryEntry>();
  readonly #nat: ServingNat;
  readonly #reconciler: CoalescingPass;
  #running = false;
  installFailures = 0;
  readonly #onEvent = (entry: DirectoryEntry, previous?: DirectoryEntry): void => {
    if (entry.routes.length === 0 && (previous?.routes.length ?? 0) === 0) return;
    this.#reconcileSoon();
  };

  constructor(options: SubnetRoutesOptions, deps: SubnetRoutesDeps) {
    this.#o = options;
    this.#d = deps;
    this.#nat = new ServingNat(deps.routing, deps.logger, 'subnet-routes', deps.stateDir ?? null);
    this.#reconciler = new CoalescingPass(
      () => (this.#running ? this.#reconcile() : Promise.resolve()),
      (err) => this.#d.logger.error('subnet routes: unexpected failure', { error: err.message }),
    );
  }

  /** Reconciliation passes run (tests: flapping members do not make one pass per event). */
  get passes(): number {
    return this.#reconciler.passes;
  }

  /** The routes this member serves (its certificate's, when advertising), for status. */
  get advertised(): readonly string[] {
    return this.#o.advertise ? this.#d.self.routes : [];
  }

  /** Kernel routes installed for members' certified routes, for status. */
  accepted(): AcceptedRoute[] {
    return [...this.#installed].map(([route, e]) => ({ route, peer: e.hex, name: e.name }));
  }

  get options(): Readonly<SubnetRoutesOptions> {
    return this.#o;
  }

  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    if (this.#o.advertise) {
      try {
        await this.#startServing();
      } catch (err) {
        await this.#stopServing();
        this.#running = false;
        throw err;
      }
    }
    if (this.#o.accept) {
      this.#d.directory.on('up', this.#onEvent);
      this.#d.directory.on('down', this.#onEvent);
      this.#reconcileSoon();
    }
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#d.directory.off('up', this.#onEvent);
    this.#d.directory.off('down', this.#onEvent);
    this.#reconciler.cancelWaiting();
    await this.#reconciler.settled();
    for (const [route] of [...this.#installed]) await this.#remove(route);
    await this.#stopServing();
  }

  /** Resolves when no reconciliation pass is running or waiting (tests, status). */
  settled(): Promise<void> {
    return this.#reconciler.settled();
  }

  #reconcileSoon(): void {
    this.#reconciler.request();
  }

  /** Brings the kernel routes to what the listed members' certificates carry now. */
  async #reconcile(): Promise<void> {
    const want = new Map<string, DirectoryEntry>();
    for (const e of this.#d.directory.list()) for (const r of e.routes) if (!want.has(r.text)) want.set(r.text, e);
    for (const [route] of [...this.#installed]) {
      const next = want.get(route);
      if (next === undefined) await this.#remove(route);
      else this.#installed.set(route, next);
    }
    for (const [route, entry] of want) {
      if (this.#installed.has(route) || !this.#running) continue;
      const err = await this.#d.routing.addRoute(this.#d.device, route);
      if (err !== null) {
        this.installFailures++;
        this.#d.logger.warn('subnet routes: could not install a member\'s route', { route, peer: shortId(entry.peerId), error: err });
        continue;
      }
      this.#installed.set(route, entry);
      this.#d.logger.info('subnet route installed', { route, peer: shortId(entry.peerId), name: entry.name, device: this.#d.device });
    }
  }

  async #remove(route: string): Promise<void> {
    const held = this.#installed.get(route);
    if (held === undefined) return;
    this.#installed.delete(route);
    const err = await this.#d.routing.deleteRoute(this.#d.device, route);
    // The device going away takes its routes with it; a failure here is worth a line, not more.
    if (err !== null) this.#d.logger.debug('subnet routes: route removal failed', { route, error: err });
    else this.#d.logger.info('subnet route removed', { route, peer: shortId(held.peerId), name: held.name });
  }

  async #startServing(): Promise<void> {
    const routes = this.#d.self.routes.map((t) => parseRoute(t));
    const subnets = meshSubnets(this.#d.self.addresses);
    for (const family of [4, 6] as const) {
      if (!routes.some((r) => r.family === family)) continue;
      const err = await this.#nat.forward(family);
      if (err !== null) throw setupError(err);
    }
    if (this.#o.snat) {
      for (const r of routes) {
        for (const s of subnets) {
          if (s.family !== r.family) continue;
          const err = await this.#nat.masquerade(r.family, s.text, r.text);
          if (err !== null) throw setupError(err);
        }
      }
    }
    this.#d.logger.info('serving subnet routes', { routes: this.#d.self.routes.join(','), snat: this.#o.snat, forwarding: this.#nat.summary().forwarding });
  }

  #stopServing(): Promise<void> {
    return this.#nat.undo();
  }
}

function setupError(why: string): DaemonError {
  return new DaemonError(DaemonCode.ROUTES_SETUP, `--advertise-routes: ${why}`);
}
