/**
 * Public surface of src/wire: the byte layouts and codecs of the wire
 * protocol v1 (docs/protocol.md). No I/O, no key state; decoders return
 * views into their input (see each codec's header).
 */

export * from './constants.js';
export * from './wire-errors.js';
export * from './byte-reader.js';
export * from './byte-writer.js';
export * from './frame-header.js';
export * from './ip-address.js';
export * from './relay-frames.js';
export * from './peer-frames.js';
export * from './udp-frames.js';
