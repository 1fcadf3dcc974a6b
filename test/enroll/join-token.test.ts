/**
 * Join tokens (src/enroll/join-token.ts): encode/decode round trips for DNS
 * names, IPv4 and IPv6 hosts; every corruption and any garbage text is
 * refused with SM_ERR_ENROLL_TOKEN_MALFORMED and nothing else.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeJoinToken, encodeJoinToken, MAX_TOKEN_CHARS, TOKEN_PREFIX, tokenEndpoint, type JoinToken } from '../../src/enroll/join-token.js';
import { throwsWithCode } from '../../testkit/expect-code.js';

const PIN = `sha256:${'ab'.repeat(32)}`;
const base: JoinToken = { host: 'ca.example.net', port: 7443, pin: PIN, id: '0123456789abcdef', secret: new Uint8Array(32).fill(7) };

test('a token round-trips and is one short line with the version prefix', () => {
  for (const host of ['ca.example.net', '192.0.2.10', '2001:db8::1', 'localhost']) {
    const text = encodeJoinToken({ ...base, host });
    assert.ok(text.startsWith(TOKEN_PREFIX));
    assert.match(text, /^smj1\.[A-Za-z0-9_-]+$/);
    assert.ok(text.length <= 140, `${text.length} chars`);
    const back = decodeJoinToken(`  ${text}\n`);
    assert.deepEqual(back, { ...base, host });
  }
  assert.equal(tokenEndpoint({ host: '2001:db8::1', port: 1 }), '[2001:db8::1]:1');
});

test('property: any well-formed token round-trips', () => {
  fc.assert(
    fc.property(
      fc.constantFrom('a', 'ca.example.net', '10.0.0.1', '::1', 'x-1.y'),
      fc.integer({ min: 1, max: 65_535 }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 8, maxLength: 8 }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      (host, port, pin, id, secret) => {
        const t = { host, port, pin: `sha256:${Buffer.from(pin).toString('hex')}`, id: Buffer.from(id).toString('hex'), secret };
        assert.deepEqual(decodeJoinToken(encodeJoinToken(t)), t);
      },
    ),
  );
});

test('corrupt tokens are refused with SM_ERR_ENROLL_TOKEN_MALFORMED', () => {
  const good = encodeJoinToken(base);
  const body = Buffer.from(good.slice(TOKEN_PREFIX.length), 'base64url');
  const variants = [
    '',
    'hello',
    good.slice(TOKEN_PREFIX.length),
    'smj2.' + good.slice(TOKEN_PREFIX.length),
    good.slice(0, -4),
    good + 'AAAA',
    good + '=',
    TOKEN_PREFIX + Buffer.concat([body, Buffer.from([0])]).toString('base64url'),
    TOKEN_PREFIX + Buffer.concat([Buffer.from([0]), body.subarray(1)]).toString('base64url'),
    TOKEN_PREFIX + 'A'.repeat(MAX_TOKEN_CHARS),
    good.replace('.', ',' ),
  ];
  // Port 0.
  const zeroPort = Buffer.from(body);
  zeroPort.writeUInt16BE(0, 1 + body[0]!);
  variants.push(TOKEN_PREFIX + zeroPort.toString('base64url'));
  // A host that is not a name.
  const badHost = Buffer.from(body);
  badHost[1] = 0x20;
  variants.push(TOKEN_PREFIX + badHost.toString('base64url'));
  for (const v of variants) throwsWithCode(() => decodeJoinToken(v), 'SM_ERR_ENROLL_TOKEN_MALFORMED');
  throwsWithCode(() => encodeJoinToken({ ...base, host: 'bad host' }), 'SM_ERR_ENROLL_TOKEN_MALFORMED');
  throwsWithCode(() => encodeJoinToken({ ...base, port: 0 }), 'SM_ERR_ENROLL_TOKEN_MALFORMED');
});

test('property: garbage text never decodes to anything but a coded refusal', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ maxLength: 200 }).map((s) => TOKEN_PREFIX + s), fc.uint8Array({ maxLength: 400 }).map((b) => TOKEN_PREFIX + Buffer.from(b).toString('base64url'))), (s) => {
      try {
        const t = decodeJoinToken(s);
        // The rare random body that is well formed must re-encode to itself.
        assert.equal(encodeJoinToken(t), s.trim());
      } catch (err) {
        assert.equal((err as { code?: string }).code, 'SM_ERR_ENROLL_TOKEN_MALFORMED');
      }
    }),
    { numRuns: 2000 },
  );
});
