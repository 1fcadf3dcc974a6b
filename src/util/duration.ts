/**
 * Human durations for flags and config values: "1500ms", "30s", "5m", "24h",
 * "365d", and combinations written largest unit first, "1h30m", "1d12h".
 *
 * Grammar (strict, so a typo is an error instead of a silently different
 * value): one or more `<digits><unit>` terms, no spaces, no signs, no
 * fractions, units strictly decreasing (so "30m1h" and "1h1h" are refused).
 * Units: d (24 h; no daylight-saving meaning), h, m, s, ms.
 *
 * parseDuration returns whole milliseconds as a safe integer; zero ("0s") is
 * a valid duration and callers that need a positive one check that
 * themselves. formatDuration is its inverse: parseDuration(formatDuration(x))
 * === x for every non-negative safe integer x.
 */
import { ConfigError } from '../errors.js';

const MS_PER_SECOND = 1_000;
const MS_PER_MINUTE = 60 * MS_PER_SECOND;
const MS_PER_HOUR = 60 * MS_PER_MINUTE;
const MS_PER_DAY = 24 * MS_PER_HOUR;

/** Units from largest to smallest; the order defines "strictly decreasing". */
const UNITS: ReadonlyArray<readonly [suffix: string, ms: number]> = [
  ['d', MS_PER_DAY],
  ['h', MS_PER_HOUR],
  ['m', MS_PER_MINUTE],
  ['s', MS_PER_SECOND],
  ['ms', 1],
];

/** Longest text accepted: a duration flag is short; this bounds the regex work. */
const MAX_DURATION_TEXT_CHARS = 64;

// "ms" must be tried before "m" and "s" at the same position.
const TERM = /(\d+)(ms|d|h|m|s)/y;

function durationError(text: string, why: string): ConfigError {
  return new ConfigError('SM_ERR_CONFIG_DURATION', `invalid duration ${JSON.stringify(text)}: ${why} (examples: 30s, 5m, 24h, 365d, 1500ms, 1h30m)`);
}

/** Parses a duration into milliseconds. Throws ConfigError SM_ERR_CONFIG_DURATION naming the text. */
export function parseDuration(text: string): number {
  if (typeof text !== 'string') throw new ConfigError('SM_ERR_CONFIG_DURATION', `duration: expected a string, got ${typeof text}`);
  if (text.length === 0) throw durationError(text, 'empty');
  if (text.length > MAX_DURATION_TEXT_CHARS) throw durationError(text.slice(0, MAX_DURATION_TEXT_CHARS) + '…', 'too long');
  let total = 0;
  let pos = 0;
  let lastUnitIndex = -1;
  while (pos < text.length) {
    TERM.lastIndex = pos;
    const m = TERM.exec(text);
    if (m === null) throw durationError(text, `expected <number><unit> at position ${pos}`);
    const digits = m[1] as string;
    const suffix = m[2] as string;
    const unitIndex = UNITS.findIndex(([s]) => s === suffix);
    if (unitIndex <= lastUnitIndex) throw durationError(text, 'units must appear once each, largest first');
    lastUnitIndex = unitIndex;
    const value = Number(digits);
    const unitMs = (UNITS[unitIndex] as readonly [string, number])[1];
    total += value * unitMs;
    if (!Number.isSafeInteger(value) || !Number.isSafeInteger(total)) throw durationError(text, 'too large');
    pos = TERM.lastIndex;
  }
  return total;
}

/** Formats milliseconds as the shortest combined form, e.g. 5400000 -> "1h30m", 0 -> "0ms". */
export function formatDuration(ms: number): string {
  if (typeof ms !== 'number' || !Number.isSafeInteger(ms) || ms < 0) {
    throw new ConfigError('SM_ERR_CONFIG_DURATION', `duration ms: expected a non-negative safe integer, got ${String(ms)}`);
  }
  if (ms === 0) return '0ms';
  let rest = ms;
  let out = '';
  for (const [suffix, unitMs] of UNITS) {
    const n = Math.floor(rest / unitMs);
    if (n > 0) {
      out += `${n}${suffix}`;
      rest -= n * unitMs;
    }
  }
  return out;
}
