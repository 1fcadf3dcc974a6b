/**
 * The addresses a direct-path listener can be reached at, for the
 * candidates of our PATH_OFFER (docs/protocol.md §3.1): the one address it
 * is bound to, or — bound to every address ('::' or '0.0.0.0') — this
 * machine's interface addresses. Shared by the WSS and the UDP transport.
 *
 * Left out: loopback and other internal interfaces (no peer reaches them),
 * and link-local IPv6 (it needs a zone id a peer cannot know); IPv6 only
 * when the listener takes IPv6 (`ipv6`). Mesh subnets are the caller's to
 * leave out (it knows them).
 */
import { networkInterfaces } from 'node:os';

/** The addresses a listener bound to `boundHost` is reachable at (see the header). */
export function listenAddresses(boundHost: string, ipv6: boolean): string[] {
  if (boundHost !== '::' && boundHost !== '0.0.0.0') return [boundHost];
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const ni of list ?? []) {
      if (ni.internal) continue;
      if (ni.family === 'IPv4') out.push(ni.address);
      else if (ipv6 && ni.family === 'IPv6' && !/^fe[89ab]/i.test(ni.address)) out.push(ni.address);
    }
  }
  return out;
}
