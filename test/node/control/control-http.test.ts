/**
 * The control API over HTTP on the control socket (control-http.ts): the
 * sniffer, the Host/Origin rule, the status codes, and every kind of route
 * against a ControlServer with a fake handler; NDJSON on the same socket is
 * unchanged, also when its first bytes arrive one at a time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlClient } from '../../../src/node/control/control-client.js';
import { ControlCode } from '../../../src/node/control/control-errors.js';
import { CONTROL_HTTP_ROUTES, hostAllowed, httpStatusOf, sniffProtocol } from '../../../src/node/control/control-http.js';
import { MAX_CONTROL_REQUEST_BYTES, type ChatEvent, type PingParams, type StatusResult, type WhoisResult } from '../../../src/node/control/control-protocol.js';
import { ControlServer, type ChatControlHandler, type ControlHandler } from '../../../src/node/control/control-server.js';

const STATUS = { peerId: 'a'.repeat(64), name: 'alice', addresses: ['10.1.0.2/24'] } as unknown as StatusResult;
const BOB: WhoisResult = {
  self: false, name: 'bob', peerId: 'b'.repeat(64), addresses: ['10.1.0.3/24'], groups: ['web'], certExpires: new Date(0).toISOString(), certExpiresMs: 0,
  online: true, path: 'relay', carrier: 'relay', remote: 'relay',
};

interface Fake extends ControlHandler {
  pings: PingParams[];
  emit: ((e: ChatEvent) => void) | null;
  aborted: number;
  stops: number;
}

function fake(): Fake {
  const f: Fake = {
    pings: [], emit: null, aborted: 0, stops: 0,
    status: () => STATUS,
    peers: () => ({ peers: [] }),
    async ping(params) {
      f.pings.push(params);
      return { peer: { peerId: 'b'.repeat(64), name: 'bob', addresses: [] }, replies: [], lost: [], summary: { sent: 1, received: 1, lossPercent: 0, minMs: 1, avgMs: 1, maxMs: 1 } };
    },
    whois: (p) => {
      if (p.target !== 'bob') throw Object.assign(new Error(`no member is called ${p.target}`), { code: ControlCode.UNKNOWN_NAME });
      return BOB;
    },
    shutdown: () => ({ name: 'alice', peerId: 'a'.repeat(64), pid: 1 }),
    shutdownAnswered: () => { f.stops++; },
    chat: {
      users: () => ({ self: { peerId: 'a'.repeat(64), name: 'alice' }, users: [] }),
      list: () => ({ conversations: [] }),
      events: (_p: unknown, onEvent: (e: ChatEvent) => void, signal: AbortSignal) => new Promise((resolve) => {
        f.emit = onEvent;
        signal.addEventListener('abort', () => { f.aborted++; f.emit = null; resolve({ events: [] }); }, { once: true });
      }),
    } as unknown as ChatControlHandler,
  };
  return f;
}

async function withServer(fn: (path: string, f: Fake) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sm-http-'));
  const path = join(dir, 'c.sock');
  const f = fake();
  const server = new ControlServer({ handler: f }, { path });
  await server.start();
  try {
    await fn(path, f);
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; json: unknown }

function http(path: string, method: string, url: string, options: { body?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: path, method, path: url, headers: { Host: 'localhost', ...options.headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, json: text.length > 0 ? JSON.parse(text) : null }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Raw bytes in, everything the server says until it closes (or `ms` pass). */
function raw(path: string, chunks: string[], ms = 300): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(path);
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => { out += c; });
    s.on('error', () => undefined);
    s.once('connect', async () => {
      for (const c of chunks) {
        s.write(c);
        await new Promise((r) => setTimeout(r, 20));
      }
    });
    setTimeout(() => { s.destroy(); resolve(out); }, ms);
  });
}

test('the sniffer: a method token and a space is HTTP, a prefix of one waits for more, anything else is NDJSON', () => {
  const b = (s: string): Uint8Array => Buffer.from(s);
  assert.equal(sniffProtocol(b('GET /v1/status HTTP/1.1\r\n')), 'http');
  assert.equal(sniffProtocol(b('POST ')), 'http');
  assert.equal(sniffProtocol(b('OPTIONS * HTTP/1.1')), 'http');
  assert.equal(sniffProtocol(b('G')), 'more');
  assert.equal(sniffProtocol(b('OPTION')), 'more');
  assert.equal(sniffProtocol(b('{"id":1}')), 'ndjson');
  assert.equal(sniffProtocol(b('hello\n')), 'ndjson');
  assert.equal(sniffProtocol(b('GETX /')), 'ndjson');
  assert.equal(sniffProtocol(b('get /')), 'ndjson');
  assert.equal(sniffProtocol(b('\n')), 'ndjson');
});

test('Host must be localhost-ish (or absent); status codes follow the error code', () => {
  for (const h of [undefined, 'localhost', 'LOCALHOST:8080', '127.0.0.1', '127.0.0.1:80', '[::1]', '[::1]:9']) assert.ok(hostAllowed(h), String(h));
  for (const h of ['evil.example', 'localhost.evil.example', '10.0.0.1', '', 'unix']) assert.ok(!hostAllowed(h), h);
  assert.equal(httpStatusOf(ControlCode.PARAMS), 400);
  assert.equal(httpStatusOf(ControlCode.REQUEST), 400);
  assert.equal(httpStatusOf(ControlCode.FORBIDDEN), 403);
  assert.equal(httpStatusOf(ControlCode.METHOD), 404);
  assert.equal(httpStatusOf(ControlCode.UNKNOWN_NAME), 404);
  assert.equal(httpStatusOf(ControlCode.TOO_LARGE), 413);
  assert.equal(httpStatusOf(ControlCode.BUSY), 503);
  assert.equal(httpStatusOf(ControlCode.INTERNAL), 500);
  assert.equal(httpStatusOf('SM_ERR_CHAT_DECLINED'), 409);
  assert.ok(Object.values(CONTROL_HTTP_ROUTES).every((r) => r.method === 'GET' || r.method === 'POST'));
});

test('HTTP routes answer the NDJSON results as JSON; errors are {error: {code, message}} with 400, 404, 405, 413', () => withServer(async (path, f) => {
  const status = await http(path, 'GET', '/v1/status');
  assert.equal(status.status, 200);
  assert.equal(status.headers['content-type'], 'application/json');
  assert.deepEqual(status.json, STATUS);
  assert.deepEqual((await http(path, 'GET', '/v1/peers')).json, { peers: [] });
  assert.deepEqual((await http(path, 'GET', '/v1/whois?target=bob')).json, BOB);
  assert.deepEqual((await http(path, 'GET', '/v1/users?keys=true')).json, { self: { peerId: 'a'.repeat(64), name: 'alice' }, users: [] });
  assert.deepEqual((await http(path, 'GET', '/v1/chat/conversations')).json, { conversations: [] });
  const ping = await http(path, 'POST', '/v1/ping', { body: JSON.stringify({ peer: 'bob', count: 1, intervalMs: 10 }), headers: { 'Content-Type': 'application/json' } });
  assert.equal(ping.status, 200);
  assert.deepEqual(f.pings, [{ peer: 'bob', count: 1, intervalMs: 10 }]);

  const unknownMember = await http(path, 'GET', '/v1/whois?target=mallory');
  assert.equal(unknownMember.status, 404);
  assert.equal((unknownMember.json as { error: { code: string } }).error.code, ControlCode.UNKNOWN_NAME);
  const cases: Array<[string, string, string | undefined, number, string]> = [
    ['GET', '/v1/nope', undefined, 404, ControlCode.METHOD],
    ['GET', '/', undefined, 404, ControlCode.METHOD],
    ['POST', '/v1/status', undefined, 405, ControlCode.METHOD],
    ['GET', '/v1/ping', undefined, 405, ControlCode.METHOD],
    ['GET', '/v1/status?x=1', undefined, 400, ControlCode.PARAMS],
    ['GET', '/v1/users?keys=maybe', undefined, 400, ControlCode.PARAMS],
    ['POST', '/v1/ping', '{not json', 400, ControlCode.REQUEST],
    ['POST', '/v1/ping', '[1]', 400, ControlCode.PARAMS],
    ['POST', '/v1/ping', '{"peer":"bob","count":0}', 400, ControlCode.PARAMS],
    ['POST', '/v1/ping', JSON.stringify({ peer: 'x'.repeat(MAX_CONTROL_REQUEST_BYTES) }), 413, ControlCode.TOO_LARGE],
  ];
  for (const [method, url, body, code, errCode] of cases) {
    const r = await http(path, method, url, body === undefined ? {} : { body });
    assert.equal(r.status, code, `${method} ${url}`);
    const e = (r.json as { error: { code: string; message: string } }).error;
    assert.equal(e.code, errCode, `${method} ${url}`);
    assert.equal(typeof e.message, 'string');
  }
  assert.equal((await http(path, 'POST', '/v1/status')).headers['allow'], 'GET');
}));

test('an Origin header or a foreign Host is refused with 403 before any handler runs', () => withServer(async (path, f) => {
  const refused: Array<Record<string, string>> = [{ Origin: 'http://localhost' }, { Host: 'evil.example' }, { Host: 'evil.example', Origin: 'null' }];
  for (const headers of refused) {
    const r = await http(path, 'POST', '/v1/ping', { headers, body: '{"peer":"bob"}' });
    assert.equal(r.status, 403, JSON.stringify(headers));
    assert.equal((r.json as { error: { code: string } }).error.code, ControlCode.FORBIDDEN);
  }
  assert.deepEqual(f.pings, []);
}));

test('GET /v1/events streams chat events as Server-Sent Events and ends the subscription when the client goes', () => withServer(async (path, f) => {
  const lines: string[] = [];
  let contentType = '';
  const req = request({ socketPath: path, path: '/v1/events', headers: { Host: 'localhost' } }, (res) => {
    contentType = String(res.headers['content-type']);
    res.setEncoding('utf8');
    res.on('data', (c: string) => lines.push(...c.split('\n')));
  });
  req.on('error', () => undefined);
  req.end();
  const until = async (fn: () => boolean): Promise<void> => { for (let i = 0; i < 200 && !fn(); i++) await new Promise((r) => setTimeout(r, 10)); };
  await until(() => f.emit !== null && lines.includes(': subscribed'));
  assert.equal(contentType, 'text/event-stream');
  const event = { type: 'message', conversationId: 'c'.repeat(32), peerId: 'b'.repeat(64), name: 'bob', seq: 1, text: 'hi' } as unknown as ChatEvent;
  f.emit!(event);
  await until(() => lines.some((l) => l.startsWith('data: ')));
  assert.deepEqual(JSON.parse(lines.find((l) => l.startsWith('data: '))!.slice(6)), event);
  req.destroy();
  await until(() => f.aborted === 1);
  assert.equal(f.aborted, 1);
}));

test('POST /v1/shutdown answers who stops, then asks the daemon to stop', () => withServer(async (path, f) => {
  const r = await http(path, 'POST', '/v1/shutdown');
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { name: 'alice', peerId: 'a'.repeat(64), pid: 1 });
  for (let i = 0; i < 100 && f.stops === 0; i++) await new Promise((res) => setTimeout(res, 10));
  assert.equal(f.stops, 1);
}));

test('NDJSON on the same socket is unchanged: the client, a request split into single bytes, and garbage gets the usual error', () => withServer(async (path) => {
  assert.deepEqual(await new ControlClient({ path }).status(), STATUS);
  const split = await raw(path, [...'{"id":3,"method":"status"}\n'], 1_500);
  assert.deepEqual(JSON.parse(split), { id: 3, result: STATUS });
  const garbage = await raw(path, ['hello\n']);
  assert.deepEqual(JSON.parse(garbage), { id: null, error: { code: ControlCode.REQUEST, message: 'request is not valid JSON' } });
  const httpSplit = await raw(path, ['G', 'ET /v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n']);
  assert.match(httpSplit, /^HTTP\/1\.1 200 OK\r\n/);
}));
