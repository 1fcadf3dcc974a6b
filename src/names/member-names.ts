/**
 * Which mesh addresses a DNS name stands for, and which name an address
 * has, read from the node's member directory at query time
 * (docs/configuration.md "Names").
 *
 * The source is the node's Directory (src/node/directory.ts): only members
 * whose certificates verified against the network CA are listed, so a name
 * maps to the addresses the CA signed for it and nothing a relay says. The
 * node itself is added from its own (verified) certificate. Nothing is
 * cached here: a member that leaves the directory (or is revoked) is gone
 * from the next answer on.
 *
 * Names match case-insensitively (DNS is case-insensitive); a member name
 * that is not a valid DNS label sequence is simply never asked for. Two
 * members of one name (a CA may sign that) both answer: their addresses
 * are merged. A lookup by name scans the listed members, O(members) per
 * query; by address it is the directory's O(1) index.
 */

/** One mesh address of a member (the directory's DirectoryAddress fits). */
export interface NamedAddress {
  readonly family: 4 | 6;
  /** 4 or 16 bytes, network order. */
  readonly bytes: Uint8Array;
}

/** A member as the names read it (DirectoryEntry fits). */
export interface NamedMember {
  readonly hex: string;
  readonly name: string;
  readonly addresses: readonly NamedAddress[];
}

/** The member directory (src/node/directory.ts Directory fits). */
export interface NamesDirectory {
  list(): readonly NamedMember[];
  byAddress(addr: Uint8Array): NamedMember | undefined;
}

export interface MemberNamesSource {
  directory: NamesDirectory;
  /** This node: its certificate's name and addresses. */
  self: { readonly name: string; readonly addresses: readonly NamedAddress[] };
  /** True when this member is on the revocation list in force (hex peer id); absent: none is. */
  isRevoked?: (hex: string) => boolean;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class MemberNames {
  readonly #s: MemberNamesSource;

  constructor(source: MemberNamesSource) {
    this.#s = source;
  }

  /** The addresses of the member(s) called `label` (any case), or null when no member has that name. */
  addressesOf(label: string): NamedAddress[] | null {
    const want = label.toLowerCase();
    let found: NamedAddress[] | null = null;
    if (this.#s.self.name.toLowerCase() === want) found = [...this.#s.self.addresses];
    for (const m of this.#s.directory.list()) {
      if (m.name.toLowerCase() !== want || this.#revoked(m.hex)) continue;
      found = [...(found ?? []), ...m.addresses];
    }
    return found;
  }

  /** The name of whoever holds this mesh address (4 or 16 bytes), this node included; null when nobody does. */
  nameOf(addr: Uint8Array): string | null {
    if (this.#s.self.addresses.some((a) => sameBytes(a.bytes, addr))) return this.#s.self.name;
    const m = this.#s.directory.byAddress(addr);
    return m === undefined || this.#revoked(m.hex) ? null : m.name;
  }

  #revoked(hex: string): boolean {
    return this.#s.isRevoked?.(hex) ?? false;
  }
}
