/**
 * One HTTP request to a web console on 127.0.0.1 (the node's or the relay's;
 * docs/architecture.md "Web console"), for the tests of its refusals: the
 * status and, when the answer is a coded JSON error, its code.
 *
 *     const r = await webRequest(port, { path: '/v1/status', headers: { Host: `127.0.0.1:${port}` } });
 *     assert.deepEqual(r, { status: 401, code: 'SM_ERR_WEB_TOKEN' });
 */
import { request } from 'node:http';

export interface WebAnswer {
  status: number;
  /** error.code of a JSON error body; null for anything else (a page, a stream). */
  code: string | null;
}

export function webRequest(port: number, o: { method?: string; path: string; headers: Record<string, string>; body?: string }): Promise<WebAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: o.method ?? 'GET', path: o.path, headers: o.headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { text += c; });
      res.on('end', () => {
        let code: string | null = null;
        try { code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? null; } catch { /* not JSON */ }
        resolve({ status: res.statusCode!, code });
      });
    });
    req.on('error', reject);
    req.end(o.body);
  });
}
