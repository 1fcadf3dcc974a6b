/**
 * systemd-resolved integration (docs/configuration.md "Names"): when the
 * machine has `resolvectl` and the daemon has a device, the device gets a
 * per-link DNS server (our responder) and the routing-only domain
 * `~<domain>`, so resolved sends NAME.<domain> (and only that) to us and
 * everything else where it did before. `revert` undoes both at stop (the
 * link disappears with the device anyway). Without resolvectl nothing
 * happens and the manual setup in the docs applies. Failures are logged,
 * never thrown: names are a convenience, the mesh runs without them.
 */
import { execFile } from 'node:child_process';
import { formatHostPort } from '../wire/ip-address.js';
import type { Logger } from '../util/logger.js';
import type { Upstream } from './dns-forwarder.js';

const RESOLVECTL = 'resolvectl';
const RUN_TIMEOUT_MS = 5_000;

/** Runs a command; resolves its exit (null when it could not start, e.g. ENOENT). */
export type RunCommand = (cmd: string, args: readonly string[]) => Promise<{ code: number; stderr: string } | null>;

export const runCommand: RunCommand = (cmd, args) =>
  new Promise((resolve) => {
    execFile(cmd, [...args], { timeout: RUN_TIMEOUT_MS }, (err, _stdout, stderr) => {
      if (err === null) return resolve({ code: 0, stderr: String(stderr) });
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return resolve(null);
      resolve({ code: typeof code === 'number' ? code : 1, stderr: String(stderr) || err.message });
    });
  });

/** `resolvectl dns` takes ADDR for port 53 and ADDR:PORT / [ADDR]:PORT otherwise. */
export function resolvedServerText(a: Upstream): string {
  return a.port === 53 ? a.host : formatHostPort(a.host, a.port);
}

export class ResolvedLink {
  readonly #run: RunCommand;
  readonly #logger: Logger;
  #device: string | null = null;

  constructor(logger: Logger, run: RunCommand = runCommand) {
    this.#logger = logger;
    this.#run = run;
  }

  /** Registers `server` and `~domain` on `device`; true when resolved took both. */
  async apply(device: string, server: Upstream, domain: string): Promise<boolean> {
    const dns = await this.#run(RESOLVECTL, ['dns', device, resolvedServerText(server)]);
    if (dns === null) {
      this.#logger.info('resolvectl not found: set up split DNS by hand (docs/configuration.md "Names")', { domain });
      return false;
    }
    this.#device = device;
    const dom = dns.code === 0 ? await this.#run(RESOLVECTL, ['domain', device, `~${domain}`]) : dns;
    if (dom === null || dom.code !== 0) {
      this.#logger.warn('systemd-resolved did not take the mesh DNS server; set up split DNS by hand (docs/configuration.md "Names")', { device, error: (dom?.stderr ?? '').trim() });
      return false;
    }
    this.#logger.info('systemd-resolved sends the mesh domain to this node', { device, domain: `~${domain}`, server: resolvedServerText(server) });
    return true;
  }

  /** Undoes apply (resolvectl revert); a no-op when apply never reached resolvectl. */
  async revert(): Promise<void> {
    const device = this.#device;
    if (device === null) return;
    this.#device = null;
    const r = await this.#run(RESOLVECTL, ['revert', device]);
    if (r !== null && r.code !== 0) this.#logger.debug('resolvectl revert failed', { device, error: r.stderr.trim() });
  }
}
