/**
 * Chat through one relay on 127.0.0.1 (issue 6 targets: round trip under
 * 5 ms median; 10,000 messages/s through one relay). No root needed.
 *
 * Three processes, so each side has its own event loop as in a real
 * deployment:
 *   - the relay (`shadowmesh relay`, testkit/relay-process.ts);
 *   - member A, this process: a ShadowNode with a ChatService and ChatInbox
 *     wired exactly as the daemon wires them (src/node/daemon.ts), the
 *     sender and the clock of every measurement;
 *   - member B, this script forked with `--role b`: the same wiring, accepts
 *     every request, counts what it is delivered and checks the order.
 * Both nodes run with `direct: false`, so every envelope and every ACK goes
 * A -> relay -> B and back (a direct path would bypass the relay). The chat
 * protocol is measured without the CLI: no control-API socket or JSON hop.
 *
 * (a) Round trip: one MESSAGE at a time; the time from ChatService.send()
 *     until A's inbox sees the 'ack' event for that seq (the MESSAGE sealed,
 *     relayed, opened and delivered at B, B's ACK sealed, relayed, opened at
 *     A). Warm-up messages first, not counted.
 * (b) Throughput: TOTAL messages over CONVS conversations between A and B,
 *     each sender keeping its window of 64 in flight and its outbox topped
 *     up; from the first send until the last message is acknowledged.
 *     Every message costs the relay two frames (MESSAGE and ACK).
 *
 *     node dist/bench/chat.js [--rtt N] [--total N] [--convs LIST] [--size BYTES]
 *
 * `npm run bench` (bench/run.ts) runs it and renders renderChatSection into BENCHMARKS.md.
 *
 * Progress on stderr; a summary and, last, one JSON line on stdout.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { toHex } from '../src/crypto/bytes.js';
import { loadCaCertificate, loadMemberCertificate } from '../src/identity/files.js';
import { loadIdentity } from '../src/identity/key-file.js';
import { MembershipVerifier } from '../src/identity/membership.js';
import { ChatInbox } from '../src/messaging/chat-inbox.js';
import { ChatService, type ChatEvent } from '../src/messaging/chat-service.js';
import { SEND_WINDOW } from '../src/messaging/conversation.js';
import type { DirectoryEntry } from '../src/node/directory.js';
import { ShadowNode } from '../src/node/node.js';
import { startRelayProcess } from '../testkit/relay-process.js';
import { createTestNetwork } from '../testkit/test-network.js';
import { InnerType } from '../src/wire/constants.js';
import { cpuTimes } from './proc-stats.js';

const SELF = fileURLToPath(import.meta.url);
const RTT_DEFAULT = 2_000;
const RTT_WARMUP = 200;
const TOTAL_DEFAULT = 20_000;
const CONVS_DEFAULT = [1, 4, 16];
const SIZE_DEFAULT = 100;
/** Queued (not yet acked) per conversation the throughput pump keeps: well above the window, far below MAX_OUTBOX. */
const TOP_UP = 512;
const STEP_TIMEOUT_MS = 120_000;

export interface ChatBenchResult {
  node: string;
  size: number;
  rtt: { count: number; medianMs: number; p90Ms: number; p99Ms: number; maxMs: number; meanMs: number };
  throughput: Array<{
    conversations: number;
    messages: number;
    seconds: number;
    perSecond: number;
    relayFramesPerSecond: number;
    retries: number;
    sessionDrops: number;
    delivered: number;
    inOrder: boolean;
    cpu: { relayS: number; aS: number; bS: number };
  }>;
}

function log(msg: string): void {
  process.stderr.write(`[chat-bench] ${msg}\n`);
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
}

function numArg(name: string, dflt: number): number {
  const v = arg(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!(Number.isInteger(n) && n > 0)) throw new Error(`${name}: expected a positive integer`);
  return n;
}

interface Member {
  node: ShadowNode;
  chat: ChatService;
  inbox: ChatInbox;
}

/** A member as the daemon builds it (src/node/daemon.ts), relay only. */
async function member(dir: string, certFile: string, caFile: string, url: string, pin: string): Promise<Member> {
  const identity = await loadIdentity(dir);
  const certificate = await loadMemberCertificate(certFile);
  const verifier = new MembershipVerifier(await loadCaCertificate(caFile));
  const node = new ShadowNode({ signer: identity.signer, peerId: identity.peerId, certificate, verifier }, { relay: { url, pin }, direct: false });
  const inbox = new ChatInbox();
  const chat = new ChatService({ localPeerId: identity.peerId, sessions: node.peers, members: { get: (hex: string) => node.directory.get(hex) }, sink: inbox });
  node.on('inner', (peerId: Uint8Array, innerType: number, body: Uint8Array) => {
    if (innerType === InnerType.Chat) chat.onEnvelope(peerId, body);
  });
  node.on('established', (peerId: Uint8Array) => chat.onPeerReachable(peerId));
  node.on('member_up', (e: DirectoryEntry) => chat.onPeerReachable(e.peerId));
  chat.start();
  node.start();
  return { node, chat, inbox };
}

// ------------------------------------------------------------------ member B

async function runB(): Promise<void> {
  const [dir, certFile, caFile, url, pin] = process.argv.slice(process.argv.indexOf('--role') + 2);
  const b = await member(dir!, certFile!, caFile!, url!, pin!);
  let delivered = 0;
  let inOrder = true;
  const next = new Map<string, number>();
  b.inbox.subscribe((e: ChatEvent) => {
    if (e.type === 'request') b.chat.respond(e.conversationId, true);
    else if (e.type === 'message') {
      delivered++;
      const want = next.get(e.conversationId) ?? 1;
      if (e.seq !== want) inOrder = false;
      next.set(e.conversationId, e.seq + 1);
    }
  }, false);
  b.node.once('relay', () => process.send!({ type: 'ready' }));
  process.on('message', (m: { type: string }) => {
    if (m.type === 'report') process.send!({ type: 'report', delivered, inOrder, retries: b.chat.stats.retries });
    if (m.type === 'reset') { delivered = 0; inOrder = true; next.clear(); }
    if (m.type === 'stop') {
      b.chat.stop();
      void b.node.stop().then(() => process.exit(0));
    }
  });
}

// ------------------------------------------------------------------ member A and the measurements

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no progress within ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS)))]).finally(() => clearTimeout(timer));
}

function ask<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: { type: string }): void => {
      if (m.type !== type) return;
      child.off('message', on);
      resolve(m as T);
    };
    child.on('message', on);
    child.send({ type });
  });
}

function cpuS(pid: number): number {
  const t = cpuTimes(pid);
  return t === null ? 0 : t.userS + t.systemS;
}

async function main(): Promise<void> {
  const rttCount = numArg('--rtt', RTT_DEFAULT);
  const total = numArg('--total', TOTAL_DEFAULT);
  const size = numArg('--size', SIZE_DEFAULT);
  const convsList = arg('--convs')?.split(',').map(Number) ?? CONVS_DEFAULT;
  const text = 'x'.repeat(size);

  const net = await createTestNetwork({ members: ['alice', 'bob'] });
  const relay = await startRelayProcess({ caFile: net.caFile });
  const alice = net.member('alice');
  const bob = net.member('bob');
  const bobHex = toHex(bob.peerId);
  const child = fork(SELF, ['--role', 'b', bob.dir, bob.certFile, net.caFile, relay.url, relay.pin], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const killChild = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.on('exit', killChild);
  let a: Member | null = null;
  try {
    await withTimeout(new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`member B exited (${code})`)));
    }), 'member B start');
    a = await member(alice.dir, alice.certFile, net.caFile, relay.url, relay.pin);
    const A = a;
    await withTimeout(new Promise<void>((resolve) => {
      if (A.node.directory.get(bobHex)) return resolve();
      A.node.on('member_up', (e: DirectoryEntry) => { if (e.hex === bobHex) resolve(); });
    }), 'B listed at A');
    log(`relay ${relay.url}; A (pid ${process.pid}) sees B (pid ${child.pid}) online`);

    // Every ack A sees, by conversation: the pump and the round-trip waiter listen here.
    const onAck = new Map<string, (seq: number) => void>();
    A.inbox.subscribe((e: ChatEvent) => {
      if (e.type === 'ack') onAck.get(e.conversationId)?.(e.seq);
    }, false);

    const open = async (): Promise<string> => {
      const info = A.chat.request(bobHex);
      await withTimeout(A.chat.waitAccepted(info.conversationId, STEP_TIMEOUT_MS), 'chat accepted');
      return info.conversationId;
    };

    // (a) round trip, one message at a time.
    const conv = await open();
    const samples: number[] = [];
    for (let i = 0; i < RTT_WARMUP + rttCount; i++) {
      let t0 = 0;
      const acked = new Promise<void>((resolve) => onAck.set(conv, () => resolve()));
      t0 = performance.now();
      A.chat.send(conv, text);
      await withTimeout(acked, 'round trip');
      if (i >= RTT_WARMUP) samples.push(performance.now() - t0);
    }
    onAck.delete(conv);
    A.chat.terminate(conv, 'done');
    const sorted = [...samples].sort((x, y) => x - y);
    const rtt = {
      count: samples.length,
      medianMs: round3(percentile(sorted, 50)),
      p90Ms: round3(percentile(sorted, 90)),
      p99Ms: round3(percentile(sorted, 99)),
      maxMs: round3(sorted[sorted.length - 1]!),
      meanMs: round3(samples.reduce((s, x) => s + x, 0) / samples.length),
    };
    log(`round trip over ${rtt.count}: median ${rtt.medianMs} ms, p99 ${rtt.p99Ms} ms`);

    // (b) throughput with windows in flight.
    const throughput: ChatBenchResult['throughput'] = [];
    for (const convs of convsList) {
      child.send({ type: 'reset' });
      const ids: string[] = [];
      for (let i = 0; i < convs; i++) ids.push(await open());
      const per = Math.ceil(total / convs);
      const messages = per * convs;
      const retriesBefore = A.chat.stats.retries;
      const dropsBefore = A.chat.drops.session_dropped;
      const cpu0 = { relay: cpuS(relay.pid), a: cpuS(process.pid), b: cpuS(child.pid!) };
      const t0 = performance.now();
      let done = 0;
      await withTimeout(new Promise<void>((resolve) => {
        for (const id of ids) {
          let sent = 0;
          const topUp = (ackedThrough: number): void => {
            while (sent < per && sent - ackedThrough < TOP_UP) {
              A.chat.send(id, text);
              sent++;
            }
          };
          onAck.set(id, (seq) => {
            if (seq === per) {
              onAck.delete(id);
              if (++done === ids.length) resolve();
              return;
            }
            topUp(seq);
          });
          topUp(0);
        }
      }), `throughput with ${convs} conversations`);
      const seconds = (performance.now() - t0) / 1_000;
      const cpu = { relayS: round3(cpuS(relay.pid) - cpu0.relay), aS: round3(cpuS(process.pid) - cpu0.a), bS: round3(cpuS(child.pid!) - cpu0.b) };
      const report = await ask<{ delivered: number; inOrder: boolean }>(child, 'report');
      for (const id of ids) A.chat.terminate(id, 'done');
      const row = {
        conversations: convs,
        messages,
        seconds: round3(seconds),
        perSecond: Math.round(messages / seconds),
        relayFramesPerSecond: Math.round((2 * messages) / seconds),
        retries: A.chat.stats.retries - retriesBefore,
        sessionDrops: A.chat.drops.session_dropped - dropsBefore,
        delivered: report.delivered,
        inOrder: report.inOrder,
        cpu,
      };
      throughput.push(row);
      log(`${convs} conversation(s), window ${SEND_WINDOW} each: ${messages} messages in ${row.seconds} s = ${row.perSecond}/s; B delivered ${row.delivered}${row.inOrder ? ' in order' : ' OUT OF ORDER'}; retries ${row.retries}; CPU s relay ${cpu.relayS}, A ${cpu.aS}, B ${cpu.bS}`);
    }

    const result: ChatBenchResult = { node: process.version, size, rtt, throughput };
    const best = Math.max(...throughput.map((t) => t.perSecond));
    process.stdout.write(`chat through one relay (${size}-byte messages): round trip median ${rtt.medianMs} ms, p99 ${rtt.p99Ms} ms over ${rtt.count}; up to ${best} messages/s\n`);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    if (a) {
      a.chat.stop();
      await a.node.stop();
    }
    if (child.exitCode === null) {
      child.send({ type: 'stop' });
      await Promise.race([new Promise((resolve) => child.once('exit', resolve)), new Promise((resolve) => setTimeout(resolve, 5_000))]);
      killChild();
    }
    await relay.stop();
    await net.cleanup();
  }
}

/** The BENCHMARKS.md "Chat" section (npm run bench). */
export function renderChatSection(r: ChatBenchResult | null, failure?: string): string {
  const head = `## Chat through one relay

Command: \`npm run bench\` (runs \`node dist/bench/chat.js --rtt 2000 --total 20000 --convs 1,4,16\`; no root, 127.0.0.1 only).

Three processes: a relay (\`shadowmesh relay\`), member A (the benchmark process) and member B (bench/chat.ts forked
with \`--role b\`), each member a ShadowNode with a ChatService and ChatInbox wired as the daemon wires them, with
\`direct: false\` so every MESSAGE and every ACK crosses the relay. The chat protocol is measured, not the CLI: no
control-API socket or JSON hop. Messages are ${r?.size ?? 100} bytes of text. Targets (issue 6): round trip under 5 ms median;
10,000 messages/s through one relay.

- *round trip*: one MESSAGE at a time, from ChatService.send() on A until A's inbox sees the ACK for it (sealed,
  relayed, opened and delivered at B; B's ACK sealed, relayed, opened at A); 200 warm-up messages not counted.
- *throughput*: ${r?.throughput[0]?.messages ?? 20000} messages spread over N conversations between A and B, each keeping its window of 64
  in flight; from the first send until the last ACK. Each message is two relay frames (MESSAGE, ACK). B checks that
  every message is delivered once and in order. CPU seconds per process from /proc over the same interval.
`;
  if (r === null) return `${head}\nNot measured in this run: ${failure ?? 'failed'}.\n`;
  const t = r.throughput;
  const best = Math.max(...t.map((x) => x.perSecond));
  const rows = t.map((x) => `| ${x.conversations} | ${x.messages} | ${x.seconds} | ${x.perSecond} | ${x.relayFramesPerSecond} | ${x.delivered}${x.inOrder ? ', in order' : ', OUT OF ORDER'} | ${x.retries} | ${x.cpu.relayS} / ${x.cpu.aS} / ${x.cpu.bS} |`);
  return `${head}
Node ${r.node}.

| round trip | median ms | p90 ms | p99 ms | max ms | mean ms |
|---|---|---|---|---|---|
| ${r.rtt.count} messages, one at a time | ${r.rtt.medianMs} | ${r.rtt.p90Ms} | ${r.rtt.p99Ms} | ${r.rtt.maxMs} | ${r.rtt.meanMs} |

| conversations | messages | s | messages/s | relay frames/s | delivered at B | retries | CPU s relay / A / B |
|---|---|---|---|---|---|---|---|
${rows.join('\n')}

Round trip: ${r.rtt.medianMs <= 5 ? 'target met' : 'target MISSED'} (median ${r.rtt.medianMs} ms against 5 ms). Throughput: ${best >= 10_000 ? 'target met' : 'target MISSED'} (${best} messages/s at best against 10,000).
Where the time goes: the relay is not the limit — it uses a small fraction of a core (last column) while
forwarding two frames per message. The members are: A and B each spend several times the relay's CPU on
per-message work (chat envelope encode/decode, one AEAD seal or open per envelope and per ACK, session
framing, WebSocket and TLS), and on this 2-vCPU machine the three processes share two cores. One conversation
is bound by its window: 64 messages per round trip, so a round trip of a few ms under load caps it; more
conversations keep more in flight. The round trip's tail (p99) is event-loop and scheduling jitter of three
processes on two vCPUs, plus the occasional GC pause.
`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const role = arg('--role');
  (role === 'b' ? runB() : main()).then(
    () => { if (role !== 'b') process.exit(0); },
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
