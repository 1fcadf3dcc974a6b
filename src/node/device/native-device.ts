/**
 * NativeDevice: the Linux Device over the native addon (native/tuntap.cc).
 * Implements device.ts; opened and configured by openDevice()
 * (open-device.ts), which is the only place that should construct one.
 *
 * Reading: one slab of `readBatch` slots (each large enough for the biggest
 * packet the device can hand over: a 64 KiB GSO segment plus its virtio-net
 * header when offloads are on, else MTU plus link header) is allocated at
 * start(). The addon reads it on the event loop (a uv_poll on the fd, no
 * thread) and calls back once per batch, synchronously; this class points
 * one reused view per slot at the packet and hands the reused array to the
 * handler. Nothing more is read until the handler returned, so the views
 * stay valid for exactly that call.
 *
 * Writing: write() hands the caller's array straight to the addon, which
 * loops write(2); failures are counted, never thrown.
 *
 * A started device keeps the event loop alive (its reader is an active
 * poll handle) until close(): a daemon exits by closing it.
 *
 * Operational failure (the device vanished under us, e.g. `ip link del`)
 * stops the reader; it is reported once through deps.onError and
 * `failure`. The owner decides whether to reopen.
 */
import { type Device, type DeviceKind, type DeviceStats, MAX_SEGMENT_BYTES, TAP_LINK_HEADER_BYTES, zeroStats } from './device.js';
import { VNET_HDR_BYTES } from './vnet-header.js';
import { DeviceError, DeviceCode } from './device-errors.js';
import type { NativeTunAddon } from './native-loader.js';

/** Packets per read batch: enough to amortise one main-thread wakeup over a burst, small enough for a ~2 MiB slab with 64 KiB slots. */
export const DEFAULT_READ_BATCH = 32;
/** Slots start on this boundary so every packet's IP header is nicely aligned. */
const SLOT_ALIGN_BYTES = 64;

export interface NativeDeviceDeps {
  addon: NativeTunAddon;
  /** Called once if the device fails while running (read error that stops the reader). */
  onError?: (err: DeviceError) => void;
}

export interface NativeDeviceOptions {
  fd: number;
  name: string;
  kind: DeviceKind;
  mtu: number;
  vnetHdr: boolean;
  /** TUN_F_* mask the kernel accepted. */
  offloads: number;
  readBatch: number;
}

export class NativeDevice implements Device {
  readonly kind: DeviceKind;
  readonly name: string;
  readonly mtu: number;
  readonly vnetHdr: boolean;
  /** TUN_F_* offload flags the kernel accepted (0 without vnetHdr). */
  readonly offloads: number;
  readonly readBatch: number;
  /** Bytes per read slot. */
  readonly slotBytes: number;
  readonly #stats: DeviceStats = zeroStats();
  readonly #addon: NativeTunAddon;
  readonly #onError: ((err: DeviceError) => void) | undefined;
  readonly #fd: number;
  readonly #writeResult = new Float64Array(3);
  #handler: ((packets: readonly Uint8Array[], count: number) => void) | undefined;
  #slab: Uint8Array | undefined;
  #lengths: Uint32Array | undefined;
  #views: Uint8Array[] = [];
  #closed = false;
  #failure: DeviceError | undefined;

  constructor(deps: NativeDeviceDeps, options: NativeDeviceOptions) {
    this.#addon = deps.addon;
    this.#onError = deps.onError;
    this.#fd = options.fd;
    this.kind = options.kind;
    this.name = options.name;
    this.mtu = options.mtu;
    this.vnetHdr = options.vnetHdr;
    this.offloads = options.offloads;
    this.readBatch = options.readBatch;
    const largest = options.vnetHdr ? VNET_HDR_BYTES + MAX_SEGMENT_BYTES : options.mtu + (options.kind === 'tap' ? TAP_LINK_HEADER_BYTES : 0);
    this.slotBytes = Math.ceil(largest / SLOT_ALIGN_BYTES) * SLOT_ALIGN_BYTES;
  }

  get stats(): Readonly<DeviceStats> {
    return this.#stats;
  }

  /** Set when the device failed while running; the reader has stopped. */
  get failure(): DeviceError | undefined {
    return this.#failure;
  }

  get closed(): boolean {
    return this.#closed;
  }

  start(onBatch: (packets: readonly Uint8Array[], count: number) => void): void {
    if (this.#closed) throw new DeviceError(DeviceCode.STATE, `device ${this.name} is closed`);
    if (this.#handler !== undefined) throw new DeviceError(DeviceCode.STATE, `device ${this.name} is already started`);
    const slab = new ArrayBuffer(this.slotBytes * this.readBatch);
    this.#slab = new Uint8Array(slab);
    this.#lengths = new Uint32Array(this.readBatch);
    this.#views = new Array<Uint8Array>(this.readBatch);
    for (let i = 0; i < this.readBatch; i++) this.#views[i] = this.#slab.subarray(i * this.slotBytes, i * this.slotBytes);
    this.#handler = onBatch;
    this.#addon.startReader(this.#fd, slab, this.#lengths, this.slotBytes, this.readBatch, this.#onNativeBatch);
  }

  /** Registered once with the addon; runs on the main thread per batch. */
  readonly #onNativeBatch = (count: number, readErrors: number): void => {
    const stats = this.#stats;
    stats.rxErrors += readErrors;
    if (count < 0) {
      this.#fail(-count);
      return;
    }
    const slab = this.#slab as Uint8Array;
    const lengths = this.#lengths as Uint32Array;
    const views = this.#views;
    const slot = this.slotBytes;
    let bytes = 0;
    for (let i = 0; i < count; i++) {
      const len = lengths[i] as number;
      views[i] = slab.subarray(i * slot, i * slot + len);
      bytes += len;
    }
    stats.rxPackets += count;
    stats.rxBytes += bytes;
    if (count === 0 || this.#closed) return;
    try {
      (this.#handler as (packets: readonly Uint8Array[], count: number) => void)(views, count);
    } catch {
      // docs/conventions.md §10: a handler bug loses this batch, never the device.
      stats.rxErrors += count;
    }
  };

  write(packets: readonly Uint8Array[], count: number): number {
    const n = Math.max(0, Math.min(count | 0, packets.length));
    const stats = this.#stats;
    if (this.#closed) {
      stats.txErrors += n;
      return 0;
    }
    if (n === 0) return 0;
    const result = this.#writeResult;
    const ok = this.#addon.writeBatch(this.#fd, packets, n, result);
    stats.txPackets += ok;
    stats.txBytes += result[1] as number;
    stats.txErrors += n - ok;
    return ok;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#addon.close(this.#fd);
  }

  #fail(errno: number): void {
    if (this.#failure !== undefined) return;
    this.#failure = new DeviceError(DeviceCode.OPEN, `device ${this.name} stopped: read failed with errno ${errno} (device removed?)`);
    if (this.#onError !== undefined && !this.#closed) this.#onError(this.#failure);
  }
}
