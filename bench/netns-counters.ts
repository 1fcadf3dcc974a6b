/**
 * Kernel counters of one network namespace for the benchmarks: what the
 * stack saw during a run (UDP datagrams dropped for a full receive buffer,
 * IP fragments created, the packets an interface carried), read through the
 * lab's `exec` because /proc/net/snmp and an interface's statistics are per
 * namespace. Every reader gives NaN when the counter cannot be read.
 */

/** The part of a lab these need: a command run in a node's namespace. */
export interface NamespaceExec {
  exec(node: string, argv: readonly string[]): Promise<{ stdout: string }>;
}

/** A counter of /proc/net/snmp in a node's namespace, e.g. ('Udp', 'RcvbufErrors'). */
export async function snmpCounter(lab: NamespaceExec, node: string, group: string, field: string): Promise<number> {
  const r = await lab.exec(node, ['cat', '/proc/net/snmp']);
  const lines = r.stdout.split('\n').filter((l) => l.startsWith(`${group}:`));
  if (lines.length < 2) return Number.NaN;
  const names = lines[0]!.split(/\s+/);
  const i = names.indexOf(field);
  return i < 0 ? Number.NaN : Number(lines[1]!.split(/\s+/)[i]);
}

/** Packets and bytes an interface transmitted (for a TUN/TAP device: what the kernel handed to the process reading it). */
export async function txCounters(lab: NamespaceExec, node: string, ifname: string): Promise<{ packets: number; bytes: number }> {
  const r = await lab.exec(node, ['cat', `/sys/class/net/${ifname}/statistics/tx_packets`, `/sys/class/net/${ifname}/statistics/tx_bytes`]);
  const [p, b] = r.stdout.trim().split('\n').map(Number);
  return { packets: p ?? Number.NaN, bytes: b ?? Number.NaN };
}

/** Every UDP socket of a namespace with its receive buffer and drop count (`ss -uamn` skmem rb and d). */
export async function udpSockets(lab: NamespaceExec, node: string): Promise<Array<{ local: string; rcvbuf: number; drops: number }>> {
  const r = await lab.exec(node, ['ss', '-Huamn']);
  const out: Array<{ local: string; rcvbuf: number; drops: number }> = [];
  let local = '';
  for (const line of r.stdout.split('\n')) {
    const skmem = /skmem:\(([^)]*)\)/.exec(line);
    if (skmem === null) {
      const cols = line.trim().split(/\s+/);
      if (cols.length >= 4) local = cols[3] ?? '';
      continue;
    }
    const field = (k: string): number => Number(new RegExp(`(?:^|,)${k}(\\d+)`).exec(skmem[1] ?? '')?.[1] ?? Number.NaN);
    out.push({ local, rcvbuf: field('rb'), drops: field('d') });
  }
  return out;
}
