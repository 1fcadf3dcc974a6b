/**
 * The opener's side of the stream layer for local clients (the SOCKS5
 * proxy, port forwards; docs/architecture.md "Streams"): turns a host name
 * or address into a mesh address, finds the member that owns it, and
 * opens a stream there.
 *
 *  - Names: an IP literal is taken as it is; otherwise a member name
 *    (`bob`, or `bob.<domain>` with the network domain, any case, a final
 *    dot allowed) resolved from the CA-verified directory through
 *    src/names/member-names.ts. An IPv4 address is preferred when the
 *    member has both. Other names are not resolved (no DNS leaks to the
 *    outside through the proxy): the client gets "host unreachable".
 *  - Routing: the member whose certificate holds the address, else the
 *    member whose certified subnet route holds it (the directory's
 *    byAddress, then byRoute, as the TUN data plane routes), else the chosen
 *    exit node (`up --exit-node`) while it is listed with the CA's exit
 *    mark. While it is not, `route` answers 'no_exit' and the client is
 *    refused: fail closed, the proxy machine never connects directly.
 */
import { parseIpAddress } from '../../wire/ip-address.js';
import type { NamedAddress } from '../../names/member-names.js';
import type { StreamEndpoint, StreamHandle, StreamOpenResult } from './stream-mux.js';

export interface DialerSource {
  /** The network domain (names end in .<domain>). */
  domain: string;
  /** Addresses of the member called `label`, or null (MemberNames fits). */
  addressesOf(label: string): NamedAddress[] | null;
  /** The peer that carries streams to `address` (4 or 16 bytes); null: no member owns it; 'no_exit': it is for the chosen exit node, which is not listed with the exit mark now. */
  route(address: Uint8Array): Uint8Array | null | 'no_exit';
  open(peerId: Uint8Array, address: Uint8Array, port: number): Promise<StreamOpenResult>;
  attach(handle: StreamHandle, endpoint: StreamEndpoint): void;
}

/** noRoute.exitDown: the address is for the chosen exit node, which is away (or no longer marked). */
export type DialResult = StreamOpenResult | { unknownName: true } | { noRoute: true; exitDown?: true };

export class StreamDialer {
  readonly #s: DialerSource;

  constructor(source: DialerSource) {
    this.#s = source;
  }

  /** The mesh address `host` names, or null when it names none. */
  resolve(host: string): Uint8Array | null {
    try {
      return parseIpAddress(host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host).bytes;
    } catch {
      // not a literal: a member name
    }
    let name = host.toLowerCase();
    if (name.endsWith('.')) name = name.slice(0, -1);
    const suffix = `.${this.#s.domain.toLowerCase()}`;
    if (name.endsWith(suffix)) name = name.slice(0, -suffix.length);
    if (name.length === 0 || name.includes('.')) return null;
    const found = this.#s.addressesOf(name);
    if (found === null || found.length === 0) return null;
    return (found.find((a) => a.bytes.length === 4) ?? found[0]!).bytes;
  }

  /** Open a stream to host:port through the member that owns it. */
  async dial(host: string, port: number): Promise<DialResult> {
    const address = this.resolve(host);
    if (address === null) return { unknownName: true };
    return this.dialAddress(address, port);
  }

  async dialAddress(address: Uint8Array, port: number): Promise<DialResult> {
    const peer = this.#s.route(address);
    if (peer === null) return { noRoute: true };
    if (peer === 'no_exit') return { noRoute: true, exitDown: true };
    return this.#s.open(peer, address, port);
  }

  attach(handle: StreamHandle, endpoint: StreamEndpoint): void {
    this.#s.attach(handle, endpoint);
  }
}
