/**
 * Turns the addon's errno-carrying Errors into DeviceErrors whose message
 * says what to do (docs/conventions.md §9). The addon stays policy-free: it reports
 * the syscall and errno, this file decides the wording and the code.
 */
import { DeviceError, DeviceCode } from './device-errors.js';

// Linux errno values (asm-generic/errno-base.h, errno.h).
const EPERM = 1;
const ENOENT = 2;
const EACCES = 13;
const EBUSY = 16;
const EEXIST = 17;
const ENODEV = 19;
const EINVAL = 22;

export type DeviceStep = 'open' | 'mtu' | 'mac' | 'up' | 'address';

/** Map an error thrown by the addon during `step` on interface `name` (`detail`: e.g. the address). */
export function deviceErrorFromNative(err: unknown, step: DeviceStep, name: string, detail = ''): DeviceError {
  const errno = typeof (err as { errno?: unknown })?.errno === 'number' ? (err as { errno: number }).errno : 0;
  const syscall = typeof (err as { syscall?: unknown })?.syscall === 'string' ? (err as { syscall: string }).syscall : '';
  const raw = err instanceof Error ? err.message : String(err);
  const opts = { cause: err };
  if (errno === EPERM || errno === EACCES) {
    if (step === 'open') {
      return new DeviceError(DeviceCode.PERMISSION, 'opening /dev/net/tun needs CAP_NET_ADMIN (run as root or grant the capability: setcap cap_net_admin+ep $(readlink -f $(which node)))', opts);
    }
    return new DeviceError(DeviceCode.PERMISSION, `configuring ${name} (${step}${detail ? ' ' + detail : ''}) needs CAP_NET_ADMIN (run as root or grant the capability)`, opts);
  }
  if (step === 'open') {
    if (errno === ENOENT && syscall === 'open') return new DeviceError(DeviceCode.NO_TUN, '/dev/net/tun missing: load the tun module (`modprobe tun`) or, in a container, pass the device through (--device /dev/net/tun)', opts);
    if (errno === ENODEV && syscall === 'open') return new DeviceError(DeviceCode.NO_TUN, '/dev/net/tun exists but has no driver: load the tun module (`modprobe tun`)', opts);
    if (errno === EBUSY) return new DeviceError(DeviceCode.BUSY, `interface name ${name} is in use by another TAP/TUN device; choose another --name or stop the other daemon`, opts);
    if (errno === EINVAL && syscall === 'TUNSETIFF') return new DeviceError(DeviceCode.BUSY, `interface name ${name} is taken by a device of another type, or the name is invalid; choose another --name`, opts);
  }
  if (step === 'address') {
    if (errno === EEXIST) return new DeviceError(DeviceCode.ADDRESS, `address ${detail} is already assigned on this machine (${name}); another daemon or interface uses it`, opts);
    return new DeviceError(DeviceCode.ADDRESS, `cannot assign ${detail} to ${name}: ${raw}`, opts);
  }
  if (step === 'mtu') return new DeviceError(DeviceCode.MTU, `the kernel refused MTU ${detail} on ${name}: ${raw}`, opts);
  return new DeviceError(DeviceCode.OPEN, `cannot ${step === 'up' ? 'bring up' : 'open'} ${name}: ${raw}`, opts);
}
