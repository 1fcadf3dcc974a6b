/**
 * Stable error codes thrown by node/path (docs/conventions.md §9). Both are ConfigError
 * codes: a caller's mistake at construction or call time, never bad network
 * input (which is dropped and counted instead). A code, once shipped, is
 * never reused for another meaning.
 */

export const PathCode = Object.freeze({
  /** An option of PathTimers, the selector or PathManager is unknown, out of range or inconsistent. */
  OPTION: 'SM_ERR_PATH_OPTION',
  /** A PathManager or path was handed an argument it cannot use (wrong peer id size, a path for another peer, a relay path as direct). */
  ARG: 'SM_ERR_PATH_ARG',
} as const);
export type PathCode = (typeof PathCode)[keyof typeof PathCode];

