/** vnet-header.ts: the 10-byte virtio-net header layout, both directions. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  VNET_HDR_F_NEEDS_CSUM,
  VNET_HDR_GSO_ECN,
  VNET_HDR_GSO_NONE,
  VNET_HDR_GSO_TCPV6,
  emptyVnetHeader,
  isGso,
  readVnetHeader,
  writeNoOffloadHeader,
  writeVnetHeader,
} from '../../../src/node/device/vnet-header.js';

test('vnet header: fields sit at the virtio offsets, u16 little-endian', () => {
  const b = new Uint8Array(14).fill(0xaa);
  assert.equal(writeVnetHeader(b, { flags: VNET_HDR_F_NEEDS_CSUM, gsoType: VNET_HDR_GSO_TCPV6, hdrLen: 0x4a, gsoSize: 0x05a0, csumStart: 0x36, csumOffset: 0x10 }, 2), 10);
  assert.deepEqual([...b], [0xaa, 0xaa, 1, 4, 0x4a, 0, 0xa0, 0x05, 0x36, 0, 0x10, 0, 0xaa, 0xaa]);
  const h = emptyVnetHeader();
  assert.equal(readVnetHeader(b, h, 2), true);
  assert.deepEqual(h, { flags: 1, gsoType: 4, hdrLen: 0x4a, gsoSize: 0x5a0, csumStart: 0x36, csumOffset: 0x10 });
  assert.equal(isGso(h), true);
});

test('vnet header: no-offload header is all zero; GSO NONE with the ECN bit is not GSO', () => {
  const b = new Uint8Array(12).fill(0xff);
  assert.equal(writeNoOffloadHeader(b, 1), 10);
  assert.deepEqual([...b], [0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff]);
  const h = emptyVnetHeader();
  readVnetHeader(b, h, 1);
  assert.equal(isGso(h), false);
  assert.equal(isGso({ ...h, gsoType: VNET_HDR_GSO_NONE | VNET_HDR_GSO_ECN }), false);
});

test('vnet header: short buffers and out-of-range fields are refused, the target left unchanged', () => {
  const h = emptyVnetHeader();
  h.flags = 9;
  assert.equal(readVnetHeader(new Uint8Array(9), h), false);
  assert.equal(readVnetHeader(new Uint8Array(12), h, 3), false);
  assert.equal(h.flags, 9);
  assert.throws(() => writeVnetHeader(new Uint8Array(9), emptyVnetHeader()), RangeError);
  assert.throws(() => writeNoOffloadHeader(new Uint8Array(10), 1), RangeError);
  const b = new Uint8Array(10);
  assert.throws(() => writeVnetHeader(b, { ...emptyVnetHeader(), gsoSize: 65_536 }), /gsoSize/);
  assert.throws(() => writeVnetHeader(b, { ...emptyVnetHeader(), flags: -1 }), /flags/);
  assert.throws(() => writeVnetHeader(b, { ...emptyVnetHeader(), hdrLen: 1.5 }), /hdrLen/);
  assert.deepEqual([...b], new Array(10).fill(0));
});
