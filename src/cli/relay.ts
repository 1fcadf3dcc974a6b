/**
 * `shadowmesh relay`: run a relay in the foreground (DESIGN.md "What a user
 * does"; docs/protocol.md §1).
 *
 * Prints exactly one line on stdout once it listens, which scripts and tests
 * parse:
 *
 *     relay listening on wss://HOST:PORT pin sha256:<hex>
 *
 * (PORT is the real port when --listen asked for port 0.) Logs go to stderr.
 * Signals: SIGHUP reloads --crl and disconnects newly revoked members;
 * SIGTERM/SIGINT close every client with CLOSE(ShuttingDown) and exit 0.
 * Bad options are ConfigErrors: one line on stderr, exit status 1 (main.ts).
 */
import type { Command } from 'commander';
import { ConfigError } from '../errors.js';
import { loadCaCertificate, loadRevocationList } from '../identity/files.js';
import { MembershipVerifier } from '../identity/membership.js';
import { RelayServer } from '../relay/relay-server.js';
import { RELAY_DEFAULTS, type RelayOptions } from '../relay/relay-options.js';
import { defaultRelayDataDir, TlsIdentity } from '../relay/tls-identity.js';
import { formatDuration, parseDuration } from '../util/duration.js';
import { createLogger } from '../util/logger.js';
import { startRelayMetrics } from '../metrics/relay-metrics.js';

interface RelayCliOptions {
  listen: string;
  ca: string;
  crl?: string;
  cert?: string;
  key?: string;
  data?: string;
  maxClients?: string;
  maxPending?: string;
  maxFrameBytes?: string;
  heartbeat?: string;
  idleTimeout?: string;
  handshakeTimeout?: string;
  rateFrames?: string;
  rateBytes?: string;
  metrics?: string;
}

/** Parse `HOST:PORT` or `[IPV6]:PORT`. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (m === null || port > 65_535) {
    throw new ConfigError('SM_ERR_CONFIG_VALUE', `--listen: expected HOST:PORT or [IPV6]:PORT, got ${JSON.stringify(text)}`);
  }
  return { host: (m[1] ?? m[2]) as string, port };
}

function parseCount(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,15}$/.test(text)) throw new ConfigError('SM_ERR_CONFIG_VALUE', `${flag}: expected a whole number, got ${JSON.stringify(text)}`);
  return Number(text);
}

function parseDurationFlag(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  try {
    return parseDuration(text);
  } catch (err) {
    throw new ConfigError('SM_ERR_CONFIG_DURATION', `${flag}: ${(err as Error).message}`, { cause: err });
  }
}

/** The RelayServer options a command line asks for (validated again by resolveRelayOptions). */
export function relayOptionsFromCli(opts: RelayCliOptions): Partial<RelayOptions> {
  const { host, port } = parseListen(opts.listen);
  const rateFrames = parseCount('--rate-frames', opts.rateFrames);
  const rateBytes = parseCount('--rate-bytes', opts.rateBytes);
  const maxFrameBytes = parseCount('--max-frame-bytes', opts.maxFrameBytes);
  return {
    host,
    port,
    maxClients: parseCount('--max-clients', opts.maxClients),
    maxPending: parseCount('--max-pending', opts.maxPending),
    maxFrameBytes,
    // A rate given on the command line brings a burst of half a second (the defaults' ratio),
    // never below one full frame for bytes.
    ...(rateFrames !== undefined ? { rateFramesPerSec: rateFrames, rateFrameBurst: Math.max(1, Math.ceil(rateFrames / 2)) } : {}),
    ...(rateBytes !== undefined
      ? { rateBytesPerSec: rateBytes, rateByteBurst: Math.max(maxFrameBytes ?? RELAY_DEFAULTS.maxFrameBytes, Math.ceil(rateBytes / 2)) }
      : {}),
    heartbeatMs: parseDurationFlag('--heartbeat', opts.heartbeat),
    idleTimeoutMs: parseDurationFlag('--idle-timeout', opts.idleTimeout),
    handshakeTimeoutMs: parseDurationFlag('--handshake-timeout', opts.handshakeTimeout),
  };
}

async function runRelay(opts: RelayCliOptions): Promise<void> {
  const logger = createLogger('relay');
  const serverOptions = relayOptionsFromCli(opts);
  const metrics = startRelayMetrics(opts.metrics, logger);
  const ca = await loadCaCertificate(opts.ca);
  const verifier = new MembershipVerifier(ca, opts.crl !== undefined ? await loadRevocationList(opts.crl, ca) : undefined);
  const host = serverOptions.host as string;
  const wildcard = host === '0.0.0.0' || host === '::';
  const tls = await TlsIdentity.load(
    {
      dataDir: opts.data ?? defaultRelayDataDir(),
      ...(opts.cert !== undefined ? { certFile: opts.cert } : {}),
      ...(opts.key !== undefined ? { keyFile: opts.key } : {}),
      hostnames: wildcard ? ['localhost'] : [host, 'localhost'],
    },
    Date.now(),
  );
  const server = new RelayServer({ verifier, tls, logger, ...(metrics !== null ? { metrics: metrics.observer } : {}) }, serverOptions);
  await server.start();
  await metrics?.start(server).catch(async (err: unknown) => {
    await server.stop();
    throw err;
  });
  process.stdout.write(`relay listening on ${server.url} pin ${server.pin}\n`);

  const crlFile = opts.crl;
  const onHup = (): void => {
    if (crlFile === undefined) {
      logger.info('SIGHUP: no --crl to reload');
      return;
    }
    loadRevocationList(crlFile, ca).then(
      (crl) => {
        verifier.setRevocationList(crl);
        logger.info('revocation list reloaded', { number: crl.number, revoked: crl.peerIds.length });
        server.recheckRevocations();
      },
      (err: unknown) => logger.error('revocation list reload failed; keeping the previous list', { error: (err as Error).message, code: String((err as { code?: unknown }).code ?? '') }),
    ).catch((err: unknown) => logger.error('revocation list refused; keeping the previous list', { error: (err as Error).message }));
  };
  process.on('SIGHUP', onHup);
  await new Promise<void>((resolve) => {
    const onStop = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', onStop);
      process.off('SIGINT', onStop);
      logger.info('stopping', { signal });
      server.stop().then(() => metrics?.stop()).then(resolve, (err: unknown) => {
        logger.error('stop failed', { error: (err as Error).message });
        resolve();
      });
    };
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
  });
  process.off('SIGHUP', onHup);
}

export function registerRelay(program: Command): void {
  program
    .command('relay')
    // A bad flag is one line on stderr, not a page of help (run --help for that).
    .showHelpAfterError(false)
    .description('run a relay: admit network members over WSS (TLS 1.3) and route their end-to-end sealed frames by peer id')
    .requiredOption('--ca <file>', 'network CA certificate; only holders of its valid, unrevoked member certificates are admitted')
    .option('--listen <host:port>', 'address and port to listen on ([v6]:port for IPv6; port 0 picks a free port)', `${RELAY_DEFAULTS.host}:${RELAY_DEFAULTS.port}`)
    .option('--crl <file>', 'revocation list of the CA; reloaded on SIGHUP, revoked members are disconnected')
    .option('--cert <file>', 'TLS certificate chain (PEM) to serve instead of the self-signed one; needs --key')
    .option('--key <file>', 'private key (PEM) for --cert')
    .option('--data <dir>', 'directory of the persisted TLS key (default $SHADOWMESH_HOME/relay or ~/.shadowmesh/relay)')
    .option('--max-clients <n>', `admitted members at once; more are refused (default ${RELAY_DEFAULTS.maxClients})`)
    .option('--max-pending <n>', `connections still in admission at once (default ${RELAY_DEFAULTS.maxPending})`)
    .option('--max-frame-bytes <n>', `largest frame accepted, announced to nodes (default ${RELAY_DEFAULTS.maxFrameBytes})`)
    .option('--rate-frames <n>', `frames per second one member may send, burst half a second (default ${RELAY_DEFAULTS.rateFramesPerSec})`)
    .option('--rate-bytes <n>', `bytes per second one member may send, burst half a second (default ${RELAY_DEFAULTS.rateBytesPerSec})`)
    .option('--heartbeat <duration>', `PING interval to each member, e.g. 30s (default ${formatDuration(RELAY_DEFAULTS.heartbeatMs)})`)
    .option('--idle-timeout <duration>', `disconnect a member silent this long; must exceed --heartbeat (default ${formatDuration(RELAY_DEFAULTS.idleTimeoutMs)})`)
    .option('--handshake-timeout <duration>', `time allowed for TLS and admission, e.g. 10s (default ${formatDuration(RELAY_DEFAULTS.handshakeTimeoutMs)})`)
    .option('--metrics <host:port>', 'serve Prometheus /metrics, /health and /ready over plain HTTP on this address (default off); keep it on localhost or a private network')
    .addHelpText(
      'after',
      '\nPrints "relay listening on wss://HOST:PORT pin sha256:<hex>" on stdout; nodes pass that pin with --pin.\n' +
        'The pin is the SHA-256 of the TLS public key, which is kept in the data directory, so it survives\n' +
        'restarts and certificate renewal. The relay never sees plaintext: it routes sealed frames by peer id.\n' +
        'Signals: SIGHUP reloads --crl; SIGTERM/SIGINT shut down gracefully.',
    )
    .action(async (opts: RelayCliOptions) => {
      await runRelay(opts);
    });
}
