/**
 * src/web/web-guard.ts: the console's Host, Origin, Sec-Fetch-Site and
 * token checks, as a browser on another site, a DNS-rebound page and a
 * local script would send them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allowedHosts, checkWebRequest, type WebRequestHead } from '../../src/web/web-guard.js';
import { WEB_COOKIE } from '../../src/web/web-token.js';

const TOKEN = 'tK3n_abcdefghijklmnopqrstuvwxyz0123456789AB';
const hosts = allowedHosts('127.0.0.1', 9470);
const check = (r: WebRequestHead) => checkWebRequest(r, { hosts, token: TOKEN });
const code = (r: WebRequestHead): string | null => {
  const a = check(r);
  return a.ok ? null : `${a.status} ${a.code}`;
};

test('allowedHosts: the listen address and, for loopback, localhost; IPv6 in brackets', () => {
  assert.deepEqual([...allowedHosts('127.0.0.1', 9470)], ['127.0.0.1:9470', 'localhost:9470']);
  assert.deepEqual([...allowedHosts('::1', 80)], ['[::1]:80', 'localhost:80']);
  assert.deepEqual([...allowedHosts('10.77.0.2', 80)], ['10.77.0.2:80']);
});

test('the login link admits the right token only, on GET / only', () => {
  assert.deepEqual(check({ method: 'GET', url: `/?token=${TOKEN}`, headers: { host: '127.0.0.1:9470' } }), { ok: true, via: 'login' });
  assert.equal(code({ method: 'GET', url: '/?token=wrong', headers: { host: '127.0.0.1:9470' } }), '401 SM_ERR_WEB_UNAUTHORIZED');
  assert.equal(code({ method: 'GET', url: `/app.js?token=${TOKEN}`, headers: { host: '127.0.0.1:9470' } }), '401 SM_ERR_WEB_UNAUTHORIZED');
});

test('without a token, or with a wrong one, everything is 401', () => {
  for (const url of ['/', '/app.js', '/web/stream', '/v1/status']) assert.equal(code({ method: 'GET', url, headers: { host: '127.0.0.1:9470' } }), '401 SM_ERR_WEB_UNAUTHORIZED', url);
  assert.equal(code({ method: 'GET', url: '/v1/status', headers: { host: '127.0.0.1:9470', authorization: 'Bearer nope' } }), '401 SM_ERR_WEB_UNAUTHORIZED');
  assert.equal(code({ method: 'GET', url: '/v1/status', headers: { host: '127.0.0.1:9470', authorization: `Basic ${TOKEN}` } }), '401 SM_ERR_WEB_UNAUTHORIZED');
  assert.equal(code({ method: 'GET', url: '/v1/status', headers: { host: '127.0.0.1:9470', cookie: `${WEB_COOKIE}=${TOKEN}x` } }), '401 SM_ERR_WEB_UNAUTHORIZED');
  assert.equal(code({ method: 'GET', url: '/v1/status', headers: { host: '127.0.0.1:9470', cookie: `other=${TOKEN}` } }), '401 SM_ERR_WEB_UNAUTHORIZED');
});

test('the bearer token or the session cookie admits a request from our own origin', () => {
  assert.deepEqual(check({ method: 'GET', url: '/v1/status', headers: { host: '127.0.0.1:9470', authorization: `Bearer ${TOKEN}` } }), { ok: true, via: 'bearer' });
  assert.deepEqual(check({ method: 'GET', url: '/v1/status', headers: { host: 'localhost:9470', cookie: `a=b; ${WEB_COOKIE}=${TOKEN}` } }), { ok: true, via: 'cookie' });
  assert.deepEqual(check({ method: 'POST', url: '/v1/chat/send', headers: { host: '127.0.0.1:9470', origin: 'http://127.0.0.1:9470', 'sec-fetch-site': 'same-origin', cookie: `${WEB_COOKIE}=${TOKEN}` } }), { ok: true, via: 'cookie' });
});

test('a Host other than our own is 403 before the token is even looked at (DNS rebinding)', () => {
  assert.equal(code({ method: 'GET', url: '/v1/status', headers: { host: 'evil.example:9470', authorization: `Bearer ${TOKEN}` } }), '403 SM_ERR_WEB_HOST');
  assert.equal(code({ method: 'GET', url: `/?token=${TOKEN}`, headers: { host: 'evil.example:9470' } }), '403 SM_ERR_WEB_HOST');
  assert.equal(code({ method: 'GET', url: '/', headers: { host: '127.0.0.1:9471', cookie: `${WEB_COOKIE}=${TOKEN}` } }), '403 SM_ERR_WEB_HOST');
  assert.equal(code({ method: 'GET', url: '/', headers: {} }), '403 SM_ERR_WEB_HOST');
});

test('another origin is 403 even with a valid cookie; a cookie-only change needs an Origin', () => {
  const cookie = `${WEB_COOKIE}=${TOKEN}`;
  assert.equal(code({ method: 'POST', url: '/v1/chat/send', headers: { host: '127.0.0.1:9470', origin: 'http://evil.example', cookie } }), '403 SM_ERR_WEB_ORIGIN');
  assert.equal(code({ method: 'POST', url: '/v1/chat/send', headers: { host: '127.0.0.1:9470', origin: 'null', cookie } }), '403 SM_ERR_WEB_ORIGIN');
  assert.equal(code({ method: 'GET', url: '/v1/status', headers: { host: '127.0.0.1:9470', 'sec-fetch-site': 'cross-site', cookie } }), '403 SM_ERR_WEB_ORIGIN');
  assert.equal(code({ method: 'GET', url: '/v1/status', headers: { host: '127.0.0.1:9470', 'sec-fetch-site': 'same-site', cookie } }), '403 SM_ERR_WEB_ORIGIN');
  assert.equal(code({ method: 'POST', url: '/v1/chat/send', headers: { host: '127.0.0.1:9470', cookie } }), '403 SM_ERR_WEB_ORIGIN');
  // A typed address (Sec-Fetch-Site: none) is how the user arrives.
  assert.deepEqual(check({ method: 'GET', url: '/', headers: { host: '127.0.0.1:9470', 'sec-fetch-site': 'none', cookie } }), { ok: true, via: 'cookie' });
});

test('a target that is not a URL is a 400 decision, not an exception', () => {
  assert.equal(code({ method: 'GET', url: 'http://[x', headers: { host: '127.0.0.1:9470', authorization: `Bearer ${TOKEN}` } }), '400 SM_ERR_WEB_REQUEST');
});
