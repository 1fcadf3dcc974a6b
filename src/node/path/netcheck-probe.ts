/**
 * What `shadowmesh netcheck` and the daemon's `netcheck` control method
 * measure (issue 16; what Tailscale's netcheck reports), with no root and
 * nothing of a running node (the daemon runs it beside its own transport,
 * netcheck-runner.ts): from ONE fresh UDP socket it asks
 * every STUN server for the socket's reflexive address (src/stun, RFC 8489
 * Binding, the client the node's UDP transport uses), classifies the NAT's
 * mapping from those answers exactly as the node does
 * (src/stun/nat-mapping.ts; src/node/path/udp-reflexive.ts), and probes each
 * relay as the node's relay set does: a TLS 1.3 handshake whose key must
 * match the relay's pin set (src/node/path/relay-probe.ts), its duration
 * being the relay's latency.
 *
 * Filtering behaviour (RFC 4787 §5) needs a STUN server that answers from
 * another address or port on request (RFC 5780 CHANGE-REQUEST); the relay's
 * responder never does (it answers only from where it was asked, so it can
 * never be turned against a third party), so the report says `unknown` and
 * why rather than guess.
 *
 * Never throws for what the network does: an unreachable server or relay,
 * a name that does not resolve, a key that matches no pin, each is a result
 * with its SM_ERR_* code. Everything is bounded by `timeoutMs`; the socket
 * is closed before the promise settles.
 */
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { listenAddresses } from './rendezvous/listen-addresses.js';
import { parseRelayUrl } from './relay-link.js';
import { probeRelay } from './relay-probe.js';
import { classifyMapping, type NatAnswer, type NatMapping } from '../../stun/nat-mapping.js';
import { StunClient } from '../../stun/stun-client.js';
import { StunCode } from '../../stun/stun-errors.js';
import type { StunAddress } from '../../stun/stun-message.js';
import { systemClock, type Clock } from '../../util/clock.js';
import { canonicalIpText, formatHostPort } from '../../wire/ip-address.js';

/** A STUN server as configured: an IP address or a host name, and a UDP port. */
export interface NetcheckStunServer {
  host: string;
  port: number;
}

/** A relay as configured: its URL and the pins its TLS key must match. */
export interface NetcheckRelay {
  url: string;
  pins: readonly string[];
}

export type StunResult =
  | { server: string; ok: true; reflexive: string; address: string; port: number; rttMs: number }
  | { server: string; ok: false; code: string; message: string };

export type RelayResult = { url: string; ok: true; latencyMs: number } | { url: string; ok: false; code: string; message: string };

export interface NetcheckReport {
  /** Some STUN server answered over UDP. */
  udp: boolean;
  /** The local UDP port the questions were asked from (0 when no STUN server was asked). */
  localPort: number;
  stun: StunResult[];
  /** The distinct reflexive address:port pairs the servers reported, in answer order. */
  reflexive: string[];
  /** docs: src/stun/nat-mapping.ts; 'unknown' with fewer than two answering servers behind a NAT. */
  mapping: NatMapping;
  filtering: 'unknown';
  filteringNote: string;
  relays: RelayResult[];
  /** The relay with the lowest latency, null when none answered. */
  preferredRelay: string | null;
}

/** 'relay' STUN (docs/protocol.md §5): every relay answers STUN on UDP at its WSS host and port number. */
export function relayStunServers(relays: readonly NetcheckRelay[]): NetcheckStunServer[] {
  return relays.map((r) => {
    const { host, port } = parseRelayUrl(r.url);
    return { host, port };
  });
}

export const FILTERING_NOTE = 'needs a STUN server that answers from another address on request (RFC 5780); relays answer only from where they are asked';

interface Resolved {
  label: string;
  server: StunAddress | null;
  error?: string;
}

async function resolveServer(s: NetcheckStunServer): Promise<Resolved> {
  const label = formatHostPort(s.host, s.port);
  if (isIP(s.host) !== 0) return { label, server: { address: canonicalIpText(s.host) ?? s.host, port: s.port } };
  try {
    const { address } = await lookup(s.host);
    return { label, server: { address: canonicalIpText(address) ?? address, port: s.port } };
  } catch (err) {
    return { label, server: null, error: `cannot resolve ${s.host}: ${(err as Error).message}` };
  }
}

function bind(dualStack: boolean): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket({ type: dualStack ? 'udp6' : 'udp4', ipv6Only: false });
    socket.once('error', reject);
    socket.bind(0, dualStack ? '::' : '0.0.0.0', () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

/** Ask every STUN server from one socket; the answers and the socket's port. */
async function askStun(servers: readonly NetcheckStunServer[], timeoutMs: number, clock: Clock): Promise<{ results: StunResult[]; answers: NatAnswer[]; localPort: number; local: StunAddress[] }> {
  const resolved = await Promise.all(servers.map(resolveServer));
  const dualStack = resolved.some((r) => r.server !== null && isIP(r.server.address) === 6);
  const socket = await bind(dualStack);
  const localPort = socket.address().port;
  // Send IPv4 servers in their IPv4-mapped form on a dual-stack socket (as the node's transport does).
  const target = (address: string): string => (dualStack && isIP(address) === 4 ? `::ffff:${address}` : address);
  const client = new StunClient({ send: (bytes, port, address) => socket.send(bytes, port, target(address)), clock }, { timeoutMs });
  socket.on('message', (bytes, rinfo) => { client.onMessage(bytes, { address: rinfo.address, port: rinfo.port }); });
  // An ICMP error on an unconnected socket is reported asynchronously; the transaction's timeout covers it.
  socket.on('error', () => undefined);
  const answers: NatAnswer[] = [];
  try {
    const results = await Promise.all(resolved.map(async (r): Promise<StunResult> => {
      if (r.server === null) return { server: r.label, ok: false, code: StunCode.BadServer, message: r.error ?? 'not an address' };
      const started = clock.now();
      try {
        const mapped = await client.binding(r.server);
        const address = canonicalIpText(mapped.address) ?? mapped.address;
        answers.push({ server: r.server, mapped: { address, port: mapped.port } });
        return { server: r.label, ok: true, reflexive: formatHostPort(address, mapped.port), address, port: mapped.port, rttMs: clock.now() - started };
      } catch (err) {
        return { server: r.label, ok: false, code: String((err as { code?: unknown }).code ?? StunCode.Timeout), message: (err as Error).message };
      }
    }));
    const local = listenAddresses(dualStack ? '::' : '0.0.0.0', dualStack).map((a) => ({ address: canonicalIpText(a) ?? a, port: localPort }));
    return { results, answers, localPort, local };
  } finally {
    client.close();
    socket.close();
  }
}

/** Measure everything at once; each question is bounded by `timeoutMs`. */
export async function runNetcheck(
  targets: { stun: readonly NetcheckStunServer[]; relays: readonly NetcheckRelay[] },
  options: { timeoutMs: number; clock?: Clock },
): Promise<NetcheckReport> {
  const clock = options.clock ?? systemClock;
  const [stun, relays] = await Promise.all([
    targets.stun.length === 0 ? Promise.resolve(null) : askStun(targets.stun, options.timeoutMs, clock),
    Promise.all(targets.relays.map(async (r): Promise<RelayResult> => {
      const p = await probeRelay({ clock }, { url: r.url, pins: r.pins }, options.timeoutMs);
      return p.ok ? { url: r.url, ok: true, latencyMs: p.rttMs } : { url: r.url, ok: false, code: p.code, message: p.message };
    })),
  ]);
  const reflexive: string[] = [];
  for (const a of stun?.answers ?? []) {
    const k = formatHostPort(a.mapped.address, a.mapped.port);
    if (!reflexive.includes(k)) reflexive.push(k);
  }
  let preferred: { url: string; latencyMs: number } | null = null;
  for (const r of relays) if (r.ok && (preferred === null || r.latencyMs < preferred.latencyMs)) preferred = r;
  return {
    udp: (stun?.answers.length ?? 0) > 0,
    localPort: stun?.localPort ?? 0,
    stun: stun?.results ?? [],
    reflexive,
    mapping: stun === null ? 'unknown' : classifyMapping(stun.local, stun.answers),
    filtering: 'unknown',
    filteringNote: FILTERING_NOTE,
    relays,
    preferredRelay: preferred?.url ?? null,
  };
}
