/**
 * Headroom in front of sealed peer frames, so the relay link can put its
 * SEND header in front of a DATA frame without copying the frame.
 *
 * PeerSession.encrypt() allocates FRAME_HEADROOM_BYTES more than the frame
 * and returns a view that starts after them, registered here. A transport
 * that finds a frame registered may claim the headroom (once) and write its
 * own header into it; the frame's bytes themselves are never touched, so the
 * same frame may still go out on other paths. A frame not registered (a
 * caller's own buffer, a slice of something else) is never written outside
 * its bounds: the transport copies it as before.
 *
 * The registry holds frames weakly: nothing is kept alive by it.
 */

/** Room for the relay's SEND prefix (docs/protocol.md §1: type u8 + zero + peer id, SEND_HEADER_BYTES). */
export const FRAME_HEADROOM_BYTES = 36;

const withHeadroom = new WeakSet<Uint8Array>();

/** A fresh frame of `length` bytes with FRAME_HEADROOM_BYTES of claimable room before it. */
export function allocFrameWithHeadroom(length: number): Uint8Array {
  const frame = new Uint8Array(new ArrayBuffer(FRAME_HEADROOM_BYTES + length), FRAME_HEADROOM_BYTES, length);
  withHeadroom.add(frame);
  return frame;
}

/**
 * True (once per frame) when the FRAME_HEADROOM_BYTES before `frame` are
 * free for the caller to write: the frame came from allocFrameWithHeadroom
 * and nobody claimed them yet.
 */
export function claimFrameHeadroom(frame: Uint8Array): boolean {
  return withHeadroom.delete(frame);
}
