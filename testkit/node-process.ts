/**
 * Spawn a real node process (testkit/node-driver.ts) for integration
 * tests and talk to it over its JSON-lines stdio. Only the process started
 * here is ever signalled, by its pid; children still alive when the test
 * process exits are SIGKILLed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const NODE_DRIVER_PATH = fileURLToPath(new URL('./node-driver.js', import.meta.url));
/** Generous for a loaded 2-core CI machine; a wait that hits it fails the test with the events seen. */
export const DEFAULT_WAIT_MS = 20_000;
/** Keep at most this many events per node: bounded even if a test floods. */
const MAX_EVENTS = 200_000;

export type NodeEvent = Record<string, unknown> & { event: string };

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) if (c.pid !== undefined && c.exitCode === null) {
    try { process.kill(c.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
});

export interface NodeProcessOptions {
  dir: string;
  caFile: string;
  certFile: string;
  relayUrl: string;
  pin: string;
  crlFile?: string;
  extraArgs?: string[];
  env?: Record<string, string>;
}

export class NodeProcess {
  readonly child: ChildProcess;
  readonly events: NodeEvent[] = [];
  #stderr = '';
  readonly exited: Promise<number | string>;
  #waiters: Array<() => void> = [];

  constructor(o: NodeProcessOptions) {
    const args = [NODE_DRIVER_PATH, '--dir', o.dir, '--ca', o.caFile, '--cert', o.certFile, '--relay', o.relayUrl, '--pin', o.pin];
    if (o.crlFile) args.push('--crl', o.crlFile);
    args.push(...(o.extraArgs ?? []));
    this.child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...o.env } });
    live.add(this.child);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        live.delete(this.child);
        resolve(code ?? signal ?? 'unknown');
        this.#wake();
      });
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      try {
        const ev = JSON.parse(line) as NodeEvent;
        if (this.events.length < MAX_EVENTS) this.events.push(ev);
      } catch { /* not ours */ }
      this.#wake();
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      if (this.#stderr.length < 256 * 1024) this.#stderr += d.toString();
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  stderr(): string {
    return this.#stderr;
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  command(cmd: Record<string, unknown>): void {
    this.child.stdin!.write(JSON.stringify(cmd) + '\n');
  }

  send(peerHex: string, data: Uint8Array | string): void {
    this.command({ op: 'send', peer: peerHex, data: Buffer.from(data).toString('base64') });
  }

  /** Resolve with the first event (at or after index `from`) matching `pred`; reject after `timeoutMs`. */
  async waitFor(pred: (e: NodeEvent) => boolean, timeoutMs = DEFAULT_WAIT_MS, from = 0): Promise<NodeEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (let i = from; i < this.events.length; i++) if (pred(this.events[i]!)) return this.events[i]!;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`node ${this.pid} exited; stderr tail:\n${this.#stderr.slice(-2000)}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for a node event; last events: ${JSON.stringify(this.events.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  /** Payloads received so far from `peerHex`, decoded as UTF-8. */
  payloadsFrom(peerHex: string): string[] {
    return this.events.filter((e) => e.event === 'payload' && e['peer'] === peerHex).map((e) => Buffer.from(String(e['data']), 'base64').toString());
  }

  async stats(): Promise<NodeEvent> {
    const from = this.events.length;
    this.command({ op: 'stats' });
    return this.waitFor((e) => e.event === 'stats', DEFAULT_WAIT_MS, from);
  }

  /** Ask the node to exit, then SIGKILL by pid if it has not within 5 s. Idempotent. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    try { this.command({ op: 'exit' }); } catch { /* stdin closed */ }
    const t = setTimeout(() => { try { process.kill(this.pid, 'SIGKILL'); } catch { /* gone */ } }, 5_000);
    await this.exited;
    clearTimeout(t);
  }
}
