/**
 * The connection table of the policy engine (docs/architecture.md "Network
 * policy"), modelled on Nebula's conntrack: once a flow is allowed, its
 * packets and the return packets (the reversed 5-tuple) pass without asking
 * the rules again, until the flow has been idle for its protocol's timeout
 * (defaults: tcp 12 min, udp 3 min, icmp and others 10 s). Every packet
 * seen refreshes its entry.
 *
 * Bounded: at most `maxEntries` entries. Inserting into a full table first
 * drops expired entries from the least recently used end, then the least
 * recently used entry itself, so a flood of distinct flows cannot grow
 * memory. Each entry has an owner (the remote end: the peer the node talks
 * to) and one owner holds at most `maxEntriesPerOwner` (default a quarter of
 * the table): past that its own least recently used entry goes, so one peer
 * opening ports in a loop pushes out only its own connections, not other
 * peers'. The Maps' insertion order is the recency order (an entry is
 * re-inserted on use).
 * Time comes from the injected clock (src/util/clock.ts).
 */
import { ConfigError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import type { Protocol } from './policy-file.js';

export interface ConntrackTimeouts { tcpMs: number; udpMs: number; icmpMs: number; otherMs: number }

export const DEFAULT_CONNTRACK_TIMEOUTS: Readonly<ConntrackTimeouts> = Object.freeze({
  tcpMs: 12 * 60_000,
  udpMs: 3 * 60_000,
  icmpMs: 10_000,
  otherMs: 10_000,
});
export const DEFAULT_CONNTRACK_ENTRIES = 65_536;

/** The 5-tuple of a packet, as the engine sees it. */
export interface FiveTuple {
  protocol: Protocol | number;
  srcIp: string;
  srcPort: number;
  dstIp: string;
  dstPort: number;
}

interface Entry { expiresAt: number; rule: string; owner: string }

function key(t: FiveTuple): string {
  return `${String(t.protocol)}|${t.srcIp}|${t.srcPort}|${t.dstIp}|${t.dstPort}`;
}

function reversed(t: FiveTuple): FiveTuple {
  return { protocol: t.protocol, srcIp: t.dstIp, srcPort: t.dstPort, dstIp: t.srcIp, dstPort: t.srcPort };
}

export interface ConntrackOptions { maxEntries?: number; maxEntriesPerOwner?: number; timeouts?: Partial<ConntrackTimeouts> }

export class ConnectionTable {
  readonly maxEntries: number;
  readonly maxEntriesPerOwner: number;
  readonly timeouts: Readonly<ConntrackTimeouts>;
  readonly #clock: Clock;
  readonly #entries = new Map<string, Entry>();
  /** Per owner, its entries' keys in recency order. */
  readonly #byOwner = new Map<string, Map<string, true>>();
  #evicted = 0;

  constructor(clock: Clock, options: ConntrackOptions = {}) {
    const max = options.maxEntries ?? DEFAULT_CONNTRACK_ENTRIES;
    if (!Number.isSafeInteger(max) || max < 1) throw new ConfigError('SM_ERR_CONFIG_CONNTRACK', `conntrack maxEntries: expected a positive integer, got ${String(max)}`);
    const perOwner = options.maxEntriesPerOwner ?? Math.max(1, Math.floor(max / 4));
    if (!Number.isSafeInteger(perOwner) || perOwner < 1 || perOwner > max) throw new ConfigError('SM_ERR_CONFIG_CONNTRACK', `conntrack maxEntriesPerOwner: expected 1..maxEntries, got ${String(perOwner)}`);
    this.maxEntriesPerOwner = perOwner;
    const timeouts = { ...DEFAULT_CONNTRACK_TIMEOUTS, ...options.timeouts };
    for (const [k, v] of Object.entries(timeouts)) {
      if (!Number.isSafeInteger(v) || v <= 0) throw new ConfigError('SM_ERR_CONFIG_CONNTRACK', `conntrack ${k}: expected a positive number of milliseconds, got ${String(v)}`);
    }
    this.#clock = clock;
    this.maxEntries = max;
    this.timeouts = Object.freeze(timeouts);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Live entries pushed out to make room, since creation. */
  get evicted(): number {
    return this.#evicted;
  }

  timeoutOf(protocol: Protocol | number): number {
    switch (protocol) {
      case 'tcp': return this.timeouts.tcpMs;
      case 'udp': return this.timeouts.udpMs;
      case 'icmp': return this.timeouts.icmpMs;
      default: return this.timeouts.otherMs;
    }
  }

  /**
   * The rule that allowed this packet's connection when the packet belongs
   * to a tracked flow (same direction or the return direction), refreshing
   * the entry; undefined otherwise. Expired entries are removed on sight.
   */
  lookup(t: FiveTuple): string | undefined {
    const now = this.#clock.now();
    for (const k of [key(t), key(reversed(t))]) {
      const e = this.#entries.get(k);
      if (e === undefined) continue;
      this.#remove(k, e);
      if (e.expiresAt <= now) continue;
      e.expiresAt = now + this.timeoutOf(t.protocol);
      this.#insert(k, e);
      return e.rule;
    }
    return undefined;
  }

  /** Entries `owner` holds now. */
  ownerSize(owner: string): number {
    return this.#byOwner.get(owner)?.size ?? 0;
  }

  /** Records an allowed flow under the rule that allowed it, owned by `owner` (the remote end). */
  track(t: FiveTuple, rule: string, owner: string): void {
    const now = this.#clock.now();
    const k = key(t);
    const old = this.#entries.get(k);
    if (old !== undefined) this.#remove(k, old);
    const mine = this.#byOwner.get(owner);
    if (mine !== undefined && mine.size >= this.maxEntriesPerOwner) {
      const oldest = mine.keys().next();
      if (oldest.done !== true) {
        const e = this.#entries.get(oldest.value);
        if (e !== undefined) {
          this.#remove(oldest.value, e);
          if (e.expiresAt > now) this.#evicted++;
        }
      }
    }
    if (this.#entries.size >= this.maxEntries) this.#makeRoom(now);
    this.#insert(k, { expiresAt: now + this.timeoutOf(t.protocol), rule, owner });
  }

  #insert(k: string, e: Entry): void {
    this.#entries.set(k, e);
    let mine = this.#byOwner.get(e.owner);
    if (mine === undefined) {
      mine = new Map();
      this.#byOwner.set(e.owner, mine);
    }
    mine.set(k, true);
  }

  #remove(k: string, e: Entry): void {
    this.#entries.delete(k);
    const mine = this.#byOwner.get(e.owner);
    if (mine === undefined) return;
    mine.delete(k);
    if (mine.size === 0) this.#byOwner.delete(e.owner);
  }

  /** Removes every expired entry; returns how many. Bounded by the table's size. */
  sweep(): number {
    const now = this.#clock.now();
    let removed = 0;
    for (const [k, e] of this.#entries) {
      if (e.expiresAt <= now) { this.#remove(k, e); removed++; }
    }
    return removed;
  }

  clear(): void {
    this.#entries.clear();
    this.#byOwner.clear();
  }

  #makeRoom(now: number): void {
    // Expired entries near the old end go first (at most a bounded scan), then the least recently used.
    let scanned = 0;
    for (const [k, e] of this.#entries) {
      if (scanned++ >= 64) break;
      if (e.expiresAt <= now) this.#remove(k, e);
    }
    while (this.#entries.size >= this.maxEntries) {
      const oldest = this.#entries.entries().next();
      if (oldest.done === true) break;
      this.#remove(oldest.value[0], oldest.value[1]);
      this.#evicted++;
    }
  }
}
