/**
 * A Linux network-namespace lab for the root demo, tests and benchmarks (docs/conventions.md
 * §15: real processes in namespaces with real devices). Needs root and
 * iproute2; iptables and tc only for the optional link helpers.
 *
 * Topology, for `createNetnsLab({ nodes: ['relay', 'a', 'b'] })`:
 *
 *     namespace sm-<id>-br     bridge br0, one port p-<node> per node
 *     namespace sm-<id>-<node> lo up; eth0 = veth to br0, 172.31.0.<10+i>/24
 *
 * `<id>` is 6 random hex digits, so labs of concurrent test files never meet.
 * Every address is inside the lab's own namespaces: LAB_SUBNET (172.31.0.0/24,
 * a private range) is reachable from nowhere else, and the host's root
 * namespace is never touched (veth pairs are created inside the bridge
 * namespace and one end moved into the node's).
 *
 * Usage:
 *
 *     const lab = await createNetnsLab({ nodes: ['a', 'b'] });
 *     try {
 *       await lab.check('a', ['ping', '-c', '1', lab.ip('b')]);
 *       const server = lab.spawn('b', ['iperf3', '-s', '-1']);   // tracked, killed by pid at teardown
 *     } finally {
 *       await lab.teardown();
 *     }
 *
 * What callers must know:
 *  - teardown() is idempotent. It runs registered cleanups (LIFO), stops every
 *    process spawn() started (SIGTERM, then SIGKILL after a grace; by pid),
 *    and deletes every namespace this lab created, which removes the veths
 *    and the bridge inside them. It is also run synchronously on process
 *    'exit' and on SIGINT/SIGTERM, so a failing or interrupted test leaves
 *    nothing behind. Only what this lab created is ever removed.
 *  - A failure while the lab is being built tears down what was built and
 *    rethrows.
 *  - exec()/check() run one command in a namespace (`ip netns exec`) with a
 *    timeout; output is kept up to MAX_OUTPUT_CHARS per stream.
 *  - Filesystem paths are shared with the host (only /sys is namespaced by
 *    `ip netns exec`): give per-node sockets and state files distinct names.
 */
import { spawn as spawnChild, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';

/** The lab's IPv4 subnet (inside its namespaces only); node i gets .(LAB_FIRST_HOST + i). */
export const LAB_SUBNET_PREFIX = '172.31.0.';
export const LAB_PREFIX_LEN = 24;
/** First host number: leaves .1–.9 free for tests that add addresses of their own. */
export const LAB_FIRST_HOST = 10;
/** Default bound on one exec(): long enough for a 10 s iperf3 run plus setup. */
export const DEFAULT_EXEC_TIMEOUT_MS = 60_000;
/** After SIGTERM a tracked process gets this long to exit before SIGKILL. */
export const STOP_GRACE_MS = 3_000;
/** Output kept per stream per process: enough for diagnostics and iperf3 -J, bounded for floods. */
export const MAX_OUTPUT_CHARS = 1024 * 1024;
/** How many random ids to try before giving up on finding an unused one. */
const ID_ATTEMPTS = 16;
/** Node names become interface names (p-<node>, 15 chars max) and namespace suffixes. */
const NODE_NAME = /^[a-z][a-z0-9]{0,9}$/;
const NETNS_DIR = '/var/run/netns';

export interface ExecResult {
  /** Exit status, or null when killed by a signal (see `signal`). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the timeout fired and the command was killed. */
  timedOut: boolean;
}

export interface ExecOptions {
  timeoutMs?: number;
  env?: Record<string, string>;
  input?: string;
}

export interface SpawnOptions {
  env?: Record<string, string>;
  /** A label for error messages; default argv[0]. */
  label?: string;
}

export interface LabProcess {
  readonly pid: number;
  readonly label: string;
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code, or the signal name, once the process exits. */
  readonly exited: Promise<number | string>;
  /** True while the process has not exited. */
  alive(): boolean;
  /** Resolve with the first stdout line matching `re`; reject on exit or after timeoutMs. */
  waitForLine(re: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM, wait up to graceMs, then SIGKILL. Idempotent. */
  stop(graceMs?: number): Promise<number | string>;
}

export interface LabNode {
  readonly name: string;
  /** The namespace name, sm-<id>-<name>. */
  readonly ns: string;
  /** The node's lab address (no prefix length). */
  readonly ip: string;
  /** The node's lab interface inside its namespace. */
  readonly ifname: string;
}

export interface NetnsLab {
  /** sm-<6 hex>: prefix of every namespace of this lab. */
  readonly id: string;
  readonly nodes: readonly LabNode[];
  /** The namespace holding the bridge. */
  readonly bridgeNs: string;
  node(name: string): LabNode;
  /** A node's lab address. */
  ip(name: string): string;
  /** Run argv in the node's namespace; never throws for a non-zero exit. */
  exec(node: string, argv: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  /** Like exec() but throws, with the output, unless the exit code is 0. */
  check(node: string, argv: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  /** Start a long-running process in the node's namespace, tracked and stopped by pid at teardown. */
  spawn(node: string, argv: readonly string[], options?: SpawnOptions): LabProcess;
  /** Drop all IPv4 traffic between two nodes (both directions, at both ends); returns an undo. */
  cut(a: string, b: string): Promise<() => Promise<void>>;
  /** Drop a random fraction (0..1) of packets the node receives on its lab interface; returns an undo. */
  loss(node: string, fraction: number): Promise<() => Promise<void>>;
  /** Rate-limit the node's egress on its lab interface (tc tbf); returns an undo. */
  rateLimit(node: string, mbit: number): Promise<() => Promise<void>>;
  /** Run fn at teardown, before processes are stopped (LIFO). Must be synchronous-safe. */
  onTeardown(fn: () => void): void;
  teardown(): Promise<void>;
  /** The synchronous teardown used by the exit hook (SIGKILL, no grace). */
  teardownSync(): void;
}

export interface CreateLabOptions {
  /** Node names, e.g. ['relay', 'a', 'b']; lowercase alphanumerics, up to 10 chars. */
  nodes: readonly string[];
}

// ---------------------------------------------------------------- process hooks

const liveLabs = new Set<NetnsLab>();
let hooksInstalled = false;

function teardownAllSync(): void {
  for (const lab of [...liveLabs]) lab.teardownSync();
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', teardownAllSync);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    const handler = (): void => {
      teardownAllSync();
      process.removeListener(sig, handler);
      // Nobody else handles it: restore the default action (terminate).
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}

// ---------------------------------------------------------------- helpers

/** Run a command synchronously in the root namespace; throws with its stderr on failure. */
function ipSync(args: readonly string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.error?.message ?? r.stderr.trim()}`);
}

function netnsExists(name: string): boolean {
  return existsSync(`${NETNS_DIR}/${name}`);
}

function unusedId(nodes: readonly string[]): string {
  for (let i = 0; i < ID_ATTEMPTS; i++) {
    const id = `sm-${randomBytes(3).toString('hex')}`;
    if (!netnsExists(`${id}-br`) && nodes.every((n) => !netnsExists(`${id}-${n}`))) return id;
  }
  throw new Error('netns lab: could not find an unused lab id');
}

function append(prev: string, chunk: string): string {
  const next = prev + chunk;
  return next.length > MAX_OUTPUT_CHARS ? next.slice(-MAX_OUTPUT_CHARS) : next;
}

/** Run a child to completion with a timeout; the child is killed by its pid when the timeout fires. */
function runChild(argv: readonly string[], options: ExecOptions): Promise<ExecResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('netns lab: empty argv');
  return new Promise((resolve) => {
    const child = spawnChild(cmd, args, {
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...(options.env ?? {}) },
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (c: string) => (stdout = append(stdout, c)));
    child.stderr?.on('data', (c: string) => (stderr = append(stderr, c)));
    if (options.input !== undefined) child.stdin?.end(options.input);
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) {
        try { process.kill(child.pid, 'SIGKILL'); } catch { /* already gone */ }
      }
    }, options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, stdout, stderr: stderr + err.message, timedOut });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

function describe(argv: readonly string[], r: ExecResult): string {
  const how = r.timedOut ? 'timed out' : r.code !== null ? `exit ${r.code}` : `signal ${r.signal ?? '?'}`;
  return `${argv.join(' ')}: ${how}\nstdout: ${r.stdout.slice(-4_000)}\nstderr: ${r.stderr.slice(-4_000)}`;
}

function killPid(pid: number, sig: NodeJS.Signals): void {
  try { process.kill(pid, sig); } catch { /* already gone */ }
}

// ---------------------------------------------------------------- processes

function trackProcess(argv: readonly string[], label: string, env: Record<string, string> | undefined, live: Set<LabProcess>): LabProcess {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('netns lab: empty argv');
  const child = spawnChild(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...(env ?? {}) } });
  if (child.pid === undefined) throw new Error(`netns lab: could not spawn ${label}`);
  const pid = child.pid;
  let out = '';
  let err = '';
  let lineBuf = '';
  const lineWaiters = new Set<(line: string) => void>();
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stdout?.on('data', (c: string) => {
    out = append(out, c);
    lineBuf += c;
    let nl = lineBuf.indexOf('\n');
    while (nl >= 0) {
      const line = lineBuf.slice(0, nl);
      lineBuf = lineBuf.slice(nl + 1);
      for (const w of [...lineWaiters]) w(line);
      nl = lineBuf.indexOf('\n');
    }
    if (lineBuf.length > MAX_OUTPUT_CHARS) lineBuf = '';
  });
  child.stderr?.on('data', (c: string) => (err = append(err, c)));
  let exitedValue: number | string | null = null;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      exitedValue = code ?? signal ?? -1;
      resolve(exitedValue);
    });
    child.once('error', (e) => {
      err = append(err, e.message);
      exitedValue = -1;
      resolve(-1);
    });
  });
  let stopping: Promise<number | string> | null = null;
  const proc: LabProcess = {
    pid,
    label,
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    alive: () => exitedValue === null,
    signal(sig) {
      if (exitedValue === null) killPid(pid, sig);
    },
    waitForLine(re, timeoutMs) {
      return new Promise((resolve, reject) => {
        for (const line of out.split('\n')) {
          const m = re.exec(line);
          if (m !== null) return resolve(m);
        }
        const done = (): void => {
          clearTimeout(timer);
          lineWaiters.delete(onLine);
        };
        const onLine = (line: string): void => {
          const m = re.exec(line);
          if (m === null) return;
          done();
          resolve(m);
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${label} (pid ${pid}): no line matching ${re} within ${timeoutMs} ms\nstdout: ${out.slice(-4_000)}\nstderr: ${err.slice(-4_000)}`));
        }, timeoutMs);
        lineWaiters.add(onLine);
        void exited.then((status) => {
          if (!lineWaiters.has(onLine)) return;
          done();
          reject(new Error(`${label} (pid ${pid}) exited (${status}) before a line matching ${re}\nstdout: ${out.slice(-4_000)}\nstderr: ${err.slice(-4_000)}`));
        });
      });
    },
    stop(graceMs = STOP_GRACE_MS) {
      if (stopping !== null) return stopping;
      stopping = (async () => {
        if (exitedValue !== null) return exitedValue;
        killPid(pid, 'SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const graceOver = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), graceMs)));
        const first = await Promise.race([exited, graceOver]);
        clearTimeout(timer);
        if (first !== null) return first;
        killPid(pid, 'SIGKILL');
        return exited;
      })();
      return stopping;
    },
  };
  live.add(proc);
  void exited.then(() => live.delete(proc));
  return proc;
}

// ---------------------------------------------------------------- the lab

export async function createNetnsLab(options: CreateLabOptions): Promise<NetnsLab> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new Error('netns lab: needs root (network namespaces)');
  const names = [...options.nodes];
  if (names.length === 0) throw new Error('netns lab: nodes: expected at least one name');
  for (const n of names) if (!NODE_NAME.test(n) || n === 'br') throw new Error(`netns lab: node name ${JSON.stringify(n)}: expected ${NODE_NAME} and not "br"`);
  if (new Set(names).size !== names.length) throw new Error('netns lab: node names must be unique');
  if (names.length > 200) throw new Error('netns lab: at most 200 nodes fit the lab subnet');

  installHooks();
  const id = unusedId(names);
  const bridgeNs = `${id}-br`;
  const created: string[] = [];
  const procs = new Set<LabProcess>();
  const cleanups: Array<() => void> = [];
  let torn = false;
  let tearing: Promise<void> | null = null;

  const nodes: LabNode[] = names.map((name, i) => ({ name, ns: `${id}-${name}`, ip: `${LAB_SUBNET_PREFIX}${LAB_FIRST_HOST + i}`, ifname: 'eth0' }));
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const node = (name: string): LabNode => {
    const n = byName.get(name);
    if (n === undefined) throw new Error(`netns lab ${id}: no node named ${JSON.stringify(name)}`);
    return n;
  };
  const nsArgv = (name: string, argv: readonly string[]): string[] => {
    const ns = name === 'br' ? bridgeNs : node(name).ns;
    return ['ip', 'netns', 'exec', ns, ...argv];
  };

  const runCleanups = (): void => {
    while (cleanups.length > 0) {
      const fn = cleanups.pop()!;
      try { fn(); } catch { /* keep tearing down */ }
    }
  };
  const deleteNamespaces = (): void => {
    for (const ns of created.reverse()) {
      spawnSync('ip', ['netns', 'del', ns], { timeout: 10_000 });
    }
    created.length = 0;
  };

  const lab: NetnsLab = {
    id,
    nodes,
    bridgeNs,
    node,
    ip: (name) => node(name).ip,
    exec(name, argv, opts = {}) {
      return runChild(nsArgv(name, argv), opts);
    },
    async check(name, argv, opts = {}) {
      const r = await runChild(nsArgv(name, argv), opts);
      if (r.code !== 0) throw new Error(`netns lab ${id} [${name}] ${describe(argv, r)}`);
      return r;
    },
    spawn(name, argv, opts = {}) {
      if (torn) throw new Error(`netns lab ${id}: spawn after teardown`);
      return trackProcess(nsArgv(name, argv), opts.label ?? `${name}:${argv[0] ?? '?'}`, opts.env, procs);
    },
    async cut(a, b) {
      const rules: Array<[string, string[]]> = [
        [a, ['INPUT', '-s', node(b).ip, '-j', 'DROP']],
        [a, ['OUTPUT', '-d', node(b).ip, '-j', 'DROP']],
        [b, ['INPUT', '-s', node(a).ip, '-j', 'DROP']],
        [b, ['OUTPUT', '-d', node(a).ip, '-j', 'DROP']],
      ];
      for (const [n, rule] of rules) await lab.check(n, ['iptables', '-w', '5', '-I', ...rule]);
      return async () => {
        for (const [n, rule] of rules) await lab.exec(n, ['iptables', '-w', '5', '-D', ...rule]);
      };
    },
    async loss(name, fraction) {
      if (!(fraction >= 0 && fraction <= 1)) throw new Error(`netns lab: loss fraction: expected 0..1, got ${fraction}`);
      const rule = ['INPUT', '-i', node(name).ifname, '-m', 'statistic', '--mode', 'random', '--probability', String(fraction), '-j', 'DROP'];
      await lab.check(name, ['iptables', '-w', '5', '-I', ...rule]);
      return async () => {
        await lab.exec(name, ['iptables', '-w', '5', '-D', ...rule]);
      };
    },
    async rateLimit(name, mbit) {
      if (!(mbit > 0)) throw new Error(`netns lab: rate: expected > 0 Mbit/s, got ${mbit}`);
      const dev = node(name).ifname;
      // Burst: at least one 64 KiB GSO segment, or tbf drops every large segment.
      await lab.check(name, ['tc', 'qdisc', 'replace', 'dev', dev, 'root', 'tbf', 'rate', `${mbit}mbit`, 'burst', '128kb', 'latency', '50ms']);
      return async () => {
        await lab.exec(name, ['tc', 'qdisc', 'del', 'dev', dev, 'root']);
      };
    },
    onTeardown(fn) {
      cleanups.push(fn);
    },
    teardown() {
      if (tearing !== null) return tearing;
      tearing = (async () => {
        torn = true;
        runCleanups();
        await Promise.all([...procs].map((p) => p.stop()));
        deleteNamespaces();
        liveLabs.delete(lab);
      })();
      return tearing;
    },
    teardownSync() {
      torn = true;
      runCleanups();
      for (const p of procs) if (p.alive()) killPid(p.pid, 'SIGKILL');
      deleteNamespaces();
      liveLabs.delete(lab);
    },
  };
  liveLabs.add(lab);

  try {
    const addNs = (ns: string): void => {
      ipSync(['netns', 'add', ns]);
      created.push(ns);
      ipSync(['-n', ns, 'link', 'set', 'lo', 'up']);
    };
    addNs(bridgeNs);
    ipSync(['-n', bridgeNs, 'link', 'add', 'br0', 'type', 'bridge']);
    ipSync(['-n', bridgeNs, 'link', 'set', 'br0', 'up']);
    for (const n of nodes) {
      addNs(n.ns);
      // Both ends are born in the bridge namespace; one moves to the node.
      const port = `p-${n.name}`;
      const tmp = `v-${n.name}`;
      ipSync(['-n', bridgeNs, 'link', 'add', tmp, 'type', 'veth', 'peer', 'name', port]);
      ipSync(['-n', bridgeNs, 'link', 'set', port, 'master', 'br0']);
      ipSync(['-n', bridgeNs, 'link', 'set', port, 'up']);
      ipSync(['-n', bridgeNs, 'link', 'set', tmp, 'netns', n.ns]);
      ipSync(['-n', n.ns, 'link', 'set', tmp, 'name', n.ifname]);
      ipSync(['-n', n.ns, 'addr', 'add', `${n.ip}/${LAB_PREFIX_LEN}`, 'dev', n.ifname]);
      ipSync(['-n', n.ns, 'link', 'set', n.ifname, 'up']);
    }
  } catch (err) {
    lab.teardownSync();
    throw err;
  }
  return lab;
}

/** Names of the namespaces that currently exist with this lab id (for tests of teardown). */
export function labNamespaces(id: string): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 10_000 });
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(`${id}-`));
}
