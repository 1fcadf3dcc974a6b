/**
 * A Routing (src/node/device/linux-routing.ts) that records what it was
 * asked to do instead of running `ip`/`iptables`, for the unit tests of
 * subnet routes and exit nodes. `fail(prefix)` makes every later call whose
 * log line starts with `prefix` fail with a fixed text (not logged).
 */
import type { Routing } from '../src/node/device/linux-routing.js';

export class RecordingRouting implements Routing {
  log: string[] = [];
  forwarding: Record<number, string> = { 4: '0', 6: '0' };
  failMasquerade = false;
  /** Rules held, per family, as their `ip rule add` arguments (deleteRuleByPriority removes the first of a priority). */
  readonly rules: Record<4 | 6, string[][]> = { 4: [], 6: [] };
  /** Table routes held, per family, as their `ip route replace` arguments. */
  readonly tables: Record<4 | 6, string[][]> = { 4: [], 6: [] };
  readonly #failing: string[] = [];

  fail(prefix: string): void { this.#failing.push(prefix); }

  #record(line: string): string | null {
    if (this.#failing.some((p) => line.startsWith(p))) return `${line}: refused`;
    this.log.push(line);
    return null;
  }

  async addRoute(device: string, cidr: string) { this.log.push(`add ${cidr} ${device}`); return null; }
  async deleteRoute(device: string, cidr: string) { this.log.push(`del ${cidr} ${device}`); return null; }
  async readForwarding(family: 4 | 6) { return this.forwarding[family] ?? null; }
  async writeForwarding(family: 4 | 6, value: string) { this.log.push(`fwd${family}=${value}`); this.forwarding[family] = value; return null; }
  async masquerade(op: 'add' | 'delete', family: 4 | 6, from: string, to: string) {
    if (this.failMasquerade && op === 'add') return 'iptables: not allowed';
    return this.#record(`masq ${op} v${family} ${from} -> ${to}`);
  }
  async addRule(family: 4 | 6, args: readonly string[]) {
    const err = this.#record(`rule${family} add ${args.join(' ')}`);
    if (err === null) this.rules[family].push([...args]);
    return err;
  }
  async deleteRuleByPriority(family: 4 | 6, priority: number) {
    const i = this.rules[family].findIndex((r) => r[0] === 'priority' && r[1] === String(priority));
    if (i < 0) return `ip -${family} rule del priority ${priority}: No such file or directory`;
    this.rules[family].splice(i, 1);
    this.log.push(`rule${family} del ${priority}`);
    return null;
  }
  async replaceTableRoute(family: 4 | 6, args: readonly string[]) {
    const err = this.#record(`route${family} replace ${args.join(' ')}`);
    if (err === null) {
      // A route is keyed by its destination (the word before 'dev', or 'default' after 'unreachable').
      const dest = (r: readonly string[]) => (r[0] === 'unreachable' ? r[1] : r[0]);
      this.tables[family] = this.tables[family].filter((r) => dest(r) !== dest(args));
      this.tables[family].push([...args]);
    }
    return err;
  }
  async deleteTableRoute(family: 4 | 6, args: readonly string[]) {
    this.tables[family] = this.tables[family].filter((r) => r.join(' ') !== args.join(' '));
    this.log.push(`route${family} del ${args.join(' ')}`);
    return null;
  }
  async flushTable(family: 4 | 6, table: number) {
    this.tables[family] = this.tables[family].filter((r) => r.slice(-1)[0] !== String(table));
    this.log.push(`route${family} flush ${table}`);
    return null;
  }
}
