/**
 * Reads a V8 `.cpuprofile` (what `node --cpu-prof` writes at exit) and
 * summarizes it: self time per function and inclusive time per function,
 * both in ms of sampled time. Pure, no I/O beyond what the caller passes.
 *
 * Self time of a node = the sum of the time deltas of the samples taken while
 * it was on top of the stack. Time spent in native code that a JS function
 * called (OpenSSL under Cipheriv.update, write(2) under writeBatch) counts as
 * that JS function's self time: V8 samples only see the JS frame. Inclusive
 * time counts a sample once per distinct function on its stack (recursion is
 * not double counted).
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionTime {
  /** `name (file:line)`; V8's pseudo frames keep their own names, e.g. `(idle)`. */
  name: string;
  ms: number;
}

export interface ProfileSummary {
  /** Wall time the profile covers. */
  wallMs: number;
  /** Sampled time not in (idle): the process's busy time on its main thread. */
  busyMs: number;
  self: FunctionTime[];
  inclusive: FunctionTime[];
}

function label(cf: CallFrame): string {
  const name = cf.functionName === '' ? '(anonymous)' : cf.functionName;
  if (cf.url === '' || name.startsWith('(')) return name;
  const file = cf.url.replace(/^file:\/\//, '').replace(/^.*\/(dist|node_modules)\//, '$1/').replace(/^node:/, 'node:');
  return `${name} (${file}:${cf.lineNumber + 1})`;
}

export function summarizeProfile(p: CpuProfile): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const selfUs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i] as number;
    // V8 records the delta before sample i; the last delta is attributed to the next sample.
    const dt = (p.timeDeltas[i + 1] ?? 0);
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, dt));
  }
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let idleUs = 0;
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (node === undefined) continue;
    totalUs += us;
    const name = label(node.callFrame);
    if (name === '(idle)') idleUs += us;
    self.set(name, (self.get(name) ?? 0) + us);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (n === undefined) break;
      const l = label(n.callFrame);
      if (seen.has(l)) continue;
      seen.add(l);
      inclusive.set(l, (inclusive.get(l) ?? 0) + us);
    }
  }
  const sorted = (m: Map<string, number>): FunctionTime[] =>
    [...m.entries()].map(([name, us]) => ({ name, ms: us / 1_000 })).sort((a, b) => b.ms - a.ms);
  return { wallMs: (p.endTime - p.startTime) / 1_000, busyMs: (totalUs - idleUs) / 1_000, self: sorted(self), inclusive: sorted(inclusive) };
}
