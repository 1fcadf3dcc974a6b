/**
 * A TCP socket as the local end of a stream (docs/architecture.md
 * "Streams"): bytes read from the socket go into the stream, the stream's
 * bytes are written to the socket, and each side's end and errors map to
 * FIN and RESET.
 *
 * Backpressure both ways, so one slow end holds at most one window:
 *  - socket → stream: the socket is paused when the stream's send window is
 *    full (write returned false) and resumed when the peer acknowledged.
 *  - stream → socket: credit returns only when a write was flushed to the
 *    kernel (the write callback), so a reader that stops reading stops the
 *    peer's sender at one window.
 *
 * The socket must be created with allowHalfOpen: true, so that the local
 * reader's end (FIN) does not close our writing side: a half-closed stream
 * still carries the other direction.
 */
import type { Socket } from 'node:net';
import { StreamReason } from '../../wire/constants.js';
import type { StreamEndpoint, StreamHandle } from './stream-mux.js';

/** Connect `socket` to `handle`; returns the endpoint the mux drives. Bytes already read (`head`) go first. */
export function bridgeSocket(socket: Socket, handle: StreamHandle, head?: Uint8Array): StreamEndpoint {
  let ended = false;
  // The caller may have paused the socket while the stream opened: read again unless the window is already full.
  if (head === undefined || head.length === 0 || handle.write(head)) socket.resume();
  socket.on('data', (chunk: Buffer) => {
    if (!handle.write(chunk)) socket.pause();
  });
  socket.on('end', () => {
    ended = true;
    handle.finish();
  });
  socket.on('error', () => { /* 'close' follows and resets the stream */ });
  socket.on('close', () => {
    // Closed without both FINs having been exchanged: the peer must not wait for more.
    if (!ended || !socket.writableFinished) handle.reset(StreamReason.Aborted);
  });
  return {
    deliver(bytes, taken) {
      if (socket.destroyed) return;
      socket.write(bytes, (err) => { if (err === undefined || err === null) taken(); });
    },
    end() {
      if (!socket.destroyed) socket.end();
    },
    abort() {
      socket.destroy();
    },
    resume() {
      if (!socket.destroyed && socket.isPaused()) socket.resume();
    },
  };
}
