/**
 * Stable error codes thrown by config (docs/conventions.md §9), always as
 * ConfigError. A code, once shipped, is never reused for another meaning.
 */

export const ConfigFileCode = Object.freeze({
  /** The file cannot be read or is not valid YAML. */
  FILE: 'SM_ERR_CONFIG_FILE',
} as const);
export type ConfigFileCode = (typeof ConfigFileCode)[keyof typeof ConfigFileCode];
