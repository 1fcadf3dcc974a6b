/**
 * src/web/web-guard.ts under arbitrary request heads (fast-check): whatever
 * a local process or a page sends as method, target, Host, Origin,
 * Sec-Fetch-Site, Authorization and Cookie, the check returns a decision
 * and never throws (an exception in node:http's request handler would take
 * the daemon down), and nothing without the token is admitted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fuzzParams, FUZZ_TEST_TIMEOUT_MS } from '../../testkit/fuzz-config.js';
import { allowedHosts, checkWebRequest } from '../../src/web/web-guard.js';

const TOKEN = 'tK3n_abcdefghijklmnopqrstuvwxyz0123456789AB';
const hosts = allowedHosts('127.0.0.1', 9470);
const text = fc.oneof(fc.string(), fc.constantFrom('127.0.0.1:9470', 'localhost:9470', 'http://127.0.0.1:9470', '/', '/?token=', 'http://[x', '//a b', 'none', 'same-origin', 'Bearer '));
const maybe = (a: fc.Arbitrary<string>) => fc.option(a, { nil: undefined });

test('arbitrary request heads: a decision, never an exception; no admission without the token', { timeout: FUZZ_TEST_TIMEOUT_MS }, () => {
  fc.assert(fc.property(
    maybe(fc.constantFrom('GET', 'POST', 'HEAD', 'PUT', 'OPTIONS')), maybe(text), maybe(text), maybe(text), maybe(text), maybe(text), maybe(text),
    (method, url, host, origin, site, authorization, cookie) => {
      const a = checkWebRequest({ method, url, headers: { host, origin, 'sec-fetch-site': site, authorization, cookie } }, { hosts, token: TOKEN });
      if (a.ok) assert.ok([url, authorization, cookie].some((v) => v?.includes(TOKEN)), 'admitted without the token');
      else assert.ok([400, 401, 403].includes(a.status));
    },
  ), fuzzParams(2_000));
});
