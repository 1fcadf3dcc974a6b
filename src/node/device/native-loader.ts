/**
 * Loads the native TAP/TUN addon (native/tuntap.cc, built by node-gyp during
 * `npm ci` into native/build/Release/shadowmesh_tun.node) and describes what
 * it exports. docs/conventions.md §14.
 *
 * What callers must know:
 *  - loadNativeTun() loads once and caches; it throws a DeviceError
 *    (DeviceCode.UNSUPPORTED off Linux, DeviceCode.ADDON when the file
 *    is missing or does not load) whose message says what to install and how
 *    to rebuild. The loader error is cached too: a second call fails the same
 *    way without touching the disk again.
 *  - nativeTunIfPresent() is the same load for callers that have a way
 *    without the addon (the UDP transport's socket calls): null instead of
 *    the error.
 *  - SHADOWMESH_NATIVE_TUN overrides the path (tests, packagers).
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DeviceError, DeviceCode } from './device-errors.js';

/** The addon's surface, exactly as native/tuntap.cc exports it. */
export interface NativeTunAddon {
  /** Throws an Error with `errno` and `syscall` on failure. `offloads` is the TUN_F_* mask the kernel accepted. */
  open(name: string, kind: 'tap' | 'tun', vnetHdr: boolean, offloads: number, multiQueue: boolean): { fd: number; name: string; offloads: number };
  setMtu(name: string, mtu: number): void;
  setMac(name: string, mac: Uint8Array): void;
  setUp(name: string): void;
  addAddress(name: string, family: 4 | 6, address: string, prefixLen: number): void;
  /**
   * Start reading on the event loop (a poll on the fd, no thread). Slot i of `slab` starts at i * slotBytes; its
   * packet length goes to lengths[i]. onBatch(count, readErrors) runs on the
   * main thread; count < 0 is -errno of a fatal read error (the reader stopped).
   */
  startReader(fd: number, slab: ArrayBuffer, lengths: Uint32Array, slotBytes: number, batch: number, onBatch: (count: number, readErrors: number) => void): void;
  /** result[0] = packets written, result[1] = bytes written, result[2] = last errno (0 if none). Returns result[0]. */
  writeBatch(fd: number, packets: readonly Uint8Array[], count: number, result: Float64Array): number;
  /** Stops and joins the reader, closes the fd. */
  close(fd: number): void;
  /** SO_RCVBUFFORCE / SO_SNDBUFFORCE on a socket (CAP_NET_ADMIN): 0 when set, else the errno, per direction. */
  forceSocketBuffers(fd: number, bytes: number): { rcvErrno: number; sndErrno: number };
  /** sockaddr_in (family 4) or sockaddr_in6 (6) for sendDatagram; null when `address` is no IP literal of that family. Throws TypeError for a bad family or port. */
  socketAddress(family: 4 | 6, address: string, port: number): Uint8Array | null;
  /** One sendto(MSG_DONTWAIT) on a socket fd: bytes sent, or -errno; never throws for a failing send. */
  sendDatagram(fd: number, bytes: Uint8Array, to: Uint8Array): number;
  /**
   * One sendmsg(MSG_DONTWAIT) with UDP_SEGMENT: `bytes` is datagrams of `segmentBytes` end to end (the last may be
   * shorter), split by the kernel. Bytes sent, or -errno; never throws for a failing send. Throws TypeError for bad arguments.
   */
  sendSegments(fd: number, bytes: Uint8Array, to: Uint8Array, segmentBytes: number): number;
  /**
   * Read a datagram socket on the event loop by recvmmsg, through a dup of `fd`, which it returns (close() it to
   * stop). Per slot: lengths[i], the source sockaddr in sources[28 i ..], the UDP_GRO segment size in segments[i]
   * (0: one datagram). onBatch(count, readErrors) as for startReader. Throws TypeError for bad arguments.
   */
  startDatagramReader(fd: number, slab: ArrayBuffer, lengths: Uint32Array, sources: Uint8Array, segments: Uint16Array, slotBytes: number, batch: number, onBatch: (count: number, readErrors: number) => void): number;
  /** UDP_GRO on a socket: 0 when set, else the errno. */
  setUdpGro(fd: number, on: boolean): number;
  readonly VNET_HDR_BYTES: number;
  readonly TUN_F_CSUM: number;
  readonly TUN_F_TSO4: number;
  readonly TUN_F_TSO6: number;
  readonly TUN_F_USO4: number;
  readonly TUN_F_USO6: number;
}

/** Where node-gyp puts the addon, relative to this file in dist/src/node/device/ (or src/node/device/). */
export const NATIVE_TUN_PATH = fileURLToPath(new URL('../../../../native/build/Release/shadowmesh_tun.node', import.meta.url));

const HOW_TO_BUILD =
  'The TAP/TUN addon is built from native/ by node-gyp when you run `npm ci`. It needs a C++ compiler, make, ' +
  'python3 and the Node.js headers (Debian/Ubuntu: `apt-get install g++ make python3 nodejs-dev`, or let node-gyp download the headers). ' +
  'Rebuild it with `npx node-gyp rebuild --directory=native` (or `npm rebuild shadowmesh`).';

const EXPORTED_FUNCTIONS = ['open', 'setMtu', 'setMac', 'setUp', 'addAddress', 'startReader', 'writeBatch', 'close'] as const;

let cached: NativeTunAddon | undefined;
let cachedError: DeviceError | undefined;

/** Load the addon (once). Throws DeviceError DeviceCode.UNSUPPORTED or DeviceCode.ADDON. */
export function loadNativeTun(): NativeTunAddon {
  if (cached !== undefined) return cached;
  if (cachedError !== undefined) throw cachedError;
  try {
    cached = loadFrom(process.env['SHADOWMESH_NATIVE_TUN'] ?? NATIVE_TUN_PATH);
    return cached;
  } catch (err) {
    cachedError = err instanceof DeviceError ? err : new DeviceError(DeviceCode.ADDON, `TAP/TUN addon failed to load: ${String(err)}`, { cause: err });
    throw cachedError;
  }
}

/** loadNativeTun(), or null where it does not load (off Linux, not built): for callers that can do without it. */
export function nativeTunIfPresent(): NativeTunAddon | null {
  try {
    return loadNativeTun();
  } catch {
    return null;
  }
}

/** Load an addon from `path` without caching (tests use this to see the failure messages). */
export function loadFrom(path: string): NativeTunAddon {
  if (process.platform !== 'linux') {
    throw new DeviceError(DeviceCode.UNSUPPORTED, `TAP/TUN devices are implemented for Linux only (this is ${process.platform}); run a relay here, or a node on Linux`);
  }
  if (!existsSync(path)) {
    throw new DeviceError(DeviceCode.ADDON, `TAP/TUN addon not found at ${path}. ${HOW_TO_BUILD}`);
  }
  let mod: unknown;
  try {
    mod = createRequire(import.meta.url)(path);
  } catch (err) {
    const detail = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new DeviceError(DeviceCode.ADDON, `TAP/TUN addon at ${path} does not load (${detail}); it may be built for another Node version. ${HOW_TO_BUILD}`, { cause: err });
  }
  for (const fn of EXPORTED_FUNCTIONS) {
    if (typeof (mod as Record<string, unknown>)[fn] !== 'function') {
      throw new DeviceError(DeviceCode.ADDON, `TAP/TUN addon at ${path} lacks ${fn}(); it is stale. ${HOW_TO_BUILD}`);
    }
  }
  return mod as NativeTunAddon;
}
