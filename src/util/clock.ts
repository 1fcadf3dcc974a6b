/**
 * The injected clock (docs/conventions.md §7): components never call Date.now() or
 * setTimeout directly for protocol logic, so tests can run them on virtual time
 * (testkit/fake-clock.ts).
 */

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Run `fn` once after `delayMs`. The handle's cancel() is idempotent. */
  schedule(delayMs: number, fn: () => void): TimerHandle;
}

/** The real clock. Timers are unref'd: a pending timer never keeps a process alive on its own. */
export const systemClock: Clock = {
  now: () => Date.now(),
  schedule(delayMs, fn) {
    const t = setTimeout(fn, Math.max(0, delayMs));
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};
