/**
 * The relay daemon behind `shadowmesh relay` (docs/architecture.md
 * "Components"): wiring and lifecycle only, as src/node/daemon.ts is for
 * the node. It loads the network CA and the revocation list into a
 * MembershipVerifier, loads or creates the relay's TLS identity
 * (src/relay/tls-identity.ts: the persisted key behind the pin), builds the
 * RelayServer and, when asked, the Prometheus listener
 * (src/metrics/relay-metrics.ts), starts them in order and stops them in
 * reverse.
 *
 * Order and why:
 *   load()  files first (an unreadable CA or a refused list stops here,
 *           before any socket), then the TLS identity, then every component
 *           constructed (options validated)
 *   start() 1 relay server   WSS and STUN listeners
 *           2 cluster        (with `cluster` only) joins NATS in the
 *                            background: a NATS that is down does not stop
 *                            the relay, which serves its own members
 *           3 metrics        after the server, which it reads; a metrics
 *                            address that cannot be bound stops the server
 *                            again and fails the start
 *   stop()  the server (its members' LEAVEs still reach the cluster), the
 *           metrics, then the cluster last; idempotent.
 *
 * Certificate expiry (docs/architecture.md "Certificate expiry"): at start
 * and while running, a CertExpiryWatch logs when the CA certificate, or a TLS
 * certificate from certFile, ends within 30 days; /stats and the metrics
 * report both (RelayServer.certificates).
 *
 * Relay cluster (docs/architecture.md "Relay cluster"): with `cluster` set,
 * src/relay/cluster/relay-cluster.ts is imported at load, and with it the
 * NATS client when it connects; a single relay loads neither.
 *
 * Revocation reload (`applyRevocations`, from the configuration reload on
 * SIGHUP in `shadowmesh relay`, src/config/config-reload.ts): the list (the
 * file configured, or a new path from the reloaded relay.crl) is read again
 * and handed to the MembershipVerifier, which refuses a list of another CA
 * or an older one; a refused list THROWS after logging, with the previous
 * list in force, so the reload can refuse as a whole. Newly revoked members
 * are disconnected (RelayServer.recheckRevocations), nobody else.
 *
 * Network policy (`policyFile`, relay.policy; docs/architecture.md "Network
 * policy"): the CA-signed blob is read and verified against the network CA
 * at load (a blob of another CA, tampered or malformed stops the relay with
 * its SM_ERR_POLICY_* code: an operator's mistake is caught at start), then
 * handed to the server, which sends it to every member (src/relay/policy-carrier.ts).
 * `applyPolicy` (SIGHUP) re-reads it through the same PolicyHolder members
 * use: a newer version goes to every admitted member at once, the same one
 * changes nothing, an older or bad one THROWS after logging, with the
 * previous one still carried. The blob is never changed; in a relay cluster
 * each relay is given the file by its operator (nothing goes over NATS).
 *
 * It reads no configuration file and installs no signal handler: the CLI
 * resolves the options (src/config/component-options.ts) and owns the
 * process (src/cli/foreground.ts).
 */
import { loadCaCertificate, loadRevocationList } from '../identity/files.js';
import type { CaCertificate, MemberCertificate } from '../identity/certificate.js';
import { CertExpiryWatch } from '../identity/cert-expiry.js';
import { MembershipVerifier } from '../identity/membership.js';
import { readSignedPolicyFile } from '../policy/node-policy.js';
import { PolicyHolder } from '../policy/policy-holder.js';
import type { RevocationList } from '../identity/revocation.js';
import { startRelayMetrics, type RelayMetricsEndpoint } from '../metrics/relay-metrics.js';
import type { MetricsAddress } from '../metrics/metrics-server.js';
import type { RelayOptions } from '../relay/relay-options.js';
import { RelayServer } from '../relay/relay-server.js';
import { TlsIdentity } from '../relay/tls-identity.js';
import type { ClusterOptions } from '../relay/cluster/cluster-options.js';
import type { RelayCluster } from '../relay/cluster/relay-cluster.js';
import { systemClock, type Clock } from '../util/clock.js';
import { WebConsole } from '../web/web-console.js';
import { readWebTokenFile } from '../web/web-token.js';
import { silentLogger, type Logger } from '../util/logger.js';

export interface RelayDaemonOptions {
  /** The network CA: only holders of its valid, unrevoked member certificates are admitted. */
  caFile: string;
  /** The CA's revocation list; reloaded by applyRevocations. */
  crlFile?: string;
  /** The CA-signed network policy to carry to members (policy.signed); reloaded by applyPolicy. */
  policyFile?: string;
  /** Directory of the persisted TLS key (the pin survives restarts). */
  dataDir: string;
  /** A TLS certificate chain (PEM) to serve instead of the self-signed one; needs keyFile. */
  certFile?: string;
  keyFile?: string;
  /** Lifetime of the self-signed TLS certificate (ignored with keyFile); TlsIdentity's default when absent. */
  certLifetimeMs?: number;
  /** The RelayServer's options (validated by it). */
  server: Partial<RelayOptions>;
  /** Serve Prometheus /metrics, /health and /ready (plain HTTP) on this address; absent: no listener. */
  metrics?: MetricsAddress;
  /** Join a relay cluster over NATS (validated by RelayCluster); absent: a single relay. */
  cluster?: Partial<ClusterOptions>;
  /** Serve the operator page (docs/architecture.md "Web console") on this address, behind the admin token in tokenFile; absent: no page. */
  web?: { host: string; port: number; tokenFile: string };
}

export interface RelayDaemonDeps {
  logger?: Logger;
  /** Dates the self-signed certificate; default the system clock. */
  clock?: Clock;
}

export class RelayDaemon {
  readonly server: RelayServer<MemberCertificate>;
  /** The operator page; null without relay.web.listen. */
  readonly web: WebConsole | null;
  readonly #verifier: MembershipVerifier;
  readonly #ca: CaCertificate;
  readonly #metrics: RelayMetricsEndpoint | null;
  readonly #logger: Logger;
  readonly #cluster: RelayCluster | null;
  /** Logs when the CA certificate (or a TLS certificate from --cert-file) ends within 30 days. */
  readonly #expiry: CertExpiryWatch;
  /** The revocation list file reloads read: the configured one, or the path a configuration reload named since. */
  #crlFile: string | undefined;
  /** The signed policy carried (its version and bytes); refuses older versions on reload. */
  readonly #policy: PolicyHolder;
  /** The policy file reloads read: the configured one, or the path a configuration reload named since. */
  #policyFile: string | undefined;
  #starting: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;

  /** Read and check every file, build every component; opens nothing. */
  static async load(deps: RelayDaemonDeps, options: RelayDaemonOptions): Promise<RelayDaemon> {
    const logger = deps.logger ?? silentLogger;
    const clock = deps.clock ?? systemClock;
    const metrics = startRelayMetrics(options.metrics, logger);
    const ca = await loadCaCertificate(options.caFile);
    const verifier = new MembershipVerifier(ca, options.crlFile !== undefined ? await loadRevocationList(options.crlFile, ca) : undefined);
    // Verified before any socket: a policy of another CA or a tampered file stops the relay here with its code.
    const policy = new PolicyHolder(ca);
    if (options.policyFile !== undefined) policy.accept(await readSignedPolicyFile(options.policyFile));
    const host = options.server.host;
    const wildcard = host === undefined || host === '0.0.0.0' || host === '::';
    const tls = await TlsIdentity.load(
      {
        dataDir: options.dataDir,
        ...(options.certFile !== undefined ? { certFile: options.certFile } : {}),
        ...(options.keyFile !== undefined ? { keyFile: options.keyFile } : options.certLifetimeMs !== undefined ? { lifetimeMs: options.certLifetimeMs } : {}),
        hostnames: wildcard ? ['localhost'] : [host, 'localhost'],
      },
      clock.now(),
    );
    const server = new RelayServer({ verifier, tls, logger, caNotAfterMs: ca.notAfterMs, ...(metrics !== null ? { metrics: metrics.observer } : {}) }, options.server);
    let cluster: RelayCluster | null = null;
    if (options.cluster !== undefined) {
      const { RelayCluster } = await import('../relay/cluster/relay-cluster.js');
      cluster = new RelayCluster({ host: server, caRaw: ca.raw, logger: logger.child('cluster'), clock }, options.cluster);
      server.attachCluster(cluster);
    }
    // A self-signed TLS certificate renews itself; one from --cert-file is the operator's to renew, so it is watched too.
    const expiry = new CertExpiryWatch({
      clock,
      logger,
      certs: () => [{ cert: 'ca', notAfterMs: ca.notAfterMs }, ...(tls.selfSigned ? [] : [{ cert: 'tls', notAfterMs: tls.material.notAfterMs }])],
    });
    const current = policy.current;
    if (current !== null) {
      server.setPolicy(current.raw, current.version);
      logger.info('network policy loaded', { file: options.policyFile, version: current.version });
    }
    // The operator page reads the same counters as GET /stats, behind the operator's own token.
    const web = options.web === undefined ? null : new WebConsole(
      { snapshot: () => server.snapshot(), clock, logger: logger.child('web') },
      { host: options.web.host, port: options.web.port, token: await readWebTokenFile(options.web.tokenFile), page: 'relay' },
    );
    return new RelayDaemon(logger, server, verifier, ca, metrics, options.crlFile, cluster, expiry, policy, options.policyFile, web);
  }

  private constructor(logger: Logger, server: RelayServer<MemberCertificate>, verifier: MembershipVerifier, ca: CaCertificate, metrics: RelayMetricsEndpoint | null, crlFile: string | undefined, cluster: RelayCluster | null, expiry: CertExpiryWatch, policy: PolicyHolder, policyFile: string | undefined, web: WebConsole | null) {
    this.web = web;
    this.#policy = policy;
    this.#policyFile = policyFile;
    this.#cluster = cluster;
    this.#expiry = expiry;
    this.#logger = logger;
    this.server = server;
    this.#verifier = verifier;
    this.#ca = ca;
    this.#metrics = metrics;
    this.#crlFile = crlFile;
  }

  /** The line `shadowmesh relay` prints once listening (the real port when port 0 was asked for). */
  readyLine(): string {
    return `relay listening on ${this.server.url} pin ${this.server.pin}`;
  }

  start(): Promise<void> {
    this.#starting ??= this.#start();
    return this.#starting;
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #start(): Promise<void> {
    this.#expiry.start();
    await this.server.start();
    this.#cluster?.start();
    await this.#metrics?.start(this.server).catch(async (err: unknown) => {
      await this.server.stop();
      await this.#cluster?.stop();
      throw err;
    });
    await this.web?.start().catch(async (err: unknown) => {
      await this.#metrics?.stop();
      await this.server.stop();
      await this.#cluster?.stop();
      throw err;
    });
  }

  async #stop(): Promise<void> {
    await this.#starting?.catch(() => undefined);
    this.#expiry.stop();
    await this.web?.stop();
    await this.server.stop();
    await this.#metrics?.stop();
    await this.#cluster?.stop();
  }

  /**
   * Re-read the revocation list, from `file` when given (it becomes the file
   * later reloads read), and disconnect the members it newly revokes. A list
   * that cannot be read or is refused throws after logging; the previous
   * list stays in force. Without any list configured it does nothing.
   */
  async applyRevocations(file?: string): Promise<void> {
    const path = file ?? this.#crlFile;
    if (path === undefined) return;
    let crl: RevocationList;
    try {
      crl = await loadRevocationList(path, this.#ca);
      this.#verifier.setRevocationList(crl);
    } catch (err) {
      this.#logger.error('revocation list reload failed; keeping the previous list', { file: path, error: (err as Error).message, code: String((err as { code?: unknown }).code ?? '') });
      throw err;
    }
    this.#crlFile = path;
    const cut = this.server.recheckRevocations();
    this.#logger.info('revocation list reloaded', { file: path, number: crl.number, revoked: crl.peerIds.length, disconnected: cut });
  }

  /** The version of the signed policy carried, or null when none. */
  get policyVersion(): number | null {
    return this.#policy.current?.version ?? null;
  }

  /**
   * Re-read the signed policy, from `file` when given (it becomes the file
   * later reloads read), and send a newer version to every admitted member.
   * The same version changes nothing; an older, tampered, other-CA or
   * unreadable one throws after logging, with the policy carried unchanged.
   * Without any policy configured it does nothing.
   */
  async applyPolicy(file?: string): Promise<void> {
    const path = file ?? this.#policyFile;
    if (path === undefined) return;
    const previous = this.policyVersion;
    let changed: boolean;
    try {
      changed = this.#policy.accept(await readSignedPolicyFile(path));
    } catch (err) {
      this.#logger.error('policy reload refused; keeping the policy carried', { file: path, version: previous ?? 'none', error: (err as Error).message, code: String((err as { code?: unknown }).code ?? '') });
      throw err;
    }
    this.#policyFile = path;
    const current = this.#policy.current;
    if (!changed || current === null) {
      this.#logger.info('policy unchanged', { file: path, version: previous ?? 'none' });
      return;
    }
    const sentTo = this.server.setPolicy(current.raw, current.version);
    this.#logger.info('policy reloaded', { file: path, previous: previous ?? 'none', version: current.version, sentTo });
  }
}
