/**
 * The built CLI as a parent process meets it: where its entry point lies
 * (CLI_MAIN_PATH, dist/src/cli/main.js next to this file's dist/src/demo/)
 * and how a started relay announces itself on stdout (src/cli/relay.ts
 * prints `relay listening on wss://HOST:PORT pin sha256:<hex>` as its first
 * line). The root demo spawns relays and daemons through these; the test kit
 * re-exports them for its process helpers.
 */
import { fileURLToPath } from 'node:url';

/** The compiled CLI entry point (dist/src/cli/main.js). */
export const CLI_MAIN_PATH = fileURLToPath(new URL('../cli/main.js', import.meta.url));

const STARTUP_LINE = /^relay listening on (wss:\/\/(\S+):(\d+)) pin (sha256:[0-9a-f]{64})$/;

/** Parse the relay's startup line; null if `line` is not one. */
export function parseRelayStartupLine(line: string): { url: string; host: string; port: number; pin: string } | null {
  const m = STARTUP_LINE.exec(line.trim());
  if (m === null) return null;
  return { url: m[1] as string, host: m[2] as string, port: Number(m[3]), pin: m[4] as string };
}
