/**
 * Stable error codes of the command line itself (docs/conventions.md §9):
 * what the argument parser refuses, `down` waiting for a daemon that does
 * not go, `ip` asked for an address family the member lacks, and `netcheck`
 * with nothing to check or nothing answering. A code,
 * once shipped, keeps its meaning.
 */

export const CliCode = Object.freeze({
  /** The command line does not parse: unknown command or option, a missing or extra argument (exit status 2). */
  USAGE: 'SM_ERR_CLI_USAGE',
  /** `down`: the daemon accepted the shutdown but still answered on its control socket after DOWN_WAIT_MS. */
  DOWN_TIMEOUT: 'SM_ERR_CLI_DOWN_TIMEOUT',
  /** `ip -4` / `ip -6`: the node or member holds no mesh address of that family. */
  NO_ADDRESS: 'SM_ERR_CLI_NO_ADDRESS',
  /** `netcheck`: the configuration names no relay and no STUN server to check. */
  NETCHECK_NO_TARGET: 'SM_ERR_CLI_NETCHECK_NO_TARGET',
  /** `netcheck`: no STUN server and no relay answered (the report is printed first). */
  NETCHECK_UNREACHABLE: 'SM_ERR_CLI_NETCHECK_UNREACHABLE',
} as const);
export type CliCode = (typeof CliCode)[keyof typeof CliCode];
