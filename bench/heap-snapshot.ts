/**
 * V8 heap snapshots (.heapsnapshot, the format Node's
 * `--heapsnapshot-signal` and v8.writeHeapSnapshot() write) reduced to
 * what the soak benchmark reports: the live heap per constructor and the
 * constructors that grew between two snapshots.
 *
 * V8 collects garbage before it writes a snapshot, so the sum of all
 * nodes' self sizes is the live heap at that moment: growth between two
 * snapshots is memory still reachable, not garbage waiting for a GC.
 * Sizes are self (shallow) sizes grouped the way DevTools' "Summary" view
 * groups them (objects, closures and native objects by constructor name,
 * everything else by node type, e.g. "(string)", "(code)"); retained sizes
 * would need the dominator tree and are not computed. Pure, no I/O besides
 * reading the file.
 */
import { readFileSync } from 'node:fs';

export interface ConstructorSize {
  name: string;
  count: number;
  bytes: number;
}

export interface HeapSummary {
  /** Sum of every node's self size: the live heap after V8's pre-snapshot GC. */
  totalBytes: number;
  nodes: number;
  byConstructor: Map<string, ConstructorSize>;
}

interface RawSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Node types grouped by their name (constructor); the others by "(type)". */
const NAMED_TYPES = new Set(['object', 'closure', 'native', 'regexp']);

export function summariseHeapSnapshot(text: string): HeapSummary {
  const raw = JSON.parse(text) as RawSnapshot;
  const fields = raw.snapshot.meta.node_fields;
  const types = raw.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  if (iType < 0 || iName < 0 || iSize < 0) throw new Error('heap snapshot: node_fields lacks type, name or self_size');
  const byConstructor = new Map<string, ConstructorSize>();
  let totalBytes = 0;
  const n = raw.nodes;
  for (let i = 0; i < n.length; i += width) {
    const type = types[n[i + iType]!] ?? '?';
    const name = NAMED_TYPES.has(type) ? (raw.strings[n[i + iName]!] ?? '?') : `(${type})`;
    const size = n[i + iSize]!;
    totalBytes += size;
    const e = byConstructor.get(name);
    if (e === undefined) byConstructor.set(name, { name, count: 1, bytes: size });
    else {
      e.count++;
      e.bytes += size;
    }
  }
  return { totalBytes, nodes: n.length / width, byConstructor };
}

export function readHeapSnapshot(file: string): HeapSummary {
  return summariseHeapSnapshot(readFileSync(file, 'utf8'));
}

export interface Grower {
  name: string;
  /** Self bytes and instance count added from `from` to `to` (negative: shrank). */
  bytes: number;
  count: number;
}

/** The `top` constructors whose self size grew most from `from` to `to`. */
export function topGrowers(from: HeapSummary, to: HeapSummary, top: number): Grower[] {
  const names = new Set([...from.byConstructor.keys(), ...to.byConstructor.keys()]);
  const out: Grower[] = [];
  for (const name of names) {
    const a = from.byConstructor.get(name);
    const b = to.byConstructor.get(name);
    out.push({ name, bytes: (b?.bytes ?? 0) - (a?.bytes ?? 0), count: (b?.count ?? 0) - (a?.count ?? 0) });
  }
  return out.filter((g) => g.bytes > 0).sort((x, y) => y.bytes - x.bytes).slice(0, top);
}
