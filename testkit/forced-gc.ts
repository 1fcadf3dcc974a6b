/**
 * A full garbage collection on demand, for tests that claim memory stays
 * bounded: V8's `gc()` without starting node with --expose-gc (the flag is
 * set at run time, and the function taken from a fresh context).
 *
 *     const before = liveBytes();   // after a full GC
 *     ... flood ...
 *     assert.ok(liveBytes() - before < BOUND);
 *
 * What callers must know: liveBytes() is what JavaScript still holds after a
 * full collection (heap in use plus ArrayBuffer memory, which holds every
 * Buffer and Uint8Array); RSS also counts freed pages the allocator keeps,
 * socket buffers and whatever else the process did, so it says little about
 * a leak over a few seconds. nativeBytes() takes out what V8 and JavaScript
 * account for (the heap pages V8 has resident, which it grows while garbage is
 * made fast and gives back slowly, and the external and ArrayBuffer memory
 * liveBytes() already counts), leaving memory only native code holds.
 */
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A full collection; twice, so what the first one's finalizers released goes too. */
function collect(): void {
  gc();
  gc();
}

/** Bytes JavaScript holds after a full collection: heap in use + ArrayBuffers. */
export function liveBytes(): number {
  collect();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Resident bytes outside V8's heap and outside what JavaScript objects hold (external memory and
 *  ArrayBuffers), after a full collection: the allocator's own pages, socket buffers, native state. A native
 *  leak shows here; V8 growing its heap under a burst of garbage does not. */
export function nativeBytes(): number {
  collect();
  let heapResident = 0;
  for (const space of getHeapSpaceStatistics()) heapResident += space.physical_space_size;
  const m = process.memoryUsage();
  return m.rss - heapResident - m.external;
}
