/**
 * The stream layer of one daemon, wired (docs/architecture.md "Streams"):
 * the StreamMux on the node's sessions, the acceptor that serves streams
 * other members open to us, the dialer that finds the member owning a
 * destination, and the SOCKS5 proxy (`--socks5`) in front of it. Wiring
 * only: build, connect, start and stop; the parts hold the rules.
 *
 * Who accepts: a member with a device accepts streams to its mesh
 * addresses (reached on the address itself, so the exposure is the same as
 * through the device) and into the routes it serves; a member without a
 * device accepts only with `serveLoopback` (`--serve-loopback`), because
 * then its loopback services become reachable from the mesh
 * (docs/threat-model.md §3.8). A member serving as an exit node
 * (`--advertise-exit-node`, certificate marked) accepts, with or without a
 * device, and connects to other destinations too (stream-acceptor.ts).
 * Otherwise OPEN is refused (Disabled).
 *
 * Which member: the dialer's route is the owner of the address, else of a
 * route holding it, else (outside our mesh subnets) the chosen exit node
 * (`--exit-node`, also with --dev none) while the directory lists it with
 * the CA's exit mark; while it does not, the client is refused.
 */
import { readFile } from 'node:fs/promises';
import { parseCidr, type Cidr } from '../../identity/cidr.js';
import type { MemberCertificate } from '../../identity/certificate.js';
import { parseRoute, prefixContains } from '../../identity/cert-routes.js';
import type { NamedAddress } from '../../names/member-names.js';
import type { Clock } from '../../util/clock.js';
import type { Logger } from '../../util/logger.js';
import { exitMemberState, findMember } from '../../names/member-selector.js';
import type { StatusResult } from '../control/control-protocol.js';
import { formatHostPort } from '../../wire/ip-address.js';
import { HttpConnectServer } from './http-connect-server.js';
import { PortForward, type PortForwardOptions } from './port-forward.js';
import { parseSocksUsers, Socks5Server } from './socks5-server.js';
import { LocalStreamAcceptor } from './stream-acceptor.js';
import { StreamDialer } from './stream-dialer.js';
import { StreamCode, StreamError } from './stream-errors.js';
import { StreamMux, type StreamSessions } from './stream-mux.js';

export interface NodeStreamsOptions {
  /** SOCKS5 listener; absent: no proxy. */
  socks5?: { host: string; port: number; authFile?: string };
  /** HTTP CONNECT listener; absent: none. */
  httpProxy?: { host: string; port: number };
  /** Accept streams to our mesh address on loopback when there is no device (and, as an exit node, to loopback destinations). */
  serveLoopback?: boolean;
  /** The exit node for addresses no member owns (`--exit-node`, name or mesh address); absent: none. */
  exitNode?: string;
  /** Serve as an exit node for streams (`--advertise-exit-node`; the daemon checked our exit mark). */
  advertiseExit?: boolean;
}

/** The member directory as the streams need it (Directory fits). */
export interface StreamDirectory {
  byAddress(addr: Uint8Array): { peerId: Uint8Array } | undefined;
  byRoute(addr: Uint8Array): { peerId: Uint8Array } | undefined;
  list(): { peerId: Uint8Array; hex: string; name: string; cert: MemberCertificate }[];
}

export interface NodeStreamsDeps {
  sessions: StreamSessions;
  directory: StreamDirectory;
  /** Our certificate in force (a renewal may change it). */
  certificate: () => MemberCertificate;
  hasDevice: () => boolean;
  /** True while we serve our certificate's routes (--advertise-routes). */
  servesRoutes: () => boolean;
  /** The network policy's verdict for a TCP connection from a peer; null without a policy. */
  policy: (peerId: Uint8Array, address: string, port: number) => { allowed: boolean; rule: string } | null;
  /** Member names (MemberNames.addressesOf) and the network domain. */
  addressesOf: (label: string) => NamedAddress[] | null;
  domain: string;
  clock: Clock;
  logger: Logger;
}

/**
 * Where a stream to `address` goes (docs/architecture.md "Streams"): the
 * owner of the address, else of a route holding it, else, outside our mesh
 * subnets, the chosen exit node while it is listed with the CA's exit mark
 * ('no_exit' while it is not); null: nowhere.
 */
export function streamRoute(
  directory: StreamDirectory,
  meshSubnets: () => readonly Pick<Cidr, 'address' | 'prefix'>[],
  exitNode: () => string | null,
): (address: Uint8Array) => Uint8Array | null | 'no_exit' {
  return (address) => {
    const owner = (directory.byAddress(address) ?? directory.byRoute(address))?.peerId;
    if (owner !== undefined) return owner;
    const use = exitNode();
    if (use === null) return null;
    if (meshSubnets().some((c) => c.address.length === address.length && prefixContains(c.address, c.prefix, address))) return null;
    const exit = findMember(directory.list(), use);
    return exit !== undefined && exit.cert.exit ? exit.peerId : 'no_exit';
  };
}

export class NodeStreams {
  readonly mux: StreamMux;
  readonly acceptor: LocalStreamAcceptor | null;
  readonly dialer: StreamDialer;
  socks: Socks5Server | null = null;
  httpProxy: HttpConnectServer | null = null;
  readonly #deps: NodeStreamsDeps;
  readonly #o: NodeStreamsOptions;
  /** Port forwards open now (each until its control client hangs up, or the daemon stops). */
  readonly #forwards = new Set<PortForward>();
  /** The exit node chosen now (a configuration reload may change it), or null. */
  #exitNode: string | null;

  constructor(deps: NodeStreamsDeps, options: NodeStreamsOptions) {
    this.#deps = deps;
    this.#o = options;
    this.#exitNode = options.exitNode ?? null;
    const meshSubnets = (): Cidr[] => deps.certificate().addresses.map((t): Cidr => parseCidr(t));
    const accepting = deps.hasDevice() || options.serveLoopback === true || options.advertiseExit === true;
    this.acceptor = accepting ? new LocalStreamAcceptor({
      addresses: () => deps.certificate().addresses.map((t): Cidr => parseCidr(t)),
      servedRoutes: () => (deps.servesRoutes() ? deps.certificate().routes.map((t) => parseRoute(t)) : []),
      hasDevice: deps.hasDevice,
      servesExit: () => options.advertiseExit === true && deps.certificate().exit,
      serveLoopback: () => options.serveLoopback === true,
      meshSubnets,
      policy: deps.policy,
    }) : null;
    this.mux = new StreamMux({ sessions: deps.sessions, ...(this.acceptor !== null ? { acceptor: this.acceptor } : {}), clock: deps.clock, logger: deps.logger });
    this.dialer = new StreamDialer({
      domain: deps.domain,
      addressesOf: deps.addressesOf,
      route: streamRoute(deps.directory, meshSubnets, () => this.#exitNode),
      open: (peer, address, port) => this.mux.open(peer, address, port),
      attach: (handle, endpoint) => this.mux.attach(handle, endpoint),
    });
  }

  /**
   * The exit node as `status` shows it when there is no device (the daemon's
   * ExitNode reports it otherwise): the one chosen for streams and where it
   * stands now, whether we serve streams as one; null: neither.
   */
  exitNodeStatus(): NonNullable<StatusResult['exitNode']> | null {
    const use = this.#exitNode;
    const advertising = this.#o.advertiseExit === true;
    if (use === null && !advertising) return null;
    const entry = use === null ? undefined : findMember(this.#deps.directory.list(), use);
    const state = use === null ? 'none' : exitMemberState(entry);
    return {
      use, state, peer: entry?.hex ?? null, name: entry?.name ?? null,
      allowLan: false, fallback: false, advertising, route4: null, route6: null, updateFailures: 0, streamsOnly: true,
    };
  }

  /** Use another exit node for streams from now on, or none (a configuration reload). */
  selectExitNode(use: string | null): void {
    this.#exitNode = use;
  }

  /**
   * Drops and refusals by reason, for `status` (streams.<reason>): the
   * mux's (malformed, busy, protocol, ...), the acceptor's refusals
   * (refused_<reason>), the SOCKS5 proxy's failed requests (socks_<reason>)
   * and the HTTP CONNECT proxy's (http_<reason>).
   */
  drops(): Record<string, number> {
    const out: Record<string, number> = { ...this.mux.drops };
    for (const [k, v] of Object.entries(this.acceptor?.refused ?? {})) out[`refused_${k}`] = v;
    const { accepted: _a, connected: _c, ...socks } = this.socks?.stats ?? { accepted: 0, connected: 0 };
    for (const [k, v] of Object.entries(socks)) out[`socks_${k}`] = v;
    const { accepted: _ha, connected: _hc, ...http } = this.httpProxy?.stats ?? { accepted: 0, connected: 0 };
    for (const [k, v] of Object.entries(http)) out[`http_${k}`] = v;
    return out;
  }

  /** A STREAM body from an authenticated peer (never throws). */
  onFrame(peerId: Uint8Array, body: Uint8Array): void {
    this.mux.onFrame(peerId, body);
  }

  async start(): Promise<void> {
    this.mux.start();
    const h = this.#o.httpProxy;
    if (h !== undefined && this.httpProxy === null) {
      const proxy = new HttpConnectServer({ dialer: this.dialer }, h);
      await proxy.start();
      this.httpProxy = proxy;
      const a = proxy.address;
      this.#deps.logger.info('http-proxy: CONNECT proxy listening', { listen: a === null ? '?' : formatHostPort(a.host, a.port) });
    }
    const s = this.#o.socks5;
    if (s === undefined || this.socks !== null) return;
    let users: Map<string, string> | undefined;
    if (s.authFile !== undefined) {
      let text: string;
      try {
        text = await readFile(s.authFile, 'utf8');
      } catch (err) {
        throw new StreamError(StreamCode.SOCKS_AUTH_FILE, `--socks5-auth ${s.authFile}: ${(err as Error).message}`, { cause: err });
      }
      users = parseSocksUsers(text, s.authFile);
    }
    const socks = new Socks5Server({ dialer: this.dialer, logger: this.#deps.logger }, { host: s.host, port: s.port, ...(users !== undefined ? { users } : {}) });
    await socks.start();
    this.socks = socks;
    const a = socks.address;
    this.#deps.logger.info('socks5: proxy listening', { listen: a === null ? '?' : formatHostPort(a.host, a.port), auth: users !== undefined ? 'username/password' : 'none' });
  }

  /** Open a port forward (`shadowmesh forward`); the caller closes it when its control client hangs up. */
  async forward(options: PortForwardOptions): Promise<{ address: { host: string; port: number } | null; close(): Promise<void> }> {
    const f = new PortForward(this.dialer, options);
    await f.start();
    this.#forwards.add(f);
    const address = f.address;
    this.#deps.logger.info('forward: listening', { listen: formatHostPort(address?.host ?? options.host, address?.port ?? options.port), target: formatHostPort(options.target, options.targetPort) });
    return {
      address,
      close: async () => {
        this.#forwards.delete(f);
        await f.stop();
      },
    };
  }

  async stop(): Promise<void> {
    for (const f of [...this.#forwards]) await f.stop();
    this.#forwards.clear();
    await this.socks?.stop();
    this.socks = null;
    await this.httpProxy?.stop();
    this.httpProxy = null;
    this.mux.stop();
  }
}
