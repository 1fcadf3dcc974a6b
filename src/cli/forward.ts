/**
 * `shadowmesh forward LOCALPORT PEER:PORT`: a plain TCP port forward
 * through the running daemon's stream layer (control API `forward`;
 * docs/architecture.md "Streams"). The daemon listens on
 * 127.0.0.1:LOCALPORT (or --listen HOST) and carries each connection as a
 * stream to PEER:PORT, PEER a member name or mesh address; the forward
 * lasts while this command runs (Ctrl-C or SIGTERM ends it). Needs no root.
 */
import type { Command } from 'commander';
import { ControlClient } from '../node/control/control-client.js';
import { defaultControlPath, type ForwardProgress } from '../node/control/control-protocol.js';
import { formatHostPort } from '../wire/ip-address.js';
import { FOLLOW_TIMEOUT_MS } from './recv.js';

interface ForwardCliOptions {
  listen?: string;
  control?: string;
}

/** PEER:PORT or [IPV6]:PORT; null when it is neither. */
export function parseTarget(text: string): { target: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  if (m === null) return null;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return null;
  return { target: (m[1] ?? m[2])!, port };
}

export function registerForward(program: Command): void {
  program
    .command('forward')
    .showHelpAfterError(false)
    .description('forward a local TCP port to PEER:PORT through the mesh (streams inside the sessions; no root needed)')
    .argument('<localport>', 'local port to listen on (0: any free port, printed)')
    .argument('<peer:port>', 'member name or mesh address, and port ([IPV6]:PORT for IPv6)')
    .option('--listen <host>', 'local address to listen on (default 127.0.0.1)')
    .option('--control <sock>', 'control socket of the daemon (default $SHADOWMESH_HOME/control.sock or ~/.shadowmesh/control.sock)')
    .action(async (localPort: string, peerPort: string, opts: ForwardCliOptions, cmd: Command) => {
      const port = /^\d{1,5}$/.test(localPort) ? Number(localPort) : NaN;
      if (!(port >= 0 && port <= 65535)) cmd.error(`forward: LOCALPORT: expected 0..65535, got ${JSON.stringify(localPort)}`);
      const t = parseTarget(peerPort);
      if (t === null) cmd.error(`forward: expected PEER:PORT (member name or mesh address, port 1..65535), got ${JSON.stringify(peerPort)}`);
      const client = new ControlClient({ path: opts.control ?? defaultControlPath() });
      process.once('SIGINT', () => process.exit(0));
      process.once('SIGTERM', () => process.exit(0));
      await client.call('forward', { host: opts.listen ?? '127.0.0.1', port, target: t!.target, targetPort: t!.port }, {
        onProgress: (p) => {
          const l = (p as ForwardProgress).listening;
          process.stdout.write(`forwarding ${formatHostPort(l.host, l.port)} -> ${formatHostPort(t!.target, t!.port)}\n`);
        },
        timeoutMs: FOLLOW_TIMEOUT_MS,
      });
    });
}
