/**
 * Where a process's memory is, for the relay scale benchmark
 * (bench/relay-scale.ts): loaded into the relay process with
 * `NODE_OPTIONS=--import <dist/bench/memory-probe.js>` and
 * SHADOWMESH_MEMORY_PROBE_FILE set, it writes one JSON line to that file
 * every PROBE_INTERVAL_MS (replacing the last): process.memoryUsage() (V8
 * heap, external, ArrayBuffers) and the resident sizes of
 * /proc/self/smaps_rollup and of the malloc heap mapping ([heap] in
 * /proc/self/smaps). Its timer is unref'd: it never keeps the process alive.
 * Benchmarks only; the relay's own code knows nothing of it.
 */
import { readFileSync, writeFileSync } from 'node:fs';

/** Often enough that the benchmark reads a figure no older than its own sampling, rarely enough to cost nothing. */
const PROBE_INTERVAL_MS = 1_000;

export interface MemoryProbe {
  atMs: number;
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** Resident bytes of the [heap] mapping (glibc's main arena grows it with brk). */
  mallocHeapRss: number;
  /** Resident bytes of anonymous mappings other than [heap]: V8's pages, mmap'd malloc chunks and other arenas. */
  anonOtherRss: number;
}

/** Resident kB per mapping kind from /proc/self/smaps. */
function mappings(): { heapKb: number; anonKb: number } {
  let heapKb = 0;
  let anonKb = 0;
  let kind: 'heap' | 'anon' | 'file' = 'file';
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head !== null) {
      const name = head[1] ?? '';
      kind = name === '[heap]' ? 'heap' : name === '' ? 'anon' : 'file';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB$/.exec(line);
    if (rss !== null) {
      if (kind === 'heap') heapKb += Number(rss[1]);
      else if (kind === 'anon') anonKb += Number(rss[1]);
    }
  }
  return { heapKb, anonKb };
}

export function probeMemory(): MemoryProbe {
  const m = process.memoryUsage();
  const { heapKb, anonKb } = mappings();
  return { atMs: Date.now(), rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, mallocHeapRss: heapKb * 1024, anonOtherRss: anonKb * 1024 };
}

const file = process.env['SHADOWMESH_MEMORY_PROBE_FILE'];
if (file !== undefined && file !== '') {
  const write = (): void => {
    try {
      writeFileSync(file, `${JSON.stringify(probeMemory())}\n`);
    } catch {
      // the benchmark reads what is there; a failed write only leaves the last figure
    }
  };
  write();
  setInterval(write, PROBE_INTERVAL_MS).unref();
}
