/**
 * `shadowmesh up`: run the node daemon in the foreground (src/node/daemon.ts;
 * docs/architecture.md "Components"; signals: src/cli/foreground.ts).
 *
 * Prints exactly one line on stdout once the relay has admitted the node,
 * which scripts and tests parse:
 *
 *     node <short id> up: device <name|none> <addresses> via relay <url>
 *
 * Settings: flags > SHADOWMESH_* variables > the config file (--config) >
 * defaults, resolved by src/config (docs/configuration.md); every problem
 * is reported at once. `--join TOKEN` first enrolls through the CA's
 * enrollment service unless already enrolled, writing the identity,
 * certificate, CA certificate, revocation list and the config file that the
 * start then reads (src/enroll/join-node.ts; docs/configuration.md
 * "Joining with a token"). A node enrolled that way renews its certificate
 * through the same service once a third of its lifetime is left, without a
 * restart (src/enroll/auto-renew.ts).
 *
 * Logs go to stderr: one readable line per record on a terminal, JSON lines
 * otherwise (a file, a pipe, journald); SHADOWMESH_LOG_FORMAT or log.format
 * (auto | json | pretty) forces one (src/cli/log-format.ts). The control API listens on --control
 * (default $SHADOWMESH_HOME/control.sock, else ~/.shadowmesh/control.sock)
 * for `shadowmesh status | peers | ping | whois | ip` and, as HTTP, other
 * tools; mode 0600, or 0660 for the group of --control-group. SIGTERM/SIGINT, or `shadowmesh
 * down` (control `shutdown`), stop it gracefully (exit 0). SIGHUP reloads the configuration (file and environment; flags
 * stay as given): log.level, the revocation list and the --cert file take
 * effect at once (a newly revoked member leaves the directory and routing,
 * other sessions stay up; a renewed certificate replaces ours live:
 * daemon.ts), every other changed key is named in a warning and waits
 * for a restart, and a file with problems changes nothing
 * (src/config/config-reload.ts). A bad option, an unreadable or foreign certificate, a device that
 * cannot be opened, a relay that refuses or cannot be reached within
 * --startup-timeout: one line on stderr, exit 1 (main.ts).
 */
import { EXIT_ROUTE_TABLE } from '../node/exit-routing-plan.js';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../errors.js';
import { DEFAULT_NETWORK_DOMAIN } from '../names/network-domain.js';
import { CONFIG_ENV, DEFAULT_CONFIG_FILE_NAME } from '../config/config-keys.js';
import { locateConfigFile, shadowmeshHome } from '../config/config-file.js';
import { passphraseOf } from '../config/component-options.js';
import { ENROLLMENT_FILE, joinNode } from '../enroll/join-node.js';
import { AutoRenew, readEnrollmentTarget } from '../enroll/auto-renew.js';
import { requestRenew } from '../enroll/join-client.js';
import { saveMemberCertificate } from '../identity/files.js';
import { systemClock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { pathExists } from '../identity/secure-files.js';
import { keySourcesHelp } from '../config/config-keys.js';
import { daemonOptionsOf, logFormatOf, logLevelOf, pathTimersOf } from '../config/component-options.js';
import { AdjustableLogger } from '../config/adjustable-logger.js';
import { ConfigReloader } from '../config/config-reload.js';
import { loadEffectiveConfig } from '../config/load-config.js';
import { NodeDaemon } from '../node/daemon.js';
import { MAX_DEVICE_MTU, MIN_DEVICE_MTU } from '../node/device/open-device.js';
import { runUntilStopped } from './foreground.js';
import { chooseLogFormat } from './log-format.js';
import { PASSPHRASE_ENV } from './keygen.js';

interface UpCliOptions {
  config?: string;
  join?: string;
  hostname?: string;
}

/**
 * `--join TOKEN`: enroll first unless already enrolled (src/enroll/join-node.ts),
 * writing the config file that the normal start below then reads.
 */
async function joinFirst(opts: UpCliOptions, cmd: Command, token: string): Promise<void> {
  const located = locateConfigFile(opts.config);
  const configPath = located?.path ?? resolve(shadowmeshHome(), DEFAULT_CONFIG_FILE_NAME);
  // The file --join is about to write is not there yet: read the rest without it.
  const exists = await pathExists(configPath);
  const env = { ...process.env };
  if (!exists) delete env[CONFIG_ENV];
  const pre = await loadEffectiveConfig({ role: 'node', requireRoleKeys: false, ...(exists && opts.config !== undefined ? { configFile: opts.config } : {}), flags: cmd, env });
  const log = new AdjustableLogger('join', { level: logLevelOf(pre), format: chooseLogFormat(logFormatOf(pre), process.stderr) });
  const passphrase = await passphraseOf(pre);
  await joinNode({
    token,
    dir: resolve(pre.string('node.dir') ?? shadowmeshHome()),
    configPath,
    ...(passphrase !== undefined ? { passphrase } : {}),
    ...(opts.hostname !== undefined ? { name: opts.hostname } : {}),
    logger: log.logger,
  });
}

/**
 * A node enrolled with a token (DIR/enrollment.json, written by --join) renews
 * its certificate through the same service on its own once a third of its
 * lifetime is left (src/enroll/auto-renew.ts): saved to --cert, then put in
 * force live (daemon.replaceCertificate). Null for a node signed by hand.
 */
async function autoRenewOf(daemon: NodeDaemon, identityDir: string, certFile: string, logger: Logger): Promise<AutoRenew | null> {
  const file = join(identityDir, ENROLLMENT_FILE);
  if (!(await pathExists(file))) return null;
  const target = await readEnrollmentTarget(file);
  return new AutoRenew({
    clock: systemClock,
    logger: logger.child('renewal'),
    target,
    current: () => daemon.certificate,
    renew: (t, cert) => requestRenew(t, daemon.identity.signer, cert.raw),
    save: (cert) => saveMemberCertificate(certFile, cert),
    apply: (raw) => daemon.replaceCertificate(raw),
  });
}

async function runUp(opts: UpCliOptions, cmd: Command): Promise<void> {
  if (opts.join !== undefined) await joinFirst(opts, cmd, opts.join);
  else if (opts.hostname !== undefined) throw new ConfigError('SM_ERR_CONFIG_VALUE', '--hostname: only with --join (the member name is in the certificate)');
  // Flags > SHADOWMESH_* > config file > defaults: src/config/resolve-config.ts.
  const load = () => loadEffectiveConfig({ role: 'node', ...(opts.config !== undefined ? { configFile: opts.config } : {}), flags: cmd });
  const cfg = await load();
  const options = await daemonOptionsOf(cfg);
  const log = new AdjustableLogger('node', { level: logLevelOf(cfg), format: chooseLogFormat(logFormatOf(cfg), process.stderr) });
  const logger = log.logger;
  const daemon = await NodeDaemon.load({ logger }, options);
  let renewal: AutoRenew | null = null;
  try {
    renewal = await autoRenewOf(daemon, options.identityDir, options.certFile, logger);
    await daemon.start();
  } catch (err) {
    await daemon.stop();
    throw err;
  }
  renewal?.start();
  const reloader = new ConfigReloader(
    {
      logger: logger.child('config'),
      load,
      setLogLevel: (level) => log.set(level),
      apply: async (next) => {
        // Check everything before applying anything: a refused reload changes nothing.
        // node.p2p.connectTimeout is restart-only, so the attempt budget stays as started.
        const { attemptTimeoutMs: _restartOnly, ...timers } = pathTimersOf(next);
        daemon.checkPathTimers(timers);
        // The certificate file is re-read on every reload: a renewed one replaces ours live (same key, name and addresses).
        const certFile = next.string('node.cert');
        const renewed = await daemon.checkCertificateFile(certFile);
        const exitNode = next.string('node.exitNode.use') ?? null;
        daemon.checkExitNodeSelection(exitNode);
        await daemon.applyRevocations(next.string('node.crl'));
        await daemon.applyPolicy(next.string('node.policy'));
        daemon.applyPathTimers(timers);
        if (renewed !== null) daemon.replaceCertificate(renewed);
        await daemon.selectExitNode(exitNode);
      },
    },
    { role: 'node', initial: cfg },
  );
  await runUntilStopped({ logger }, {
    readyLine: daemon.readyLine(),
    stop: async () => {
      await renewal?.stop();
      await daemon.stop();
    },
    stopRequested: daemon.stopRequested,
    reload: () => {
      logger.info('SIGHUP: reloading the configuration', { file: cfg.file ?? 'none' });
      void reloader.reload();
    },
  });
}

/** `--relay` may repeat: commander keeps every value, in order (src/config/relay-flags.ts reads them). */
function collectRelay(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function registerUp(program: Command): void {
  program
    .command('up')
    .showHelpAfterError(false)
    .description('join the mesh: run the node daemon in the foreground (relay link, end-to-end sessions, TAP/TUN device, control socket)')
    .option('--config <file>', 'config file (default $SHADOWMESH_CONFIG, else $SHADOWMESH_HOME/config.yaml if present); flags override it, see docs/configuration.md')
    .option(
      '--relay <url>',
      `relay to join: wss://HOST:PORT with its pin in --pin${keySourcesHelp('node.relay')}, or wss://HOST:PORT#PIN[,PIN...] carrying its own pin set; ` +
        `repeat it to list several relays: the node uses the fastest and fails over to the others, ties in the order given${keySourcesHelp('node.relays')}; at least one relay is required`,
      collectRelay,
    )
    .option('--pin <pin>', `pin set of the --relay given without one: sha256:<hex> as \`shadowmesh relay\` prints it, several separated by commas during a key rotation${keySourcesHelp('node.pin')}`)
    .option('--ca <file>', `network CA certificate; our --cert must be signed by it, and so must every peer's; required${keySourcesHelp('node.ca')}`)
    .option('--cert <file>', `this node's member certificate (from \`shadowmesh ca sign\`); its addresses go on the device; re-read on SIGHUP (a renewal applies live); required${keySourcesHelp('node.cert')}`)
    .option('--crl <file>', `revocation list of the CA: peers on it are refused; reloaded on SIGHUP${keySourcesHelp('node.crl')}`)
    .option('--policy <file>', `signed network policy of the CA (\`shadowmesh ca policy sign\` writes policy.signed); absent: everything allowed; re-read on SIGHUP, an older version is refused${keySourcesHelp('node.policy')}`)
    .option('--dir <dir>', `identity directory holding identity.key (default $SHADOWMESH_HOME or ~/.shadowmesh; node.dir in the config file)`)
    .option('--passphrase-file <file>', `file holding the identity key's passphrase (else $${PASSPHRASE_ENV})${keySourcesHelp('node.passphraseFile')}`)
    .option('--dev <kind>', `tun (L3, routes by member address), tap (L2, Ethernet with ARP), or none (no device: sessions, ping and the control API only; needs no root)${keySourcesHelp('node.dev')}`)
    .option('--name <ifname>', `interface name, %d for the first free number (default sm%d for tun, smtap%d for tap; SHADOWMESH_DEV_NAME; node.name in the config file)`)
    .option('--mtu <n>', `device MTU in bytes, ${MIN_DEVICE_MTU}..${MAX_DEVICE_MTU}; full-size packets still fit a 1500-byte path once direct UDP paths exist${keySourcesHelp('node.mtu')}`)
    .option('--control <sock>', 'control socket path (default $SHADOWMESH_HOME/control.sock or ~/.shadowmesh/control.sock; SHADOWMESH_CONTROL; node.control in the config file)')
    .option('--control-group <group>', `group whose members may use the control socket, e.g. \`shadowmesh status\` without sudo (socket mode 0660; default: this user only, 0600); an unknown group is an error${keySourcesHelp('node.controlGroup')}`)
    .option('--p2p-port <port>', `TCP port of the direct-path listener (TLS 1.3 + WebSocket, pinned identity-signed certificates), advertised to peers inside the session; 0 is any free port${keySourcesHelp('node.p2p.port')}`)
    .option('--p2p-listen <ip>', `address of the direct-path listener; a specific address is also the only one advertised (:: is every address of this machine except the mesh's own)${keySourcesHelp('node.p2p.listen')}`)
    .option('--no-direct', 'stay on the relay: no direct-path listener, no direct attempts (SHADOWMESH_P2P_ENABLED=false; node.p2p.enabled: false in the config file)')
    .option('--udp-port <port>', `UDP port of direct paths (hole punching through NAT, on the --p2p-listen address); 0 is any free port${keySourcesHelp('node.p2p.udpPort')}`)
    .option('--stun <servers>', `STUN servers for the reflexive UDP address: 'relay' (the relay answers STUN on its own port), 'none', or HOST:PORT[,HOST:PORT...]; two or more also classify the NAT${keySourcesHelp('node.p2p.stun')}`)
    .option('--no-udp', 'direct paths over WSS only: no UDP socket, no hole punching (SHADOWMESH_P2P_UDP=false; node.p2p.udp: false in the config file)')
    .option('--no-wss', 'direct paths over UDP only: no TCP listener, no WSS dials; where UDP is blocked traffic stays on the relay (SHADOWMESH_P2P_WSS=false; node.p2p.wss: false in the config file)')
    .option('--accept-routes', `install the subnet routes members' certificates carry (ca sign --route) on the TUN device while those members are listed, and take their return traffic; without it such packets are dropped as spoofed_source${keySourcesHelp('node.routes.accept')}`)
    .option('--advertise-routes', `serve the subnet routes our certificate carries to the mesh: turns IP forwarding on and adds a masquerade rule (iptables/ip6tables), both undone at stop; needs --dev tun and root; with --dev none, serves members' streams only (connects to any destination but loopback, link-local and the mesh; loopback too with --serve-loopback)${keySourcesHelp('node.routes.advertise')}`)
    .option('--no-snat-routes', 'with --advertise-routes, no masquerade: the LAN must route the mesh subnets back via this member (SHADOWMESH_SNAT_ROUTES=false; node.routes.snat: false in the config file)')
    .option('--exit-node <name|address>', `send all traffic through this member, whose certificate carries the exit mark (ca sign --exit): policy routing (ip rule, table ${EXIT_ROUTE_TABLE}) keeps the relay, our UDP socket and P2P listener on the underlay; while it is away traffic is dropped, not leaked; DNS goes wherever /etc/resolv.conf points, through the tunnel unless that resolver is on the LAN with --exit-node-allow-lan; needs --dev tun and root, or with --dev none (no root) only the streams of --socks5/--http-proxy/forward go through it (refused while it is away); a change of node.exitNode.use in the config file applies on SIGHUP${keySourcesHelp('node.exitNode.use')}`)
    .option('--exit-node-allow-lan', `with --exit-node, keep the main table's routes but its default one (the directly connected subnets) outside the tunnel${keySourcesHelp('node.exitNode.allowLan')}`)
    .option('--exit-node-fallback', `with --exit-node, send traffic out directly while the exit node is away instead of dropping it${keySourcesHelp('node.exitNode.fallback')}`)
    .option('--advertise-exit-node', `serve as an exit node for members that choose us (our certificate must carry the exit mark): turns IP forwarding on and adds a masquerade rule (iptables/ip6tables), both undone at stop; needs --dev tun and root; with --dev none, serves members' streams only (connects to any destination but loopback, link-local and the mesh; loopback too with --serve-loopback)${keySourcesHelp('node.exitNode.advertise')}`)
    .option('--startup-timeout <duration>', `give up if the relay has not admitted this node within this time, e.g. 30s${keySourcesHelp('node.startupTimeout')}`)
    .option('--join <token>', 'join with a token from `shadowmesh ca token`: create the identity, obtain the certificate, CA certificate, revocation list and relays from the enrollment service, store them in --dir and the config file, then start; once enrolled, the token is not needed again and the certificate renews itself there while up runs (docs/configuration.md "Joining with a token")')
    .option('--hostname <name>', 'member name to ask for with --join (default: this machine\'s host name up to its first dot)')
    .option('--metrics <host:port>', `serve Prometheus /metrics, /health and /ready over plain HTTP on this address (default off); keep it on localhost or a private network${keySourcesHelp('node.metrics.listen')}`)
    .option('--web <host:port>', `serve the web console on this address, e.g. 127.0.0.1:9470 (default off); \`shadowmesh web\` prints its login link${keySourcesHelp('node.web.listen')}`)
    .option('--socks5 <host:port>', `offer a SOCKS5 proxy (CONNECT) here, e.g. 127.0.0.1:1080, whose connections run inside the sessions to the member that owns the destination (mesh address, member name or routed address); no root needed, works with --dev none (default off)${keySourcesHelp('node.socks5.listen')}`)
    .option('--socks5-auth <file>', `require SOCKS5 username/password from FILE (USER:PASSWORD per line)${keySourcesHelp('node.socks5.authFile')}`)
    .option('--http-proxy <host:port>', `offer an HTTP CONNECT proxy here, e.g. 127.0.0.1:3128, carried like --socks5; no authentication, keep it on loopback (default off)${keySourcesHelp('node.httpProxy.listen')}`)
    .option('--serve-loopback', `with --dev none, let members open streams to our mesh address, connected to the same port on loopback (our local services become reachable from the mesh, within the policy)${keySourcesHelp('node.streams.serveLoopback')}`)
    .option('--dns <host:port,...>', `answer DNS for NAME.<domain> with members' mesh addresses (from CA-verified certificates) and PTR for them, other names forwarded upstream, over UDP and TCP on these addresses, e.g. 127.0.0.153:53 or MESH_IP:53 (default off); with a device and resolvectl, systemd-resolved sends the domain here${keySourcesHelp('node.dns.listen')}`)
    .option('--dns-domain <domain>', `network domain of member names, overriding the one the CA certificate carries (default: the CA's, else ${DEFAULT_NETWORK_DOMAIN})${keySourcesHelp('node.dns.domain')}`)
    .option('--dns-upstream <ip[:port],...>', `resolvers for other names (default: the nameservers of /etc/resolv.conf at start)${keySourcesHelp('node.dns.upstream')}`)
    .option('--no-dns-resolved', 'do not register --dns with systemd-resolved (SHADOWMESH_DNS_RESOLVED=false; node.dns.resolved: false in the config file)')
    .addHelpText(
      'after',
      '\nPrints "node <short id> up: device <name|none> <addresses> via relay <url>" on stdout once the relay admits it;\n' +
        'logs on stderr are readable lines on a terminal and JSON lines otherwise (SHADOWMESH_LOG_FORMAT=auto|json|pretty forces one).\n' +
        'After that the relay link reconnects on its own. A TAP/TUN device needs root\n' +
        '(or CAP_NET_ADMIN). Query it with `shadowmesh status`, `shadowmesh peers`, `shadowmesh ping PEER`.\n' +
        'Signals: SIGTERM/SIGINT (or `shadowmesh down`) stop it gracefully (exit 0); SIGHUP reloads the config file: log.level, the revocation list\n' +
        'and the --cert file at once (revoked members are dropped, other sessions stay; a renewed certificate of the same key,\n' +
        'name and addresses replaces ours without a restart, anything else is refused with its code and nothing changes),\n' +
        'the exit node in use (node.exitNode.use in the config file; unset: none),\n' +
        'other changed keys are named and wait for a restart.',
    )
    .action(async (opts: UpCliOptions, cmd: Command) => {
      await runUp(opts, cmd);
    });
}
