/**
 * One reconciliation pass at a time, never a queue (docs/architecture.md
 * "Subnet routes", "Exit nodes"): request() starts a pass when none runs and
 * otherwise only marks the state stale, so the pass in flight is followed by
 * exactly one more. However fast events arrive (a relay flapping members),
 * what is kept is one promise and one flag, and the passes run are at most
 * one in flight plus one waiting. A pass that throws is reported to onError;
 * the next request() starts afresh.
 */
export class CoalescingPass {
  readonly #run: () => Promise<void>;
  readonly #onError: (err: Error) => void;
  #pass: Promise<void> | null = null;
  #stale = false;
  /** Passes run so far (tests: flapping costs a bounded number of passes). */
  passes = 0;

  /** `run` brings the state to what it should be now (and returns at once when there is nothing to do). */
  constructor(run: () => Promise<void>, onError: (err: Error) => void) {
    this.#run = run;
    this.#onError = onError;
  }

  request(): void {
    if (this.#pass !== null) {
      this.#stale = true;
      return;
    }
    this.#pass = this.#passes().catch((err: unknown) => this.#onError(err as Error))
      .finally(() => { this.#pass = null; });
  }

  /** Forget a waiting pass (stop): the one in flight, if any, still ends. */
  cancelWaiting(): void {
    this.#stale = false;
  }

  /** Resolves when no pass is running or waiting. */
  async settled(): Promise<void> {
    while (this.#pass !== null) await this.#pass;
  }

  async #passes(): Promise<void> {
    do {
      this.#stale = false;
      this.passes++;
      await this.#run();
    } while (this.#stale);
  }
}
