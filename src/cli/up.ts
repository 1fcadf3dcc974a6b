/**
 * `shadowmesh up`: run the node daemon in the foreground (src/node/daemon.ts;
 * DESIGN.md "What a user does").
 *
 * Prints exactly one line on stdout once the relay has admitted the node,
 * which scripts and tests parse:
 *
 *     node <short id> up: device <name|none> <addresses> via relay <url>
 *
 * Logs are JSON lines on stderr. The control API listens on --control
 * (default $SHADOWMESH_HOME/control.sock, else ~/.shadowmesh/control.sock)
 * for `shadowmesh status | peers | ping`. SIGTERM/SIGINT stop it gracefully
 * (exit 0). A bad option, an unreadable or foreign certificate, a device that
 * cannot be opened, a relay that refuses or cannot be reached within
 * --startup-timeout: one line on stderr, exit 1 (main.ts).
 */
import type { Command } from 'commander';
import { isIP } from 'node:net';
import { ConfigError } from '../errors.js';
import { resolvePassphrase } from '../identity/passphrase.js';
import { defaultControlPath } from '../node/control/control-protocol.js';
import { DEFAULT_STARTUP_TIMEOUT_MS, NodeDaemon, type DaemonDeviceKind } from '../node/daemon.js';
import { DEFAULT_DEVICE_MTU, MAX_DEVICE_MTU, MIN_DEVICE_MTU } from '../node/device/open-device.js';
import { formatDuration, parseDuration } from '../util/duration.js';
import { createLogger } from '../util/logger.js';
import { defaultIdentityDir, PASSPHRASE_ENV } from './keygen.js';

interface UpCliOptions {
  relay: string;
  pin: string;
  ca: string;
  cert: string;
  crl?: string;
  dir?: string;
  passphraseFile?: string;
  dev: string;
  name?: string;
  mtu?: string;
  control?: string;
  startupTimeout?: string;
  p2pPort?: string;
  p2pListen?: string;
  direct: boolean;
}

const PIN_RE = /^sha256:[0-9a-f]{64}$/;

function checkRelayUrl(text: string): void {
  let u: URL | null = null;
  try {
    u = new URL(text);
  } catch {
    u = null;
  }
  if (u === null || u.protocol !== 'wss:' || u.hostname === '' || (u.pathname !== '/' && u.pathname !== '') || u.search !== '' || u.hash !== '') {
    throw new ConfigError('SM_ERR_CONFIG_VALUE', `--relay: expected wss://HOST:PORT, got ${JSON.stringify(text)}`);
  }
}

function parseDevice(text: string): DaemonDeviceKind {
  if (text !== 'tap' && text !== 'tun' && text !== 'none') throw new ConfigError('SM_ERR_CONFIG_VALUE', `--dev: expected tap, tun or none, got ${JSON.stringify(text)}`);
  return text;
}

function parseMtu(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = /^\d{1,6}$/.test(text) ? Number(text) : NaN;
  if (!(n >= MIN_DEVICE_MTU && n <= MAX_DEVICE_MTU)) {
    throw new ConfigError('SM_ERR_CONFIG_VALUE', `--mtu: expected a whole number in [${MIN_DEVICE_MTU}, ${MAX_DEVICE_MTU}], got ${JSON.stringify(text)}`);
  }
  return n;
}

async function runUp(opts: UpCliOptions): Promise<void> {
  checkRelayUrl(opts.relay);
  if (!PIN_RE.test(opts.pin)) throw new ConfigError('SM_ERR_CONFIG_VALUE', `--pin: expected sha256:<64 lowercase hex digits> as the relay prints it, got ${JSON.stringify(opts.pin)}`);
  const device = parseDevice(opts.dev);
  const mtu = parseMtu(opts.mtu);
  if (device === 'none' && (mtu !== undefined || opts.name !== undefined)) {
    throw new ConfigError('SM_ERR_CONFIG_VALUE', '--mtu and --name configure a device; they make no sense with --dev none');
  }
  let startupTimeoutMs = DEFAULT_STARTUP_TIMEOUT_MS;
  if (opts.startupTimeout !== undefined) {
    try {
      startupTimeoutMs = parseDuration(opts.startupTimeout);
    } catch (err) {
      throw new ConfigError('SM_ERR_CONFIG_DURATION', `--startup-timeout: ${(err as Error).message}`, { cause: err });
    }
    if (startupTimeoutMs < 1) throw new ConfigError('SM_ERR_CONFIG_DURATION', '--startup-timeout: must be above zero');
  }
  let p2pPort = 0;
  if (opts.p2pPort !== undefined) {
    p2pPort = /^\d{1,5}$/.test(opts.p2pPort) ? Number(opts.p2pPort) : NaN;
    if (!(p2pPort >= 0 && p2pPort <= 65_535)) throw new ConfigError('SM_ERR_CONFIG_VALUE', `--p2p-port: expected a port number 0..65535, got ${JSON.stringify(opts.p2pPort)}`);
    if (!opts.direct) throw new ConfigError('SM_ERR_CONFIG_VALUE', '--p2p-port sets the direct-path listener; it makes no sense with --no-direct');
  }
  if (opts.p2pListen !== undefined) {
    if (isIP(opts.p2pListen) === 0) throw new ConfigError('SM_ERR_CONFIG_VALUE', `--p2p-listen: expected an IP address, got ${JSON.stringify(opts.p2pListen)}`);
    if (!opts.direct) throw new ConfigError('SM_ERR_CONFIG_VALUE', '--p2p-listen sets the direct-path listener; it makes no sense with --no-direct');
  }
  const passphrase = await resolvePassphrase({ ...(opts.passphraseFile !== undefined ? { file: opts.passphraseFile } : {}), envVar: PASSPHRASE_ENV });
  const logger = createLogger('node');
  const daemon = await NodeDaemon.load(
    { logger },
    {
      relayUrl: opts.relay,
      pin: opts.pin,
      caFile: opts.ca,
      certFile: opts.cert,
      ...(opts.crl !== undefined ? { crlFile: opts.crl } : {}),
      identityDir: opts.dir ?? defaultIdentityDir(),
      ...(passphrase !== undefined ? { passphrase } : {}),
      device,
      ...(opts.name !== undefined ? { deviceName: opts.name } : {}),
      ...(mtu !== undefined ? { mtu } : {}),
      controlPath: opts.control ?? defaultControlPath(),
      startupTimeoutMs,
      direct: opts.direct ? { port: p2pPort, ...(opts.p2pListen !== undefined ? { host: opts.p2pListen } : {}) } : false,
    },
  );
  try {
    await daemon.start();
  } catch (err) {
    await daemon.stop();
    throw err;
  }
  process.stdout.write(daemon.readyLine() + '\n');
  await new Promise<void>((resolve) => {
    const onStop = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', onStop);
      process.off('SIGINT', onStop);
      logger.info('stopping', { signal });
      daemon.stop().then(resolve, (err: unknown) => {
        logger.error('stop failed', { error: (err as Error).message });
        resolve();
      });
    };
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
  });
}

export function registerUp(program: Command): void {
  program
    .command('up')
    .showHelpAfterError(false)
    .description('join the mesh: run the node daemon in the foreground (relay link, end-to-end sessions, TAP/TUN device, control socket)')
    .requiredOption('--relay <url>', 'relay to join, wss://HOST:PORT')
    .requiredOption('--pin <pin>', 'the relay\'s TLS key pin, sha256:<hex>, as `shadowmesh relay` prints it')
    .requiredOption('--ca <file>', 'network CA certificate; our --cert must be signed by it, and so must every peer\'s')
    .requiredOption('--cert <file>', 'this node\'s member certificate (from `shadowmesh ca sign`); its addresses go on the device')
    .option('--crl <file>', 'revocation list of the CA: peers on it are refused')
    .option('--dir <dir>', 'identity directory holding identity.key (default $SHADOWMESH_HOME or ~/.shadowmesh)')
    .option('--passphrase-file <file>', `file holding the identity key's passphrase (else $${PASSPHRASE_ENV})`)
    .option('--dev <kind>', 'tun (L3, routes by member address), tap (L2, Ethernet with ARP), or none (no device: sessions, ping and the control API only; needs no root)', 'tun')
    .option('--name <ifname>', 'interface name, %d for the first free number (default sm%d for tun, smtap%d for tap)')
    .option('--mtu <n>', `device MTU in bytes, ${MIN_DEVICE_MTU}..${MAX_DEVICE_MTU} (default ${DEFAULT_DEVICE_MTU}: full-size packets still fit a 1500-byte path once direct UDP paths exist)`)
    .option('--control <sock>', 'control socket path (default $SHADOWMESH_HOME/control.sock or ~/.shadowmesh/control.sock)')
    .option('--p2p-port <port>', 'TCP port of the direct-path listener (TLS 1.3 + WebSocket, pinned identity-signed certificates); default any free port, advertised to peers inside the session')
    .option('--p2p-listen <ip>', 'address of the direct-path listener; a specific address is also the only one advertised (default :: — every address of this machine except the mesh\'s own)')
    .option('--no-direct', 'stay on the relay: no direct-path listener, no direct attempts')
    .option('--startup-timeout <duration>', `give up if the relay has not admitted this node within this time, e.g. 30s (default ${formatDuration(DEFAULT_STARTUP_TIMEOUT_MS)})`)
    .addHelpText(
      'after',
      '\nPrints "node <short id> up: device <name|none> <addresses> via relay <url>" on stdout once the relay admits it;\n' +
        'logs are JSON lines on stderr. After that the relay link reconnects on its own. A TAP/TUN device needs root\n' +
        '(or CAP_NET_ADMIN). Query it with `shadowmesh status`, `shadowmesh peers`, `shadowmesh ping PEER`.\n' +
        'Signals: SIGTERM/SIGINT stop it gracefully (exit 0).',
    )
    .action(async (opts: UpCliOptions) => {
      await runUp(opts);
    });
}
