/**
 * Per-source accounting for listeners that accept connections from anyone
 * before they prove anything (the relay's admission, a node's direct-path
 * listener; docs/threat-model.md): how many connections one source holds
 * that have not yet passed the costly stage (TLS, admission), so that one
 * host cannot take every slot other hosts need to get in.
 *
 * A source is an IPv4 address, or an IPv6 /64 prefix: a single subscriber
 * is normally given a whole /64, so counting single IPv6 addresses would
 * hand one host an endless supply of shares. An IPv4-mapped IPv6 address
 * counts as the IPv4 address it carries.
 *
 * Two counts per source, so a listener need not link its raw TCP socket to
 * whatever object wraps it later: `opened` (raw connections, accept to
 * close) and `passed` (connections past the stage, until they close);
 * pending = opened - passed. A source whose counts are both zero is
 * forgotten, so memory is bounded by the open sockets.
 *
 * Callers must pair every successful tryOpen() with one closed(), and every
 * passed() with one passedClosed(), for the same key.
 */
import { parseIpAddress, unmapIpv4 } from '../wire/ip-address.js';

/** IPv6 sources are judged by their first 64 bits: the customary size of one subscriber's prefix. */
export const IPV6_SOURCE_PREFIX_BITS = 64;

/** The accounting key of a remote address: IPv4 text, or the IPv6 /64 as `hhhh:hhhh:hhhh:hhhh::/64`. */
export function sourceKey(address: string | undefined): string {
  if (address === undefined || address === '') return '?';
  const text = unmapIpv4(address);
  if (!text.includes(':')) return text;
  try {
    const b = parseIpAddress(text).bytes;
    const groups: string[] = [];
    for (let i = 0; i < IPV6_SOURCE_PREFIX_BITS / 8; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
    return `${groups.join(':')}::/${IPV6_SOURCE_PREFIX_BITS}`;
  } catch {
    return text;
  }
}

interface Counts {
  opened: number;
  passed: number;
}

export class SourceLimit {
  /** Pending connections one source may hold. */
  readonly perSource: number;
  readonly #by = new Map<string, Counts>();
  #opened = 0;
  #passed = 0;

  constructor(perSource: number) {
    this.perSource = perSource;
  }

  /** Connections from `key` open and not yet passed. */
  pending(key: string): number {
    const c = this.#by.get(key);
    return c === undefined ? 0 : Math.max(0, c.opened - c.passed);
  }

  /** Connections open and not yet passed, all sources together. */
  get pendingTotal(): number {
    return Math.max(0, this.#opened - this.#passed);
  }

  /** Sources currently tracked (for tests and stats). */
  get sources(): number {
    return this.#by.size;
  }

  /** A new raw connection from `key`: counted and true, or false (nothing counted) when the source holds its share. */
  tryOpen(key: string): boolean {
    if (this.pending(key) >= this.perSource) return false;
    this.#counts(key).opened++;
    this.#opened++;
    return true;
  }

  /** A connection counted by tryOpen() closed. */
  closed(key: string): void {
    const c = this.#by.get(key);
    if (c === undefined) return;
    if (c.opened > 0) {
      c.opened--;
      this.#opened--;
    }
    this.#prune(key, c);
  }

  /** A connection from `key` passed the stage: it no longer counts as pending. */
  passed(key: string): void {
    this.#counts(key).passed++;
    this.#passed++;
  }

  /** A connection counted by passed() closed. */
  passedClosed(key: string): void {
    const c = this.#by.get(key);
    if (c === undefined) return;
    if (c.passed > 0) {
      c.passed--;
      this.#passed--;
    }
    this.#prune(key, c);
  }

  #counts(key: string): Counts {
    let c = this.#by.get(key);
    if (c === undefined) {
      c = { opened: 0, passed: 0 };
      this.#by.set(key, c);
    }
    return c;
  }

  #prune(key: string, c: Counts): void {
    if (c.opened === 0 && c.passed === 0) this.#by.delete(key);
  }
}
