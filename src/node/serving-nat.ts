/**
 * What a member serving other members' traffic turns on in its own machine
 * (docs/architecture.md "Subnet routes", "Exit nodes"): IP forwarding for a
 * family, and masquerade rules from a mesh subnet towards what it serves.
 * Each change is remembered with what to restore, and undo() reverses them
 * in reverse order, so a failed setup or a stop leaves the machine as found.
 * Subnet routes and the exit node each hold one.
 */
import { parseCidr } from '../identity/cidr.js';
import { maskPrefix } from '../identity/cert-routes.js';
import type { Logger } from '../util/logger.js';
import { formatIpAddress } from '../wire/ip-address.js';
import type { Routing } from './device/linux-routing.js';

export type Family = 4 | 6;

/** The mesh subnets of our certificate's addresses ('10.10.10.3/24' -> '10.10.10.0/24'). */
export function meshSubnets(addresses: readonly string[]): Array<{ family: Family; text: string }> {
  return addresses.map((t) => {
    const c = parseCidr(t);
    return { family: c.family, text: `${formatIpAddress(maskPrefix(c.address, c.prefix))}/${c.prefix}` };
  });
}

export class ServingNat {
  readonly #routing: Routing;
  readonly #logger: Logger;
  /** Names the owner in log lines ('subnet routes', 'exit node'). */
  readonly #owner: string;
  /** Forwarding switches we turned on, with the value to restore. */
  readonly #forwarding: Array<{ family: Family; previous: string }> = [];
  /** Masquerade rules we added. */
  readonly #masquerade: Array<{ family: Family; from: string; to: string }> = [];

  constructor(routing: Routing, logger: Logger, owner: string) {
    this.#routing = routing;
    this.#logger = logger;
    this.#owner = owner;
  }

  /** Turns forwarding on for a family (remembering the old value); an error text, or null. */
  async forward(family: Family): Promise<string | null> {
    const previous = await this.#routing.readForwarding(family);
    if (previous === null) return `cannot read IPv${family} forwarding`;
    if (previous === '1') return null;
    const err = await this.#routing.writeForwarding(family, '1');
    if (err !== null) return err;
    this.#forwarding.push({ family, previous });
    return null;
  }

  /** Adds `-s FROM -d TO -j MASQUERADE`; an error text, or null. */
  async masquerade(family: Family, from: string, to: string): Promise<string | null> {
    const err = await this.#routing.masquerade('add', family, from, to);
    if (err === null) this.#masquerade.push({ family, from, to });
    return err;
  }

  /** For the log line: the masquerade sources and the families whose forwarding we turned on. */
  summary(): { masquerade: string; forwarding: string } {
    return {
      masquerade: this.#masquerade.map((m) => `${m.from}->${m.to}`).join(','),
      forwarding: this.#forwarding.map((f) => `ipv${f.family}`).join(',') || 'already on',
    };
  }

  /** Removes our masquerade rules and restores forwarding, newest first; failures are logged. */
  async undo(): Promise<void> {
    for (const m of this.#masquerade.splice(0).reverse()) {
      const err = await this.#routing.masquerade('delete', m.family, m.from, m.to);
      if (err !== null) this.#logger.warn(`${this.#owner}: could not remove a masquerade rule`, { error: err });
    }
    for (const f of this.#forwarding.splice(0).reverse()) {
      const err = await this.#routing.writeForwarding(f.family, f.previous);
      if (err !== null) this.#logger.warn(`${this.#owner}: could not restore forwarding`, { error: err });
    }
  }
}
