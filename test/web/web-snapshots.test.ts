/** src/web/web-snapshots.ts on the fake clock: one snapshot per tick for every page, the subscriber bound, slow pages cut, closed pages forgotten. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../testkit/fake-clock.js';
import { silentLogger } from '../../src/util/logger.js';
import { MAX_WEB_PENDING_BYTES, MAX_WEB_SUBSCRIBERS, WEB_SNAPSHOT_INTERVAL_MS, WebSnapshots, type WebStreamSink } from '../../src/web/web-snapshots.js';

class Sink implements WebStreamSink {
  written: string[] = [];
  writableLength = 0;
  destroyed = false;
  #close: Array<() => void> = [];
  write(chunk: string): boolean { this.written.push(chunk); return true; }
  destroy(): void { if (this.destroyed) return; this.destroyed = true; for (const f of this.#close) f(); }
  once(_e: 'close', fn: () => void): this { this.#close.push(fn); return this; }
}

test('each page gets a snapshot at once and one per interval; the snapshot is built once per tick', () => {
  const clock = new FakeClock();
  let n = 0;
  const s = new WebSnapshots({ clock, logger: silentLogger, snapshot: () => ({ n: ++n }) });
  const a = new Sink();
  const b = new Sink();
  assert.equal(s.subscribe(a), true);
  assert.equal(s.subscribe(b), true);
  assert.equal(a.written.length, 1);
  clock.advance(WEB_SNAPSHOT_INTERVAL_MS);
  assert.equal(a.written.length, 2);
  assert.equal(b.written.length, 2);
  assert.equal(a.written[1], b.written[1]);
  assert.match(a.written[1]!, /^event: snapshot\ndata: \{"n":3\}\n\n$/);
  s.stop();
  assert.equal(a.destroyed, true);
});

test(`at most ${MAX_WEB_SUBSCRIBERS} pages; a closed one frees its place and gets nothing more`, () => {
  const clock = new FakeClock();
  const s = new WebSnapshots({ clock, logger: silentLogger, snapshot: () => ({}) });
  const sinks = Array.from({ length: MAX_WEB_SUBSCRIBERS }, () => new Sink());
  for (const k of sinks) assert.equal(s.subscribe(k), true);
  assert.equal(s.subscribe(new Sink()), false);
  assert.equal(s.stats.refused, 1);
  sinks[0]!.destroy();
  assert.equal(s.subscribers, MAX_WEB_SUBSCRIBERS - 1);
  assert.equal(s.subscribe(new Sink()), true);
  clock.advance(WEB_SNAPSHOT_INTERVAL_MS);
  assert.equal(sinks[0]!.written.length, 1);
  s.stop();
});

test('a page that does not read is cut and counted; a throwing snapshot skips the tick', () => {
  const clock = new FakeClock();
  let fail = false;
  const s = new WebSnapshots({ clock, logger: silentLogger, snapshot: () => { if (fail) throw new Error('boom'); return {}; } });
  const slow = new Sink();
  const ok = new Sink();
  s.subscribe(slow);
  s.subscribe(ok);
  slow.writableLength = MAX_WEB_PENDING_BYTES + 1;
  clock.advance(WEB_SNAPSHOT_INTERVAL_MS);
  assert.equal(slow.destroyed, true);
  assert.equal(s.stats.slowConsumers, 1);
  assert.equal(s.subscribers, 1);
  fail = true;
  clock.advance(WEB_SNAPSHOT_INTERVAL_MS);
  assert.equal(s.stats.snapshotErrors, 1);
  fail = false;
  clock.advance(WEB_SNAPSHOT_INTERVAL_MS);
  assert.equal(ok.written.length, 3);
  s.stop();
});
