/**
 * The listed member a user names on the command line (`--exit-node x`,
 * `--exit-node 10.10.10.5`): by its certificate name, or by one of its
 * mesh addresses, and where a member chosen as exit node stands. Used by
 * the packet exit node (src/node/exit-node.ts) and
 * by the stream dialer's exit route (src/node/stream/node-streams.ts); it
 * lives outside src/node/ so that neither imports the other.
 */
import { canonicalIpText } from '../wire/ip-address.js';

/** What a selector is matched against (DirectoryEntry fits). */
export interface SelectableMember {
  readonly name: string;
  readonly cert: { readonly addresses: readonly string[] };
}

/** The first of `entries` that `selector` names (a name, or a mesh address in any notation), if any. */
export function findMember<E extends SelectableMember>(entries: readonly E[], selector: string): E | undefined {
  let ip: string | null = null;
  try {
    ip = canonicalIpText(selector);
  } catch {
    ip = null;
  }
  for (const e of entries) {
    if (e.name === selector) return e;
    if (ip !== null && e.cert.addresses.some((a) => a.slice(0, a.indexOf('/')) === ip)) return e;
  }
  return undefined;
}

/** Where a chosen exit node stands: listed with the CA's exit mark, listed without it, or not listed. */
export type ExitMemberState = 'active' | 'not_exit' | 'offline';

/** The state of the member findMember() returned for an exit-node selector (undefined: not listed). */
export function exitMemberState(entry: { readonly cert: { readonly exit: boolean } } | undefined): ExitMemberState {
  return entry === undefined ? 'offline' : entry.cert.exit ? 'active' : 'not_exit';
}
