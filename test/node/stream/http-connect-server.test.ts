/**
 * Tests for src/node/stream/http-connect-server.ts with a fake dialer: the
 * status line for each way a dial can fail (503 while the chosen exit node
 * is away, never a direct connection), each counted by reason.
 */
import { strict as assert } from 'node:assert';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { HttpConnectServer } from '../../../src/node/stream/http-connect-server.js';
import type { StreamDialer } from '../../../src/node/stream/stream-dialer.js';
import { StreamReason } from '../../../src/wire/constants.js';

const dialer = {
  dial: async (host: string) => {
    if (host === 'nobody') return { unknownName: true as const };
    if (host === '10.99.0.1') return { noRoute: true as const };
    if (host === '203.0.113.9') return { noRoute: true as const, exitDown: true as const };
    if (host === 'denied') return { refused: StreamReason.Policy };
    return { refused: StreamReason.Timeout };
  },
  attach: () => {},
} as unknown as StreamDialer;

async function statusLine(port: number, target: string): Promise<string> {
  const s = connect({ host: '127.0.0.1', port });
  let got = '';
  let closed = false;
  s.on('data', (c: Buffer) => { got += c.toString('latin1'); });
  s.on('close', () => { closed = true; });
  s.on('error', () => {});
  s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
  for (let i = 0; i < 200 && !got.includes('\r\n') && !closed; i++) await new Promise((r) => setTimeout(r, 10));
  s.destroy();
  return got.slice(0, got.indexOf('\r\n'));
}

describe('HTTP CONNECT server', () => {
  const server = new HttpConnectServer({ dialer }, { host: '127.0.0.1', port: 0 });
  let port = 0;
  before(async () => { await server.start(); port = server.address!.port; });
  after(() => server.stop());

  it('each dial failure has its status, counted by reason', async () => {
    const cases: [string, string][] = [
      ['nobody:80', 'HTTP/1.1 502 Bad Gateway'], ['10.99.0.1:80', 'HTTP/1.1 502 Bad Gateway'],
      ['203.0.113.9:80', 'HTTP/1.1 503 Service Unavailable'], ['denied:80', 'HTTP/1.1 403 Forbidden'], ['slow:80', 'HTTP/1.1 504 Gateway Timeout'],
    ];
    for (const [target, want] of cases) assert.equal(await statusLine(port, target), want, target);
    assert.equal(server.stats.unknown_name, 1);
    assert.equal(server.stats.no_route, 1);
    assert.equal(server.stats.no_exit_node, 1);
    assert.equal(server.stats.refused, 2);
  });
});
