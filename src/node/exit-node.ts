/**
 * Exit nodes on this machine (docs/architecture.md "Exit nodes"):
 *
 *  - using one (`up --exit-node NAME|ADDRESS`): the member is found in the
 *    directory by name or mesh address; the data plane sends it what no
 *    member holds (Dataplane.setExitNode) and the kernel sends it the
 *    default route through policy routing (exit-routing-plan.ts): bypass
 *    rules for our own underlay traffic (UDP socket, P2P listener, relays),
 *    optionally the LAN (`--exit-node-allow-lan`), then our table. The
 *    table's route follows the member: `default dev TUN` while it is listed
 *    with the CA's exit mark; otherwise `unreachable default` (fail closed)
 *    or, with `--exit-node-fallback`, no route so traffic goes out directly.
 *    A directory event re-plans the table in one pass at a time (as
 *    subnet-routes.ts does), so a flapping relay costs at most a pass in
 *    flight and one waiting. select() switches the member (or stops using
 *    one) at run time.
 *  - serving as one (`up --advertise-exit-node`, certificate marked): IP
 *    forwarding on for both families (previous values restored at stop) and
 *    one masquerade rule per own mesh subnet towards everything of its
 *    family (0.0.0.0/0, ::/0), deleted at stop.
 *
 * Cleanup is by ownership, not memory: start() first deletes every rule of
 * our priorities and flushes our table (what a killed daemon left), and
 * stop() does the same, so `down`, a crash followed by a start, and a
 * start after a clean stop all leave exactly one set. A setup failure
 * undoes what was done and throws DaemonError SM_ERR_DAEMON_EXIT_NODE_SETUP.
 * A table update failing later is logged and counted (updateFailures); the
 * previous route stays, which is never a leak: the only route that reaches
 * the underlay is the fallback's absence of one.
 *
 * What others can make it keep: only the directory (CA-verified members the
 * relay lists) drives it, and it keeps the chosen member, one default route
 * per family and the mesh routes (our subnets, and with --accept-routes at
 * most MAX_ROUTES per listed member), all replaced, never accumulated.
 */
import type { EventEmitter } from 'node:events';
import type { MemberCertificate } from '../identity/certificate.js';
import { shortId } from '../identity/peer-id.js';
import type { Logger } from '../util/logger.js';
import { exitMemberState, findMember, type ExitMemberState } from '../names/member-selector.js';
import type { Routing } from './device/linux-routing.js';
import { meshSubnets, ServingNat } from './serving-nat.js';
import { CoalescingPass } from '../util/coalescing-pass.js';
import type { DirectoryEntry } from './directory.js';
import { EXIT_PRIORITIES, EXIT_ROUTE_TABLE, meshRouteArgs, planExitRules, planExitTable, tableRouteArgs, type ExitRulesInput, type Family } from './exit-routing-plan.js';
import { isIP } from 'node:net';
import { DaemonCode, DaemonError } from './node-errors.js';

/**
 * Rules of one priority deleted at most this many times per family in a
 * cleanup: a plan holds 3 + relays rules per priority; far more than a
 * leftover set, small enough that a command that "succeeds" without deleting
 * cannot loop long.
 */
export const MAX_RULES_PER_PRIORITY = 64;
/** What the data plane is told while the chosen member is not found: no member has this id, so its packets are dropped (no_exit_node). */
export const UNRESOLVED_EXIT = 'unresolved';

export interface ExitNodeOptions {
  /** The member to send default-route traffic through (name or mesh address), or null. */
  use: string | null;
  allowLan: boolean;
  fallback: boolean;
  /** Serve as an exit node for other members. */
  advertise: boolean;
}

export interface ExitNodeDeps {
  /** The TUN device's name. */
  device: string;
  directory: EventEmitter & { list(): DirectoryEntry[] };
  self: MemberCertificate;
  dataplane: { setExitNode(peerHex: string | null): void };
  routing: Routing;
  logger: Logger;
  /** Members' certified routes are kernel routes here (--accept-routes): they go into our table too. */
  acceptRoutes: boolean;
  /** Told when our rules go in (true) and out (false): dials no bypass rule covers must stop meanwhile (DirectTransport.pauseDials). */
  onRouting?(installed: boolean): void;
  /** Our own underlay traffic to keep outside the tunnel; read when the rules are installed. */
  underlay(): Promise<Omit<ExitRulesInput, 'allowLan'>>;
  /** Where the forwarding/masquerade journal lives (the daemon's directory; src/node/serving-nat.ts); none: no journal. */
  stateDir?: string;
}

/** Where the chosen member stands: listed with the exit mark, listed without it, or not listed (or none chosen). */
export type ExitNodeState = ExitMemberState | 'none';

export interface ExitNodeStatus {
  use: string | null;
  state: ExitNodeState;
  peer: string | null;
  name: string | null;
  allowLan: boolean;
  fallback: boolean;
  advertising: boolean;
  /** The table route in force per family: 'tunnel', 'unreachable' or 'direct' (fallback: no route of ours). */
  route4: string | null;
  route6: string | null;
  updateFailures: number;
}

export class ExitNode {
  #o: ExitNodeOptions;
  readonly #d: ExitNodeDeps;
  #running = false;
  #rulesInstalled = false;
  #state: ExitNodeState = 'none';
  #entry: DirectoryEntry | undefined;
  readonly #route: Record<Family, string | null> = { 4: null, 6: null };
  /** Mesh prefixes in our table (own subnets, accepted routes). */
  readonly #meshRoutes = new Set<string>();
  readonly #nat: ServingNat;
  readonly #reconciler: CoalescingPass;
  updateFailures = 0;
  readonly #listeners = new Set<(state: ExitNodeState) => void>();
  readonly #onEvent = (): void => this.#reconcileSoon();

  constructor(options: ExitNodeOptions, deps: ExitNodeDeps) {
    this.#o = { ...options };
    this.#d = deps;
    this.#nat = new ServingNat(deps.routing, deps.logger, 'exit-node', deps.stateDir ?? null);
    this.#reconciler = new CoalescingPass(
      () => (this.#running && this.#o.use !== null ? this.#reconcile(this.#o.use) : Promise.resolve()),
      (err) => this.#d.logger.error('exit node: unexpected failure', { error: err.message }),
    );
  }

  /** Reconciliation passes run (tests: a flapping exit node costs a bounded number). */
  get passes(): number {
    return this.#reconciler.passes;
  }

  get state(): ExitNodeState {
    return this.#state;
  }

  status(): ExitNodeStatus {
    return {
      use: this.#o.use, state: this.#state, peer: this.#entry?.hex ?? null, name: this.#entry?.name ?? null,
      allowLan: this.#o.allowLan, fallback: this.#o.fallback, advertising: this.#o.advertise,
      route4: this.#route[4], route6: this.#route[6], updateFailures: this.updateFailures,
    };
  }

  /** Calls `fn` after every pass with the state it left (the daemon's startup check). */
  onState(fn: (state: ExitNodeState) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      if (this.#o.advertise) await this.#startServing();
      // Whatever a killed daemon left goes first, used or not.
      await this.#removeRouting();
      if (this.#o.use !== null) await this.#installRouting();
    } catch (err) {
      await this.#removeRouting();
      await this.#stopServing();
      this.#running = false;
      throw err;
    }
    this.#d.directory.on('up', this.#onEvent);
    this.#d.directory.on('down', this.#onEvent);
    if (this.#o.use !== null) this.#reconcileSoon();
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#d.directory.off('up', this.#onEvent);
    this.#d.directory.off('down', this.#onEvent);
    this.#reconciler.cancelWaiting();
    await this.#reconciler.settled();
    this.#d.dataplane.setExitNode(null);
    await this.#removeRouting();
    await this.#stopServing();
  }

  /**
   * Stop serving as an exit node (a renewal without the CA's exit mark):
   * masquerade rules go and forwarding is restored; the data plane is told
   * by the caller. Idempotent; choosing an exit node is not affected.
   */
  async stopAdvertising(): Promise<void> {
    if (!this.#o.advertise) return;
    this.#o = { ...this.#o, advertise: false };
    await this.#stopServing();
  }

  /** Resolves when no pass is running or waiting. */
  settled(): Promise<void> {
    return this.#reconciler.settled();
  }

  /**
   * Use another member (or none: null) from now on; rules are installed or
   * removed as needed. Throws DaemonError SM_ERR_DAEMON_EXIT_NODE_SETUP when
   * installing them fails; what was added is removed again, so the default
   * route is the underlay's, as without an exit node (the caller reports it:
   * a configuration reload logs the refusal).
   */
  async select(use: string | null): Promise<void> {
    await this.settled();
    if (use === this.#o.use) return;
    this.#o = { ...this.#o, use };
    if (!this.#running) return;
    if (use === null) {
      this.#d.dataplane.setExitNode(null);
      await this.#removeRouting();
      this.#entry = undefined;
      this.#setState('none');
      this.#d.logger.info('exit node: none, default route back to the underlay');
      return;
    }
    if (!this.#rulesInstalled) {
      try {
        await this.#installRouting();
      } catch (err) {
        await this.#removeRouting();
        this.#d.dataplane.setExitNode(null);
        this.#o = { ...this.#o, use: null };
        this.#setState('none');
        throw err;
      }
    }
    this.#reconcileSoon();
    await this.settled();
  }

  #setState(state: ExitNodeState): void {
    this.#state = state;
    for (const fn of [...this.#listeners]) fn(state);
  }

  #reconcileSoon(): void {
    this.#reconciler.request();
  }

  /** Our mesh subnets, and the listed members' routes when we accept them: what must reach the TUN device whatever the default route does. */
  #wantedMeshRoutes(): Set<string> {
    const want = new Set(meshSubnets(this.#d.self.addresses).map((s) => s.text));
    if (this.#d.acceptRoutes) for (const e of this.#d.directory.list()) for (const r of e.cert.routes) want.add(r);
    return want;
  }

  async #syncMeshRoutes(): Promise<void> {
    const want = this.#wantedMeshRoutes();
    for (const prefix of [...this.#meshRoutes]) {
      if (want.has(prefix)) continue;
      this.#meshRoutes.delete(prefix);
      const family: Family = isIP(prefix.slice(0, prefix.indexOf('/'))) === 6 ? 6 : 4;
      const err = await this.#d.routing.deleteTableRoute(family, meshRouteArgs(prefix, this.#d.device));
      if (err !== null) this.#d.logger.debug('exit node: mesh route removal failed', { prefix, error: err });
    }
    for (const prefix of want) {
      if (this.#meshRoutes.has(prefix)) continue;
      const family: Family = isIP(prefix.slice(0, prefix.indexOf('/'))) === 6 ? 6 : 4;
      const err = await this.#d.routing.replaceTableRoute(family, meshRouteArgs(prefix, this.#d.device));
      if (err !== null) {
        this.updateFailures++;
        this.#d.logger.warn('exit node: could not add a mesh route to the exit table', { prefix, error: err });
        continue;
      }
      this.#meshRoutes.add(prefix);
    }
  }

  async #reconcile(use: string): Promise<void> {
    await this.#syncMeshRoutes();
    const entry = findMember(this.#d.directory.list(), use);
    const state: ExitNodeState = exitMemberState(entry);
    const usable = state === 'active';
    // The data plane first when the member goes away (it stops sending at once), last when it comes (the route exists before packets do).
    if (!usable) this.#d.dataplane.setExitNode(this.#o.fallback ? null : entry?.hex ?? UNRESOLVED_EXIT);
    const ipv6 = this.#d.self.addresses.some((a) => a.includes(':'));
    for (const family of [4, 6] as const) {
      const route = planExitTable({ device: this.#d.device, usable, fallback: this.#o.fallback, ipv6 }, family);
      const label = route.kind === 'device' ? 'tunnel' : route.kind === 'unreachable' ? 'unreachable' : 'direct';
      if (this.#route[family] === label) continue;
      const args = tableRouteArgs(route);
      const err = args === null ? await this.#d.routing.flushTable(family, EXIT_ROUTE_TABLE) : await this.#d.routing.replaceTableRoute(family, args);
      if (err !== null) {
        this.updateFailures++;
        this.#d.logger.warn('exit node: could not update the exit table', { family: `ipv${family}`, error: err });
        continue;
      }
      this.#route[family] = label;
    }
    if (usable) this.#d.dataplane.setExitNode(entry!.hex);
    if (state !== this.#state || entry?.hex !== this.#entry?.hex) {
      const fields = { exitNode: use, ...(entry !== undefined ? { peer: shortId(entry.peerId), name: entry.name } : {}), route: `${this.#route[4]}/${this.#route[6]}` };
      if (state === 'active') this.#d.logger.info('exit node in use: default route through it', fields);
      else if (state === 'not_exit') this.#d.logger.error(`exit node ${use}: its certificate carries no exit mark (ca sign --exit); default-route traffic ${this.#o.fallback ? 'goes out directly' : 'is dropped'} (${DaemonCode.EXIT_NODE_NOT_EXIT})`, fields);
      else this.#d.logger.warn(`exit node ${use} is not listed; default-route traffic ${this.#o.fallback ? 'goes out directly (--exit-node-fallback)' : 'is dropped until it is back'}`, fields);
    }
    this.#entry = entry;
    this.#setState(state);
  }

  async #installRouting(): Promise<void> {
    // The table holds the mesh and its fail-closed route before any rule points at it.
    await this.#syncMeshRoutes();
    const ipv6 = this.#d.self.addresses.some((a) => a.includes(':'));
    for (const family of [4, 6] as const) {
      const route = planExitTable({ device: this.#d.device, usable: false, fallback: this.#o.fallback, ipv6 }, family);
      const args = tableRouteArgs(route);
      if (args !== null) {
        const err = await this.#d.routing.replaceTableRoute(family, args);
        if (err !== null) throw setupError(err);
      }
      this.#route[family] = route.kind === 'unreachable' ? 'unreachable' : 'direct';
    }
    if (!this.#o.fallback) this.#d.dataplane.setExitNode(UNRESOLVED_EXIT);
    this.#d.onRouting?.(true);
    const underlay = await this.#d.underlay();
    this.#rulesInstalled = true;
    for (const rule of planExitRules({ ...underlay, allowLan: this.#o.allowLan })) {
      const err = await this.#d.routing.addRule(rule.family, rule.args);
      if (err !== null) throw setupError(err);
    }
    this.#d.logger.info('exit node routing installed', {
      table: EXIT_ROUTE_TABLE, udpPort: underlay.udpPort ?? 'none', p2pPort: underlay.p2pPort ?? 'none', relays: underlay.relayAddresses.join(',') || 'none', allowLan: this.#o.allowLan, fallback: this.#o.fallback,
    });
  }

  /** Deletes every rule of our priorities and flushes our table, for both families (idempotent; failures are "nothing left"). */
  async #removeRouting(): Promise<void> {
    for (const family of [4, 6] as const) {
      for (const priority of EXIT_PRIORITIES) {
        for (let i = 0; i < MAX_RULES_PER_PRIORITY; i++) {
          if ((await this.#d.routing.deleteRuleByPriority(family, priority)) !== null) break;
        }
      }
      const err = await this.#d.routing.flushTable(family, EXIT_ROUTE_TABLE);
      if (err !== null) this.#d.logger.debug('exit node: table flush failed', { family: `ipv${family}`, error: err });
      this.#route[family] = null;
    }
    this.#meshRoutes.clear();
    this.#rulesInstalled = false;
    this.#d.onRouting?.(false);
  }

  async #startServing(): Promise<void> {
    if (!this.#d.self.exit) throw new DaemonError(DaemonCode.EXIT_NODE_NOT_EXIT, '--advertise-exit-node: our certificate carries no exit mark; the CA gives it (shadowmesh ca sign --exit)');
    const subnets = meshSubnets(this.#d.self.addresses);
    for (const family of [4, 6] as const) {
      if (!subnets.some((s) => s.family === family)) continue;
      const err = await this.#nat.forward(family);
      if (err !== null) throw setupError(err, '--advertise-exit-node');
    }
    for (const s of subnets) {
      const err = await this.#nat.masquerade(s.family, s.text, s.family === 4 ? '0.0.0.0/0' : '::/0');
      if (err !== null) throw setupError(err, '--advertise-exit-node');
    }
    this.#d.logger.info('serving as an exit node', this.#nat.summary());
  }

  #stopServing(): Promise<void> {
    return this.#nat.undo();
  }
}

function setupError(why: string, flag = '--exit-node'): DaemonError {
  return new DaemonError(DaemonCode.EXIT_NODE_SETUP, `${flag}: ${why}`);
}
