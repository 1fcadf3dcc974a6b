/**
 * Stable error codes of the demo (src/demo/, src/cli/demo.ts;
 * docs/conventions.md §9). A code, once shipped, is never reused for another
 * meaning.
 */

/** SM_ERR_* codes of prerequisites.ts, always as ConfigError. */
export const DemoCode = Object.freeze({
  /** Run as root for the namespace demo, but a tool or the TUN/TAP driver it needs is missing. */
  PREREQUISITES: 'SM_ERR_DEMO_PREREQUISITES',
} as const);
export type DemoCode = (typeof DemoCode)[keyof typeof DemoCode];
