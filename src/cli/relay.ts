/**
 * `shadowmesh relay`: run a relay in the foreground (the relay daemon,
 * src/relay-daemon/relay-daemon.ts; docs/architecture.md "Components";
 * docs/protocol.md §1; signals: src/cli/foreground.ts).
 *
 * Prints exactly one line on stdout once it listens, which scripts and tests
 * parse:
 *
 *     relay listening on wss://HOST:PORT pin sha256:<hex>
 *
 * Settings: flags > SHADOWMESH_* variables > the config file (--config) >
 * defaults, resolved by src/config (docs/configuration.md); every problem
 * is reported at once.
 *
 * (PORT is the real port when --listen asked for port 0.) Logs go to stderr,
 * readable on a terminal and JSON otherwise (src/cli/log-format.ts).
 * STUN (docs/protocol.md §5): UDP on the same host and port number unless
 * --stun-listen moves it or --no-stun turns it off; a port that cannot be
 * bound stops startup with SM_ERR_STUN_LISTEN.
 * Signals: SIGHUP reloads the configuration (file and environment; flags
 * stay as given, src/config/config-reload.ts): log.level and the revocation
 * list at once (newly revoked members are disconnected, nobody else), other
 * changed keys are named in a warning and wait for a restart, a file with
 * problems changes nothing; SIGTERM/SIGINT close every client with
 * CLOSE(ShuttingDown) and exit 0. The self-signed TLS certificate is
 * re-issued with the same key (same pin) before it expires
 * (relay.tls.certLifetime; tls-identity.ts), without touching connections.
 * Bad options are ConfigErrors: one line on stderr, exit status 1 (main.ts).
 * --cluster nats://… joins a relay cluster (src/relay/cluster/,
 * docs/architecture.md "Relay cluster"): members of every relay of the
 * network reach each other; without it nothing of NATS is loaded.
 * The process's V8 heap growth is limited first (relay-heap.ts).
 */
import type { Command } from 'commander';
import { ConfigError } from '../errors.js';
import { type RelayOptions } from '../relay/relay-options.js';
import { RelayDaemon } from '../relay-daemon/relay-daemon.js';
import { limitRelayHeapGrowth } from './relay-heap.js';
import { keySourcesHelp } from '../config/config-keys.js';
import { logFormatOf, logLevelOf, relayDaemonOptionsOf, relayServerOptionsOf } from '../config/component-options.js';
import { AdjustableLogger } from '../config/adjustable-logger.js';
import { chooseLogFormat } from './log-format.js';
import { ConfigReloader } from '../config/config-reload.js';
import { parseListenText } from '../config/config-schema.js';
import { loadEffectiveConfig } from '../config/load-config.js';
import { resolveConfig } from '../config/resolve-config.js';
import { runUntilStopped } from './foreground.js';

interface RelayCliOptions {
  config?: string;
  listen?: string;
  ca?: string;
  crl?: string;
  policy?: string;
  cert?: string;
  key?: string;
  data?: string;
  maxClients?: string;
  maxPending?: string;
  maxPendingPerAddress?: string;
  certCacheEntries?: string;
  maxFrameBytes?: string;
  heartbeat?: string;
  idleTimeout?: string;
  handshakeTimeout?: string;
  rateFrames?: string;
  rateBytes?: string;
  stun?: boolean;
  stunListen?: string;
  cluster?: string;
  clusterName?: string;
  clusterCreds?: string;
  clusterUser?: string;
  clusterCa?: string;
  clusterHeartbeat?: string;
}

/** Parse `HOST:PORT` or `[IPV6]:PORT`. */
export function parseListen(text: string): { host: string; port: number } {
  const listen = parseListenText(text);
  if (listen === null) throw new ConfigError('SM_ERR_CONFIG_VALUE', `--listen: expected HOST:PORT or [IPV6]:PORT, got ${JSON.stringify(text)}`);
  return listen;
}

/** The RelayServer options these flags ask for, with no file and no environment (validated again by resolveRelayOptions). */
export function relayOptionsFromCli(opts: RelayCliOptions): Partial<RelayOptions> {
  const given = opts as Record<string, unknown>;
  const flags = { opts: () => given, getOptionValueSource: (k: string) => (given[k] !== undefined ? 'cli' : undefined) };
  return relayServerOptionsOf(resolveConfig({ role: 'relay', flags, env: {} }));
}

async function runRelay(opts: RelayCliOptions, cmd: Command): Promise<void> {
  // docs/configuration.md "Relay memory": V8's heap kept near its live size.
  limitRelayHeapGrowth();
  // Flags > SHADOWMESH_* > config file > defaults: src/config/resolve-config.ts.
  const load = () => loadEffectiveConfig({ role: 'relay', ...(opts.config !== undefined ? { configFile: opts.config } : {}), flags: cmd });
  const cfg = await load();
  const log = new AdjustableLogger('relay', { level: logLevelOf(cfg), format: chooseLogFormat(logFormatOf(cfg), process.stderr) });
  const logger = log.logger;
  const daemon = await RelayDaemon.load({ logger }, relayDaemonOptionsOf(cfg));
  await daemon.start();
  const reloader = new ConfigReloader(
    {
      logger: logger.child('config'),
      load,
      setLogLevel: (level) => log.set(level),
      // The revocation list and the signed policy are re-read on every reload; a refused one refuses the reload (the previous one stays).
      apply: async (next) => {
        await daemon.applyRevocations(next.string('relay.crl'));
        await daemon.applyPolicy(next.string('relay.policy'));
      },
    },
    { role: 'relay', initial: cfg },
  );
  await runUntilStopped({ logger }, {
    readyLine: daemon.readyLine(),
    stop: () => daemon.stop(),
    reload: () => {
      logger.info('SIGHUP: reloading the configuration', { file: cfg.file ?? 'none' });
      void reloader.reload();
    },
  });
}

export function registerRelay(program: Command): void {
  program
    .command('relay')
    // A bad flag is one line on stderr, not a page of help (run --help for that).
    .showHelpAfterError(false)
    .description('run a relay: admit network members over WSS (TLS 1.3) and route their end-to-end sealed frames by peer id')
    .option('--config <file>', 'config file (default $SHADOWMESH_CONFIG, else $SHADOWMESH_HOME/config.yaml if present); flags override it, see docs/configuration.md')
    .option('--ca <file>', `network CA certificate; only holders of its valid, unrevoked member certificates are admitted; required${keySourcesHelp('relay.ca')}`)
    .option('--listen <host:port>', `address and port to listen on ([v6]:port for IPv6; port 0 picks a free port)${keySourcesHelp('relay.listen')}`)
    .option('--crl <file>', `revocation list of the CA; reloaded on SIGHUP, revoked members are disconnected${keySourcesHelp('relay.crl')}`)
    .option('--policy <file>', `signed network policy of the CA (\`shadowmesh ca policy sign\` writes policy.signed) sent to every member; verified at start, re-read on SIGHUP: a newer version goes to every member, an older one is refused${keySourcesHelp('relay.policy')}`)
    .option('--cert <file>', `TLS certificate chain (PEM) to serve instead of the self-signed one; needs --key${keySourcesHelp('relay.cert')}`)
    .option('--key <file>', `private key (PEM) for --cert${keySourcesHelp('relay.key')}`)
    .option('--data <dir>', 'directory of the persisted TLS key (default $SHADOWMESH_HOME/relay or ~/.shadowmesh/relay; SHADOWMESH_RELAY_DATA; relay.data in the config file)')
    .option('--max-clients <n>', `admitted members at once; more are refused${keySourcesHelp('relay.maxClients')}`)
    .option('--max-pending <n>', `connections still in admission at once${keySourcesHelp('relay.maxPending')}`)
    .option('--max-pending-per-address <n>', `connections one source address (IPv6: one /64) may hold before admission; more are cut at accept${keySourcesHelp('relay.maxPendingPerAddress')}`)
    .option('--cert-cache-entries <n>', `verified member certificates remembered, so a repeated HELLO costs no CA signature check (0: off)${keySourcesHelp('relay.certCacheEntries')}`)
    .option('--max-frame-bytes <n>', `largest frame accepted, announced to nodes${keySourcesHelp('relay.maxFrameBytes')}`)
    .option('--rate-frames <n>', `frames per second one member may send, burst half a second${keySourcesHelp('relay.rateFrames')}`)
    .option('--rate-bytes <n>', `bytes per second one member may send, burst half a second${keySourcesHelp('relay.rateBytes')}`)
    .option('--heartbeat <duration>', `PING interval to each member, e.g. 30s${keySourcesHelp('relay.heartbeat')}`)
    .option('--idle-timeout <duration>', `disconnect a member silent this long; must exceed --heartbeat${keySourcesHelp('relay.idleTimeout')}`)
    .option('--handshake-timeout <duration>', `time allowed for TLS and admission, e.g. 10s${keySourcesHelp('relay.handshakeTimeout')}`)
    .option('--metrics <host:port>', `serve Prometheus /metrics, /health and /ready over plain HTTP on this address (default off); keep it on localhost or a private network${keySourcesHelp('relay.metrics.listen')}`)
    .option('--web <host:port>', `serve the operator page (live counters) on this address, e.g. 127.0.0.1:9471 (default off); needs --web-token-file${keySourcesHelp('relay.web.listen')}`)
    .option('--web-token-file <file>', `file holding the operator page's admin token (32 to 128 base64url characters); open the page with ?token=<it>${keySourcesHelp('relay.web.tokenFile')}`)
    .option('--stun-listen <host:port>', `answer STUN on this UDP address instead of the --listen host and port${keySourcesHelp('relay.stun.listen')}`)
    .option('--no-stun', `do not answer STUN Binding requests on UDP (nodes then learn no public UDP address from this relay)${keySourcesHelp('relay.stun.enabled')}`)
    .option('--cluster <urls>', `join a relay cluster: share one mesh with the other relays on this NATS server (nats://HOST:PORT or tls://HOST:PORT, comma-separated); absent: a single relay${keySourcesHelp('relay.cluster.url')}`)
    .option('--cluster-name <name>', `this relay's name in the other relays' /stats and metrics${keySourcesHelp('relay.cluster.name')}`)
    .option('--cluster-creds <file>', `NATS credentials file (user JWT and nkey seed)${keySourcesHelp('relay.cluster.creds')}`)
    .option('--cluster-user <name>', `NATS user; the password comes from SHADOWMESH_RELAY_CLUSTER_PASSWORD or the config file${keySourcesHelp('relay.cluster.user')}`)
    .option('--cluster-ca <file>', `CA bundle (PEM) of the NATS server's TLS certificate, for tls:// URLs${keySourcesHelp('relay.cluster.tlsCa')}`)
    .option('--cluster-heartbeat <duration>', `heartbeat to the other relays; three missed mark a relay and its members down${keySourcesHelp('relay.cluster.heartbeat')}`)
    .option('--tls-cert-lifetime <duration>', `lifetime of the self-signed TLS certificate, re-issued with the same key (same pin) when a quarter is left${keySourcesHelp('relay.tls.certLifetime')}`)
    .addHelpText(
      'after',
      '\nPrints "relay listening on wss://HOST:PORT pin sha256:<hex>" on stdout; nodes pass that pin with --pin.\n' +
        'The pin is the SHA-256 of the TLS public key, which is kept in the data directory, so it survives\n' +
        'restarts and certificate renewal. The relay never sees plaintext: it routes sealed frames by peer id.\n' +
        'Logs on stderr are readable lines on a terminal and JSON lines otherwise (SHADOWMESH_LOG_FORMAT=auto|json|pretty forces one).\n' +
        'Signals: SIGHUP reloads the config file (log.level and the revocation list at once; other changed keys are\n' +
        'named and wait for a restart); SIGTERM/SIGINT shut down gracefully.',
    )
    .action(async (opts: RelayCliOptions, cmd: Command) => {
      await runRelay(opts, cmd);
    });
}
