/**
 * Tests for src/node/stream/socks5-server.ts (RFC 1928, RFC 1929) with a
 * fake dialer: the no-authentication path, the reply code for each way a
 * dial can fail (0x03 while the chosen exit node is away), pipelined bytes after the request, the credentials file
 * parser, and that malformed input is counted and never stops the server.
 */
import { strict as assert } from 'node:assert';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { parseSocksUsers, Socks5Server } from '../../../src/node/stream/socks5-server.js';
import type { StreamDialer } from '../../../src/node/stream/stream-dialer.js';
import type { StreamEndpoint, StreamHandle } from '../../../src/node/stream/stream-mux.js';
import { StreamReason } from '../../../src/wire/constants.js';

const written: number[] = [];
let lastEndpoint: StreamEndpoint | null = null;
const dialer = {
  dial: async (host: string, port: number) => {
    if (host === 'nobody') return { unknownName: true as const };
    if (host === '10.99.0.1') return { noRoute: true as const };
    if (host === '203.0.113.9') return { noRoute: true as const, exitDown: true as const };
    if (port === 1) return { refused: StreamReason.Policy };
    if (port === 2) return { refused: StreamReason.NotServed };
    if (port === 3) return { refused: StreamReason.Unreachable };
    if (port === 4) return { refused: StreamReason.Busy };
    const handle: StreamHandle = { peerHex: 'aa', id: 1, write: (b) => { written.push(...b); return true; }, finish: () => {}, reset: () => {} };
    return { handle };
  },
  attach: (_h: StreamHandle, e: StreamEndpoint) => { lastEndpoint = e; },
} as unknown as StreamDialer;

async function talk(port: number, bytes: Buffer, want: number): Promise<number[]> {
  const s = connect({ host: '127.0.0.1', port });
  let got = Buffer.alloc(0);
  let closed = false;
  s.on('data', (c: Buffer) => { got = Buffer.concat([got, c]); });
  s.on('close', () => { closed = true; });
  s.on('error', () => {});
  s.write(bytes);
  for (let i = 0; i < 200 && got.length < want && !closed; i++) await new Promise((r) => setTimeout(r, 10));
  s.destroy();
  return [...got];
}

function req(name: string, port: number, cmd = 1): Buffer {
  return Buffer.concat([Buffer.from([5, 1, 0, 5, cmd, 0, 3, name.length]), Buffer.from(name), Buffer.from([port >> 8, port & 0xff])]);
}

describe('SOCKS5 server', () => {
  const server = new Socks5Server({ dialer }, { host: '127.0.0.1', port: 0 });
  let port = 0;
  before(async () => { await server.start(); port = server.address!.port; });
  after(() => server.stop());

  it('no authentication: CONNECT succeeds, and bytes sent right after the request go into the stream first', async () => {
    written.length = 0;
    const got = await talk(port, Buffer.concat([req('bob', 80), Buffer.from('GET /')]), 12);
    assert.deepEqual(got.slice(0, 4), [5, 0, 5, 0]);
    for (let i = 0; i < 100 && written.length < 5; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(Buffer.from(written).toString(), 'GET /');
    assert.ok(lastEndpoint !== null);
  });

  it('each dial failure has its reply code', async () => {
    const cases: [string, number, number][] = [
      ['nobody', 80, 0x04], ['10.99.0.1', 80, 0x04], ['203.0.113.9', 80, 0x03], ['bob', 1, 0x02], ['bob', 2, 0x05], ['bob', 3, 0x04], ['bob', 4, 0x01],
    ];
    for (const [host, p, code] of cases) {
      const got = await talk(port, req(host, p), 12);
      assert.deepEqual(got.slice(0, 4), [5, 0, 5, code], `${host}:${p}`);
    }
    assert.equal(server.stats.unknown_name, 1);
    assert.equal(server.stats.no_route, 1);
    assert.equal(server.stats.no_exit_node, 1);
    assert.equal(server.stats.refused, 4);
  });

  it('an offer without no-auth gets 0xFF; BIND gets 0x07; port 0 is host unreachable; all counted, server still answers', async () => {
    assert.deepEqual(await talk(port, Buffer.from([5, 1, 2]), 2), [5, 0xff]);
    assert.deepEqual((await talk(port, req('bob', 80, 2), 12)).slice(0, 4), [5, 0, 5, 7]);
    assert.deepEqual((await talk(port, req('bob', 0), 12)).slice(0, 4), [5, 0, 5, 4]);
    assert.deepEqual(await talk(port, Buffer.from([5, 0]), 2), []);
    assert.equal(server.stats.no_method, 1);
    assert.equal(server.stats.bad_command, 1);
    assert.equal(server.stats.malformed, 2);
    assert.deepEqual((await talk(port, req('bob', 80), 12)).slice(0, 4), [5, 0, 5, 0]);
  });

  it('the credentials file: USER:PASSWORD lines, comments; a bad line or none is a coded error', () => {
    const users = parseSocksUsers('# people\nalice:pw:with:colons\n\nbob:x\r\n', 'f');
    assert.deepEqual([...users], [['alice', 'pw:with:colons'], ['bob', 'x']]);
    assert.throws(() => parseSocksUsers('alice\n', 'f'), { code: 'SM_ERR_STREAM_SOCKS_AUTH_FILE' });
    assert.throws(() => parseSocksUsers(':pw\n', 'f'), { code: 'SM_ERR_STREAM_SOCKS_AUTH_FILE' });
    assert.throws(() => parseSocksUsers('# nothing\n', 'f'), { code: 'SM_ERR_STREAM_SOCKS_AUTH_FILE' });
  });
});
