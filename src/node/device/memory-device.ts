/**
 * MemoryDevice: an in-memory Device for unit tests and the in-process lab
 * (docs/conventions.md §14, §15). It behaves like the native one where a consumer can
 * tell: packets arrive in batches on a later event-loop turn, the views are reused
 * slots valid only during the handler call, write() refuses (and counts)
 * what the kernel would refuse, and nothing grows without bound.
 *
 * Test hooks:
 *  - inject(packets, count?) plays "the kernel hands us these packets": they
 *    are copied into a bounded receive queue and delivered after start(), one batch per event-loop turn (setImmediate, so two paired devices echoing each other cannot starve timers).
 *  - written holds copies of the last `maxWritten` packets written (oldest
 *    dropped first); onWrite sees every accepted packet, e.g. to play the
 *    kernel's side (device-compliance.ts has ICMP/ARP responders).
 *  - MemoryDevice.pair() connects two devices back to back: what one writes,
 *    the other reads.
 *
 * Kernel-like validation on write: a virtio-net header when vnetHdr, then
 * for TUN an IPv4 or IPv6 header (version nibble, minimum length), for TAP
 * an Ethernet header; no longer than MTU (+ link header) unless it is a GSO
 * segment, never longer than 64 KiB.
 */
import { type Device, type DeviceKind, type DeviceStats, ETHERNET_HEADER_BYTES, MAX_SEGMENT_BYTES, TAP_LINK_HEADER_BYTES, zeroStats } from './device.js';
import { DeviceError, DeviceCode } from './device-errors.js';
import { emptyVnetHeader, isGso, readVnetHeader, VNET_HDR_BYTES } from './vnet-header.js';

/** Default bound on `written`: plenty for assertions, bounded for floods. */
export const DEFAULT_MAX_WRITTEN = 1_024;
/** Default receive queue bound, like a TUN's txqueuelen (500) rounded up. */
export const DEFAULT_MAX_QUEUED = 1_024;
/** Default packets per delivered batch, as NativeDevice. */
export const DEFAULT_MEMORY_BATCH = 32;
const IPV4_MIN_HEADER_BYTES = 20;
const IPV6_HEADER_BYTES = 40;

export interface MemoryDeviceOptions {
  kind: DeviceKind;
  name?: string;
  mtu?: number;
  vnetHdr?: boolean;
  maxWritten?: number;
  maxQueued?: number;
  readBatch?: number;
  /** Sees each accepted written packet (a view valid during the call). */
  onWrite?: (packet: Uint8Array) => void;
}

export interface MemoryDeviceExtraStats {
  /** Injected packets dropped because the receive queue was full or the device closed. */
  injectDropped: number;
  /** Packets that fell out of `written` because it was full. */
  writtenEvicted: number;
}

const DEFAULTS = Object.freeze({ mtu: 1_400, vnetHdr: false, maxWritten: DEFAULT_MAX_WRITTEN, maxQueued: DEFAULT_MAX_QUEUED, readBatch: DEFAULT_MEMORY_BATCH });
const KNOWN = new Set(['kind', 'name', 'mtu', 'vnetHdr', 'maxWritten', 'maxQueued', 'readBatch', 'onWrite']);

export class MemoryDevice implements Device {
  readonly kind: DeviceKind;
  readonly name: string;
  readonly mtu: number;
  readonly vnetHdr: boolean;
  /** Copies of accepted written packets, oldest first, at most maxWritten. */
  readonly written: Uint8Array[] = [];
  readonly extra: MemoryDeviceExtraStats = { injectDropped: 0, writtenEvicted: 0 };
  readonly #stats: DeviceStats = zeroStats();
  readonly #maxWritten: number;
  readonly #maxQueued: number;
  readonly #readBatch: number;
  readonly #onWrite: ((packet: Uint8Array) => void) | undefined;
  readonly #queue: Uint8Array[] = [];
  readonly #hdr = emptyVnetHeader();
  #slots: Uint8Array[] = [];
  #views: Uint8Array[] = [];
  #handler: ((packets: readonly Uint8Array[], count: number) => void) | undefined;
  #scheduled = false;
  #closed = false;
  #peer: MemoryDevice | undefined;

  constructor(options: MemoryDeviceOptions) {
    for (const key of Object.keys(options)) {
      if (!KNOWN.has(key)) throw new DeviceError(DeviceCode.OPTION, `MemoryDevice: unknown option ${JSON.stringify(key)}`);
    }
    const o = { ...DEFAULTS, ...options };
    if (o.kind !== 'tap' && o.kind !== 'tun') throw new DeviceError(DeviceCode.OPTION, `MemoryDevice option kind: expected 'tap' or 'tun', got ${String(o.kind)}`);
    for (const [key, min, max] of [['mtu', 68, 65_535], ['maxWritten', 0, 1_000_000], ['maxQueued', 1, 1_000_000], ['readBatch', 1, 1_024]] as const) {
      const v = o[key];
      if (!Number.isInteger(v) || v < min || v > max) throw new DeviceError(DeviceCode.OPTION, `MemoryDevice option ${key}: expected an integer ${min}..${max}, got ${String(v)}`);
    }
    this.kind = o.kind;
    this.name = o.name ?? (o.kind === 'tun' ? 'mem0' : 'memtap0');
    this.mtu = o.mtu;
    this.vnetHdr = o.vnetHdr;
    this.#maxWritten = o.maxWritten;
    this.#maxQueued = o.maxQueued;
    this.#readBatch = o.readBatch;
    this.#onWrite = o.onWrite;
  }

  /** Two devices back to back: what one writes, the other reads. */
  static pair(a: MemoryDeviceOptions, b: MemoryDeviceOptions = a): [MemoryDevice, MemoryDevice] {
    const da = new MemoryDevice(a);
    const db = new MemoryDevice(b);
    da.#peer = db;
    db.#peer = da;
    return [da, db];
  }

  get stats(): Readonly<DeviceStats> {
    return this.#stats;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Packets injected but not yet delivered. */
  get queued(): number {
    return this.#queue.length;
  }

  start(onBatch: (packets: readonly Uint8Array[], count: number) => void): void {
    if (this.#closed) throw new DeviceError(DeviceCode.STATE, `device ${this.name} is closed`);
    if (this.#handler !== undefined) throw new DeviceError(DeviceCode.STATE, `device ${this.name} is already started`);
    const slotBytes = this.vnetHdr ? VNET_HDR_BYTES + MAX_SEGMENT_BYTES : this.mtu + TAP_LINK_HEADER_BYTES;
    this.#slots = [];
    for (let i = 0; i < this.#readBatch; i++) this.#slots.push(new Uint8Array(slotBytes));
    this.#views = new Array<Uint8Array>(this.#readBatch);
    this.#handler = onBatch;
    this.#schedule();
  }

  /**
   * Simulate the kernel handing these packets to the device (copied). Returns
   * how many were queued; the rest are counted in extra.injectDropped.
   */
  inject(packets: readonly Uint8Array[], count = packets.length): number {
    let queued = 0;
    const n = Math.min(count, packets.length);
    for (let i = 0; i < n; i++) {
      const p = packets[i] as Uint8Array;
      if (this.#closed || this.#queue.length >= this.#maxQueued || p.length > (this.#slots[0]?.length ?? VNET_HDR_BYTES + MAX_SEGMENT_BYTES)) {
        this.extra.injectDropped++;
        continue;
      }
      this.#queue.push(p.slice());
      queued++;
    }
    this.#schedule();
    return queued;
  }

  write(packets: readonly Uint8Array[], count: number): number {
    const n = Math.max(0, Math.min(count | 0, packets.length));
    const stats = this.#stats;
    if (this.#closed) {
      stats.txErrors += n;
      return 0;
    }
    let ok = 0;
    for (let i = 0; i < n; i++) {
      const p = packets[i];
      if (!(p instanceof Uint8Array) || !this.#acceptable(p)) {
        stats.txErrors++;
        continue;
      }
      ok++;
      stats.txPackets++;
      stats.txBytes += p.length;
      if (this.#maxWritten > 0) {
        if (this.written.length >= this.#maxWritten) {
          this.written.shift();
          this.extra.writtenEvicted++;
        }
        this.written.push(p.slice());
      }
      if (this.#onWrite !== undefined) this.#onWrite(p);
      if (this.#peer !== undefined) this.#peer.inject([p], 1);
    }
    return ok;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.extra.injectDropped += this.#queue.length;
    this.#queue.length = 0;
  }

  #acceptable(p: Uint8Array): boolean {
    let off = 0;
    let gso = false;
    if (this.vnetHdr) {
      if (!readVnetHeader(p, this.#hdr)) return false;
      gso = isGso(this.#hdr);
      if (gso && this.#hdr.gsoSize === 0) return false;
      off = VNET_HDR_BYTES;
    }
    const frame = p.length - off;
    if (frame > MAX_SEGMENT_BYTES) return false;
    if (!gso && frame > this.mtu + (this.kind === 'tap' ? TAP_LINK_HEADER_BYTES : 0)) return false;
    if (this.kind === 'tap') return frame >= ETHERNET_HEADER_BYTES;
    if (frame < 1) return false;
    const version = (p[off] as number) >> 4;
    if (version === 4) return frame >= IPV4_MIN_HEADER_BYTES;
    if (version === 6) return frame >= IPV6_HEADER_BYTES;
    return false;
  }

  #schedule(): void {
    if (this.#scheduled || this.#handler === undefined || this.#queue.length === 0 || this.#closed) return;
    this.#scheduled = true;
    setImmediate(this.#deliver);
  }

  /** One batch per event-loop turn, like one reader wakeup per batch. */
  readonly #deliver = (): void => {
    this.#scheduled = false;
    if (this.#closed || this.#handler === undefined) return;
    const n = Math.min(this.#queue.length, this.#readBatch);
    const stats = this.#stats;
    for (let i = 0; i < n; i++) {
      const p = this.#queue.shift() as Uint8Array;
      const slot = this.#slots[i] as Uint8Array;
      slot.set(p);
      this.#views[i] = slot.subarray(0, p.length);
      stats.rxPackets++;
      stats.rxBytes += p.length;
    }
    try {
      this.#handler(this.#views, n);
    } catch {
      stats.rxErrors += n;
    }
    // Scribble over the slots so a consumer that kept a view sees garbage in tests, as it would with the native device.
    for (let i = 0; i < n; i++) (this.#views[i] as Uint8Array).fill(0xee);
    this.#schedule();
  };
}
