/**
 * The JSON log records a process wrote to stderr (one pino object a line;
 * other lines, such as a stack trace, are skipped), for tests that assert
 * on what a relay or daemon logged.
 */

export type LogRecord = Record<string, unknown>;

/** Every JSON record in `stderr`, in order. */
export function logRecords(stderr: string): LogRecord[] {
  return stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogRecord);
}

/** The records whose `msg` matches, and whose `level` is `level` when given. */
export function loggedRecords(stderr: string, msg: RegExp, level?: string): LogRecord[] {
  return logRecords(stderr).filter((r) => msg.test(String(r['msg'])) && (level === undefined || r['level'] === level));
}
