/**
 * UdpNativeSend: a datagram handed to the kernel by one sendto(2) on the
 * caller's thread (native/tuntap.cc `sendDatagram`), for the UDP transport's
 * hot path (docs/architecture.md "Outbound: device to socket", docs/conventions.md §8).
 *
 * `dgram.Socket.send` builds a JavaScript request per datagram, wraps the
 * bytes in a list, checks the socket's state and queue and only then calls
 * into libuv: 12-27 µs of each send on the direct path (BENCHMARKS.md "UDP
 * datagrams to the kernel without dgram's send"). Here the socket's own fd
 * gets the datagram at once; the destination's sockaddr is built once per
 * remote and port and remembered (bounded: when full the table starts over,
 * which only costs building them again).
 *
 * What callers must know:
 *  - send() returns true only when the kernel took the whole datagram. On
 *    false (the socket's buffer is full, EAGAIN; any other error; a
 *    destination that is no IP literal of the socket's family, such as an
 *    IPv6 address with a zone) the caller sends through dgram instead, which
 *    queues while the socket is full and reports as it always did.
 *  - Order: the caller must use send() only while dgram has nothing queued
 *    (`getSendQueueCount() === 0`), or a datagram sent here would overtake
 *    the ones waiting in dgram's queue.
 *  - The fd is dgram's: this never closes it, and the caller must stop
 *    calling send() before it closes the dgram socket (after close the number
 *    may name another file).
 *  - The bytes are copied into the kernel before send() returns: the caller
 *    may reuse its buffer at once.
 */
import type { Socket } from 'node:dgram';
import { loadNativeTun, type NativeTunAddon } from '../device/native-loader.js';
import { dgramFd } from './udp-socket-buffers.js';

/** Destinations (address and port) whose sockaddr is remembered. */
export const UDP_NATIVE_ADDRESS_CACHE_MAX = 4096;

/** The part of the addon this needs (native/tuntap.cc). */
export type NativeDatagramAddon = Pick<NativeTunAddon, 'socketAddress' | 'sendDatagram'>;

export class UdpNativeSend {
  readonly #fd: number;
  readonly #family: 4 | 6;
  readonly #addon: NativeDatagramAddon;
  /** Address text as handed to the socket -> port -> sockaddr (null: not a literal of our family; dgram sends those). */
  readonly #to = new Map<string, Map<number, Uint8Array | null>>();
  #entries = 0;

  /**
   * For a bound dgram socket: null when this platform has no addon or the fd cannot be found, and the transport
   * sends through dgram alone. `family` is the socket's: 6 for the dual-stack udp6 socket, whose IPv4 destinations
   * come in their IPv4-mapped text.
   */
  static forSocket(socket: Socket, family: 4 | 6, addon?: NativeDatagramAddon): UdpNativeSend | null {
    const fd = dgramFd(socket);
    if (fd === null) return null;
    let a = addon;
    if (a === undefined) {
      try {
        a = loadNativeTun();
      } catch {
        return null;
      }
    }
    return typeof a.sendDatagram === 'function' && typeof a.socketAddress === 'function' ? new UdpNativeSend(fd, family, a) : null;
  }

  constructor(fd: number, family: 4 | 6, addon: NativeDatagramAddon) {
    this.#fd = fd;
    this.#family = family;
    this.#addon = addon;
  }

  /** Hand `bytes` to the kernel for `address` (the socket's text for it) and `port`; false: send it through dgram. */
  send(bytes: Uint8Array, address: string, port: number): boolean {
    const to = this.#sockaddr(address, port);
    if (to === null) return false;
    return this.#addon.sendDatagram(this.#fd, bytes, to) === bytes.length;
  }

  #sockaddr(address: string, port: number): Uint8Array | null {
    let ports = this.#to.get(address);
    const known = ports?.get(port);
    if (known !== undefined) return known;
    if (this.#entries >= UDP_NATIVE_ADDRESS_CACHE_MAX) {
      this.#to.clear();
      this.#entries = 0;
      ports = undefined;
    }
    let to: Uint8Array | null;
    try {
      to = this.#addon.socketAddress(this.#family, address, port);
    } catch {
      to = null; // a port out of range: dgram reports it as before
    }
    if (ports === undefined) {
      ports = new Map();
      this.#to.set(address, ports);
    }
    ports.set(port, to);
    this.#entries++;
    return to;
  }
}
