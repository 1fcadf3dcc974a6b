/**
 * Helpers for the metrics tests that run real processes: a plain GET against
 * a --metrics listener on 127.0.0.1 (a free port for it is
 * testkit/free-port.ts), and a scrape that parses the exposition format.
 */
import { request } from 'node:http';
import { parseExposition, type Family } from './prometheus-exposition.js';

/** GET `path` from 127.0.0.1:`port` (a --metrics listener); any status is returned. */
export function httpGet(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: timeout`)));
    req.on('error', reject);
    req.end();
  });
}

/** GET /metrics and parse it (throws on a malformed line). */
export async function scrape(port: number): Promise<Map<string, Family>> {
  const r = await httpGet(port, '/metrics');
  if (r.status !== 200) throw new Error(`GET /metrics: status ${r.status}`);
  if (!r.type.startsWith('text/plain; version=0.0.4')) throw new Error(`GET /metrics: content-type ${r.type}`);
  return parseExposition(r.body);
}
