/**
 * Reflexive address discovery for the UDP transport (issue 5 §1;
 * docs/protocol.md §5): which public address and port our NAT gives the
 * transport's socket, and how it maps (endpoint-independent or -dependent).
 *
 * It asks every configured STUN server (src/stun, RFC 8489 Binding) from
 * the transport's own socket — the mapping of that very socket is what a
 * peer must punch to — at start, every `intervalMs`, and on demand
 * (`refreshIfOlderThan`, used before a direct attempt: a lost path often
 * means the mapping changed). The answers are the reflexive candidates;
 * comparing two or more servers' answers classifies the NAT's mapping
 * (src/stun/nat-mapping.ts).
 *
 * What callers must know: the transport hands every received STUN datagram
 * to onMessage() (true when consumed); 'changed' fires when the reflexive
 * addresses change and 'nat' (mapping) when the classification does; a
 * server that does not answer is counted and never delays anything (queries
 * run in the background, each bounded by the STUN client's timeout). Host
 * names are resolved at every query.
 */
import { lookup } from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { classifyMapping, type NatAnswer, type NatMapping } from '../../stun/nat-mapping.js';
import { StunClient } from '../../stun/stun-client.js';
import type { StunAddress } from '../../stun/stun-message.js';
import type { Clock, TimerHandle } from '../../util/clock.js';
import type { Logger } from '../../util/logger.js';
import { canonicalIpText, formatHostPort } from '../../wire/ip-address.js';

/** A STUN server: an IP address or a host name (resolved at every query), and a port. */
export interface UdpServer {
  host: string;
  port: number;
}

export interface ReflexiveDiscoveryDeps {
  /** Send one datagram from the transport's socket. */
  send(bytes: Uint8Array, port: number, address: string): void;
  /** The socket's own addresses and port (a mapping equal to one of them means no NAT). */
  localAddresses(): StunAddress[];
  /** The socket is dual stack (host names may resolve to IPv6). */
  dualStack: boolean;
  clock: Clock;
  logger: Logger;
}

export interface ReflexiveDiscoveryStats {
  answers: number;
  failures: number;
}

export class ReflexiveDiscovery extends EventEmitter {
  readonly stats: ReflexiveDiscoveryStats = { answers: 0, failures: 0 };
  readonly #deps: ReflexiveDiscoveryDeps;
  readonly #servers: readonly UdpServer[];
  readonly #intervalMs: number;
  readonly #client: StunClient;
  #timer: TimerHandle | null = null;
  #running = false;
  #reflexive: StunAddress[] = [];
  #mapping: NatMapping = 'unknown';
  #lastQueryMs = Number.NEGATIVE_INFINITY;

  constructor(deps: ReflexiveDiscoveryDeps, options: { servers: readonly UdpServer[]; intervalMs: number }) {
    super();
    this.#deps = deps;
    this.#servers = options.servers;
    this.#intervalMs = options.intervalMs;
    this.#client = new StunClient({ send: (bytes, port, address) => deps.send(bytes, port, address), clock: deps.clock });
  }

  /** The reflexive addresses of the last answers (copies). */
  get reflexive(): StunAddress[] {
    return this.#reflexive.map((r) => ({ ...r }));
  }

  get mapping(): NatMapping {
    return this.#mapping;
  }

  /** Query now, then every intervalMs. Nothing to do without servers. */
  start(): void {
    if (this.#running || this.#servers.length === 0) return;
    this.#running = true;
    void this.refresh().finally(() => this.#schedule());
  }

  stop(): void {
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = null;
    this.#client.close();
  }

  /** A datagram from the socket: true when it was a STUN answer this client waited for. Never throws. */
  onMessage(bytes: Uint8Array, from: StunAddress): boolean {
    return this.#client.onMessage(bytes, from);
  }

  /** Query now unless the last query started less than `ms` ago. */
  refreshIfOlderThan(ms: number): void {
    if (this.#running && this.#deps.clock.now() - this.#lastQueryMs >= ms) void this.refresh();
  }

  /** Ask every server now; updates the reflexive addresses and the classification. Never rejects. */
  async refresh(): Promise<void> {
    if (!this.#running) return;
    this.#lastQueryMs = this.#deps.clock.now();
    const answers: NatAnswer[] = [];
    await Promise.all(this.#servers.map(async (s) => {
      try {
        const address = isIP(s.host) !== 0 ? s.host : (await lookup(s.host, { family: this.#deps.dualStack ? 0 : 4 })).address;
        const server = { address: canonicalIpText(address) ?? address, port: s.port };
        const mapped = await this.#client.binding(server);
        answers.push({ server, mapped: { address: canonicalIpText(mapped.address) ?? mapped.address, port: mapped.port } });
        this.stats.answers++;
      } catch (err) {
        this.stats.failures++;
        this.#deps.logger.debug('STUN query failed', { server: `${s.host}:${s.port}`, error: (err as Error).message });
      }
    }));
    if (!this.#running || answers.length === 0) return;
    const seen = new Set<string>();
    const reflexive: StunAddress[] = [];
    for (const a of answers) {
      const k = formatHostPort(a.mapped.address, a.mapped.port);
      if (!seen.has(k)) {
        seen.add(k);
        reflexive.push(a.mapped);
      }
    }
    const changed = reflexive.length !== this.#reflexive.length || reflexive.some((r, i) => r.address !== this.#reflexive[i]!.address || r.port !== this.#reflexive[i]!.port);
    this.#reflexive = reflexive;
    const mapping = classifyMapping(this.#deps.localAddresses(), answers);
    if (mapping !== this.#mapping) {
      this.#mapping = mapping;
      this.#deps.logger.info('NAT mapping classified', { mapping, reflexive: reflexive.map((r) => formatHostPort(r.address, r.port)).join(' ') });
      this.emit('nat', mapping);
    }
    if (changed) this.emit('changed', this.reflexive);
  }

  #schedule(): void {
    if (!this.#running) return;
    this.#timer = this.#deps.clock.schedule(this.#intervalMs, () => {
      this.#timer = null;
      void this.refresh().finally(() => this.#schedule());
    });
  }
}
