/**
 * DeviceError and its stable codes (docs/conventions.md §9) for src/node/device.
 *
 * Opening or configuring a device fails with one of these; a bad packet
 * never does (it is counted in DeviceStats). Messages say what to do: which
 * privilege, module or package is missing. A code, once shipped, is never
 * reused for another meaning.
 */
import { SmError } from '../../errors.js';

export const DeviceCode = Object.freeze({
  /** An option of openDevice (kind, name, mtu, addresses, offloads) is missing, unknown or out of range. */
  OPTION: 'SM_ERR_DEVICE_OPTION',
  /** This platform has no native device implementation (only Linux has one). */
  UNSUPPORTED: 'SM_ERR_DEVICE_UNSUPPORTED',
  /** The native addon could not be loaded (not built, or built for another Node). */
  ADDON: 'SM_ERR_DEVICE_ADDON',
  /** Opening /dev/net/tun or configuring the link needs CAP_NET_ADMIN. */
  PERMISSION: 'SM_ERR_DEVICE_PERMISSION',
  /** /dev/net/tun does not exist (tun module not loaded, or not exposed to a container). */
  NO_TUN: 'SM_ERR_DEVICE_NO_TUN',
  /** The interface name is in use by another device or process. */
  BUSY: 'SM_ERR_DEVICE_BUSY',
  /** An address could not be assigned (already present, or refused by the kernel). */
  ADDRESS: 'SM_ERR_DEVICE_ADDRESS',
  /** The kernel refused the MTU. */
  MTU: 'SM_ERR_DEVICE_MTU',
  /** Any other failure to open or configure the device; the message carries the syscall and errno. */
  OPEN: 'SM_ERR_DEVICE_OPEN',
  /** start() on a device that is closed or already started. */
  STATE: 'SM_ERR_DEVICE_STATE',
} as const);
export type DeviceCode = (typeof DeviceCode)[keyof typeof DeviceCode];

export class DeviceError extends SmError {
  override name = 'DeviceError';
}
