/**
 * Structured logging through pino, behind our own narrow `Logger` interface
 * (docs/conventions.md §13), so no component imports pino and tests pass a fake.
 *
 * Output, one record per line on stderr:
 *   json (default)  {"level":"info","time":"<ISO>","component":"node/peers","msg":"…",<fields>}
 *   pretty          <ISO> INFO  node/peers: … key=value …   (for a terminal)
 * Level comes from options, else SHADOWMESH_LOG_LEVEL, else 'info'; format
 * from options, else SHADOWMESH_LOG_FORMAT ('json' | 'pretty'), else json.
 * The commands pass the format they chose: `auto` (their default) is
 * pretty exactly when stderr is a terminal (src/cli/log-format.ts).
 *
 * What callers must know:
 *  - stderr is written synchronously (pino.destination sync), so the last
 *    lines before process.exit() or a crash are not lost.
 *  - `child(c)` names the component `<parent>/<c>` and shares the parent's
 *    level, format and destination.
 *  - bigint fields are written as decimal strings (JSON has no bigint).
 *  - A field named like a record key (level, time, component, msg) is
 *    written as `field.<name>` rather than overwrite the record's own.
 *  - Begin messages with the peer's shortId() where one is involved; never
 *    pass key material or plaintext here (test/ops/log-secrets.test.ts
 *    greps a live mesh's logs for both).
 */
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type LogFormat = 'json' | 'pretty';
export type LogFields = Record<string, string | number | boolean | bigint | null | undefined>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(component: string): Logger;
}

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];
export const LOG_LEVEL_ENV = 'SHADOWMESH_LOG_LEVEL';
export const LOG_FORMAT_ENV = 'SHADOWMESH_LOG_FORMAT';

const RESERVED = new Set(['level', 'time', 'component', 'msg']);

function parseLevel(v: string | undefined): LogLevel | undefined {
  return v !== undefined && (LOG_LEVELS as readonly string[]).includes(v) ? (v as LogLevel) : undefined;
}

function parseFormat(v: string | undefined): LogFormat | undefined {
  return v !== undefined && (LOG_FORMATS as readonly string[]).includes(v) ? (v as LogFormat) : undefined;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Same as format: 'pretty' (kept for existing callers). */
  pretty?: boolean;
  format?: LogFormat;
  /** Receives each finished line (with its '\n') instead of stderr; for tests. */
  write?: (line: string) => void;
}

/** One JSON record as a terminal line: `<time> <LEVEL> <component>: <msg> k=v …`. */
export function prettyLine(jsonLine: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(jsonLine) as Record<string, unknown>;
  } catch {
    return jsonLine.endsWith('\n') ? jsonLine : jsonLine + '\n';
  }
  const { time, level, component, msg, ...fields } = rec;
  const extra = Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' && /[\s"=]/.test(v) ? JSON.stringify(v) : String(v)}`).join(' ');
  return `${String(time)} ${String(level).toUpperCase().padEnd(5)} ${String(component)}: ${String(msg)}${extra ? ' ' + extra : ''}\n`;
}

/** One synchronous stderr stream for every JSON logger of the process, opened on first use. */
let stderrDestination: DestinationStream | null = null;

function stderrStream(): DestinationStream {
  return (stderrDestination ??= pino.destination({ dest: 2, sync: true }));
}

function destinationOf(format: LogFormat, write: ((line: string) => void) | undefined): DestinationStream {
  if (write === undefined && format === 'json') return stderrStream();
  const out = write ?? ((line: string) => { stderrStream().write(line); });
  // pino hands the stream whole lines; pretty re-reads the one it just wrote (terminals only, not a hot path).
  return { write: format === 'pretty' ? (line: string) => out(prettyLine(line)) : out };
}

/** The record's fields after the message: undefined dropped, bigint as text, reserved names prefixed. */
function recordOf(msg: string, fields: LogFields | undefined): Record<string, unknown> {
  const rec: Record<string, unknown> = { msg };
  if (fields !== undefined) {
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) continue;
      rec[RESERVED.has(k) ? `field.${k}` : k] = typeof v === 'bigint' ? v.toString() : v;
    }
  }
  return rec;
}

function wrap(p: PinoLogger<never>, component: string, root: PinoLogger<never>): Logger {
  // The message goes inside the merged object, so it is written before the fields (pino would append it last).
  return {
    debug: (m, f) => { if (p.isLevelEnabled('debug')) p.debug(recordOf(m, f)); },
    info: (m, f) => { if (p.isLevelEnabled('info')) p.info(recordOf(m, f)); },
    warn: (m, f) => { if (p.isLevelEnabled('warn')) p.warn(recordOf(m, f)); },
    error: (m, f) => { if (p.isLevelEnabled('error')) p.error(recordOf(m, f)); },
    child: (c) => {
      const name = `${component}/${c}`;
      return wrap(root.child({ component: name }), name, root);
    },
  };
}

export function createLogger(component: string, options: LoggerOptions = {}): Logger {
  const level = options.level ?? parseLevel(process.env[LOG_LEVEL_ENV]) ?? 'info';
  const format = options.format ?? (options.pretty === true ? 'pretty' : undefined) ?? parseFormat(process.env[LOG_FORMAT_ENV]) ?? 'json';
  const root = pino(
    {
      level,
      base: null,
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label: string) => ({ level: label }) },
    },
    destinationOf(format, options.write),
  ) as PinoLogger<never>;
  return wrap(root.child({ component }), component, root);
}

/** A logger that drops everything, for tests and library defaults. */
export const silentLogger: Logger = createLogger('silent', { level: 'silent', write: () => undefined });
