/**
 * Latency and throughput measurements between two nodes of a netns lab
 * (src/demo/netns-lab.ts), shared by the data-plane tests and the
 * throughput benchmark: ping RTT (average and p99 from per-reply times) and
 * iperf3 TCP (single or parallel streams, both ends' JSON reports).
 *
 * The parsers are pure and exported for unit tests. The measuring functions
 * start their own iperf3 server (one test, `-1`) in the target namespace,
 * tracked by the lab, and never leave it running.
 */
import type { NetnsLab } from '../src/demo/netns-lab.js';

/** Default ping sample: 200 echoes 10 ms apart (2 s), enough for a p99 that is not the maximum. */
export const DEFAULT_PING_COUNT = 200;
export const DEFAULT_PING_INTERVAL_S = 0.01;
/** A reply later than this counts as lost. */
export const PING_WAIT_S = 2;
/** iperf3's default port; each lab has its own namespaces, so it never collides. */
export const IPERF3_PORT = 5201;
/** How long to wait for the iperf3 server to listen before giving up. */
export const IPERF3_LISTEN_TIMEOUT_MS = 5_000;
/** Slack on top of the test duration for connect, results exchange and teardown. */
const IPERF3_SLACK_MS = 20_000;
const POLL_MS = 50;

export interface PingStats {
  transmitted: number;
  received: number;
  /** Per-reply round-trip times in ms, in arrival order. */
  rttsMs: number[];
  avgMs: number;
  p99Ms: number;
}

/** The q-quantile (0..1) of values by the nearest-rank method; NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] as number;
}

/** Parse iputils ping output: every `time=X ms` reply plus the transmitted/received summary. */
export function parsePing(text: string): PingStats {
  const rttsMs: number[] = [];
  for (const m of text.matchAll(/ time=([0-9.]+) ms/g)) rttsMs.push(Number(m[1]));
  const summary = /(\d+) packets transmitted, (\d+) received/.exec(text);
  const transmitted = summary ? Number(summary[1]) : 0;
  const received = summary ? Number(summary[2]) : rttsMs.length;
  const avgMs = rttsMs.length === 0 ? Number.NaN : rttsMs.reduce((a, b) => a + b, 0) / rttsMs.length;
  return { transmitted, received, rttsMs, avgMs, p99Ms: quantile(rttsMs, 0.99) };
}

export interface PingOptions {
  count?: number;
  intervalS?: number;
  /** Payload size in bytes (ping -s); default ping's 56. */
  sizeBytes?: number;
}

/** Ping `toIp` from node `from`; never throws for loss (read `received`). */
export async function measurePing(lab: NetnsLab, from: string, toIp: string, options: PingOptions = {}): Promise<PingStats> {
  const count = options.count ?? DEFAULT_PING_COUNT;
  const interval = options.intervalS ?? DEFAULT_PING_INTERVAL_S;
  const argv = ['ping', '-n', '-c', String(count), '-i', String(interval), '-W', String(PING_WAIT_S)];
  if (options.sizeBytes !== undefined) argv.push('-s', String(options.sizeBytes));
  argv.push(toIp);
  const timeoutMs = Math.ceil((count * interval + PING_WAIT_S) * 1_000) + 10_000;
  const r = await lab.exec(from, argv, { timeoutMs });
  return parsePing(r.stdout);
}

export interface Iperf3Report {
  /** Bytes the client wrote (client end.sum_sent.bytes). */
  sentBytes: number;
  /** Bytes the server read (server end.sum_received.bytes). */
  receivedBytes: number;
  /** Receiver-side goodput, bits per second. */
  bitsPerSecond: number;
  /** Largest send window any stream saw: an upper bound on bytes in flight when iperf3 stops counting. */
  maxSendWindowBytes: number;
  /**
   * Upper bound on bytes the client wrote that the server had not read when iperf3 stopped counting:
   * the send windows in flight plus, per stream, a full socket send buffer of written but unsent bytes
   * (the client namespace's net.ipv4.tcp_wmem maximum). 0 from parseIperf3 alone; measureIperf3 fills it.
   */
  maxUncountedBytes: number;
  retransmits: number;
  seconds: number;
}

interface Iperf3Json {
  error?: string;
  end?: {
    sum_sent?: { bytes?: number; bits_per_second?: number; retransmits?: number; seconds?: number };
    sum_received?: { bytes?: number; bits_per_second?: number; seconds?: number };
    streams?: Array<{ sender?: { max_snd_wnd?: number } }>;
  };
}

function parseJson(text: string, who: string): Iperf3Json {
  try {
    return JSON.parse(text) as Iperf3Json;
  } catch {
    throw new Error(`iperf3 ${who}: output is not JSON: ${text.slice(0, 2_000)}`);
  }
}

/** Combine the client's and the server's `iperf3 -J` reports; throws on an iperf3 error. */
export function parseIperf3(clientJson: string, serverJson: string): Iperf3Report {
  const c = parseJson(clientJson, 'client');
  const s = parseJson(serverJson, 'server');
  if (c.error !== undefined) throw new Error(`iperf3 client: ${c.error}`);
  if (s.error !== undefined) throw new Error(`iperf3 server: ${s.error}`);
  const sent = c.end?.sum_sent;
  const received = s.end?.sum_received;
  if (sent?.bytes === undefined || received?.bytes === undefined) throw new Error('iperf3: report without end.sum_sent/sum_received');
  const windows = (c.end?.streams ?? []).map((x) => x.sender?.max_snd_wnd ?? 0);
  return {
    sentBytes: sent.bytes,
    receivedBytes: received.bytes,
    bitsPerSecond: received.bits_per_second ?? (received.bytes * 8) / (received.seconds ?? 1),
    maxSendWindowBytes: windows.reduce((a, b) => a + b, 0),
    maxUncountedBytes: 0,
    retransmits: sent.retransmits ?? 0,
    seconds: sent.seconds ?? 0,
  };
}

export interface Iperf3Options {
  seconds?: number;
  /** Parallel streams (-P); default 1. */
  parallel?: number;
  port?: number;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Wait until something listens on TCP `port` in the node's namespace. */
async function waitListening(lab: NetnsLab, node: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = await lab.exec(node, ['ss', '-Hltn', `sport = :${port}`], { timeoutMs: 5_000 });
    if (r.code === 0 && r.stdout.trim() !== '') return;
    await sleep(POLL_MS);
  }
  throw new Error(`nothing listens on ${node}:${port} after ${timeoutMs} ms`);
}

/** The largest TCP send buffer autotuning may give a socket in the node's namespace (tcp_wmem's third field). */
async function sendBufferMaxBytes(lab: NetnsLab, node: string): Promise<number> {
  const r = await lab.exec(node, ['cat', '/proc/sys/net/ipv4/tcp_wmem'], { timeoutMs: 5_000 });
  const max = Number(r.stdout.trim().split(/\s+/)[2]);
  if (r.code !== 0 || !Number.isSafeInteger(max) || max <= 0) throw new Error(`cannot read net.ipv4.tcp_wmem in ${node}: ${r.stdout}${r.stderr}`);
  return max;
}

/** One iperf3 TCP test from node `client` to `serverIp` served by node `server`. */
export async function measureIperf3(lab: NetnsLab, client: string, server: string, serverIp: string, options: Iperf3Options = {}): Promise<Iperf3Report> {
  const seconds = options.seconds ?? 10;
  const port = options.port ?? IPERF3_PORT;
  const srv = lab.spawn(server, ['iperf3', '-s', '-1', '-J', '-p', String(port)], { label: `${server}:iperf3-server` });
  try {
    await waitListening(lab, server, port, IPERF3_LISTEN_TIMEOUT_MS);
    const argv = ['iperf3', '-c', serverIp, '-p', String(port), '-t', String(seconds), '-J'];
    if ((options.parallel ?? 1) > 1) argv.push('-P', String(options.parallel));
    const c = await lab.exec(client, argv, { timeoutMs: seconds * 1_000 + IPERF3_SLACK_MS });
    let timer: NodeJS.Timeout | undefined;
    const serverDone = await Promise.race([srv.exited.then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), IPERF3_SLACK_MS)))]);
    clearTimeout(timer);
    if (!serverDone) throw new Error(`iperf3 server on ${server} did not finish; client said:\n${c.stdout.slice(-2_000)}`);
    const report = parseIperf3(c.stdout, srv.stdout());
    const streams = Math.max(1, options.parallel ?? 1);
    return { ...report, maxUncountedBytes: report.maxSendWindowBytes + streams * (await sendBufferMaxBytes(lab, client)) };
  } finally {
    await srv.stop();
  }
}
