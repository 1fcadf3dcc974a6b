/**
 * Test-only preload for a real relay process: records every WebSocket
 * message the relay receives (after TLS decryption and unmasking, i.e.
 * exactly what the relay's code gets) to the file named by
 * SHADOWMESH_TAP_FILE, so a test can prove what the relay never sees.
 *
 *   NODE_OPTIONS="--import file:///…/dist/testkit/relay-tap.js" SHADOWMESH_TAP_FILE=/tmp/x
 *
 * It wraps ws's WebSocket.prototype.emit for 'message' events and appends the
 * raw bytes; the relay process's own code is unchanged.
 */
import { appendFileSync } from 'node:fs';
import { WebSocket } from 'ws';

const file = process.env['SHADOWMESH_TAP_FILE'];
if (file) {
  const proto = WebSocket.prototype as unknown as { emit: (event: string | symbol, ...args: unknown[]) => boolean };
  const original = proto.emit;
  proto.emit = function tapEmit(this: unknown, event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'message') {
      const data = args[0];
      const chunks = Array.isArray(data) ? (data as Buffer[]) : [data as Buffer];
      for (const c of chunks) if (c instanceof Uint8Array) appendFileSync(file, c);
    }
    return original.call(this, event, ...args);
  };
}
