/**
 * The least a Node.js data path can be on this machine, for
 * bench/netns-floor.ts: a TUN device and a UDP socket joined through the
 * TAP/TUN addon and nothing else — no session, path, routing, policy,
 * framing, fragmentation or counters. Every packet read from the device
 * goes to one fixed peer as one datagram (sendto through the addon); every
 * datagram read (the addon's batch reader, as the UDP transport reads) is
 * written to the device.
 *
 * --crypto native seals and opens each packet with the data plane's AEAD
 * contexts (AeadSealer / AeadOpener, ChaCha20-Poly1305, impl 'native');
 * --crypto js the same classes on node:crypto (a cipher object per
 * packet); --crypto none sends packets as they are. Both ends derive the
 * same fixed key: this measures a cost, it is not a tunnel, and the bench
 * only ever runs it between two namespaces it created.
 *
 *     node dist/bench/floor-forwarder.js --dev NAME --address CIDR --local IP --peer IP --port N --crypto none|native|js
 */
import { createSocket } from 'node:dgram';
import { AeadOpener, AeadSealer, AEAD_COUNTER_BYTES, AEAD_TAG_BYTES } from '../src/crypto/aead.js';
import { loadNativeTun } from '../src/node/device/native-loader.js';
import { UdpNativeReceive } from '../src/node/path/udp-native-receive.js';
import { dgramFd } from '../src/node/path/udp-socket-buffers.js';

const CRYPTO = ['none', 'native', 'js'] as const;
type Crypto = (typeof CRYPTO)[number];
const SLOT_BYTES = 2_048;
const BATCH = 32;
const MTU = 1_400;
/** A measurement key, the same at both ends (never used for anything else). */
const KEY = new Uint8Array(32).fill(0x5a);

function arg(name: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i > 0 ? process.argv[i + 1] : undefined;
  if (v === undefined) throw new Error(`--${name} is required`);
  return v;
}

async function main(): Promise<void> {
  const dev = arg('dev');
  const [address, bits] = arg('address').split('/') as [string, string | undefined];
  const local = arg('local');
  const peer = arg('peer');
  const port = Number(arg('port'));
  const crypto = arg('crypto') as Crypto;
  if (!CRYPTO.includes(crypto)) throw new Error(`--crypto: expected ${CRYPTO.join(', ')}`);

  const addon = loadNativeTun();
  const { fd } = addon.open(dev, 'tun', false, 0, false);
  addon.setMtu(dev, MTU);
  addon.addAddress(dev, 4, address, Number(bits ?? 24));
  addon.setUp(dev);

  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(port, local, resolve));
  const sfd = dgramFd(socket);
  if (sfd === null) throw new Error('no fd for the UDP socket');
  const to = addon.socketAddress(4, peer, port);
  if (to === null) throw new Error(`--peer ${peer}: not an IPv4 address`);

  const impl = crypto === 'js' ? 'js' : 'native';
  const sealer = crypto === 'none' ? null : new AeadSealer('chacha20-poly1305', KEY, { impl });
  const opener = crypto === 'none' ? null : new AeadOpener('chacha20-poly1305', KEY, { impl });

  const slab = new ArrayBuffer(SLOT_BYTES * BATCH);
  const lengths = new Uint32Array(BATCH);
  const bytes = new Uint8Array(slab);
  addon.startReader(fd, slab, lengths, SLOT_BYTES, BATCH, (count) => {
    for (let i = 0; i < count; i++) {
      const packet = bytes.subarray(i * SLOT_BYTES, i * SLOT_BYTES + lengths[i]!);
      if (sealer === null) {
        addon.sendDatagram(sfd, packet, to);
        continue;
      }
      const frame = new Uint8Array(AEAD_COUNTER_BYTES + packet.length + AEAD_TAG_BYTES);
      frame.set(packet, AEAD_COUNTER_BYTES);
      sealer.sealInPlace(frame, 0, AEAD_COUNTER_BYTES, 0, packet.length);
      addon.sendDatagram(sfd, frame, to);
    }
  });

  const result = new Float64Array(3);
  const onDatagram = (d: Uint8Array): void => {
    let packet: Uint8Array | null = d;
    if (opener !== null) {
      if (d.length < AEAD_COUNTER_BYTES + AEAD_TAG_BYTES) return;
      const header = d.subarray(0, AEAD_COUNTER_BYTES);
      const counter = new DataView(d.buffer, d.byteOffset, AEAD_COUNTER_BYTES).getBigUint64(0, true);
      packet = opener.openInPlace(header, counter, d.subarray(AEAD_COUNTER_BYTES));
    }
    if (packet !== null) addon.writeBatch(fd, [packet], 1, result);
  };
  if (UdpNativeReceive.forSocket(socket, (d) => onDatagram(d)) === null) socket.on('message', (d) => onDatagram(d));
  process.on('SIGTERM', () => process.exit(0));
  process.stderr.write(`floor-forwarder ${dev} ${address} up, crypto ${crypto}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
