/**
 * A tiny authoritative-for-everything DNS server for tests of the names
 * responder's forwarding (docs/configuration.md "Names"): every A query is
 * answered with one fixed address, anything else with an empty NOERROR.
 * Run as a process: `node tiny-dns-server.js HOST PORT ANSWER_IP`; prints
 * "tiny-dns listening HOST:PORT" on stdout once bound. Malformed packets are
 * ignored.
 */
import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import dnsPacket from 'dns-packet';

const [host = '127.0.0.1', portText = '53', answer = '192.0.2.7'] = process.argv.slice(2);
const socket = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
socket.on('message', (msg, rinfo) => {
  try {
    const q = dnsPacket.decode(msg);
    const q0 = q.questions?.[0];
    const answers = q0 !== undefined && q0.type === 'A' ? [{ type: 'A' as const, name: q0.name, ttl: 60, data: answer }] : [];
    socket.send(dnsPacket.encode({ type: 'response', id: q.id ?? 0, flags: dnsPacket.RECURSION_AVAILABLE | (q.flag_rd ? dnsPacket.RECURSION_DESIRED : 0), questions: q.questions ?? [], answers }), rinfo.port, rinfo.address);
  } catch {
    // not DNS: ignored
  }
});
socket.bind(Number(portText), host, () => {
  process.stdout.write(`tiny-dns listening ${host}:${portText}\n`);
});
process.on('SIGTERM', () => { socket.close(); process.exit(0); });
