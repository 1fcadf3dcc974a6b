/**
 * In-memory stand-ins for what the Dataplane (src/node/dataplane/dataplane.ts)
 * talks to, for fast unit tests: a device that records what is written and
 * injects read batches, and a member directory over a fixed list.
 */
import type { DataplaneDevice, DataplaneMember } from '../src/node/dataplane/dataplane.js';

export const hex = (id: Uint8Array): string => Buffer.from(id).toString('hex');
/** Dotted IPv4 text to its 4 bytes. */
export const ip4 = (s: string): Uint8Array => new Uint8Array(s.split('.').map(Number));

/** A device that keeps a copy of every packet written and hands read() batches to the Dataplane. */
export class FakeDevice implements DataplaneDevice {
  written: Uint8Array[] = [];
  onBatch: ((p: readonly Uint8Array[], n: number) => void) | null = null;
  /** How many packets one write() accepts; the rest are left to the caller's queue. */
  writeLimit = Infinity;
  constructor(readonly kind: 'tap' | 'tun', readonly vnetHdr: boolean) {}
  start(cb: (p: readonly Uint8Array[], n: number) => void): void { this.onBatch = cb; }
  write(p: readonly Uint8Array[], n: number): number {
    const k = Math.min(n, this.writeLimit);
    for (let i = 0; i < k; i++) this.written.push(new Uint8Array(p[i]!));
    return k;
  }
  read(...packets: Uint8Array[]): void { this.onBatch!(packets, packets.length); }
}

/** The Dataplane's view of the member directory, over a fixed list. */
export function memberDirectory(members: readonly DataplaneMember[]) {
  return {
    byAddress: (a: Uint8Array) => members.find((m) => m.addresses.some((x) => Buffer.compare(x.bytes, a) === 0)),
    get: (id: Uint8Array | string) => members.find((m) => m.hex === (typeof id === 'string' ? id : hex(id))),
    list: () => members,
  };
}
