/**
 * Helpers for the metrics tests that run real processes: a free port on
 * 127.0.0.1 for --metrics, and a scrape that parses the exposition format.
 */
import { request } from 'node:http';
import { createServer } from 'node:net';
import { parseExposition, type Family } from './exposition.js';

/** A port free on 127.0.0.1 right now (bound and released); the process started next takes it. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

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
