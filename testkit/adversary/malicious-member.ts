/**
 * A malicious member for adversary tests (docs/threat-model.md "Malicious
 * member"): a real, admitted member of the mesh whose real TAP device in its
 * lab namespace (src/demo/netns-lab.ts) is turned against another member,
 * with the kernel and iputils doing the sending, so what reaches the daemon
 * is what any root user on that member could produce. Plus bounded UDP
 * counters and senders, to count what arrives at each end.
 *
 * API (every call runs inside the member's namespace; nothing touches the host):
 *
 *   const mallory = new MaliciousMember(lab, 'm', 'smtap0');
 *   await mallory.setMac('02:aa:…');                 // take the victim's MAC (ip link set address)
 *   await mallory.claimAddress('10.10.10.3');        // add the victim's IPv4 as /32 (no DAD, no route change)
 *   await mallory.announce('10.10.10.3', 'request'); // gratuitous ARP (arping -U); 'reply' = unsolicited reply (-A)
 *   const garp = mallory.keepAnnouncing('10.10.10.3', 3_000); // arping in the background, one a second, bounded
 *   await mallory.sendUdp({ to, port, count, from: '10.10.10.3' }); // spoofed-source datagrams
 *
 *   const rx = await startUdpCounter(lab, 'a', 7_100);  // counts datagrams to any address of the node, port 7_100
 *   rx.count();                                        // datagrams so far (parsed from its output)
 *   await sendUdp(lab, 'b', { to, port, count });      // COUNT datagrams, paced, from the default source
 *
 * What callers must know: the gratuitous ARP needs `arping` (iputils-arping);
 * every process is spawned through the lab, so its teardown ends it by pid.
 * Counters keep one output line per datagram, bounded by the senders' counts
 * (MAX_UDP_DATAGRAMS) and the lab's output bound.
 */
import type { LabProcess, NetnsLab } from '../../src/demo/netns-lab.js';

/** Upper bound on one sendUdp() call: the tests count datagrams one line each. */
export const MAX_UDP_DATAGRAMS = 10_000;
/** Gap between datagrams: paced so that a queue or an ARP resolution in flight drops nothing on a healthy lab. */
export const UDP_PACE_MS = 10;
/** One arping run: two announcements, as a host sends when it takes an address (RFC 5227 §2.3). */
export const ARP_ANNOUNCEMENTS = 2;
/** arping's interval between announcements: iputils arping takes whole seconds only. */
const ARP_INTERVAL_S = 1;
/** A counter listener is bound within this on a loaded machine. */
const LISTEN_TIMEOUT_MS = 10_000;

/** Listener: binds 0.0.0.0:PORT, prints `listening`, then `rx N` per datagram. */
const UDP_COUNTER_JS = `
const s = require('node:dgram').createSocket('udp4'); let n = 0;
s.on('message', () => { n++; console.log('rx ' + n); });
s.on('error', (e) => { console.error(e.message); process.exit(2); });
s.bind(Number(process.argv[1]), '0.0.0.0', () => console.log('listening'));`;

/** Sender `to port count paceMs [from]`: COUNT numbered datagrams, then `sent COUNT`. */
const UDP_SENDER_JS = `
const [to, port, count, pace, from] = process.argv.slice(1);
const s = require('node:dgram').createSocket('udp4'); let i = 0;
s.on('error', (e) => { console.error(e.message); process.exit(2); });
const next = () => {
  if (i === Number(count)) return void s.close(() => console.log('sent ' + i));
  const b = Buffer.alloc(32); b.writeUInt32BE(i++, 0);
  s.send(b, Number(port), to, (err) => { if (err) { console.error(err.message); process.exit(2); } setTimeout(next, Number(pace)); });
};
if (from) s.bind(0, from, next); else next();`;

export interface UdpCounter {
  readonly proc: LabProcess;
  /** Datagrams received so far. */
  count(): number;
  stop(): Promise<number | string>;
}

/** Start a UDP listener on `port` (all addresses) in `node`; resolves once it is bound. */
export async function startUdpCounter(lab: NetnsLab, node: string, port: number): Promise<UdpCounter> {
  const proc = lab.spawn(node, [process.execPath, '-e', UDP_COUNTER_JS, String(port)], { label: `${node}:udp-counter` });
  await proc.waitForLine(/^listening$/, LISTEN_TIMEOUT_MS);
  return {
    proc,
    count: () => proc.stdout().split('\n').filter((l) => l.startsWith('rx ')).length,
    stop: () => proc.stop(),
  };
}

export interface UdpSendOptions {
  to: string;
  port: number;
  count: number;
  /** Source address to bind (it must be on one of the node's interfaces); default: the kernel's choice. */
  from?: string;
  paceMs?: number;
}

/** Send `count` paced datagrams from `node`; resolves with how many were handed to the kernel. */
export async function sendUdp(lab: NetnsLab, node: string, o: UdpSendOptions): Promise<number> {
  if (!Number.isInteger(o.count) || o.count < 0 || o.count > MAX_UDP_DATAGRAMS) throw new RangeError(`sendUdp count: expected 0..${MAX_UDP_DATAGRAMS}, got ${o.count}`);
  const pace = o.paceMs ?? UDP_PACE_MS;
  const argv = [process.execPath, '-e', UDP_SENDER_JS, o.to, String(o.port), String(o.count), String(pace), ...(o.from !== undefined ? [o.from] : [])];
  const r = await lab.check(node, argv, { timeoutMs: 30_000 + o.count * pace });
  const m = /^sent (\d+)$/m.exec(r.stdout);
  if (m === null) throw new Error(`sendUdp on ${node}: unexpected output ${JSON.stringify(r.stdout)}`);
  return Number(m[1]);
}

/** Wait until `cond` holds or `timeoutMs` passes; returns whether it held. */
export async function waitFor(cond: () => boolean, timeoutMs: number, pollMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  return true;
}

/** A lab member's TAP device, in the hands of its (malicious) owner. */
export class MaliciousMember {
  constructor(readonly lab: NetnsLab, readonly node: string, readonly ifname: string) {}

  /** The device's current MAC, lowercase. */
  async mac(): Promise<string> {
    const r = await this.lab.check(this.node, ['ip', '-j', 'link', 'show', 'dev', this.ifname]);
    const mac = (JSON.parse(r.stdout) as Array<{ address?: string }>)[0]?.address;
    if (mac === undefined) throw new Error(`${this.node}: ${this.ifname} has no MAC`);
    return mac.toLowerCase();
  }

  /** Give the device another MAC (e.g. the victim's); frames it sends from now on carry it. */
  async setMac(mac: string): Promise<void> {
    await this.lab.check(this.node, ['ip', 'link', 'set', 'dev', this.ifname, 'address', mac]);
  }

  /** Add `ip` (e.g. the victim's address) to the device as a /32, so the kernel answers ARP for it and accepts datagrams to it. */
  async claimAddress(ip: string): Promise<void> {
    await this.lab.check(this.node, ['ip', 'addr', 'add', `${ip}/32`, 'dev', this.ifname]);
  }

  /** ARP_ANNOUNCEMENTS gratuitous ARPs for `ip` (which must be on the device): 'request' (arping -U) or unsolicited 'reply' (-A). */
  async announce(ip: string, kind: 'request' | 'reply' = 'request'): Promise<void> {
    await this.lab.check(this.node, this.#arping(ip, kind, ARP_ANNOUNCEMENTS), { timeoutMs: 15_000 });
  }

  /** Keep announcing `ip` in the background for about `ms` (bounded count); the returned process ends by itself and with the lab. */
  keepAnnouncing(ip: string, ms: number, kind: 'request' | 'reply' = 'request'): LabProcess {
    const count = Math.max(1, Math.ceil(ms / 1000 / ARP_INTERVAL_S));
    return this.lab.spawn(this.node, this.#arping(ip, kind, count), { label: `${this.node}:arping` });
  }

  /** Datagrams from this member, e.g. with `from` set to a claimed address (a spoofed source). */
  sendUdp(o: UdpSendOptions): Promise<number> {
    return sendUdp(this.lab, this.node, o);
  }

  #arping(ip: string, kind: 'request' | 'reply', count: number): string[] {
    return ['arping', '-q', kind === 'request' ? '-U' : '-A', '-c', String(count), '-i', String(ARP_INTERVAL_S), '-I', this.ifname, '-s', ip, ip];
  }
}
