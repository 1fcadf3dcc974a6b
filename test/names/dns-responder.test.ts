/** The names responder (src/names/): answers from the member directory, forwarding, drops (docs/configuration.md "Names"). */

import { strict as assert } from 'node:assert';
import { createSocket, type Socket } from 'node:dgram';
import { connect, createServer, type Server } from 'node:net';
import { describe, it } from 'node:test';
import dnsPacket, { type DecodedPacket, type RecordType } from 'dns-packet';
import fc from 'fast-check';

import { DnsForwarder } from '../../src/names/dns-forwarder.js';
import { bindPortPair, DnsResponder, PORT_PAIR_ATTEMPTS } from '../../src/names/dns-responder.js';
import { MemberNames, type NamedMember } from '../../src/names/member-names.js';
import { addressOfReverseName, reverseNameOf } from '../../src/names/reverse-name.js';
import { normalizeNetworkDomain } from '../../src/names/network-domain.js';
import { parseResolvConf, parseUpstream, resolveUpstreams } from '../../src/names/upstreams.js';
import { parseIpAddress } from '../../src/wire/ip-address.js';

function member(name: string, hex: string, ...ips: string[]): NamedMember {
  return { name, hex, addresses: ips.map((ip) => { const p = parseIpAddress(ip); return { family: p.family === 4 ? 4 : 6, bytes: p.bytes } as const; }) };
}

/** A mutable stand-in for the Directory: list() and byAddress() over `members`. */
function directoryOf(members: NamedMember[]) {
  return {
    list: () => [...members],
    byAddress: (a: Uint8Array) => members.find((m) => m.addresses.some((x) => Buffer.from(x.bytes).equals(Buffer.from(a)))),
  };
}

function responder(members: NamedMember[], forwarder = new DnsForwarder({ upstreams: [] })) {
  const names = new MemberNames({ directory: directoryOf(members), self: { name: 'me', addresses: [{ family: 4, bytes: new Uint8Array([10, 9, 0, 1]) }] } });
  return new DnsResponder({ names, forwarder }, { listen: [{ host: '127.0.0.1', port: 0 }], domain: normalizeNetworkDomain('Mesh.') });
}

function query(name: string, type: RecordType, id = 4242, edns = false): Uint8Array {
  return dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }], ...(edns ? { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096 } as never] } : {}) });
}

function decode(b: Uint8Array | null): DecodedPacket & { rcode: string } {
  assert.ok(b !== null, 'expected an answer');
  return dnsPacket.decode(Buffer.from(b)) as DecodedPacket & { rcode: string };
}

describe('DnsResponder answers from the member directory', () => {
  const bob = member('bob', 'b'.repeat(64), '10.9.0.2', 'fd00::2');
  it('A and AAAA for NAME.<domain>, any case, authoritative', async () => {
    const r = responder([bob]);
    const a = decode(await r.handle(query('BOB.mesh', 'A'), 'udp'));
    assert.equal(a.id, 4242);
    assert.equal(a.rcode, 'NOERROR');
    assert.equal(a.flag_aa, true);
    assert.deepEqual(a.answers?.map((x) => [x.type, (x as { data: string }).data]), [['A', '10.9.0.2']]);
    const aaaa = decode(await r.handle(query('bob.mesh.', 'AAAA'), 'tcp'));
    assert.deepEqual(aaaa.answers?.map((x) => [x.type, (x as { data: string }).data]), [['AAAA', 'fd00::2']]);
    const self = decode(await r.handle(query('me.mesh', 'A'), 'udp'));
    assert.deepEqual(self.answers?.map((x) => (x as { data: string }).data), ['10.9.0.1']);
    assert.equal(r.stats.answers, 3);
  });

  it('PTR for a member address, IPv4 and IPv6', async () => {
    const r = responder([bob]);
    const v4 = decode(await r.handle(query('2.0.9.10.in-addr.arpa', 'PTR'), 'udp'));
    assert.deepEqual(v4.answers?.map((x) => (x as { data: string }).data), ['bob.mesh']);
    const v6 = decode(await r.handle(query(reverseNameOf(parseIpAddress('fd00::2').bytes), 'PTR'), 'udp'));
    assert.deepEqual(v6.answers?.map((x) => (x as { data: string }).data), ['bob.mesh']);
  });

  it('NXDOMAIN for an unknown name in the domain, and once a member leaves', async () => {
    const members = [bob];
    const r = responder(members);
    assert.equal(decode(await r.handle(query('alice.mesh', 'A'), 'udp')).rcode, 'NXDOMAIN');
    assert.equal(decode(await r.handle(query('bob.mesh', 'A'), 'udp')).answers?.length, 1);
    members.length = 0;
    const gone = decode(await r.handle(query('bob.mesh', 'A'), 'udp'));
    assert.equal(gone.rcode, 'NXDOMAIN');
    assert.equal(gone.authorities?.length ?? 0, 0, 'no SOA: nothing caches the negative answer');
    assert.equal(r.stats.nxdomain, 2);
  });

  it('another type for a member, or the domain itself: NOERROR without answers', async () => {
    const r = responder([bob]);
    for (const [name, type] of [['bob.mesh', 'MX'], ['bob.mesh', 'TXT'], ['mesh', 'A']] as const) {
      const p = decode(await r.handle(query(name, type), 'udp'));
      assert.equal(p.rcode, 'NOERROR', `${name} ${type}`);
      assert.equal(p.answers?.length, 0, `${name} ${type}`);
    }
  });

  // dns-packet does not compress names: 45 A records are about 1100 bytes, over 512 and under the 1232 EDNS limit.
  it('UDP answers over 512 bytes without EDNS come back empty with TC; with EDNS or over TCP they fit', async () => {
    const many = Array.from({ length: 45 }, (_, i) => member('big', i.toString(16).padStart(64, '0'), `10.9.1.${i + 1}`));
    const r = responder(many);
    const udp = decode(await r.handle(query('big.mesh', 'A'), 'udp'));
    assert.equal(udp.flag_tc, true);
    assert.equal(udp.answers?.length, 0);
    const edns = decode(await r.handle(query('big.mesh', 'A', 1, true), 'udp'));
    assert.equal(edns.flag_tc, false);
    assert.equal(edns.answers?.length, 45);
    const tcp = decode(await r.handle(query('big.mesh', 'A'), 'tcp'));
    assert.equal(tcp.answers?.length, 45);
    assert.equal(r.stats.truncated, 1);
  });

  it('arbitrary bytes never throw; what the codec refuses is dropped and counted', async () => {
    const r = responder([bob]);
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), async (bytes) => {
      await r.handle(bytes, 'udp');
      await r.handle(bytes, 'tcp');
    }), { numRuns: 500 });
    const before = r.stats.drops.malformed;
    assert.equal(await r.handle(new Uint8Array(12).fill(0xff), 'udp'), null);
    assert.equal(await r.handle(Uint8Array.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 63]), 'udp'), null);
    assert.equal(r.stats.drops.malformed, before + 2);
    assert.ok(r.stats.drops.short > 0 || r.stats.drops.not_query > 0);
    assert.equal(await r.handle(new Uint8Array(5), 'udp'), null);
  });
});

/** A tiny upstream on 127.0.0.1: answers every A query with 192.0.2.7, or stays silent. */
async function fakeUpstream(mode: 'answer' | 'silent'): Promise<{ socket: Socket; port: number; seen: () => number }> {
  const socket = createSocket('udp4');
  let seen = 0;
  socket.on('message', (msg, rinfo) => {
    seen++;
    if (mode === 'silent') return;
    const q = dnsPacket.decode(msg);
    const q0 = q.questions?.[0];
    socket.send(dnsPacket.encode({ type: 'response', id: q.id ?? 0, flags: dnsPacket.RECURSION_AVAILABLE, questions: q.questions ?? [], answers: q0 === undefined ? [] : [{ type: 'A', name: q0.name, ttl: 60, data: '192.0.2.7' }] }), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { socket, port: socket.address().port, seen: () => seen };
}

describe('DnsResponder forwards other names', () => {
  it('to a real upstream over UDP, and answers clients on its own UDP and TCP sockets', async () => {
    const up = await fakeUpstream('answer');
    const r = responder([], new DnsForwarder({ upstreams: [{ host: '127.0.0.1', port: up.port }], timeoutMs: 2_000 }));
    await r.start();
    try {
      const port = r.addresses()[0]?.port as number;
      const client = createSocket('udp4');
      const got = new Promise<Buffer>((resolve) => client.once('message', resolve));
      client.send(query('example.org', 'A', 777), port, '127.0.0.1');
      const p = dnsPacket.decode(await got) as DecodedPacket & { rcode: string };
      client.close();
      assert.equal(p.id, 777);
      assert.deepEqual(p.answers?.map((x) => (x as { data: string }).data), ['192.0.2.7']);
      assert.equal(up.seen(), 1);
      // TCP: 2-byte length framing, the member name answered locally.
      const tcp = connect(port, '127.0.0.1');
      const q = query('me.mesh', 'A', 9);
      const frame = Buffer.alloc(2 + q.length);
      frame.writeUInt16BE(q.length, 0);
      frame.set(q, 2);
      tcp.write(frame);
      const data = await new Promise<Buffer>((resolve, reject) => { let acc = Buffer.alloc(0); tcp.on('data', (c: Buffer) => { acc = Buffer.concat([acc, c]); if (acc.length >= 2 && acc.length >= 2 + acc.readUInt16BE(0)) resolve(acc); }); tcp.on('error', reject); });
      tcp.destroy();
      assert.deepEqual(dnsPacket.decode(data.subarray(2)).answers?.map((x) => (x as { data: string }).data), ['10.9.0.1']);
      assert.equal(r.stats.forwarded, 1);
      assert.equal(r.forwarder.stats.answered, 1);
    } finally {
      r.stop();
      up.socket.close();
    }
  });

  it('an upstream that does not answer in time: SERVFAIL, counted', async () => {
    const up = await fakeUpstream('silent');
    const r = responder([], new DnsForwarder({ upstreams: [{ host: '127.0.0.1', port: up.port }], timeoutMs: 100 }));
    try {
      const p = decode(await r.handle(query('example.org', 'A'), 'udp'));
      assert.equal(p.rcode, 'SERVFAIL');
      assert.equal(r.forwarder.stats.timeouts, 1);
      assert.equal(r.stats.servfail, 1);
    } finally {
      r.stop();
      up.socket.close();
    }
  });

  it('at most maxInFlight forwards at once; one more is refused with SERVFAIL at once', async () => {
    const up = await fakeUpstream('silent');
    const fw = new DnsForwarder({ upstreams: [{ host: '127.0.0.1', port: up.port }], timeoutMs: 300, maxInFlight: 3 });
    const r = responder([], fw);
    try {
      const pending = [1, 2, 3].map((i) => r.handle(query(`x${i}.example`, 'A', i), 'udp'));
      assert.equal(fw.inFlight, 3);
      const refused = decode(await r.handle(query('x4.example', 'A', 4), 'udp'));
      assert.equal(refused.rcode, 'SERVFAIL');
      assert.equal(fw.stats.busy, 1);
      for (const p of await Promise.all(pending)) assert.equal(decode(p).rcode, 'SERVFAIL');
      assert.equal(fw.inFlight, 0);
    } finally {
      r.stop();
      up.socket.close();
    }
  });
});

describe('DnsResponder binds one port for UDP and TCP', () => {
  /** Real sockets; the first UDP bind lands on `first` as if the kernel had picked it. */
  function realBinders(first: number | null) {
    const udpBound: Socket[] = [];
    let calls = 0;
    const udp = async (l: { host: string; port: number }) => {
      const s = createSocket('udp4');
      const port = calls++ === 0 && first !== null ? first : l.port;
      await new Promise<void>((resolve, reject) => { s.once('error', reject); s.bind(port, l.host, () => resolve()); });
      udpBound.push(s);
      return s;
    };
    const tcp = (port: number) => new Promise<Server>((resolve, reject) => {
      const server = createServer();
      server.once('error', (err) => reject(new Error(`tcp ${port}`, { cause: err })));
      server.listen({ host: '127.0.0.1', port, exclusive: true }, () => resolve(server));
    });
    return { udp, tcp, udpBound, calls: () => calls };
  }

  async function heldTcpPort(): Promise<Server> {
    const held = createServer();
    await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve));
    return held;
  }

  it('port 0: a UDP port whose TCP twin another process holds is given back and another one taken', async () => {
    const held = await heldTcpPort();
    const taken = (held.address() as { port: number }).port;
    const b = realBinders(taken);
    try {
      const pair = await bindPortPair({ host: '127.0.0.1', port: 0 }, b.udp, b.tcp);
      const port = pair.udp.address().port;
      assert.notEqual(port, taken);
      assert.equal((pair.tcp.address() as { port: number }).port, port, 'TCP shares the UDP port');
      assert.equal(b.calls(), 2);
      // The first UDP socket was closed: its port can be bound again.
      const again = createSocket('udp4');
      await new Promise<void>((resolve, reject) => { again.once('error', reject); again.bind(taken, '127.0.0.1', () => resolve()); });
      again.close();
      pair.udp.close();
      pair.tcp.close();
    } finally {
      held.close();
    }
  });

  it('a fixed port whose TCP side is taken fails at once; other errors are not retried; retries are bounded', async () => {
    const held = await heldTcpPort();
    const taken = (held.address() as { port: number }).port;
    try {
      const fixed = realBinders(null);
      await assert.rejects(bindPortPair({ host: '127.0.0.1', port: taken }, fixed.udp, fixed.tcp), (e: Error) => (e.cause as { code?: string }).code === 'EADDRINUSE');
      assert.equal(fixed.calls(), 1);
      const closed: number[] = [];
      const fake = (n: number) => ({ address: () => ({ port: 40_000 + n }), close: () => { closed.push(n); } });
      let n = 0;
      const inUse = () => Promise.reject(new Error('in use', { cause: { code: 'EADDRINUSE' } }));
      await assert.rejects(bindPortPair({ host: '127.0.0.1', port: 0 }, async () => fake(n++), inUse), /in use/);
      assert.equal(n, PORT_PAIR_ATTEMPTS);
      assert.deepEqual(closed, Array.from({ length: PORT_PAIR_ATTEMPTS }, (_, i) => i), 'every UDP socket given back');
      n = 0;
      await assert.rejects(bindPortPair({ host: '127.0.0.1', port: 0 }, async () => fake(n++), () => Promise.reject(new Error('denied', { cause: { code: 'EACCES' } }))), /denied/);
      assert.equal(n, 1);
    } finally {
      held.close();
    }
  });
});

describe('DnsForwarder over TCP', () => {
  it('a TCP client whose upstream answer comes back truncated over UDP gets the whole answer over TCP', async () => {
    // An upstream on one port for UDP and TCP: the pair binder retries when another process holds the TCP twin.
    const { udp, tcp } = await bindPortPair(
      { host: '127.0.0.1', port: 0 },
      async (l) => {
        const s = createSocket('udp4');
        await new Promise<void>((resolve, reject) => { s.once('error', reject); s.bind(l.port, l.host, () => resolve()); });
        return s;
      },
      (p) => new Promise<Server>((resolve, reject) => {
        const server = createServer((c) => {
          c.once('data', (frame: Buffer) => {
            const q = dnsPacket.decode(frame.subarray(2));
            const name = q.questions?.[0]?.name ?? '';
            const body = dnsPacket.encode({ type: 'response', id: q.id ?? 0, questions: q.questions ?? [], answers: Array.from({ length: 40 }, (_, i) => ({ type: 'A' as const, name, ttl: 60, data: `198.51.100.${i + 1}` })) });
            const out = Buffer.alloc(2 + body.length);
            out.writeUInt16BE(body.length, 0);
            out.set(body, 2);
            c.end(out);
          });
        });
        server.once('error', (err) => reject(new Error(`tcp ${p}`, { cause: err })));
        server.listen({ host: '127.0.0.1', port: p, exclusive: true }, () => resolve(server));
      }),
    );
    udp.on('message', (msg, rinfo) => {
      const q = dnsPacket.decode(msg);
      udp.send(dnsPacket.encode({ type: 'response', id: q.id ?? 0, flags: dnsPacket.TRUNCATED_RESPONSE, questions: q.questions ?? [], answers: [] }), rinfo.port, rinfo.address);
    });
    const port = udp.address().port;
    const r = responder([], new DnsForwarder({ upstreams: [{ host: '127.0.0.1', port }], timeoutMs: 2_000 }));
    try {
      const overUdp = decode(await r.handle(query('big.example', 'A', 5), 'udp'));
      assert.equal(overUdp.flag_tc, true, 'a UDP client gets the truncated answer and retries over TCP itself');
      const overTcp = decode(await r.handle(query('big.example', 'A', 6), 'tcp'));
      assert.equal(overTcp.id, 6);
      assert.equal(overTcp.flag_tc, false);
      assert.equal(overTcp.answers?.length, 40);
    } finally {
      r.stop();
      udp.close();
      tcp.close();
    }
  });
});

describe('names helpers', () => {
  it('reverse names both ways; partial or non-canonical ones are null', () => {
    assert.equal(reverseNameOf(Uint8Array.from([10, 9, 0, 2])), '2.0.9.10.in-addr.arpa');
    assert.deepEqual(addressOfReverseName('2.0.9.10.in-addr.arpa'), Uint8Array.from([10, 9, 0, 2]));
    const v6 = parseIpAddress('fd00::abcd').bytes;
    assert.deepEqual(addressOfReverseName(reverseNameOf(v6)), v6);
    for (const bad of ['9.10.in-addr.arpa', '02.0.9.10.in-addr.arpa', '256.0.9.10.in-addr.arpa', '1.ip6.arpa', 'example.org']) assert.equal(addressOfReverseName(bad), null, bad);
  });

  it('upstreams: resolv.conf nameservers, explicit lists, our own listen address left out', () => {
    assert.deepEqual(parseResolvConf('# x\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\nsearch lan\nnameserver bogus\n'), [{ host: '127.0.0.53', port: 53 }, { host: 'fe80::1', port: 53 }]);
    assert.deepEqual(parseUpstream('[::1]:5353'), { host: '::1', port: 5353 });
    assert.deepEqual(parseUpstream('192.0.2.1:54'), { host: '192.0.2.1', port: 54 });
    assert.throws(() => parseUpstream('resolver.example'), { code: 'SM_ERR_NAMES_UPSTREAM' });
    assert.deepEqual(resolveUpstreams([{ host: '127.0.0.153', port: 53 }, { host: '192.0.2.1', port: 53 }], [{ host: '127.0.0.153', port: 53 }]), [{ host: '192.0.2.1', port: 53 }]);
  });

  it('network domain: normalized, or SM_ERR_NAMES_DOMAIN', () => {
    assert.equal(normalizeNetworkDomain('Corp.Example.'), 'corp.example');
    for (const bad of ['', '.', 'a..b', '-a', 'a b', 'x'.repeat(64)]) assert.throws(() => normalizeNetworkDomain(bad), { code: 'SM_ERR_NAMES_DOMAIN' }, bad);
  });
});
