/**
 * Stable error codes of the command line itself (docs/conventions.md §9):
 * what the argument parser refuses, and `down` waiting for a daemon that
 * does not go. A code, once shipped, keeps its meaning.
 */

export const CliCode = Object.freeze({
  /** The command line does not parse: unknown command or option, a missing or extra argument (exit status 2). */
  USAGE: 'SM_ERR_CLI_USAGE',
  /** `down`: the daemon accepted the shutdown but still answered on its control socket after DOWN_WAIT_MS. */
  DOWN_TIMEOUT: 'SM_ERR_CLI_DOWN_TIMEOUT',
} as const);
export type CliCode = (typeof CliCode)[keyof typeof CliCode];
