/**
 * Which members are attached to which other relay of the cluster
 * (docs/architecture.md "Relay cluster"): the table a relay routes by when
 * a destination is not one of its own members, and the presence it
 * announces to its members for the rest of the cluster.
 *
 * Pure: no NATS, no timers; the caller passes the time, verified
 * certificates and peer keys (64 lowercase hex digits, as in peer-table.ts).
 *
 * Rules:
 *  - One owner per member: a member announced by two relays (failover: it
 *    re-admitted elsewhere before the first relay noticed) belongs to the
 *    newest admission; an older announcement is ignored ('stale'), ties go
 *    to the larger relay id so every relay decides alike.
 *  - A relay not heard from for `downAfterMs` (no heartbeat, no message) is
 *    down: `expire` removes it and returns its members (PEER_DOWN for them).
 *  - A full list (SYNC_BEGIN … SYNC_END) replaces what the table held for
 *    that relay: members it no longer lists are returned as gone.
 *  - Bounded: at most `maxRelays` relays and `maxMembers` members; past
 *    that a newcomer is refused ('relays-full', 'members-full') and nothing
 *    already in the table is evicted.
 *  - LEAVE only removes a member the sender still owns with that admission
 *    time, so a late LEAVE from the relay a member left cannot remove it
 *    from the relay it moved to.
 *
 * Entries keep their own copies of certificates (the caller's buffers may
 * be views of NATS messages).
 */

export interface RemoteMember {
  readonly key: string;
  readonly peerId: Uint8Array;
  readonly relayId: string;
  readonly admittedAtMs: number;
  readonly cert: Uint8Array;
}

export interface PeerRelay {
  readonly id: string;
  name: string;
  lastHeardMs: number;
  /** Members count the relay last claimed in its heartbeat. */
  claimedMembers: number;
  readonly members: Set<string>;
  /** Keys seen since SYNC_BEGIN of the sync in progress, if any. */
  sync: { id: number; seen: Set<string> } | null;
}

export interface RemotePresenceLimits {
  maxRelays: number;
  maxMembers: number;
  downAfterMs: number;
}

export type UpsertResult = 'up' | 'updated' | 'stale' | 'relays-full' | 'members-full';

export class RemotePresence {
  readonly #limits: RemotePresenceLimits;
  readonly #relays = new Map<string, PeerRelay>();
  readonly #members = new Map<string, RemoteMember>();

  constructor(limits: RemotePresenceLimits) {
    this.#limits = limits;
  }

  get size(): number {
    return this.#members.size;
  }

  get relayCount(): number {
    return this.#relays.size;
  }

  owner(key: string): RemoteMember | undefined {
    return this.#members.get(key);
  }

  relay(id: string): PeerRelay | undefined {
    return this.#relays.get(id);
  }

  relays(): PeerRelay[] {
    return [...this.#relays.values()];
  }

  members(): RemoteMember[] {
    return [...this.#members.values()];
  }

  /** Any message from `relayId` proves it alive; returns null when the relay table is full. */
  heard(relayId: string, nowMs: number, name?: string): PeerRelay | null {
    let r = this.#relays.get(relayId);
    if (r === undefined) {
      if (this.#relays.size >= this.#limits.maxRelays) return null;
      r = { id: relayId, name: name ?? relayId.slice(0, 8), lastHeardMs: nowMs, claimedMembers: 0, members: new Set(), sync: null };
      this.#relays.set(relayId, r);
    }
    r.lastHeardMs = nowMs;
    if (name !== undefined) r.name = name;
    return r;
  }

  /**
   * `relayId` says it admitted the member at `admittedAtMs`. Returns what
   * happened and, for 'up'/'updated', the entry it replaced (another
   * relay's, or this relay's older admission).
   */
  upsert(relayId: string, m: { key: string; peerId: Uint8Array; admittedAtMs: number; cert: Uint8Array }, nowMs: number): { result: UpsertResult; previous?: RemoteMember } {
    const relay = this.heard(relayId, nowMs);
    if (relay === null) return { result: 'relays-full' };
    relay.sync?.seen.add(m.key);
    const previous = this.#members.get(m.key);
    if (previous !== undefined && !newer(m.admittedAtMs, relayId, previous.admittedAtMs, previous.relayId)) {
      return { result: previous.relayId === relayId && previous.admittedAtMs === m.admittedAtMs ? 'updated' : 'stale' };
    }
    if (previous === undefined && this.#members.size >= this.#limits.maxMembers) return { result: 'members-full' };
    if (previous !== undefined) this.#relays.get(previous.relayId)?.members.delete(m.key);
    const entry: RemoteMember = { key: m.key, peerId: Uint8Array.from(m.peerId), relayId, admittedAtMs: m.admittedAtMs, cert: Uint8Array.from(m.cert) };
    this.#members.set(m.key, entry);
    relay.members.add(m.key);
    return previous === undefined ? { result: 'up' } : { result: 'updated', previous };
  }

  /** Remove `key` if `relayId` still owns it with this admission; returns the removed entry. */
  leave(relayId: string, key: string, admittedAtMs: number, nowMs: number): RemoteMember | undefined {
    const relay = this.heard(relayId, nowMs);
    relay?.sync?.seen.delete(key);
    const m = this.#members.get(key);
    if (m === undefined || m.relayId !== relayId || m.admittedAtMs !== admittedAtMs) return undefined;
    return this.#drop(m);
  }

  /** Forget `key` whatever relay holds it (it was admitted here, newer); returns the entry. */
  remove(key: string): RemoteMember | undefined {
    const m = this.#members.get(key);
    return m === undefined ? undefined : this.#drop(m);
  }

  beginSync(relayId: string, syncId: number, nowMs: number): boolean {
    const relay = this.heard(relayId, nowMs);
    if (relay === null) return false;
    relay.sync = { id: syncId, seen: new Set() };
    return true;
  }

  /** End of `relayId`'s full list: members of it not listed are returned, removed. */
  endSync(relayId: string, syncId: number, nowMs: number): RemoteMember[] {
    const relay = this.heard(relayId, nowMs);
    if (relay === null || relay.sync === null || relay.sync.id !== syncId) return [];
    const seen = relay.sync.seen;
    relay.sync = null;
    const gone: RemoteMember[] = [];
    for (const key of [...relay.members]) {
      const m = this.#members.get(key);
      if (m !== undefined && !seen.has(key)) gone.push(this.#drop(m));
    }
    return gone;
  }

  /** Relays silent past downAfterMs, removed with their members (returned). */
  expire(nowMs: number): { relays: PeerRelay[]; members: RemoteMember[] } {
    const relays: PeerRelay[] = [];
    const members: RemoteMember[] = [];
    for (const r of [...this.#relays.values()]) {
      if (nowMs - r.lastHeardMs <= this.#limits.downAfterMs) continue;
      this.#relays.delete(r.id);
      relays.push(r);
      for (const key of r.members) {
        const m = this.#members.get(key);
        if (m !== undefined && m.relayId === r.id) {
          this.#members.delete(key);
          members.push(m);
        }
      }
    }
    return { relays, members };
  }

  /** Every relay and member: NATS is gone and the cluster will be re-learned on reconnect. */
  clear(): RemoteMember[] {
    const all = [...this.#members.values()];
    this.#members.clear();
    this.#relays.clear();
    return all;
  }

  #drop(m: RemoteMember): RemoteMember {
    this.#members.delete(m.key);
    this.#relays.get(m.relayId)?.members.delete(m.key);
    return m;
  }
}

/** True when admission (a, relayA) beats (b, relayB): newest wins, the larger relay id on a tie. */
export function newer(aMs: number, relayA: string, bMs: number, relayB: string): boolean {
  return aMs > bMs || (aMs === bMs && relayA > relayB);
}
