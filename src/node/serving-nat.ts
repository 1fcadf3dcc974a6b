/**
 * What a member serving other members' traffic turns on in its own machine
 * (docs/architecture.md "Subnet routes", "Exit nodes"): IP forwarding for a
 * family, and masquerade rules from a mesh subnet towards what it serves.
 * Each change is remembered with what to restore, and undo() reverses them
 * in reverse order, so a failed setup or a stop leaves the machine as found.
 * Subnet routes and the exit node each hold one.
 *
 * A killed daemon runs no undo(), so the record is also a journal on disk
 * (DIR/serving-nat-OWNER.json), written before each change is made: the
 * next start of the daemon, whatever its options then, undoes what the
 * journal names (recoverServingNat) before it changes anything. Without
 * it forwarding stayed on for good after a crash (the next run saw '1'
 * and had nothing to restore) and every restart added a masquerade rule.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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

export type ServingNatOwner = 'subnet-routes' | 'exit-node';
const OWNERS: readonly ServingNatOwner[] = ['subnet-routes', 'exit-node'];

interface Journal {
  /** Forwarding switches turned on, with the value to restore. */
  forwarding: Array<{ family: Family; previous: string }>;
  /** Masquerade rules added (or about to be). */
  masquerade: Array<{ family: Family; from: string; to: string }>;
}

export function servingNatJournal(dir: string, owner: ServingNatOwner): string {
  return join(dir, `serving-nat-${owner}.json`);
}

export class ServingNat {
  readonly #routing: Routing;
  readonly #logger: Logger;
  /** Names the owner in log lines and in the journal's file name. */
  readonly #owner: ServingNatOwner;
  /** The journal file, or null (tests without a directory). */
  readonly #file: string | null;
  readonly #j: Journal = { forwarding: [], masquerade: [] };

  constructor(routing: Routing, logger: Logger, owner: ServingNatOwner, dir: string | null) {
    this.#routing = routing;
    this.#logger = logger;
    this.#owner = owner;
    this.#file = dir === null ? null : servingNatJournal(dir, owner);
  }

  #save(): void {
    if (this.#file === null) return;
    if (this.#j.forwarding.length === 0 && this.#j.masquerade.length === 0) rmSync(this.#file, { force: true });
    else writeFileSync(this.#file, `${JSON.stringify(this.#j)}\n`, { mode: 0o600 });
  }

  /** Turns forwarding on for a family (remembering the old value); an error text, or null. */
  async forward(family: Family): Promise<string | null> {
    const previous = await this.#routing.readForwarding(family);
    if (previous === null) return `cannot read IPv${family} forwarding`;
    if (previous === '1') return null;
    this.#j.forwarding.push({ family, previous });
    this.#save();
    const err = await this.#routing.writeForwarding(family, '1');
    if (err !== null) {
      this.#j.forwarding.pop();
      this.#save();
    }
    return err;
  }

  /** Adds `-s FROM -d TO -j MASQUERADE`; an error text, or null. */
  async masquerade(family: Family, from: string, to: string): Promise<string | null> {
    this.#j.masquerade.push({ family, from, to });
    this.#save();
    const err = await this.#routing.masquerade('add', family, from, to);
    if (err !== null) {
      this.#j.masquerade.pop();
      this.#save();
    }
    return err;
  }

  /** For the log line: the masquerade sources and the families whose forwarding we turned on. */
  summary(): { masquerade: string; forwarding: string } {
    return {
      masquerade: this.#j.masquerade.map((m) => `${m.from}->${m.to}`).join(','),
      forwarding: this.#j.forwarding.map((f) => `ipv${f.family}`).join(',') || 'already on',
    };
  }

  /** Removes our masquerade rules and restores forwarding, newest first; failures are logged. */
  async undo(): Promise<void> {
    await undoJournal(this.#j, this.#routing, this.#logger, this.#owner);
    this.#j.forwarding.length = 0;
    this.#j.masquerade.length = 0;
    this.#save();
  }
}

async function undoJournal(j: Journal, routing: Routing, logger: Logger, owner: string): Promise<void> {
  for (const m of [...j.masquerade].reverse()) {
    const err = await routing.masquerade('delete', m.family, m.from, m.to);
    if (err !== null) logger.warn(`${owner}: could not remove a masquerade rule`, { error: err });
  }
  for (const f of [...j.forwarding].reverse()) {
    const err = await routing.writeForwarding(f.family, f.previous);
    if (err !== null) logger.warn(`${owner}: could not restore forwarding`, { error: err });
  }
}

function parseJournal(text: string): Journal | null {
  try {
    const v = JSON.parse(text) as Partial<Journal>;
    const fam = (x: unknown): x is Family => x === 4 || x === 6;
    const str = (x: unknown): x is string => typeof x === 'string' && x.length <= 64 && /^[0-9a-fA-F.:/]+$/.test(x);
    if (!Array.isArray(v.forwarding) || !Array.isArray(v.masquerade)) return null;
    if (!v.forwarding.every((f) => fam(f?.family) && typeof f.previous === 'string' && /^[0-9]$/.test(f.previous))) return null;
    if (!v.masquerade.every((m) => fam(m?.family) && str(m.from) && str(m.to))) return null;
    return { forwarding: v.forwarding, masquerade: v.masquerade };
  } catch {
    return null;
  }
}

/**
 * Undo what a daemon killed while serving left behind (its journals in
 * DIR), before this run changes anything. A journal that does not parse
 * is left in place and reported: it names nothing we could undo safely.
 */
export async function recoverServingNat(dir: string, routing: Routing, logger: Logger): Promise<void> {
  for (const owner of OWNERS) {
    const file = servingNatJournal(dir, owner);
    if (!existsSync(file)) continue;
    const j = parseJournal(readFileSync(file, 'utf8'));
    if (j === null) {
      logger.warn(`${owner}: ${file} is not a journal this version wrote; left as it is`);
      continue;
    }
    logger.info(`${owner}: undoing forwarding and masquerade a previous run left`, { forwarding: j.forwarding.length, masquerade: j.masquerade.length });
    await undoJournal(j, routing, logger, owner);
    rmSync(file, { force: true });
  }
}
