/**
 * UDP socket buffers past the sysctl cap (src/node/path/udp-socket-buffers.ts):
 * as root (CAP_NET_ADMIN) a socket gets more than net.core.rmem_max through
 * SO_RCVBUFFORCE; the fd is found behind a bound dgram socket. Only loopback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { dgramFd, raiseSocketBuffers } from '../../../src/node/path/udp-socket-buffers.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

async function bound(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  return s;
}

test('the fd behind a bound dgram socket is found', async () => {
  const s = await bound();
  try {
    const fd = dgramFd(s);
    assert.ok(fd !== null && fd > 2, `fd ${String(fd)}`);
  } finally {
    s.close();
  }
});

test('with CAP_NET_ADMIN a socket gets buffers beyond net.core.rmem_max (SO_RCVBUFFORCE)', { skip: isRoot ? false : 'needs CAP_NET_ADMIN (root)' }, async () => {
  const cap = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8').trim());
  const want = cap * 2; // more than SO_RCVBUF may grant
  const s = await bound();
  try {
    const r = raiseSocketBuffers(s, want);
    assert.equal(r.forced, true, 'SO_RCVBUFFORCE was used');
    assert.ok(r.granted >= want, `granted ${r.granted}, asked ${want}, cap ${cap}`);
    // A plain socket asking the same gets at most the cap (doubled by Linux's bookkeeping): the force made the difference.
    const plain = await bound();
    try {
      plain.setRecvBufferSize(want);
      assert.ok(plain.getRecvBufferSize() / 2 <= cap, 'the plain socket is capped');
      assert.ok(plain.getRecvBufferSize() / 2 < r.granted, 'the forced socket got more than the plain one');
    } finally {
      plain.close();
    }
  } finally {
    s.close();
  }
});
