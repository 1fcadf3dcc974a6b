/**
 * A dgram socket bound to an ephemeral port on `host`, for tests of the UDP
 * transport and of the addon's datagram calls on real loopback sockets. udp6
 * sockets are dual stack (IPv4 peers arrive IPv4-mapped). The caller closes it.
 */
import { createSocket, type Socket } from 'node:dgram';

export async function boundUdpSocket(type: 'udp4' | 'udp6', host: string): Promise<Socket> {
  const s = createSocket({ type, ipv6Only: false });
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, host, () => {
      s.off('error', reject);
      resolve();
    });
  });
  return s;
}
