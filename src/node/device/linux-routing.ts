/**
 * The Linux commands behind subnet routes and exit nodes (docs/architecture.md
 * "Subnet routes", "Exit nodes"): kernel routes on the mesh device (`ip
 * route`), IP forwarding (/proc/sys), the masquerade rule of a member serving
 * a LAN or the internet (`iptables`/`ip6tables` nat POSTROUTING, as the
 * repository's NAT labs use), and the policy-routing rules and table of a
 * member using an exit node (`ip rule`, `ip route ... table`).
 * Each call runs one command and reports its outcome; the caller
 * (src/node/subnet-routes.ts) decides what a failure means. Nothing here
 * keeps state. Commands run with a timeout and never through a shell.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';

/** One `ip` or `iptables` call answers at once; generous for a loaded machine, and iptables waits for the xtables lock within it. */
export const ROUTING_COMMAND_TIMEOUT_MS = 10_000;
/** iptables waits this long (s) for the xtables lock instead of failing at once: under ROUTING_COMMAND_TIMEOUT_MS. */
const XTABLES_WAIT_S = '5';
/** Comment on our masquerade rules, so an operator sees whose they are. */
export const MASQUERADE_COMMENT = 'shadowmesh subnet routes';

/** Outcome of a command: null when it could not start (ENOENT: not installed). */
export type RoutingRun = (cmd: string, args: readonly string[]) => Promise<{ code: number; stderr: string } | null>;

export const runRoutingCommand: RoutingRun = (cmd, args) =>
  new Promise((resolve) => {
    execFile(cmd, [...args], { timeout: ROUTING_COMMAND_TIMEOUT_MS }, (err, _stdout, stderr) => {
      if (err === null) return resolve({ code: 0, stderr: String(stderr) });
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return resolve(null);
      resolve({ code: typeof code === 'number' ? code : 1, stderr: String(stderr) || err.message });
    });
  });

/** The sysctl file of IP forwarding for a family. */
export function forwardingFile(family: 4 | 6): string {
  return family === 4 ? '/proc/sys/net/ipv4/ip_forward' : '/proc/sys/net/ipv6/conf/all/forwarding';
}

/** What subnet routes need of the system; LinuxRouting runs the real commands, tests may record them. */
export interface Routing {
  /** `ip route replace CIDR dev DEV`: an error text, or null on success. */
  addRoute(device: string, cidr: string): Promise<string | null>;
  /** `ip route del CIDR dev DEV`: an error text, or null on success. */
  deleteRoute(device: string, cidr: string): Promise<string | null>;
  /** Reads the forwarding switch ('0'/'1'...), or null when unreadable. */
  readForwarding(family: 4 | 6): Promise<string | null>;
  /** Writes it; an error text, or null. */
  writeForwarding(family: 4 | 6, value: string): Promise<string | null>;
  /** Adds (`-A`) or deletes (`-D`) `-s FROM -d TO -j MASQUERADE` in nat POSTROUTING; an error text, or null. */
  masquerade(op: 'add' | 'delete', family: 4 | 6, from: string, to: string): Promise<string | null>;
  /** `ip -4|-6 rule add ARGS`; an error text, or null. */
  addRule(family: 4 | 6, args: readonly string[]): Promise<string | null>;
  /** `ip -4|-6 rule del priority P` (one rule of that priority); an error text (none left, among others), or null. */
  deleteRuleByPriority(family: 4 | 6, priority: number): Promise<string | null>;
  /** `ip -4|-6 route replace ARGS` (ARGS name the table); an error text, or null. */
  replaceTableRoute(family: 4 | 6, args: readonly string[]): Promise<string | null>;
  /** `ip -4|-6 route del ARGS` (ARGS name the table); an error text, or null. */
  deleteTableRoute(family: 4 | 6, args: readonly string[]): Promise<string | null>;
  /** `ip -4|-6 route flush table T`; an error text, or null. */
  flushTable(family: 4 | 6, table: number): Promise<string | null>;
}

function outcome(what: string, r: { code: number; stderr: string } | null, tool: string): string | null {
  if (r === null) return `${what}: ${tool} not found (install iproute2 / iptables)`;
  return r.code === 0 ? null : `${what}: ${r.stderr.trim() || `exit ${r.code}`}`;
}

export class LinuxRouting implements Routing {
  readonly #run: RoutingRun;

  constructor(run: RoutingRun = runRoutingCommand) {
    this.#run = run;
  }

  async addRoute(device: string, cidr: string): Promise<string | null> {
    return outcome(`ip route replace ${cidr} dev ${device}`, await this.#run('ip', ['route', 'replace', cidr, 'dev', device]), 'ip');
  }

  async deleteRoute(device: string, cidr: string): Promise<string | null> {
    return outcome(`ip route del ${cidr} dev ${device}`, await this.#run('ip', ['route', 'del', cidr, 'dev', device]), 'ip');
  }

  async readForwarding(family: 4 | 6): Promise<string | null> {
    try {
      return (await readFile(forwardingFile(family), 'utf8')).trim();
    } catch {
      return null;
    }
  }

  async writeForwarding(family: 4 | 6, value: string): Promise<string | null> {
    try {
      await writeFile(forwardingFile(family), `${value}\n`);
      return null;
    } catch (err) {
      return `write ${forwardingFile(family)}: ${(err as Error).message}`;
    }
  }

  async masquerade(op: 'add' | 'delete', family: 4 | 6, from: string, to: string): Promise<string | null> {
    const tool = family === 4 ? 'iptables' : 'ip6tables';
    const rule = ['POSTROUTING', '-s', from, '-d', to, '-m', 'comment', '--comment', MASQUERADE_COMMENT, '-j', 'MASQUERADE'];
    // A daemon killed before its stop left its rule behind: adopt it rather than append a second copy.
    if (op === 'add' && (await this.#run(tool, ['-w', XTABLES_WAIT_S, '-t', 'nat', '-C', ...rule]))?.code === 0) return null;
    const args = ['-w', XTABLES_WAIT_S, '-t', 'nat', op === 'add' ? '-A' : '-D', ...rule];
    return outcome(`${tool} ${args.join(' ')}`, await this.#run(tool, args), tool);
  }

  async addRule(family: 4 | 6, args: readonly string[]): Promise<string | null> {
    return this.#ip([`-${family}`, 'rule', 'add', ...args]);
  }

  async deleteRuleByPriority(family: 4 | 6, priority: number): Promise<string | null> {
    return this.#ip([`-${family}`, 'rule', 'del', 'priority', String(priority)]);
  }

  async replaceTableRoute(family: 4 | 6, args: readonly string[]): Promise<string | null> {
    return this.#ip([`-${family}`, 'route', 'replace', ...args]);
  }

  async deleteTableRoute(family: 4 | 6, args: readonly string[]): Promise<string | null> {
    return this.#ip([`-${family}`, 'route', 'del', ...args]);
  }

  async flushTable(family: 4 | 6, table: number): Promise<string | null> {
    return this.#ip([`-${family}`, 'route', 'flush', 'table', String(table)]);
  }

  async #ip(args: string[]): Promise<string | null> {
    return outcome(`ip ${args.join(' ')}`, await this.#run('ip', args), 'ip');
  }
}
