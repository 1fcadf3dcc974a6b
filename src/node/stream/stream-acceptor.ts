/**
 * What a member does with a stream a peer opened (docs/architecture.md
 * "Streams"; docs/threat-model.md "Streams"): it connects only to itself.
 *
 *  - The destination must be one of our certificate's mesh addresses, or
 *    inside a subnet route of our certificate that we serve (`up
 *    --advertise-routes`). Anything else is refused (NotServed): a member is
 *    no open proxy for whoever holds a session with it.
 *  - An exit node (`up --advertise-exit-node`, certificate marked) widens
 *    exactly this check: any other destination, except what would turn it
 *    into a door into itself or the mesh (docs/threat-model.md "Streams
 *    through an exit node"): loopback, link-local, unspecified and
 *    multicast addresses (loopback and link-local allowed with
 *    `--serve-loopback`), and addresses inside our certificate's mesh
 *    subnets that are not ours (other members are reached end to end, not
 *    through us). Those are refused NotServed and counted exit_denied.
 *  - Our own address is reached on the address itself when we have a
 *    device, else on loopback (127.0.0.1 / ::1): a member without root
 *    serves its local services to the mesh as if they listened on its mesh
 *    address.
 *  - The network policy decides like for a TCP SYN from the peer's mesh
 *    address to the destination (docs/architecture.md "Network policy"):
 *    denied is refused (Policy).
 *  - The connection gets CONNECT_TIMEOUT_MS; refused is ConnectRefused,
 *    anything else Unreachable.
 *
 * accept() never rejects.
 */
import { connect, type Socket } from 'node:net';
import { prefixContains } from '../../identity/cert-routes.js';
import type { Cidr } from '../../identity/cidr.js';
import { formatIpAddress } from '../../wire/ip-address.js';
import { StreamReason } from '../../wire/constants.js';
import type { StreamAcceptor, StreamEndpoint, StreamHandle } from './stream-mux.js';
import { bridgeSocket } from './stream-socket.js';

/** Budget of the TCP connect for an accepted stream: below the opener's STREAM_OPEN_TIMEOUT_MS, so it hears why. */
export const STREAM_CONNECT_TIMEOUT_MS = 10_000;

export interface StreamAcceptorSource {
  /** Our certificate's mesh addresses (read on every OPEN: a renewal may change them). */
  addresses(): readonly Pick<Cidr, 'address'>[];
  /** The subnet routes we serve now (empty unless advertising). */
  servedRoutes(): readonly Pick<Cidr, 'address' | 'prefix'>[];
  /** True with a TAP/TUN device: our mesh address is a local address then. */
  hasDevice(): boolean;
  /** True while we serve as an exit node (--advertise-exit-node with the exit mark): other destinations are allowed, within exitAllowed. */
  servesExit?(): boolean;
  /** --serve-loopback: an exit node may connect to loopback and link-local destinations too. */
  serveLoopback?(): boolean;
  /** Our certificate's mesh subnets (address with prefix): never an exit destination. */
  meshSubnets?(): readonly Pick<Cidr, 'address' | 'prefix'>[];
  /** The network policy's verdict for a TCP connection from the peer to address:port; null without a policy (allowed). */
  policy(peerId: Uint8Array, address: string, port: number): { allowed: boolean; rule: string } | null;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Loopback or link-local (127/8, 169.254/16, ::1, fe80::/10, and IPv4-mapped forms): the exit node's own host. */
export function isHostLocal(a: Uint8Array): boolean {
  if (a.length === 16 && a.subarray(0, 10).every((b) => b === 0) && a[10] === 0xff && a[11] === 0xff) return isHostLocal(a.subarray(12));
  if (a.length === 4) return a[0] === 127 || (a[0] === 169 && a[1] === 254);
  return (a.subarray(0, 15).every((b) => b === 0) && a[15] === 1) || (a[0] === 0xfe && (a[1]! & 0xc0) === 0x80);
}

/** Unspecified or multicast: never a destination to connect to. */
function isNeverDestination(a: Uint8Array): boolean {
  if (a.length === 16 && a.subarray(0, 10).every((b) => b === 0) && a[10] === 0xff && a[11] === 0xff) return isNeverDestination(a.subarray(12));
  if (a.length === 4) return a[0] === 0 || (a[0]! >= 224);
  return a.every((b) => b === 0) || a[0] === 0xff;
}

export class LocalStreamAcceptor implements StreamAcceptor {
  readonly #s: StreamAcceptorSource;
  /** Refusals by reason name (status and tests). */
  readonly refused: Record<'not_served' | 'exit_denied' | 'policy' | 'connect_refused' | 'unreachable', number> = { not_served: 0, exit_denied: 0, policy: 0, connect_refused: 0, unreachable: 0 };

  constructor(source: StreamAcceptorSource) {
    this.#s = source;
  }

  accept(peerId: Uint8Array, address: Uint8Array, port: number, handle: StreamHandle): Promise<StreamEndpoint | number> {
    const own = this.#s.addresses().some((a) => sameBytes(a.address, address));
    const routed = !own && this.#s.servedRoutes().some((r) => r.address.length === address.length && prefixContains(r.address, r.prefix, address));
    if (!own && !routed) {
      if (this.#s.servesExit?.() !== true) {
        this.refused.not_served++;
        return Promise.resolve(StreamReason.NotServed);
      }
      if (!this.#exitAllowed(address)) {
        this.refused.exit_denied++;
        return Promise.resolve(StreamReason.NotServed);
      }
    }
    const text = formatIpAddress(address);
    const verdict = this.#s.policy(peerId, text, port);
    if (verdict !== null && !verdict.allowed) {
      this.refused.policy++;
      return Promise.resolve(StreamReason.Policy);
    }
    const host = own && !this.#s.hasDevice() ? (address.length === 4 ? '127.0.0.1' : '::1') : text;
    return this.#connect(host, port, handle);
  }

  /** As an exit node: anywhere but our own host (unless --serve-loopback) and the mesh. */
  #exitAllowed(address: Uint8Array): boolean {
    if (isNeverDestination(address)) return false;
    if (isHostLocal(address) && this.#s.serveLoopback?.() !== true) return false;
    return !(this.#s.meshSubnets?.() ?? []).some((r) => r.address.length === address.length && prefixContains(r.address, r.prefix, address));
  }

  #connect(host: string, port: number, handle: StreamHandle): Promise<StreamEndpoint | number> {
    return new Promise((resolve) => {
      const socket: Socket = connect({ host, port, allowHalfOpen: true, noDelay: true });
      const timer = setTimeout(() => socket.destroy(new Error('connect timeout')), STREAM_CONNECT_TIMEOUT_MS);
      timer.unref();
      const onError = (err: NodeJS.ErrnoException): void => {
        clearTimeout(timer);
        const refused = err.code === 'ECONNREFUSED';
        this.refused[refused ? 'connect_refused' : 'unreachable']++;
        resolve(refused ? StreamReason.ConnectRefused : StreamReason.Unreachable);
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(bridgeSocket(socket, handle));
      });
    });
  }
}
