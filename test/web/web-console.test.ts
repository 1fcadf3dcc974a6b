/**
 * src/web/web-console.ts on loopback with a real ControlServer's routes
 * (a small handler, docs/conventions.md §11): the login link, the security
 * headers, refusals without the token, from another origin or Host, the
 * routes a page may not reach, the live stream's subscriber bound and the
 * request size bound.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request, type IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import { ControlServer } from '../../src/node/control/control-server.js';
import { MAX_CONTROL_REQUEST_BYTES } from '../../src/node/control/control-protocol.js';
import { systemClock } from '../../src/util/clock.js';
import { silentLogger } from '../../src/util/logger.js';
import { MAX_WEB_CONNECTIONS, WEB_API_ROUTES, WEB_CSP, WebConsole } from '../../src/web/web-console.js';
import { MAX_WEB_SUBSCRIBERS } from '../../src/web/web-snapshots.js';
import { newWebToken, WEB_COOKIE } from '../../src/web/web-token.js';

const token = newWebToken();
let stopped = 0;
const control = new ControlServer({
  handler: {
    status: () => ({ name: 'alice' }) as never,
    peers: () => ({ peers: [] }),
    ping: async () => { throw new Error('unused'); },
    shutdown: () => ({ name: 'alice', peerId: '00', pid: 1 }),
    shutdownAnswered: () => { stopped++; },
  },
}, { path: '/tmp/sm-web-console-unused.sock' });
const web = new WebConsole({ api: control.httpRoutes(WEB_API_ROUTES), snapshot: () => ({ tick: true }), clock: systemClock, logger: silentLogger }, { host: '127.0.0.1', port: 0, token });

interface Answer { status: number; headers: IncomingHttpHeaders; body: string; close(): void }

function http(method: string, path: string, headers: Record<string, string> = {}, body?: string, firstChunkOnly = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: web.port, method, path, headers: { Host: `127.0.0.1:${web.port}`, ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
        if (firstChunkOnly) resolve({ status: res.statusCode!, headers: res.headers, body: text, close: () => res.destroy() });
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text, close: () => undefined }));
      res.on('error', () => resolve({ status: res.statusCode!, headers: res.headers, body: text, close: () => undefined }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const cookie = (): Record<string, string> => ({ Cookie: `${WEB_COOKIE}=${token}` });
const errorCode = (a: Answer): string => (JSON.parse(a.body) as { error: { code: string } }).error.code;

before(async () => { await web.start(); });
after(async () => { await web.stop(); });

test('the login link sets an HttpOnly SameSite=Strict cookie and sends the browser to /, which then serves the page with a self-only CSP', async () => {
  const login = await http('GET', `/?token=${token}`);
  assert.equal(login.status, 303);
  assert.equal(login.headers.location, '/');
  assert.match(String(login.headers['set-cookie']), new RegExp(`^${WEB_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict$`));
  const page = await http('GET', '/', cookie());
  assert.equal(page.status, 200);
  assert.equal(page.headers['content-security-policy'], WEB_CSP);
  assert.doesNotMatch(WEB_CSP, /unsafe-inline|unsafe-eval|\*/);
  assert.equal(page.headers['x-frame-options'], 'DENY');
  assert.match(page.body, /<script type="module" src="\/app.js"><\/script>/);
  assert.doesNotMatch(page.body, /<script>|<style>| style=|https?:\/\//, 'no inline script or style, nothing from another site');
  const js = await http('GET', '/app.js', cookie());
  assert.equal(js.status, 200);
  assert.match(String(js.headers['content-type']), /^text\/javascript/);
  assert.doesNotMatch(js.body, /https?:\/\/(?!console\.invalid)/, 'the script fetches nothing from another site');
});

test('without the token: 401 for the page, its files, the stream and the API; with a wrong one too', async () => {
  for (const path of ['/', '/app.js', '/app.css', '/web/stream', '/v1/status']) {
    const r = await http('GET', path);
    assert.equal(r.status, 401, path);
    assert.equal(errorCode(r), 'SM_ERR_WEB_UNAUTHORIZED');
    assert.equal(r.headers['content-security-policy'], WEB_CSP);
  }
  assert.equal((await http('GET', '/?token=guess')).status, 401);
  assert.equal((await http('GET', '/v1/status', { Authorization: 'Bearer guess' })).status, 401);
});

test('another Origin or Host is 403 even with the token; a cookie-only POST without Origin is 403; nothing reaches a handler', async () => {
  const bearer = { Authorization: `Bearer ${token}` };
  const origin = await http('POST', '/v1/chat/send', { ...cookie(), Origin: 'http://evil.example', 'Content-Type': 'application/json' }, '{}');
  assert.equal(origin.status, 403);
  assert.equal(errorCode(origin), 'SM_ERR_WEB_ORIGIN');
  const host = await http('GET', '/v1/status', { ...bearer, Host: 'rebind.example:80' });
  assert.equal(host.status, 403);
  assert.equal(errorCode(host), 'SM_ERR_WEB_HOST');
  const noOrigin = await http('POST', '/v1/chat/send', { ...cookie(), 'Content-Type': 'application/json' }, '{}');
  assert.equal(noOrigin.status, 403);
  const ok = await http('GET', '/v1/status', bearer);
  assert.equal(ok.status, 200);
  assert.equal((JSON.parse(ok.body) as { name: string }).name, 'alice');
  assert.equal(ok.headers['content-security-policy'], WEB_CSP);
});

test('shutdown and web are not routes of the console: a page can neither stop the daemon nor read the token back', async () => {
  const bearer = { Authorization: `Bearer ${token}`, Origin: `http://127.0.0.1:${web.port}` };
  const shut = await http('POST', '/v1/shutdown', bearer, '');
  assert.equal(shut.status, 404);
  assert.equal(stopped, 0);
  assert.equal((await http('GET', '/v1/web', bearer)).status, 404);
  assert.equal((await http('GET', '/nope', bearer)).status, 404);
});

test('a body over the control bound is 413; the live stream takes a bounded number of pages, then 503', async () => {
  const big = await http('POST', '/v1/chat/send', { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, 'x'.repeat(MAX_CONTROL_REQUEST_BYTES + 1));
  assert.equal(big.status, 413);
  const streams: Answer[] = [];
  for (let i = 0; i < MAX_WEB_SUBSCRIBERS; i++) streams.push(await http('GET', '/web/stream', { Authorization: `Bearer ${token}` }, undefined, true));
  for (const s of streams) assert.equal(s.headers['content-type'], 'text/event-stream');
  assert.equal(web.subscribers, MAX_WEB_SUBSCRIBERS);
  const refused = await http('GET', '/web/stream', { Authorization: `Bearer ${token}` });
  assert.equal(refused.status, 503);
  assert.equal(errorCode(refused), 'SM_ERR_WEB_BUSY');
  for (const s of streams) s.close();
});

test('a stranger holding every connection with half-sent headers gets no more than the bound; the console answers once they go', async () => {
  const sockets: Socket[] = [];
  let closedByServer = 0;
  const extra = 8;
  try {
    for (let i = 0; i < MAX_WEB_CONNECTIONS + extra; i++) {
      const s = connect(web.port, '127.0.0.1');
      s.on('error', () => undefined);
      s.on('close', () => { closedByServer++; });
      s.write(`GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1:${web.port}\r\nX-Slow: `);
      sockets.push(s);
    }
    for (let i = 0; i < 50 && closedByServer < extra; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    // At least those over the bound (a connection of an earlier test may still count against it).
    assert.ok(closedByServer >= extra && closedByServer < MAX_WEB_CONNECTIONS, `${closedByServer} closed: the connections over ${MAX_WEB_CONNECTIONS} are closed at once, the others held`);
  } finally {
    for (const s of sockets) s.destroy();
  }
  const ok = await waitOk();
  assert.equal(ok, 200);
});

/** The first status answer once the slots are free again (the server sees the closes a moment later). */
async function waitOk(): Promise<number> {
  let last = 0;
  for (let i = 0; i < 50; i++) {
    last = await http('GET', '/v1/status', { Authorization: `Bearer ${token}` }).then((a) => a.status, () => 0);
    if (last === 200) return last;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return last;
}

test('a request target that is not a URL (`GET http://[x`) is a 400 for anyone, and the daemon goes on: it once threw out of the request handler', async () => {
  const answer = await new Promise<string>((resolve, reject) => {
    const s = connect(web.port, '127.0.0.1');
    let text = '';
    s.on('error', reject);
    s.on('data', (d) => { text += d.toString('latin1'); });
    s.on('close', () => resolve(text));
    s.write(`GET http://[x HTTP/1.1\r\nHost: 127.0.0.1:${web.port}\r\nAuthorization: Bearer ${token}\r\n\r\n`);
  });
  assert.match(answer, /^HTTP\/1\.1 400 /);
  assert.match(answer, /SM_ERR_WEB_REQUEST/);
  assert.equal(await waitOk(), 200);
});
