/**
 * How far the relay process lets V8's old generation grow past what a
 * full collection left alive (docs/configuration.md "Relay memory").
 *
 * A relay's JavaScript garbage is mostly medium-lived: presence sets that
 * wait for a flush, frames that wait for their socket's write. It outlives
 * the young generation and piles up in the old one, and V8's default
 * heuristics let the old generation grow to several times its live size
 * before collecting it: at 10,000 members the heap was 400+ MiB for
 * 140-190 MiB alive. With a fixed factor of 1 + RELAY_HEAP_GROWING_PERCENT
 * / 100 the old generation is collected sooner, at the price of more
 * frequent (concurrent, mostly off the main thread) full collections
 * (BENCHMARKS.md "One relay holding many members").
 *
 * `shadowmesh relay` calls limitRelayHeapGrowth() once, before it loads its
 * configuration; an operator who starts Node with their own
 * --heap-growing-percent keeps theirs. Process-wide: never call it from a
 * node or a test process that is not a relay.
 */
import { setFlagsFromString } from 'node:v8';

/** Old-generation growth past the live size before the next full
 *  collection, in percent: 25 keeps a 10,000-member relay's heap within a
 *  few tens of MiB of what is alive, while a full collection is still
 *  needed only after a quarter of the live heap was allocated anew. */
export const RELAY_HEAP_GROWING_PERCENT = 25;

const FLAG = '--heap-growing-percent';

/** Set V8's heap growing factor for this process unless Node was started with one; returns the flag applied, or null. */
export function limitRelayHeapGrowth(execArgv: readonly string[] = process.execArgv): string | null {
  if (execArgv.some((a) => a === FLAG || a.startsWith(`${FLAG}=`) || a.startsWith('--heap_growing_percent'))) return null;
  const flag = `${FLAG}=${RELAY_HEAP_GROWING_PERCENT}`;
  setFlagsFromString(flag);
  return flag;
}
