/**
 * A Logger whose level can change while the process runs, so a SIGHUP can
 * apply a new `log.level` (docs/configuration.md "Reloading on SIGHUP";
 * config-reload.ts) without rebuilding any component.
 *
 * The pino logger underneath (src/util/logger.ts) is created at 'debug' and
 * every call passes one shared gate first, so the loggers components took
 * with `child()` long ago follow the change at once: they all hold the same
 * gate. A call below the level costs one comparison; nothing is formatted.
 *
 * What callers must know: `set()` affects this logger and every child made
 * from it, before or after; the format and the destination never change.
 */
import { ConfigError } from '../errors.js';
import { createLogger, LOG_LEVELS, type LogFields, type Logger, type LoggerOptions, type LogLevel } from '../util/logger.js';

/** Order of the levels: a record is written when its rank is at least the gate's. */
const RANK: Readonly<Record<LogLevel, number>> = Object.freeze({ debug: 0, info: 1, warn: 2, error: 3, silent: 4 });

interface Gate {
  rank: number;
}

function gated(inner: Logger, gate: Gate): Logger {
  return {
    debug: (m: string, f?: LogFields) => { if (gate.rank <= RANK.debug) inner.debug(m, f); },
    info: (m: string, f?: LogFields) => { if (gate.rank <= RANK.info) inner.info(m, f); },
    warn: (m: string, f?: LogFields) => { if (gate.rank <= RANK.warn) inner.warn(m, f); },
    error: (m: string, f?: LogFields) => { if (gate.rank <= RANK.error) inner.error(m, f); },
    child: (c: string) => gated(inner.child(c), gate),
  };
}

export class AdjustableLogger {
  readonly logger: Logger;
  readonly #gate: Gate;
  #level: LogLevel;

  constructor(component: string, options: Omit<LoggerOptions, 'level'> & { level: LogLevel }) {
    AdjustableLogger.#check(options.level);
    this.#level = options.level;
    this.#gate = { rank: RANK[options.level] };
    this.logger = gated(createLogger(component, { ...options, level: 'debug' }), this.#gate);
  }

  get level(): LogLevel {
    return this.#level;
  }

  /** Change the level of this logger and all its children. */
  set(level: LogLevel): void {
    AdjustableLogger.#check(level);
    this.#level = level;
    this.#gate.rank = RANK[level];
  }

  static #check(level: LogLevel): void {
    if (!LOG_LEVELS.includes(level)) throw new ConfigError('SM_ERR_CONFIG_VALUE', `log level: expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
  }
}
