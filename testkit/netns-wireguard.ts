/**
 * Userspace WireGuard (wireguard-go + wg from wireguard-tools) between nodes
 * of a netns lab: the reference tunnel the throughput benchmark compares
 * ShadowMesh with, on the same topology in the same run.
 *
 * Each node gets one wireguard-go process (WG_PROCESS_FOREGROUND=1, spawned
 * and tracked by the lab, stopped by pid at teardown), a fresh key pair
 * (`wg genkey` / `wg pubkey`), a tunnel address WG_TUNNEL_PREFIX<1+i>/24 and
 * every other node as a peer at its lab address.
 *
 * What callers must know:
 *  - wireguard-go's control socket lives in /var/run/wireguard/<if>.sock,
 *    which is shared by every namespace; interface names therefore carry the
 *    lab id (wg<6 hex><i>) and the sockets are removed at teardown.
 *  - Private keys are written 0600 into a temp directory removed at teardown.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NetnsLab } from '../src/demo/netns-lab.js';

/** Tunnel addresses: a private /24 that exists only inside the lab's namespaces. */
export const WG_TUNNEL_PREFIX = '10.99.0.';
/** UDP listen port in every namespace (namespaces do not share ports). */
export const WG_LISTEN_PORT = 51820;
/** wireguard-go creates its socket within milliseconds; generous for a loaded machine. */
export const WG_START_TIMEOUT_MS = 10_000;
const WG_SOCKET_DIR = '/var/run/wireguard';
const POLL_MS = 50;

export interface WireguardMesh {
  /** A node's tunnel address. */
  ip(node: string): string;
  /** A node's WireGuard interface name. */
  ifname(node: string): string;
  /** A node's wireguard-go process id (for its CPU time in /proc). */
  pid(node: string): number;
}

function wgTool(args: string[], input?: string): string {
  const r = spawnSync('wg', args, { encoding: 'utf8', timeout: 10_000, ...(input !== undefined ? { input } : {}) });
  if (r.status !== 0) throw new Error(`wg ${args[0] ?? ''}: ${r.error?.message ?? r.stderr.trim()}`);
  return r.stdout.trim();
}

/** Bring up a full WireGuard mesh between `nodes` of the lab. */
export async function setupWireguard(lab: NetnsLab, nodes: readonly string[]): Promise<WireguardMesh> {
  const keyDir = mkdtempSync(join(tmpdir(), 'sm-wg-'));
  lab.onTeardown(() => rmSync(keyDir, { recursive: true, force: true }));
  const tag = lab.id.slice(3);
  const info = nodes.map((node, i) => {
    const priv = wgTool(['genkey']);
    const keyFile = join(keyDir, `${node}.key`);
    writeFileSync(keyFile, `${priv}\n`, { mode: 0o600 });
    return { node, ifname: `wg${tag}${i}`, ip: `${WG_TUNNEL_PREFIX}${1 + i}`, keyFile, pub: wgTool(['pubkey'], `${priv}\n`), pid: 0 };
  });
  for (const n of info) {
    const sock = join(WG_SOCKET_DIR, `${n.ifname}.sock`);
    lab.onTeardown(() => rmSync(sock, { force: true }));
    const proc = lab.spawn(n.node, ['wireguard-go', n.ifname], { env: { WG_PROCESS_FOREGROUND: '1', LOG_LEVEL: 'error' }, label: `${n.node}:wireguard-go` });
    n.pid = proc.pid;
    const deadline = Date.now() + WG_START_TIMEOUT_MS;
    while (!existsSync(sock)) {
      if (!proc.alive()) throw new Error(`wireguard-go on ${n.node} exited: ${proc.stderr()}${proc.stdout()}`);
      if (Date.now() > deadline) throw new Error(`wireguard-go on ${n.node}: no socket ${sock} after ${WG_START_TIMEOUT_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
  for (const n of info) {
    const args = ['wg', 'set', n.ifname, 'private-key', n.keyFile, 'listen-port', String(WG_LISTEN_PORT)];
    for (const p of info) {
      if (p === n) continue;
      args.push('peer', p.pub, 'allowed-ips', `${p.ip}/32`, 'endpoint', `${lab.ip(p.node)}:${WG_LISTEN_PORT}`);
    }
    await lab.check(n.node, args);
    await lab.check(n.node, ['ip', 'addr', 'add', `${n.ip}/24`, 'dev', n.ifname]);
    await lab.check(n.node, ['ip', 'link', 'set', n.ifname, 'up']);
  }
  const find = (node: string): (typeof info)[number] => {
    const n = info.find((x) => x.node === node);
    if (n === undefined) throw new Error(`wireguard mesh: no node ${node}`);
    return n;
  };
  return { ip: (node) => find(node).ip, ifname: (node) => find(node).ifname, pid: (node) => find(node).pid };
}
