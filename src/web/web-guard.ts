/**
 * Who may use the web console (docs/architecture.md "Web console",
 * docs/threat-model.md §7): the checks every request passes before it gets
 * a page, an asset, the live stream or an API route, in this order:
 *
 *  1. Host is one of the console's own names (allowedHosts): a page on
 *     another site that rebinds its DNS name to 127.0.0.1 still sends its
 *     own name as Host, and is refused (403 SM_ERR_WEB_HOST).
 *  2. Sec-Fetch-Site, when the browser sends it, is same-origin or none (a
 *     typed address); Origin, when present, is exactly http://<Host>. A
 *     script on another origin is refused (403 SM_ERR_WEB_ORIGIN), whatever
 *     cookie the browser attached.
 *  3. The token: `GET /?token=T` (the login link), else
 *     `Authorization: Bearer T`, else the session cookie (web-token.ts).
 *     Missing or wrong is 401 SM_ERR_WEB_UNAUTHORIZED.
 *  4. A request that only the cookie authenticates and that changes
 *     something (not GET or HEAD) must carry an Origin: browsers send one
 *     on every such fetch, so its absence means something other than our
 *     page, and the cookie alone is not trusted for it (403).
 *
 * Pure: it reads the request head, returns a decision and never throws on
 * what a client sent (a target that is not a URL is a 400 decision).
 */
import { tokenMatches, tokenOf } from './web-token.js';
import { WebCode } from './web-errors.js';

/** The parts of a request the checks read (node:http's IncomingMessage fits). */
export interface WebRequestHead {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: {
    readonly host?: string | undefined;
    readonly origin?: string | undefined;
    readonly authorization?: string | undefined;
    readonly cookie?: string | undefined;
    readonly 'sec-fetch-site'?: string | string[] | undefined;
  };
}

export type WebAccess =
  | { readonly ok: true; readonly via: 'login' | 'bearer' | 'cookie' }
  | { readonly ok: false; readonly status: 400 | 401 | 403; readonly code: WebCode; readonly message: string };

/** The path and query of a request target, or null when it is not a URL (node:http passes e.g. `http://[x` through; new URL throws on it). */
export function requestUrl(target: string | undefined): URL | null {
  try {
    return new URL(target ?? '/', 'http://console.invalid');
  } catch {
    return null;
  }
}

/**
 * The Host values the console answers to when it listens on host:port:
 * that address itself, and `localhost:PORT` when the address is loopback
 * (the name a user types). Lowercase, IPv6 in brackets.
 */
export function allowedHosts(host: string, port: number): ReadonlySet<string> {
  const h = host.toLowerCase();
  const bracketed = h.includes(':') ? `[${h}]` : h;
  const out = new Set([`${bracketed}:${port}`]);
  if (h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)) out.add(`localhost:${port}`);
  return out;
}

function refuse(status: 400 | 401 | 403, code: WebCode, message: string): WebAccess {
  return { ok: false, status, code, message };
}

/** The decision for one request: admitted (and how), or the status and code to refuse it with. */
export function checkWebRequest(req: WebRequestHead, expect: { readonly hosts: ReadonlySet<string>; readonly token: string }): WebAccess {
  const host = req.headers.host?.toLowerCase();
  if (host === undefined || !expect.hosts.has(host)) return refuse(403, WebCode.HOST, 'Host is not this console\'s address (a rebound or misdirected request)');
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return refuse(403, WebCode.ORIGIN, 'request from another site');
  const origin = req.headers.origin;
  if (origin !== undefined && origin.toLowerCase() !== `http://${host}`) return refuse(403, WebCode.ORIGIN, 'request from another origin');
  const method = req.method ?? 'GET';
  const url = requestUrl(req.url);
  if (url === null) return refuse(400, WebCode.REQUEST, 'the request target is not a URL');
  const login = url.pathname === '/' && method === 'GET' ? url.searchParams.get('token') : null;
  if (login !== null) {
    return tokenMatches(expect.token, login) ? { ok: true, via: 'login' } : refuse(401, WebCode.UNAUTHORIZED, 'wrong token: run `shadowmesh web` for this daemon\'s link');
  }
  const viaBearer = req.headers.authorization !== undefined;
  if (!tokenMatches(expect.token, tokenOf(req.headers))) return refuse(401, WebCode.UNAUTHORIZED, 'no valid token: open the link `shadowmesh web` prints');
  if (viaBearer) return { ok: true, via: 'bearer' };
  if (method !== 'GET' && method !== 'HEAD' && origin === undefined) return refuse(403, WebCode.ORIGIN, 'a change authenticated by the cookie must carry an Origin');
  return { ok: true, via: 'cookie' };
}
