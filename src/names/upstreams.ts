/**
 * The upstream resolvers that names outside the network domain go to
 * (docs/configuration.md "Names"): the node.dns.upstream list when set, else
 * the `nameserver` lines of /etc/resolv.conf read at start. Our own listen
 * addresses are left out either way (forwarding to ourselves would loop).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { NamesCode, NamesError } from './names-errors.js';
import type { Upstream } from './dns-forwarder.js';

export const RESOLV_CONF = '/etc/resolv.conf';
const DNS_PORT = 53;

/** `nameserver` addresses of resolv.conf text (port 53; a zone index like %eth0 is kept off). */
export function parseResolvConf(text: string): Upstream[] {
  const out: Upstream[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m === null) continue;
    const host = (m[1] as string).replace(/%.*$/, '');
    if (isIP(host) !== 0) out.push({ host, port: DNS_PORT });
  }
  return out;
}

/** One upstream as written in node.dns.upstream: IP, IP:PORT or [IPV6]:PORT; SM_ERR_NAMES_UPSTREAM otherwise. */
export function parseUpstream(text: string): Upstream {
  const t = text.trim();
  let host = t;
  let port = DNS_PORT;
  const bracket = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(t);
  const v4port = /^([0-9.]+):(\d{1,5})$/.exec(t);
  if (bracket !== null) {
    host = bracket[1] as string;
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else if (v4port !== null) {
    host = v4port[1] as string;
    port = Number(v4port[2]);
  }
  if (isIP(host) === 0 || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new NamesError(NamesCode.UPSTREAM, `DNS upstream ${JSON.stringify(text)}: expected IP, IP:PORT or [IPV6]:PORT`);
  }
  return { host, port };
}

/** A comma-separated upstream list. */
export function parseUpstreamList(text: string): Upstream[] {
  return text.split(',').filter((s) => s.trim() !== '').map(parseUpstream);
}

/** The configured list, else resolv.conf's (unreadable: none), minus our own listen addresses. */
export function resolveUpstreams(configured: readonly Upstream[] | undefined, listen: readonly Upstream[], resolvConf = RESOLV_CONF): Upstream[] {
  let list: readonly Upstream[] = configured ?? [];
  if (configured === undefined) {
    try {
      list = parseResolvConf(readFileSync(resolvConf, 'utf8'));
    } catch {
      list = [];
    }
  }
  const ours = (u: Upstream): boolean => listen.some((l) => l.port === u.port && (l.host === u.host || ((l.host === '0.0.0.0' || l.host === '::') && isLoopbackOrAny(u.host))));
  return list.filter((u) => !ours(u));
}

function isLoopbackOrAny(host: string): boolean {
  return host.startsWith('127.') || host === '::1' || host === '0.0.0.0' || host === '::';
}
