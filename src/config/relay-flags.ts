/**
 * `--relay` given once or several times on `shadowmesh up`, read onto the
 * two keys it feeds (docs/configuration.md "Several relays"):
 *
 * - `--relay wss://HOST:PORT` (no pin in it) is node.relay, and `--pin`
 *   gives its pin set, as it always did; written twice, the last one wins,
 *   as it did when `--relay` took one value (a script appending `--relay`
 *   to override an earlier one keeps working).
 * - `--relay wss://HOST:PORT#PIN[,PIN...]` carries its own pin set and is an
 *   entry of node.relays, in the order given (the order breaks ties between
 *   relays of equal latency, src/node/path/relay-set.ts).
 *
 * Pure: values in, settings and problems out; every malformed value is one
 * problem naming the flag, the accepted forms and the value received, and
 * nothing here throws.
 */
import { isWssUrl, parseRelayEntry } from './config-schema.js';

export const RELAY_FLAG = '--relay';

/** What `--relay` accepts, for --help and for problems. */
export const RELAY_FLAG_EXPECTED = 'wss://HOST:PORT (its pin set in --pin) or wss://HOST:PORT#PIN[,PIN...]';

export interface RelayFlagSettings {
  /** node.relay: the last `--relay` without a pin. */
  relay?: string;
  /** node.relays as its variable writes it: the entries with a pin, separated by spaces. */
  relays?: string;
  problems: string[];
}

/** Split the values of a repeated `--relay` (commander hands an array; a single string is one value). */
export function relayFlagSettings(given: unknown): RelayFlagSettings {
  const values = (Array.isArray(given) ? given : [given]).map((v) => String(v));
  const problems: string[] = [];
  const bare: string[] = [];
  const entries: string[] = [];
  for (const v of values) {
    if (v.includes('#')) {
      if (parseRelayEntry(v) === null) problems.push(`${RELAY_FLAG}: expected ${RELAY_FLAG_EXPECTED}, got "${v}"`);
      else entries.push(v);
    } else if (isWssUrl(v)) bare.push(v);
    else problems.push(`${RELAY_FLAG}: expected ${RELAY_FLAG_EXPECTED}, got "${v}"`);
  }
  return {
    ...(bare.length > 0 ? { relay: bare[bare.length - 1] as string } : {}),
    ...(entries.length > 0 ? { relays: entries.join(' ') } : {}),
    problems,
  };
}
