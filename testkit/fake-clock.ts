/**
 * A deterministic virtual clock for tests. Time moves only when the test calls
 * advance(); due timers run in order of their due time, then of scheduling.
 */
import type { Clock, TimerHandle } from '../src/util/clock.js';

interface Pending { due: number; seq: number; fn: () => void; cancelled: boolean }

export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  #pending: Pending[] = [];

  constructor(startMs = 1_700_000_000_000) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  schedule(delayMs: number, fn: () => void): TimerHandle {
    const p: Pending = { due: this.#now + Math.max(0, delayMs), seq: this.#seq++, fn, cancelled: false };
    this.#pending.push(p);
    return { cancel: () => { p.cancelled = true; } };
  }

  /** Timers not yet run nor cancelled. */
  get pendingCount(): number {
    return this.#pending.filter((p) => !p.cancelled).length;
  }

  /** Move time forward by `ms`, running every timer that falls due, including ones scheduled meanwhile. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (let guard = 0; guard < 1_000_000; guard++) {
      let next: Pending | undefined;
      for (const p of this.#pending) {
        if (p.cancelled || p.due > target) continue;
        if (!next || p.due < next.due || (p.due === next.due && p.seq < next.seq)) next = p;
      }
      if (!next) break;
      this.#pending.splice(this.#pending.indexOf(next), 1);
      this.#now = Math.max(this.#now, next.due);
      next.fn();
    }
    this.#pending = this.#pending.filter((p) => !p.cancelled);
    this.#now = target;
  }
}
