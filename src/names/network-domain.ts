/**
 * The network domain under which members have names, `NAME.<domain>`
 * (docs/configuration.md "Names"). The network CA may carry it in its
 * certificate (`ca init --domain`), so every member agrees on it; a node
 * setting (node.dns.domain) overrides it, and without either it is `mesh`.
 * The label rules live with the certificate fields (isCanonicalDomain).
 */
import { isCanonicalDomain } from '../identity/cert-fields.js';
import { NamesCode, NamesError } from './names-errors.js';

export const DEFAULT_NETWORK_DOMAIN = 'mesh';

/** True when `text` is a usable domain: dot-separated labels of letters, digits and inner '-', at most 253 characters; a trailing dot is allowed. */
export function isNetworkDomain(text: string): boolean {
  return typeof text === 'string' && isCanonicalDomain(text.toLowerCase().replace(/\.$/, ''));
}

/** `text` lowercased without a trailing dot; SM_ERR_NAMES_DOMAIN when it is not a domain. */
export function normalizeNetworkDomain(text: string): string {
  if (typeof text !== 'string' || !isNetworkDomain(text)) {
    throw new NamesError(NamesCode.DOMAIN, `network domain ${JSON.stringify(text)}: expected DNS labels of letters, digits and '-' separated by dots, e.g. mesh or corp.example`);
  }
  return text.toLowerCase().replace(/\.$/, '');
}
