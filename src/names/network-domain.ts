/**
 * The network domain under which members have names, `NAME.<domain>`
 * (docs/configuration.md "Names"). It is a node setting (node.dns.domain,
 * default `mesh`) and not yet carried in the CA certificate, so every member
 * of a network should configure the same one.
 */
import { NamesCode, NamesError } from './names-errors.js';

export const DEFAULT_NETWORK_DOMAIN = 'mesh';
const MAX_NAME_CHARS = 253;
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** True when `text` is a usable domain: dot-separated labels of letters, digits and inner '-', at most 253 characters; a trailing dot is allowed. */
export function isNetworkDomain(text: string): boolean {
  const t = text.toLowerCase().replace(/\.$/, '');
  return t.length > 0 && t.length <= MAX_NAME_CHARS && t.split('.').every((l) => LABEL.test(l));
}

/** `text` lowercased without a trailing dot; SM_ERR_NAMES_DOMAIN when it is not a domain. */
export function normalizeNetworkDomain(text: string): string {
  if (typeof text !== 'string' || !isNetworkDomain(text)) {
    throw new NamesError(NamesCode.DOMAIN, `network domain ${JSON.stringify(text)}: expected DNS labels of letters, digits and '-' separated by dots, e.g. mesh or corp.example`);
  }
  return text.toLowerCase().replace(/\.$/, '');
}
