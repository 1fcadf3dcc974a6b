/**
 * What the kernel must hold for a member that sends its default-route
 * traffic through an exit node (docs/architecture.md "Exit nodes"): pure
 * planning, no commands run here (src/node/exit-node.ts applies the plan
 * with src/node/device/linux-routing.ts).
 *
 * Policy routing as wg-quick does it, with the daemon's own underlay
 * traffic told apart by what it is rather than by a socket mark:
 *
 *   priority EXIT_PRIORITY_BYPASS   ipproto udp sport UDP_PORT  lookup main
 *                                   ipproto tcp sport P2P_PORT  lookup main
 *                                   to RELAY_ADDRESS            lookup main   (each relay)
 *   priority EXIT_PRIORITY_BYPASS_END  the same selectors       unreachable
 *   priority EXIT_PRIORITY_LAN      lookup main suppress_prefixlength 0       (--exit-node-allow-lan)
 *   priority EXIT_PRIORITY_TABLE    lookup EXIT_ROUTE_TABLE
 *
 * and in table EXIT_ROUTE_TABLE, per family, the mesh's own routes (our
 * mesh subnets and, with --accept-routes, the members' certified routes,
 * each `PREFIX dev TUN`), so the mesh keeps working whatever the default
 * route does, and one default route:
 *
 *   default dev TUN      the exit node is listed with the CA's exit mark
 *   unreachable default  it is not (fail closed: the kernel refuses at once,
 *                        nothing reaches the underlay's default route)
 *   (none)               it is not and --exit-node-fallback: lookups fall
 *                        through to the main table, traffic goes out directly
 *
 * A lookup that finds no route goes on to the next rule, so without the
 * BYPASS_END rules our own packets for a destination the underlay cannot
 * reach (an IPv6 candidate on an IPv4-only underlay) would fall through to
 * our table and into the tunnel: a direct path through the exit node, with
 * our mesh address as its source. They fail at once instead (Tailscale's
 * rules end the same way).
 *
 * The UDP socket carries the direct UDP paths and STUN, the P2P listener
 * the direct WSS paths peers opened to us, and the relays' addresses the
 * relay links: all of them keep the underlay's routes. Rules at the lookup
 * of `local` (priority 0) come first, so the machine's own addresses stay
 * local. An IPv6 default route through the tunnel needs an IPv6 mesh address
 * of ours; without one the IPv6 table holds `unreachable default` (fallback
 * aside), so IPv6 cannot leak around an IPv4-only tunnel.
 *
 * Every rule carries one of our priorities and every route our table, so
 * cleanup (also of a daemon killed before its stop) is "delete every rule of
 * these priorities, flush this table", whatever the plan was.
 */
import { isIP } from 'node:net';

/** Our routing table: a number no distribution assigns (253-255 are default, main, local; Tailscale uses 52, wg-quick the fwmark). */
export const EXIT_ROUTE_TABLE = 5330;
/** Rule priorities: after `local` (0), before `main` (32766); apart from Tailscale's 5210-5270 so both can be read side by side. */
export const EXIT_PRIORITY_BYPASS = 5310;
export const EXIT_PRIORITY_BYPASS_END = 5315;
export const EXIT_PRIORITY_LAN = 5320;
export const EXIT_PRIORITY_TABLE = 5330;
/** Every priority we use, for cleanup. */
export const EXIT_PRIORITIES: readonly number[] = [EXIT_PRIORITY_BYPASS, EXIT_PRIORITY_BYPASS_END, EXIT_PRIORITY_LAN, EXIT_PRIORITY_TABLE];

export type Family = 4 | 6;

/** One `ip -4|-6 rule add` (args after `add`). */
export interface RulePlan {
  family: Family;
  args: string[];
}

/** The one route of our table for a family: via the TUN device, unreachable, or none. */
export type TableRoute = { kind: 'device'; device: string } | { kind: 'unreachable' } | { kind: 'none' };

export interface ExitRulesInput {
  /** The UDP socket's bound port, or null (no UDP paths). */
  udpPort: number | null;
  /** The direct-path (WSS) listener's bound port, or null. */
  p2pPort: number | null;
  /** The relays' addresses (IP text, resolved). */
  relayAddresses: readonly string[];
  allowLan: boolean;
}

/** The rules, in the order they are added, for both families. */
export function planExitRules(input: ExitRulesInput): RulePlan[] {
  const out: RulePlan[] = [];
  for (const family of [4, 6] as const) {
    const prio = (p: number): string[] => ['priority', String(p)];
    const selectors: string[][] = [];
    if (input.udpPort !== null) selectors.push(['ipproto', 'udp', 'sport', String(input.udpPort)]);
    if (input.p2pPort !== null) selectors.push(['ipproto', 'tcp', 'sport', String(input.p2pPort)]);
    for (const a of [...new Set(input.relayAddresses)]) {
      if (isIP(a) === family) selectors.push(['to', `${a}/${family === 4 ? 32 : 128}`]);
    }
    for (const sel of selectors) out.push({ family, args: [...prio(EXIT_PRIORITY_BYPASS), ...sel, 'lookup', 'main'] });
    for (const sel of selectors) out.push({ family, args: [...prio(EXIT_PRIORITY_BYPASS_END), ...sel, 'unreachable'] });
    if (input.allowLan) out.push({ family, args: [...prio(EXIT_PRIORITY_LAN), 'lookup', 'main', 'suppress_prefixlength', '0'] });
    out.push({ family, args: [...prio(EXIT_PRIORITY_TABLE), 'lookup', String(EXIT_ROUTE_TABLE)] });
  }
  return out;
}

export interface ExitTableInput {
  device: string;
  /** The exit node is listed and its certificate carries the exit mark. */
  usable: boolean;
  fallback: boolean;
  /** We hold an IPv6 mesh address (an IPv6 default route through the tunnel can carry our packets). */
  ipv6: boolean;
}

/** The route of our table for `family` in this state. */
export function planExitTable(input: ExitTableInput, family: Family): TableRoute {
  const canCarry = input.usable && (family === 4 || input.ipv6);
  if (canCarry) return { kind: 'device', device: input.device };
  return input.fallback ? { kind: 'none' } : { kind: 'unreachable' };
}

/** The `ip route` arguments (after `replace`) of a mesh route (a prefix on the TUN device) in our table. */
export function meshRouteArgs(prefix: string, device: string): string[] {
  return [prefix, 'dev', device, 'table', String(EXIT_ROUTE_TABLE)];
}

/** The `ip route` arguments (after `replace`) of a table route, or null for none. */
export function tableRouteArgs(route: TableRoute): string[] | null {
  if (route.kind === 'none') return null;
  const head = route.kind === 'device' ? ['default', 'dev', route.device] : ['unreachable', 'default'];
  return [...head, 'table', String(EXIT_ROUTE_TABLE)];
}
