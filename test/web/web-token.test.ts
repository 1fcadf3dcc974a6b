/** src/web/web-token.ts: fresh tokens, constant-time matching, where a request carries one, and the only form a log may hold. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rejectsWithCode } from '../../testkit/expect-code.js';
import { newWebToken, readWebTokenFile, redactToken, sessionCookie, tokenMatches, tokenOf, WEB_COOKIE } from '../../src/web/web-token.js';

test('a token is 32 random bytes in base64url, different each time', () => {
  const a = newWebToken();
  const b = newWebToken();
  assert.match(a, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(a, b);
  assert.equal(Buffer.from(a, 'base64url').length, 32);
});

test('tokenMatches: exactly the token, nothing shorter, longer or empty', () => {
  const t = newWebToken();
  assert.equal(tokenMatches(t, t), true);
  assert.equal(tokenMatches(t, t.slice(0, -1)), false);
  assert.equal(tokenMatches(t, `${t}A`), false);
  assert.equal(tokenMatches(t, ''), false);
  assert.equal(tokenMatches(t, undefined), false);
});

test('tokenOf: the bearer header first, else our cookie among others; anything else is no token', () => {
  assert.equal(tokenOf({ authorization: 'Bearer abc_DEF-1' }), 'abc_DEF-1');
  assert.equal(tokenOf({ authorization: 'Bearer abc', cookie: `${WEB_COOKIE}=zzz` }), 'abc');
  assert.equal(tokenOf({ authorization: 'Bearer a b' }), undefined);
  assert.equal(tokenOf({ cookie: `x=1; ${WEB_COOKIE}=tok; y=2` }), 'tok');
  assert.equal(tokenOf({ cookie: 'x=1' }), undefined);
  assert.equal(tokenOf({}), undefined);
});

test('the cookie is HttpOnly and SameSite=Strict; a redacted token keeps only its first characters', () => {
  assert.match(sessionCookie('T'), /HttpOnly/);
  assert.match(sessionCookie('T'), /SameSite=Strict/);
  const t = newWebToken();
  assert.equal(redactToken(t), `${t.slice(0, 4)}…`);
});

test('readWebTokenFile: one line of 32 to 128 base64url characters; a short, odd or missing file is a ConfigError that does not quote it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sm-web-token-'));
  try {
    const t = newWebToken();
    await writeFile(join(dir, 'ok'), `${t}\n`);
    assert.equal(await readWebTokenFile(join(dir, 'ok')), t);
    await writeFile(join(dir, 'short'), 'abc\n');
    const short = await rejectsWithCode(() => readWebTokenFile(join(dir, 'short')), 'SM_ERR_CONFIG_VALUE');
    assert.doesNotMatch(short.message, /abc/);
    await writeFile(join(dir, 'odd'), `${t} ${t}\n`);
    await rejectsWithCode(() => readWebTokenFile(join(dir, 'odd')), 'SM_ERR_CONFIG_VALUE');
    await rejectsWithCode(() => readWebTokenFile(join(dir, 'missing')), 'SM_ERR_CONFIG_VALUE');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
