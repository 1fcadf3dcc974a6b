/**
 * Structured logging: one JSON object per line on stderr, or a readable line
 * when `pretty` is set. Messages begin with the peer's short id where one is
 * involved (STYLE.md §12). Never pass key material or plaintext here.
 *
 * Level comes from options, else SHADOWMESH_LOG_LEVEL, else 'info'.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type LogFields = Record<string, string | number | boolean | bigint | null | undefined>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(component: string): Logger;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

function parseLevel(v: string | undefined): LogLevel | undefined {
  return v !== undefined && v in RANK ? (v as LogLevel) : undefined;
}

export interface LoggerOptions {
  level?: LogLevel;
  pretty?: boolean;
  write?: (line: string) => void;
}

export function createLogger(component: string, options: LoggerOptions = {}): Logger {
  const level = options.level ?? parseLevel(process.env['SHADOWMESH_LOG_LEVEL']) ?? 'info';
  const write = options.write ?? ((line: string) => { process.stderr.write(line); });
  const pretty = options.pretty ?? false;
  const min = RANK[level];
  const emit = (lvl: LogLevel, msg: string, fields?: LogFields): void => {
    if (RANK[lvl] < min) return;
    if (pretty) {
      const extra = fields ? Object.entries(fields).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${String(v)}`).join(' ') : '';
      write(`${new Date().toISOString()} ${lvl.toUpperCase().padEnd(5)} ${component}: ${msg}${extra ? ' ' + extra : ''}\n`);
      return;
    }
    const rec: Record<string, unknown> = { time: new Date().toISOString(), level: lvl, component, msg };
    if (fields) for (const [k, v] of Object.entries(fields)) if (v !== undefined) rec[k] = typeof v === 'bigint' ? v.toString() : v;
    write(JSON.stringify(rec) + '\n');
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (c) => createLogger(`${component}/${c}`, { level, pretty, write }),
  };
}

/** A logger that drops everything, for tests and library defaults. */
export const silentLogger: Logger = createLogger('silent', { level: 'silent' });
