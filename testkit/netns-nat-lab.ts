/**
 * A NAT lab in network namespaces (issue 5 "What must be shown"): an
 * "internet" with two servers, two home routers doing iptables NAT, and one
 * node behind each router. Built on the plain lab (src/demo/netns-lab.ts),
 * whose bridge namespace becomes the internet's switch; the NAT lab keeps its
 * exec/check/spawn/teardown semantics, so startLabRelay(lab, 'inet', ...) and
 * startLabDaemon(lab, 'a', ...) (testkit/netns-shadowmesh.ts) work
 * unchanged.
 *
 *     sm-<id>-br    bridge br0: the internet's switch (198.51.100.0/24, TEST-NET-2)
 *     sm-<id>-inet  eth0 198.51.100.1 (relayIp) and 198.51.100.2 (relayIp2)
 *     sm-<id>-r1    eth0 (WAN) 198.51.100.11   lan0 10.201.1.1/24
 *     sm-<id>-r2    eth0 (WAN) 198.51.100.12   lan0 10.202.1.1/24
 *     sm-<id>-a     eth0 10.201.1.2/24, default via 10.201.1.1
 *     sm-<id>-b     eth0 10.202.1.2/24, default via 10.202.1.1
 *
 * NAT variants, per side (RFC 4787 terms), all UDP behaviour being Linux
 * conntrack's:
 *  - 'none': no NAT, no firewall; the node's LAN is routed from inet and the
 *    other router (the control case).
 *  - 'full-cone': endpoint-independent mapping and filtering. MASQUERADE keeps
 *    the node's source port whenever it is free (one node per router, so it
 *    always is), and inbound UDP to the WAN on `udpPorts` is DNATed to the
 *    node, port unchanged. Since a full cone forwards to whatever mapping
 *    exists and the mapping's port equals the node's port, this is an honest
 *    model as long as nodes bind inside `udpPorts`; a node bound outside it
 *    sees port-restricted filtering.
 *  - 'port-restricted': endpoint-independent mapping, address-and-port-
 *    dependent filtering: plain MASQUERADE; only datagrams matching a
 *    conntrack entry come in.
 *  - 'symmetric': endpoint-dependent mapping: MASQUERADE --random-fully
 *    picks a fresh random port for every new destination; conntrack
 *    filtering as above.
 * Every NAT variant also runs a home-router firewall on its WAN: inbound
 * packets not belonging to a known flow (or a full-cone DNAT) are dropped
 * silently, in INPUT as in FORWARD. Dropping matters beyond realism: a
 * dropped packet's conntrack entry is never confirmed, so a hole-punch
 * probe that arrives before the local side has sent leaves nothing behind
 * that would clash with (and move) the mapping the local side creates next.
 * The LANs are routed nowhere else: a cannot reach b's LAN address (unless b
 * is 'none', whose LAN is public by definition).
 *
 * What callers must know:
 *  - Node names are 'inet', 'r1', 'r2', 'a', 'b' (plus 'br' for the switch in
 *    exec/check). ip('inet') is relayIp, ip('a'/'b') the LAN address,
 *    ip('r1'/'r2') the WAN address; wanIp('a') is r1's WAN address.
 *  - cut(x, y) drops traffic between x and y's public address (the WAN
 *    address for a node behind NAT), at x and at y. loss()/rateLimit() act on
 *    the node's eth0, as in the plain lab.
 *  - flushConntrack(side) forgets every mapping of that router at once (as
 *    if they had all expired). MASQUERADE keeps the node's port, so a new
 *    mapping usually looks like the old one; setMappingPortRange(side, range)
 *    first makes new mappings land in `range`, so the change is visible.
 *  - Needs root, iproute2, iptables and conntrack. Teardown is the plain
 *    lab's: idempotent, also on exit and SIGINT/SIGTERM, removes only this
 *    lab's namespaces.
 */
import { createNetnsLab, type LabNode, type NetnsLab } from '../src/demo/netns-lab.js';

export type NatKind = 'none' | 'full-cone' | 'port-restricted' | 'symmetric';
export const NAT_KINDS: readonly NatKind[] = Object.freeze(['none', 'full-cone', 'port-restricted', 'symmetric'] as const);

export type NatSide = 'a' | 'b';

/** The internet: TEST-NET-2 (RFC 5737), documentation-only, routed nowhere. */
export const NAT_INET_PREFIX = '198.51.100.';
export const NAT_INET_PREFIX_LEN = 24;
export const NAT_RELAY_IP = '198.51.100.1';
/** A second server address in the inet namespace (a second STUN server). */
export const NAT_RELAY_IP2 = '198.51.100.2';
const WAN_IP: Readonly<Record<NatSide, string>> = { a: '198.51.100.11', b: '198.51.100.12' };
/** The LANs: private ranges reachable only through their own router. */
const LAN_SUBNET: Readonly<Record<NatSide, string>> = { a: '10.201.1.0/24', b: '10.202.1.0/24' };
const LAN_ROUTER_IP: Readonly<Record<NatSide, string>> = { a: '10.201.1.1', b: '10.202.1.1' };
const LAN_NODE_IP: Readonly<Record<NatSide, string>> = { a: '10.201.1.2', b: '10.202.1.2' };
const LAN_PREFIX_LEN = 24;
const ROUTER: Readonly<Record<NatSide, string>> = { a: 'r1', b: 'r2' };
/**
 * UDP ports a full-cone router forwards unsolicited to its node by default:
 * below Linux's ephemeral range (32768-60999), so a port the OS picks never
 * lands here by accident; nodes bind ports in this range explicitly.
 */
export const DEFAULT_NAT_UDP_PORTS: readonly [number, number] = [20_000, 20_999];
/** Each router's WAN and LAN interface names. */
const WAN_IF = 'eth0';
const LAN_IF = 'lan0';
/** iptables waits this long (s) for the xtables lock instead of failing at once. */
const XT_LOCK_WAIT_S = '5';
/** One setup command (ip/iptables/sysctl) answers at once; generous for a loaded machine. */
const SETUP_TIMEOUT_MS = 20_000;

export interface NatLab extends NetnsLab {
  readonly kinds: { a: NatKind; b: NatKind };
  readonly relayIp: string;
  readonly relayIp2: string;
  /** UDP ports a full-cone router forwards to its node. */
  readonly udpPorts: readonly [number, number];
  /** The router's WAN address on that side. */
  wanIp(side: NatSide): string;
  /** The address the side's node has on the internet: its LAN address for 'none', else the WAN address. */
  publicIp(side: NatSide): string;
  /** `conntrack -F` in that side's router: every mapping expires now. */
  flushConntrack(side: NatSide): Promise<void>;
  /** New UDP mappings of that side take ports from `range` (MASQUERADE --to-ports); null restores the variant's default. */
  setMappingPortRange(side: NatSide, range: [number, number] | null): Promise<void>;
}

export interface CreateNatLabOptions {
  a: NatKind;
  b: NatKind;
  /** Ports the nodes will bind; a full-cone router forwards these to its node. Default DEFAULT_NAT_UDP_PORTS. */
  udpPorts?: [number, number];
}

function checkPortRange(what: string, r: readonly [number, number]): void {
  const [lo, hi] = r;
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi > 65_535 || lo > hi) {
    throw new Error(`nat lab: ${what}: expected [lo, hi] with 1 <= lo <= hi <= 65535, got [${lo}, ${hi}]`);
  }
}

/** The MASQUERADE rules (nat POSTROUTING) of a NAT variant, optionally with UDP mappings confined to `range`. */
function masqueradeRules(kind: NatKind, range: readonly [number, number] | null): string[][] {
  if (kind === 'none') return [];
  const base = ['-o', WAN_IF, '-j', 'MASQUERADE', ...(kind === 'symmetric' ? ['--random-fully'] : [])];
  const rules: string[][] = [];
  // --to-ports needs a protocol match; everything else keeps the default rule.
  if (range !== null) rules.push(['-p', 'udp', ...base, '--to-ports', `${range[0]}-${range[1]}`]);
  rules.push(base);
  return rules;
}

export async function createNatLab(options: CreateNatLabOptions): Promise<NatLab> {
  const kinds = { a: options.a, b: options.b };
  for (const side of ['a', 'b'] as const) {
    if (!NAT_KINDS.includes(kinds[side])) throw new Error(`nat lab: ${side}: expected one of ${NAT_KINDS.join(', ')}, got ${JSON.stringify(kinds[side])}`);
  }
  const udpPorts: readonly [number, number] = options.udpPorts ?? DEFAULT_NAT_UDP_PORTS;
  checkPortRange('udpPorts', udpPorts);

  const base = await createNetnsLab({ nodes: ['inet', 'r1', 'r2', 'a', 'b'] });
  const ipOf: Readonly<Record<string, string>> = { inet: NAT_RELAY_IP, r1: WAN_IP.a, r2: WAN_IP.b, a: LAN_NODE_IP.a, b: LAN_NODE_IP.b };
  const nodes: LabNode[] = base.nodes.map((n) => ({ name: n.name, ns: n.ns, ifname: n.ifname, ip: ipOf[n.name] ?? n.ip }));
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const node = (name: string): LabNode => {
    const n = byName.get(name);
    if (n === undefined) throw new Error(`nat lab ${base.id}: no node named ${JSON.stringify(name)}`);
    return n;
  };
  const run = (name: string, argv: string[]): Promise<unknown> => base.check(name, argv, { timeoutMs: SETUP_TIMEOUT_MS });
  const ipt = (name: string, args: string[]): Promise<unknown> => run(name, ['iptables', '-w', XT_LOCK_WAIT_S, ...args]);
  const publicIp = (side: NatSide): string => (kinds[side] === 'none' ? LAN_NODE_IP[side] : WAN_IP[side]);
  /** The public address of any node name, for cut(). */
  const publicOf = (name: string): string => (name === 'a' || name === 'b' ? publicIp(name) : node(name).ip);

  const lab: NatLab = {
    id: base.id,
    nodes,
    bridgeNs: base.bridgeNs,
    node,
    ip: (name) => node(name).ip,
    exec: (name, argv, opts) => base.exec(name, argv, opts),
    check: (name, argv, opts) => base.check(name, argv, opts),
    spawn: (name, argv, opts) => base.spawn(name, argv, opts),
    async cut(x, y) {
      const rules: Array<[string, string[]]> = [
        [x, ['INPUT', '-s', publicOf(y), '-j', 'DROP']],
        [x, ['OUTPUT', '-d', publicOf(y), '-j', 'DROP']],
        [y, ['INPUT', '-s', publicOf(x), '-j', 'DROP']],
        [y, ['OUTPUT', '-d', publicOf(x), '-j', 'DROP']],
      ];
      for (const [n, rule] of rules) await ipt(n, ['-I', ...rule]);
      return async () => {
        for (const [n, rule] of rules) await base.exec(n, ['iptables', '-w', XT_LOCK_WAIT_S, '-D', ...rule]);
      };
    },
    loss: (name, fraction) => base.loss(name, fraction),
    rateLimit: (name, mbit) => base.rateLimit(name, mbit),
    onTeardown: (fn) => base.onTeardown(fn),
    teardown: () => base.teardown(),
    teardownSync: () => base.teardownSync(),
    kinds,
    relayIp: NAT_RELAY_IP,
    relayIp2: NAT_RELAY_IP2,
    udpPorts,
    wanIp: (side) => WAN_IP[side],
    publicIp,
    async flushConntrack(side) {
      // conntrack exits 0 and reports the flush on stderr; an empty table is fine too.
      await run(ROUTER[side], ['conntrack', '-F']);
    },
    async setMappingPortRange(side, range) {
      if (kinds[side] === 'none') throw new Error(`nat lab ${base.id}: side ${side} has no NAT, so no mapping range`);
      if (range !== null) checkPortRange('mapping range', range);
      const r = ROUTER[side];
      await ipt(r, ['-t', 'nat', '-F', 'POSTROUTING']);
      for (const rule of masqueradeRules(kinds[side], range)) await ipt(r, ['-t', 'nat', '-A', 'POSTROUTING', ...rule]);
    },
  };

  try {
    // The internet: re-address the plain lab's bridge nodes; a and b leave the bridge.
    for (const name of ['inet', 'r1', 'r2']) await run(name, ['ip', 'addr', 'flush', 'dev', 'eth0']);
    await run('inet', ['ip', 'addr', 'add', `${NAT_RELAY_IP}/${NAT_INET_PREFIX_LEN}`, 'dev', 'eth0']);
    await run('inet', ['ip', 'addr', 'add', `${NAT_RELAY_IP2}/${NAT_INET_PREFIX_LEN}`, 'dev', 'eth0']);
    for (const side of ['a', 'b'] as const) {
      const r = ROUTER[side];
      await run(r, ['ip', 'addr', 'add', `${WAN_IP[side]}/${NAT_INET_PREFIX_LEN}`, 'dev', WAN_IF]);
      // Deleting the bridge port removes its veth peer (the node's eth0) too.
      await run('br', ['ip', 'link', 'del', `p-${side}`]);
      // The LAN veth is born in the router; its peer moves to the node and becomes eth0.
      const tmp = `v-${side}`;
      await run(r, ['ip', 'link', 'add', LAN_IF, 'type', 'veth', 'peer', 'name', tmp]);
      await run(r, ['ip', 'link', 'set', tmp, 'netns', node(side).ns]);
      await run(side, ['ip', 'link', 'set', tmp, 'name', 'eth0']);
      await run(r, ['ip', 'addr', 'add', `${LAN_ROUTER_IP[side]}/${LAN_PREFIX_LEN}`, 'dev', LAN_IF]);
      await run(r, ['ip', 'link', 'set', LAN_IF, 'up']);
      await run(side, ['ip', 'addr', 'add', `${LAN_NODE_IP[side]}/${LAN_PREFIX_LEN}`, 'dev', 'eth0']);
      await run(side, ['ip', 'link', 'set', 'eth0', 'up']);
      await run(side, ['ip', 'route', 'add', 'default', 'via', LAN_ROUTER_IP[side]]);
      await run(r, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    }
    for (const side of ['a', 'b'] as const) {
      const r = ROUTER[side];
      const kind = kinds[side];
      if (kind === 'none') {
        // A public LAN: everyone on the internet (including the other router) routes it via this router.
        const others = ['inet', ROUTER[side === 'a' ? 'b' : 'a']];
        for (const o of others) await run(o, ['ip', 'route', 'add', LAN_SUBNET[side], 'via', WAN_IP[side]]);
        continue;
      }
      for (const rule of masqueradeRules(kind, null)) await ipt(r, ['-t', 'nat', '-A', 'POSTROUTING', ...rule]);
      if (kind === 'full-cone') {
        await ipt(r, ['-t', 'nat', '-A', 'PREROUTING', '-i', WAN_IF, '-p', 'udp', '--dport', `${udpPorts[0]}:${udpPorts[1]}`, '-j', 'DNAT', '--to-destination', LAN_NODE_IP[side]]);
      }
      // The home-router firewall: only known flows (and full-cone DNATs) come in from the WAN.
      await ipt(r, ['-A', 'INPUT', '-i', WAN_IF, '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT']);
      await ipt(r, ['-A', 'INPUT', '-i', WAN_IF, '-j', 'DROP']);
      await ipt(r, ['-A', 'FORWARD', '-i', WAN_IF, '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED,DNAT', '-j', 'ACCEPT']);
      await ipt(r, ['-A', 'FORWARD', '-i', WAN_IF, '-j', 'DROP']);
    }
  } catch (err) {
    await base.teardown();
    throw err;
  }
  return lab;
}
