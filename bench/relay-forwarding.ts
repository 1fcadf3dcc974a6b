/**
 * Forwarding rate of sealed frames within one relay and across two relays
 * through a real nats-server (issue 13; docs/architecture.md "Relay
 * cluster"). On 127.0.0.1, no root needed:
 *
 *   - "one relay": members A and B admitted by the same relay process;
 *   - "two relays": A on relay 1, B on relay 2, both joined with --cluster to
 *     one nats-server (testkit/nats-server.ts), so every frame crosses NATS.
 *
 * A and B are lightweight members (bench/light-member.ts: real admission,
 * no node). A sends SEND frames of a fixed payload size to B as fast as its
 * WebSocket drains (kept under 2 MiB queued); B counts the DELIVER frames
 * that arrive. The relays' per-member rate limits are lifted. After a
 * warm-up, frames/s and payload Mbit/s at B over the measuring window; the
 * ratio two relays ÷ one relay. What the relays drop (queue full) is simply
 * not counted at B. All processes share the machine's cores.
 *
 *     node dist/bench/relay-forwarding.js [--seconds S] [--sizes 1200,16384]
 *
 * Progress on stderr; a summary and, last, one JSON line on stdout.
 */
import { FrameType, HEADER_TYPE_OFFSET, SEND_HEADER_BYTES } from '../src/wire/constants.js';
import { encodeRelayFrame } from '../src/wire/relay-frames.js';
import { startNatsServer, type NatsServer } from '../testkit/nats-server.js';
import { startRelayProcess, type RelayProcess } from '../testkit/relay-process.js';
import { createTestNetwork, type TestMember } from '../testkit/test-network.js';
import { admitLight, type LightMember } from './light-member.js';

const SECONDS_DEFAULT = 5;
const WARMUP_MS = 1_000;
/** Sender keeps at most this much queued in its WebSocket. */
const SEND_QUEUE_BYTES = 2 * 1024 * 1024;
/** The relays' per-member limits, lifted far above what loopback carries. */
const UNLIMITED = ['--rate-frames', '100000000', '--rate-bytes', '100000000000'];

function log(msg: string): void {
  process.stderr.write(`[relay-forwarding] ${msg}\n`);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
}

export interface ForwardingRow {
  mode: 'one relay' | 'two relays (NATS)';
  payloadBytes: number;
  framesPerSecond: number;
  mbitPerSecond: number;
}

export interface RelayForwardingResult {
  date: string;
  node: string;
  seconds: number;
  rows: ForwardingRow[];
}

const ident = (m: TestMember): { seed: Uint8Array; certRaw: Uint8Array } => ({ seed: m.signer.exportSeed(), certRaw: m.certBytes });

async function measure(mode: ForwardingRow['mode'], from: RelayProcess, to: RelayProcess, a: TestMember, b: TestMember, size: number, seconds: number): Promise<ForwardingRow> {
  let frames = 0;
  let bytes = 0;
  const receiver: LightMember = await admitLight(to, ident(b), (data) => {
    if (data[HEADER_TYPE_OFFSET] === FrameType.Deliver) {
      frames++;
      bytes += data.length - SEND_HEADER_BYTES;
    }
  });
  const sender: LightMember = await admitLight(from, ident(a));
  try {
    if (from !== to) {
      // B must be known at A's relay as a remote member before frames can cross.
      const deadline = Date.now() + 15_000;
      while (((await from.stats()).cluster?.remoteMembers ?? 0) < 1) {
        if (Date.now() > deadline) throw new Error('B never appeared at relay 1');
        await sleep(100);
      }
    } else {
      await sleep(200);
    }
    const frame = encodeRelayFrame({ type: FrameType.Send, peerId: b.peerId, payload: new Uint8Array(size).fill(0x5a) });
    let sending = true;
    const pump = async (): Promise<void> => {
      while (sending) {
        while (sender.ws.bufferedAmount < SEND_QUEUE_BYTES) sender.ws.send(frame);
        await new Promise((r) => setImmediate(r));
      }
    };
    const done = pump();
    await sleep(WARMUP_MS);
    const f0 = frames;
    const b0 = bytes;
    const t0 = performance.now();
    await sleep(seconds * 1000);
    const dt = (performance.now() - t0) / 1000;
    const row: ForwardingRow = { mode, payloadBytes: size, framesPerSecond: (frames - f0) / dt, mbitPerSecond: ((bytes - b0) * 8) / dt / 1e6 };
    sending = false;
    await done;
    log(`${mode}, ${size} B: ${row.framesPerSecond.toFixed(0)} frames/s, ${row.mbitPerSecond.toFixed(0)} Mbit/s`);
    return row;
  } finally {
    sender.close();
    receiver.close();
    await sleep(300);
  }
}

async function main(): Promise<void> {
  const seconds = Number(arg('--seconds') ?? SECONDS_DEFAULT);
  const sizes = (arg('--sizes') ?? '1200,16384').split(',').map(Number);
  const net = await createTestNetwork({ members: ['a', 'b'] });
  const nats: NatsServer = await startNatsServer();
  const cluster = (name: string): string[] => ['--cluster', nats.url, '--cluster-name', name, '--no-stun', ...UNLIMITED];
  const relays: RelayProcess[] = [];
  try {
    relays.push(await startRelayProcess({ caFile: net.caFile, args: cluster('relay-1') }));
    relays.push(await startRelayProcess({ caFile: net.caFile, args: cluster('relay-2') }));
    const [r1, r2] = relays as [RelayProcess, RelayProcess];
    const deadline = Date.now() + 15_000;
    while (((await r1.stats()).cluster?.peerRelays.length ?? 0) < 1) {
      if (Date.now() > deadline) throw new Error('the relays never saw each other over NATS');
      await sleep(100);
    }
    const a = net.member('a');
    const b = net.member('b');
    const rows: ForwardingRow[] = [];
    for (const size of sizes) {
      rows.push(await measure('one relay', r1, r1, a, b, size, seconds));
      rows.push(await measure('two relays (NATS)', r1, r2, a, b, size, seconds));
    }
    const result: RelayForwardingResult = { date: new Date().toISOString().slice(0, 10), node: process.version, seconds, rows };
    process.stdout.write(`${renderRelayForwardingTable(result)}\n`);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    for (const r of relays) await r.stop();
    await nats.stop();
    await net.cleanup();
  }
}

export function renderRelayForwardingTable(r: RelayForwardingResult): string {
  const lines = ['| payload | one relay: frames/s | Mbit/s | two relays through NATS: frames/s | Mbit/s | two ÷ one |', '|---|---|---|---|---|---|'];
  for (const size of [...new Set(r.rows.map((x) => x.payloadBytes))]) {
    const one = r.rows.find((x) => x.payloadBytes === size && x.mode === 'one relay');
    const two = r.rows.find((x) => x.payloadBytes === size && x.mode !== 'one relay');
    if (one === undefined || two === undefined) continue;
    lines.push(`| ${size} B | ${one.framesPerSecond.toFixed(0)} | ${one.mbitPerSecond.toFixed(0)} | ${two.framesPerSecond.toFixed(0)} | ${two.mbitPerSecond.toFixed(0)} | ${(two.framesPerSecond / Math.max(one.framesPerSecond, 1)).toFixed(2)} |`);
  }
  return lines.join('\n');
}

if (process.argv[1]?.endsWith('relay-forwarding.js') === true) {
  main().catch((err: unknown) => {
    process.stderr.write(`relay-forwarding: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
