/**
 * UdpSendAddresses: what the UDP transport's socket is handed as a
 * destination, worked out once per remote address instead of once per
 * datagram (docs/conventions.md §8, the hot path).
 *
 * `dgram.Socket.send(bytes, port, address)` on an unconnected socket runs
 * the socket's lookup function for every datagram; the default, dns.lookup,
 * parses the text with the IPv4 and IPv6 regular expressions and answers on
 * a later tick (process.nextTick), so each datagram costs two parses, a
 * deferred callback, and leaves only after the rest of the current batch.
 * The transport itself had also parsed the text once more per datagram to
 * decide on the IPv4-mapped form for a dual-stack socket.
 *
 * Here `target(address)` returns the socket form of an IP literal (the
 * IPv4-mapped `::ffff:a.b.c.d` on a dual-stack socket, the text itself
 * otherwise), parsed once and then remembered, and `lookup` — given to
 * createSocket — answers synchronously for the texts target() produced.
 * Anything else (a host name, which the transport never sends to) still goes
 * through dns.lookup exactly as before. Both tables are bounded: when full
 * they start over, which only costs the parse again.
 */
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { isIP } from 'node:net';

/** Remote addresses remembered; a mesh has far fewer live remotes than this. */
export const UDP_SEND_ADDRESS_CACHE_MAX = 4096;

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

export class UdpSendAddresses {
  readonly #dualStack: boolean;
  /** Address text as the transport holds it -> text handed to the socket. */
  readonly #targets = new Map<string, string>();
  /** Texts handed to the socket that are IP literals of the socket's family. */
  readonly #literals = new Set<string>();
  readonly #family: 4 | 6;

  /** `dualStack`: the socket is udp6 and takes IPv4 destinations in their IPv4-mapped form. */
  constructor(dualStack: boolean) {
    this.#dualStack = dualStack;
    this.#family = dualStack ? 6 : 4;
  }

  /** The destination to hand the socket for `address` (IPv4-mapped on a dual-stack socket). */
  target(address: string): string {
    const known = this.#targets.get(address);
    if (known !== undefined) return known;
    const family = isIP(address);
    const to = this.#dualStack && family === 4 ? `::ffff:${address}` : address;
    if (this.#targets.size >= UDP_SEND_ADDRESS_CACHE_MAX) {
      this.#targets.clear();
      this.#literals.clear();
    }
    this.#targets.set(address, to);
    if (family !== 0 && (this.#dualStack || family === 4)) this.#literals.add(to);
    return to;
  }

  /** The socket's lookup (createSocket's `lookup` option): literals from target() at once, anything else through dns.lookup. */
  readonly lookup = (hostname: string, options: number | LookupOneOptions, callback: LookupCallback): void => {
    if (this.#literals.has(hostname)) {
      callback(null, hostname, this.#family);
      return;
    }
    dnsLookup(hostname, options as LookupOneOptions, callback);
  };
}
