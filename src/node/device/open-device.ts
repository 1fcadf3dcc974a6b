/**
 * openDevice(): validate OpenDeviceOptions, open a native TAP/TUN device and
 * configure it (MTU, addresses, link up). The one place that picks the
 * platform implementation (docs/conventions.md §1): Linux gets NativeDevice; every
 * other platform fails with DeviceCode.UNSUPPORTED.
 *
 * What callers must know:
 *  - Options are validated before anything is opened; unknown keys and bad
 *    values throw DeviceError DeviceCode.OPTION naming the option.
 *  - Configuration failures close the fd before throwing, so a failed open
 *    never leaves an interface behind. Errors are DeviceErrors with a message
 *    that says what is missing (privilege, tun module, name or address in use).
 *  - IPv4 addresses are set with ioctl, which keeps one address per label:
 *    the first goes on `name`, the next ones on `name:1`, `name:2`, ... (so
 *    the name plus label must fit 15 bytes). IPv6 addresses have no such limit.
 *  - With `offloads` (default) the device uses virtio-net headers and asks
 *    for checksum, TSO4/6 and USO4/6 offloads; `offloadFlags` on the result
 *    says which the kernel accepted.
 */
import { parseCidr, type Cidr } from '../../identity/cidr.js';
import type { Device, DeviceKind, OpenDeviceOptions } from './device.js';
import { DeviceError, DeviceCode } from './device-errors.js';
import { deviceErrorFromNative } from './native-errno.js';
import { DEFAULT_READ_BATCH, NativeDevice } from './native-device.js';
import { loadNativeTun, type NativeTunAddon } from './native-loader.js';

/**
 * Default link MTU: 1400 leaves room for an outer IPv6 header (40), UDP (8)
 * and our frame header and AEAD tag inside a 1500-byte path, so a UDP
 * direct path carries full-size packets unsplit. The relay (stream) path
 * would take any MTU.
 */
export const DEFAULT_DEVICE_MTU = 1_400;
/** IPv6 needs 1280 (RFC 8200 §5); IPv4 needs 576 to be useful. We require the IPv6 floor. */
export const MIN_DEVICE_MTU = 1_280;
/** Largest MTU a TUN/TAP takes (ETH_MAX_MTU). */
export const MAX_DEVICE_MTU = 65_535;
/** IFNAMSIZ - 1. */
export const MAX_IFNAME_BYTES = 15;

export const DEFAULT_DEVICE_NAMES: Readonly<Record<DeviceKind, string>> = Object.freeze({ tun: 'sm%d', tap: 'smtap%d' });

export interface NativeOpenOptions extends OpenDeviceOptions {
  /** Packets per read batch (1..1024); default DEFAULT_READ_BATCH. */
  readBatch?: number;
  /** Failure while running (the device vanished); see NativeDevice. */
  onError?: (err: DeviceError) => void;
}

export interface ResolvedDeviceOptions {
  readonly kind: DeviceKind;
  readonly name: string;
  readonly mtu: number;
  readonly mac?: Uint8Array;
  readonly addresses: readonly Cidr[];
  readonly offloads: boolean;
  readonly readBatch: number;
}

const KNOWN_KEYS = new Set(['kind', 'name', 'mtu', 'mac', 'addresses', 'offloads', 'readBatch', 'onError']);
const NAME_RE = /^[A-Za-z0-9_.-]*(%d)?[A-Za-z0-9_.-]*$/;
const MAX_READ_BATCH = 1_024;

/** Validate and complete options; throws DeviceError DeviceCode.OPTION naming the bad one. Pure: opens nothing. */
export function resolveDeviceOptions(options: NativeOpenOptions): ResolvedDeviceOptions {
  if (typeof options !== 'object' || options === null) throw optionError('options', options, 'an object');
  for (const key of Object.keys(options)) {
    if (!KNOWN_KEYS.has(key)) throw new DeviceError(DeviceCode.OPTION, `openDevice: unknown option ${JSON.stringify(key)}`);
  }
  const kind = options.kind;
  if (kind !== 'tap' && kind !== 'tun') throw optionError('kind', kind, "'tap' or 'tun'");
  const name = options.name ?? DEFAULT_DEVICE_NAMES[kind];
  if (!isValidInterfaceName(name)) throw optionError('name', name, `1..${MAX_IFNAME_BYTES} bytes of [A-Za-z0-9_.-] with at most one %d, not "." or ".."`);
  const mtu = options.mtu ?? DEFAULT_DEVICE_MTU;
  if (!Number.isInteger(mtu) || mtu < MIN_DEVICE_MTU || mtu > MAX_DEVICE_MTU) throw optionError('mtu', mtu, `an integer ${MIN_DEVICE_MTU}..${MAX_DEVICE_MTU}`);
  const rawAddresses = options.addresses ?? [];
  if (!Array.isArray(rawAddresses)) throw optionError('addresses', rawAddresses, 'an array of CIDR strings');
  const addresses: Cidr[] = [];
  for (const text of rawAddresses) {
    if (typeof text !== 'string') throw optionError('addresses', text, 'a CIDR string such as 10.10.10.3/24');
    try {
      addresses.push(parseCidr(text));
    } catch (err) {
      throw new DeviceError(DeviceCode.OPTION, `openDevice option addresses: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
  const mac = options.mac;
  if (mac !== undefined) {
    if (kind !== 'tap') throw optionError('mac', mac, 'absent for a TUN device (it has no link-layer address)');
    if (!(mac instanceof Uint8Array) || mac.length !== 6 || (mac[0]! & 1) === 1) throw optionError('mac', mac, 'a 6-byte unicast Ethernet address');
  }
  const offloads = options.offloads ?? true;
  if (typeof offloads !== 'boolean') throw optionError('offloads', offloads, 'a boolean');
  const readBatch = options.readBatch ?? DEFAULT_READ_BATCH;
  if (!Number.isInteger(readBatch) || readBatch < 1 || readBatch > MAX_READ_BATCH) throw optionError('readBatch', readBatch, `an integer 1..${MAX_READ_BATCH}`);
  if (options.onError !== undefined && typeof options.onError !== 'function') throw optionError('onError', options.onError, 'a function');
  return Object.freeze({ kind, name, mtu, ...(mac !== undefined ? { mac: Uint8Array.from(mac) } : {}), addresses: Object.freeze(addresses), offloads, readBatch });
}

export function isValidInterfaceName(name: unknown): name is string {
  if (typeof name !== 'string' || name.length === 0 || Buffer.byteLength(name) > MAX_IFNAME_BYTES) return false;
  if (name === '.' || name === '..' || name.includes('/') || name.includes(':')) return false;
  return NAME_RE.test(name) && name.split('%').length <= 2 && !/%[^d]|%$/.test(name);
}

/** Open and configure a device (native on Linux). See the header for errors. */
export async function openDevice(options: NativeOpenOptions): Promise<NativeDevice>;
export async function openDevice(options: OpenDeviceOptions): Promise<Device>;
export async function openDevice(options: NativeOpenOptions): Promise<NativeDevice> {
  const resolved = resolveDeviceOptions(options);
  return openNativeDevice(loadNativeTun(), resolved, options.onError);
}

/** openDevice with an explicit addon (tests pass a fake one to exercise the error paths). */
export function openNativeDevice(addon: NativeTunAddon, o: ResolvedDeviceOptions, onError?: (err: DeviceError) => void): NativeDevice {
  const wanted = o.offloads ? addon.TUN_F_CSUM | addon.TUN_F_TSO4 | addon.TUN_F_TSO6 | addon.TUN_F_USO4 | addon.TUN_F_USO6 : 0;
  let opened: { fd: number; name: string; offloads: number };
  try {
    opened = addon.open(o.name, o.kind, o.offloads, wanted, false);
  } catch (err) {
    throw deviceErrorFromNative(err, 'open', o.name);
  }
  const name = opened.name;
  try {
    try {
      addon.setMtu(name, o.mtu);
    } catch (err) {
      throw deviceErrorFromNative(err, 'mtu', name, String(o.mtu));
    }
    if (o.mac !== undefined) {
      try {
        addon.setMac(name, o.mac);
      } catch (err) {
        throw deviceErrorFromNative(err, 'mac', name);
      }
    }
    let ipv4Count = 0;
    for (const cidr of o.addresses) {
      const label = cidr.family === 4 && ipv4Count > 0 ? `${name}:${ipv4Count}` : name;
      if (Buffer.byteLength(label) > MAX_IFNAME_BYTES) {
        throw new DeviceError(DeviceCode.OPTION, `openDevice option addresses: ${cidr.text} needs label ${label}, longer than ${MAX_IFNAME_BYTES} bytes; use a shorter name`);
      }
      const address = cidr.text.slice(0, cidr.text.indexOf('/'));
      try {
        addon.addAddress(label, cidr.family, address, cidr.prefix);
      } catch (err) {
        throw deviceErrorFromNative(err, 'address', name, cidr.text);
      }
      if (cidr.family === 4) ipv4Count++;
    }
    try {
      addon.setUp(name);
    } catch (err) {
      throw deviceErrorFromNative(err, 'up', name);
    }
  } catch (err) {
    try {
      addon.close(opened.fd);
    } catch {
      // Already failing; the fd is gone either way.
    }
    throw err;
  }
  return new NativeDevice(
    onError === undefined ? { addon } : { addon, onError },
    { fd: opened.fd, name, kind: o.kind, mtu: o.mtu, vnetHdr: o.offloads, offloads: opened.offloads, readBatch: o.readBatch },
  );
}

function optionError(option: string, value: unknown, expected: string): DeviceError {
  let shown: string;
  try {
    shown = typeof value === 'function' ? 'a function' : JSON.stringify(value) ?? String(value);
  } catch {
    shown = String(value);
  }
  return new DeviceError(DeviceCode.OPTION, `openDevice option ${option}: expected ${expected}, got ${shown}`);
}
