/**
 * Socket buffers for the UDP transport. A 64 KiB segment of the data plane
 * crosses a UDP path as ~45 datagrams, so a burst of a few segments already
 * overflows the kernel's default receive buffer (~208 KiB) and costs whole
 * segments. Node's dgram asks with SO_RCVBUF/SO_SNDBUF, which Linux caps at
 * net.core.rmem_max / wmem_max; with CAP_NET_ADMIN (the node daemon has it
 * for its device) SO_RCVBUFFORCE / SO_SNDBUFFORCE go past the cap for this
 * one socket, as wireguard-go does. That needs the socket's fd and the
 * native addon (native/tuntap.cc forceSocketBuffers); without either, what
 * dgram got stays and the caller warns.
 *
 * What callers must know: never throws; `granted` is the buffer the kernel
 * gives the data (Linux reports twice the size it set, for its bookkeeping:
 * this is half of what it reports).
 */
import type { Socket } from 'node:dgram';
import { loadNativeTun } from '../device/native-loader.js';

export interface SocketBufferResult {
  /** Receive buffer in force now, in bytes of data (half of what Linux reports). */
  granted: number;
  /** SO_RCVBUFFORCE was used and accepted. */
  forced: boolean;
}

/** The first libuv handle in Node's internal state of a dgram socket (no public API) that `pick` accepts, as `pick` gives it; null when none does. */
function fromDgramHandle<T>(socket: Socket, pick: (handle: Record<string, unknown>) => T | null): T | null {
  for (const sym of Object.getOwnPropertySymbols(socket)) {
    const handle = (socket as unknown as Record<symbol, { handle?: Record<string, unknown> } | undefined>)[sym]?.handle;
    const found = handle === undefined || handle === null ? null : pick(handle);
    if (found !== null) return found;
  }
  return null;
}

/** The fd behind a bound dgram socket, from Node's internal state; null when not found. */
export function dgramFd(socket: Socket): number | null {
  return fromDgramHandle(socket, (h) => (typeof h['fd'] === 'number' && Number.isInteger(h['fd']) && h['fd'] >= 0 ? h['fd'] : null));
}

/** The libuv handle behind a bound dgram socket, with the calls that stop and restart its reading; null when not found. */
export function dgramReceiveHandle(socket: Socket): { recvStop(): number; recvStart(): number } | null {
  return fromDgramHandle(socket, (h) => (typeof h['recvStop'] === 'function' && typeof h['recvStart'] === 'function' ? (h as unknown as { recvStop(): number; recvStart(): number }) : null));
}

/** Ask for `bytes` of socket buffer each way; force past the sysctl cap when that is not granted (see the header). */
export function raiseSocketBuffers(socket: Socket, bytes: number): SocketBufferResult {
  const granted = (): number => {
    try {
      return Math.floor(socket.getRecvBufferSize() / 2);
    } catch {
      return 0;
    }
  };
  try {
    socket.setRecvBufferSize(bytes);
    socket.setSendBufferSize(bytes);
  } catch {
    // capped or refused: try the forced variant below
  }
  if (granted() >= bytes) return { granted: granted(), forced: false };
  const fd = dgramFd(socket);
  if (fd === null) return { granted: granted(), forced: false };
  try {
    const r = loadNativeTun().forceSocketBuffers(fd, bytes);
    return { granted: granted(), forced: r.rcvErrno === 0 };
  } catch {
    return { granted: granted(), forced: false }; // no addon here
  }
}
