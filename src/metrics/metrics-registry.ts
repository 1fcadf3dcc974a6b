/**
 * One Prometheus registry per process (issue 7 "Metrics"; docs/conventions.md §13),
 * and the two ways ShadowMesh fills it: gauges and counters that copy the
 * components' own counters at scrape time.
 *
 * Why collect-time copies: the relay, the paths and the data plane already
 * keep plain integer counters (they are what GET /stats and the control API
 * report). Reading them in a prom-client `collect()` callback costs nothing
 * per packet — the hot paths never call into prom-client — and the scrape
 * sees exactly what /stats and `shadowmesh status` see.
 *
 * Callers must know: a fresh `Registry` per call, never prom-client's global
 * one, so several relays or daemons can run in one test process. `read`
 * callbacks run on every scrape and must be cheap and must not throw; a
 * counter's `read` must return values that only grow (Prometheus treats a
 * decrease as a restart). Label values come from our code (reason names fixed
 * in source), never from the network.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

/** Every metric ShadowMesh defines starts with this. */
export const METRIC_PREFIX = 'shadowmesh_';

/** One sample: label values by label name, and the value. */
export type Sample = readonly [labels: Readonly<Record<string, string>>, value: number];

/** A registry with the default process metrics (CPU, memory, event-loop lag, handles) under `process_`/`nodejs_`. */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** A gauge whose samples come from `read()` at scrape time. */
export function gaugeFrom(registry: Registry, name: string, help: string, labelNames: readonly string[], read: () => Iterable<Sample>): Gauge {
  return new Gauge({
    name,
    help,
    labelNames: [...labelNames],
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.set(labels, value);
    },
  });
}

/** A counter whose samples come from `read()` at scrape time; values must only grow. */
export function counterFrom(registry: Registry, name: string, help: string, labelNames: readonly string[], read: () => Iterable<Sample>): Counter {
  return new Counter({
    name,
    help,
    labelNames: [...labelNames],
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.inc(labels, value);
    },
  });
}

/** Samples of a `{ reason: count }` map under one label, with fixed extra labels. */
export function* byLabel(label: string, counts: Readonly<Record<string, number>>, extra: Readonly<Record<string, string>> = {}): Iterable<Sample> {
  for (const [k, v] of Object.entries(counts)) yield [{ ...extra, [label]: k }, v];
}
