/**
 * Reloading the configuration on SIGHUP (issue 7 "Lifecycle"; documented in
 * docs/configuration.md "Reloading on SIGHUP"), for `shadowmesh up` and
 * `shadowmesh relay` alike.
 *
 * A reload re-reads the config file and the environment through the same
 * resolver as the start (load-config.ts), with the command-line flags as
 * they were given at start, and then:
 *
 *   1. any problem (YAML, schema, cross-key rules): every problem is logged,
 *      one error record each, and NOTHING changes;
 *   2. the values are compared with the running ones, key by key;
 *   3. the role's `apply` takes the live keys (the revocation list and the
 *      node's certificate: they are re-read on every reload, changed or not). If it throws (a refused
 *      list), nothing changes either;
 *   4. the log level is set (AdjustableLogger);
 *   5. every other changed key is logged as a warning naming it: it takes
 *      effect at the next restart. The running view keeps its start value,
 *      so the warning repeats on every reload until the restart.
 *
 * Live keys (LIVE_KEYS): log.level, the revocation list file of the role
 * (node.crl, relay.crl), the signed policy file (node.policy, relay.policy), on the node its member certificate file (node.cert:
 * re-read on every reload, changed or not; a renewed certificate of the same
 * key, name and addresses replaces ours live, anything else refuses the
 * reload with its code: NodeDaemon.checkCertificateFile), and the path manager's timers
 * (node.p2p.healthCheckInterval, trustWindow, deadTime, retryInterval,
 * retryMax, quietAfter, quietHealthCheckInterval: PathTimers.setOptions; checked as a whole before anything is
 * applied), and the exit node in use (node.exitNode.use: another member, or
 * none when the key is unset; NodeDaemon.selectExitNode). A live file key that a reload unsets keeps its running value (a
 * list in force cannot be dropped without a restart) and is reported as
 * restart-only. Everything else needs a restart: listeners, identities,
 * the CA certificate, the relay's TLS certificate, device, node.p2p.connectTimeout (the direct transport's
 * connection budget is fixed when it is built), relay limits and timers
 * (announced to members at admission).
 *
 * What callers must know: reloads are serialized (a SIGHUP during a reload
 * runs after it); `reload()` never throws; secrets are never logged
 * (`<redacted>`).
 */
import { ConfigError } from '../errors.js';
import type { Logger, LogLevel } from '../util/logger.js';
import { keysForRole, KEYS_BY_PATH, type Role } from './config-keys.js';
import { REDACTED } from './render-config.js';
import { EffectiveConfig, type Setting } from './effective-config.js';

/** The keys a running process applies on SIGHUP, per role. */
export const LIVE_KEYS: Readonly<Record<Role, readonly string[]>> = Object.freeze({
  node: Object.freeze([
    'log.level', 'node.crl',
    // The signed policy file: re-read on every reload; an older version or a bad file is refused (NodeDaemon.applyPolicy).
    'node.policy',
    // The member certificate file: re-read on every reload; a renewed certificate replaces ours live (NodeDaemon.replaceCertificate).
    'node.cert',
    // The path manager's timers (PathTimers.setOptions): probes, trust, death, retry backoff, quiet peers.
    'node.p2p.healthCheckInterval', 'node.p2p.trustWindow', 'node.p2p.deadTime', 'node.p2p.retryInterval', 'node.p2p.retryMax',
    'node.p2p.quietAfter', 'node.p2p.quietHealthCheckInterval',
    // The exit node in use (ExitNode.select): another member, or none.
    'node.exitNode.use',
  ]),
  // relay.policy: the signed policy it carries, re-read on every reload; a newer version is sent to every member (RelayDaemon.applyPolicy).
  relay: Object.freeze(['log.level', 'relay.crl', 'relay.policy']),
});

/** One key whose effective value differs between the running configuration and the file just read. */
export interface ConfigChange {
  readonly path: string;
  /** Values as text ('(unset)' when absent, REDACTED for secrets). */
  readonly from: string;
  readonly to: string;
  /** Applied by this reload; false: takes effect at the next restart. */
  readonly live: boolean;
}

export interface ReloadResult {
  /** 'applied': the live keys are in force; 'refused': nothing changed. */
  readonly outcome: 'applied' | 'refused';
  readonly changes: readonly ConfigChange[];
  /** Changed keys that wait for a restart. */
  readonly restartPending: readonly string[];
  /** Why a refused reload was refused, one line each. */
  readonly problems: readonly string[];
}

export interface ConfigReloaderDeps {
  logger: Logger;
  /** Re-read the file and the environment, with the flags given at start (loadEffectiveConfig). */
  load: () => Promise<EffectiveConfig>;
  /** Put a new log level in force (AdjustableLogger.set). */
  setLogLevel: (level: LogLevel) => void;
  /**
   * Apply the role's live keys of `next` other than log.level (re-read the
   * revocation list). Throw to refuse the reload: nothing has changed then.
   */
  apply: (next: EffectiveConfig) => Promise<void>;
}

export interface ConfigReloaderOptions {
  role: Role;
  /** The configuration the process started with. */
  initial: EffectiveConfig;
}

const UNSET = '(unset)';

function text(path: string, s: Setting | undefined): string {
  if (s === undefined) return UNSET;
  return KEYS_BY_PATH.get(path)?.kind.type === 'secret' ? REDACTED : String(s.value);
}

/** The keys of `role` whose value differs (a value moving to another layer unchanged is no change). */
export function configChanges(role: Role, running: EffectiveConfig, next: EffectiveConfig): ConfigChange[] {
  const live = new Set(LIVE_KEYS[role]);
  const out: ConfigChange[] = [];
  for (const k of keysForRole(role)) {
    const a = running.get(k.path);
    const b = next.get(k.path);
    if (a?.value === b?.value) continue;
    out.push({ path: k.path, from: text(k.path, a), to: text(k.path, b), live: live.has(k.path) && b !== undefined });
  }
  return out;
}

/** Problems of a refused load, one line each. */
function problemsOf(err: unknown): string[] {
  const listed = (err as { problems?: unknown }).problems;
  if (Array.isArray(listed) && listed.length > 0 && listed.every((p) => typeof p === 'string')) return listed as string[];
  return [(err as Error).message ?? String(err)];
}

export class ConfigReloader {
  readonly #deps: ConfigReloaderDeps;
  readonly #role: Role;
  /** Live keys as last applied, everything else as at start. */
  #running: EffectiveConfig;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(deps: ConfigReloaderDeps, options: ConfigReloaderOptions) {
    if (options.initial.role !== options.role) {
      throw new ConfigError('SM_ERR_CONFIG_VALUE', `config reloader: the initial configuration is for ${String(options.initial.role)}, not ${options.role}`);
    }
    this.#deps = deps;
    this.#role = options.role;
    this.#running = options.initial;
  }

  /** The configuration in force: live keys as last applied, the others as at start. */
  get running(): EffectiveConfig {
    return this.#running;
  }

  /** Re-read, check, apply what can change live, warn about the rest. Never throws; serialized. */
  reload(): Promise<ReloadResult> {
    const run = this.#queue.then(() => this.#reload());
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #reload(): Promise<ReloadResult> {
    const log = this.#deps.logger;
    let next: EffectiveConfig;
    try {
      next = await this.#deps.load();
    } catch (err) {
      return this.#refuse(problemsOf(err), 'the configuration has problems', []);
    }
    const changes = configChanges(this.#role, this.#running, next);
    try {
      await this.#deps.apply(next);
    } catch (err) {
      return this.#refuse(problemsOf(err), 'applying it failed', changes);
    }
    const level = next.string('log.level');
    if (level !== undefined) this.#deps.setLogLevel(level as LogLevel);

    const values = new Map<string, Setting>();
    for (const [path, s] of this.#running.entries()) values.set(path, s);
    for (const c of changes) {
      if (!c.live) continue;
      const s = next.get(c.path);
      if (s !== undefined) values.set(c.path, s);
    }
    this.#running = new EffectiveConfig(this.#role, next.file, this.#running.home, values);

    const restartPending = changes.filter((c) => !c.live).map((c) => c.path);
    for (const c of changes) {
      if (!c.live) log.warn(`config ${c.path} changed; it takes effect at the next restart`, { key: c.path, running: c.from, file: c.to });
    }
    const applied = changes.filter((c) => c.live).map((c) => c.path);
    log.info('configuration reloaded', { file: next.file ?? 'none', applied: applied.join(',') || 'none', restartPending: restartPending.join(',') || 'none' });
    return { outcome: 'applied', changes, restartPending, problems: [] };
  }

  #refuse(problems: string[], why: string, changes: ConfigChange[]): ReloadResult {
    const log = this.#deps.logger;
    for (const p of problems) log.error(`config reload: ${p}`, { problem: p });
    log.error(`configuration reload refused: ${why}; nothing changed`, { file: this.#running.file ?? 'none', problems: problems.length });
    return { outcome: 'refused', changes, restartPending: [], problems };
  }
}
