/**
 * The NAT lab itself (testkit/netns-nat-lab.ts, issue 5 "What must be
 * shown"): each NAT variant behaves as its name says, shown with plain UDP
 * sockets and no ShadowMesh code. A reflector in 'inet' listens on two ports
 * of each server address (relayIp, relayIp2); it answers every datagram with
 * the source address:port it saw, sends an unsolicited datagram from any of
 * its sockets on request, and pairs two registered clients (a rendezvous, as
 * the relay does for hole punching).
 *
 *  - mapping: one socket, three destinations: one mapped address for
 *    full-cone and port-restricted (the WAN address, port kept), several
 *    ports for symmetric, the LAN address itself for 'none'.
 *  - filtering: after the node contacted one reflector socket, unsolicited
 *    datagrams from the other socket of that address and from the other
 *    address arrive for full-cone and 'none' only; the contacted socket's
 *    always arrive (the positive control).
 *  - simultaneous open: both sides send to each other's mapped address
 *    repeatedly: both receive for port-restricted on both sides (and a
 *    full-cone/none pairing), neither does for symmetric on both sides.
 *  - flushConntrack + setMappingPortRange: a socket that keeps talking gets
 *    a mapping in the new range after the flush, and its old port back after
 *    the range is removed and the table flushed again.
 *  - LAN isolation: behind NAT a LAN is reachable from nowhere else (with a
 *    'none' side as the control that the check can fail).
 *  - teardown leaves none of the lab's namespaces.
 *
 * Negative results ("did not arrive") are observed over a window in which the
 * positive control was re-requested and arrived many times over, so they are
 * not timing guesses. Needs root; skipped otherwise. One lab per pairing,
 * torn down in after() and, should the process die, by the lab's exit hook.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { labNamespaces, type LabProcess } from '../../src/demo/netns-lab.js';
import { createNatLab, type NatKind, type NatLab, type NatSide } from '../../testkit/netns-nat-lab.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const skip = isRoot ? false : 'needs root (network namespaces)';

/** The reflector's two ports on each server address (STUN's, since that is what the relay will serve). */
const PORT_1 = 3478;
const PORT_2 = 3479;
/** Nodes bind inside the lab's default full-cone range (20000-20999); every case its own port, so no flow of an earlier case opens a filter. */
const NODE_PORT = { mapA: 20_001, mapB: 20_002, filterA: 20_011, filterB: 20_012, punch1: 20_021, punch2: 20_022, watch: 20_031 } as const;
/** A mapping range outside the node ports, so a remapped port is unmistakable. */
const REMAP_RANGE: [number, number] = [45_000, 45_099];
/** How long a client listens for pokes; the contacted socket's poke is re-requested every RESEND_MS meanwhile. */
const FILTER_WINDOW_MS = 2_000;
/** Client resend cadence (echo retries, poke requests, punches). */
const RESEND_MS = 100;
/** A hole punch keeps sending this long after the peer became known, and at least PUNCH_AFTER_RX_MS after the first receipt. */
const PUNCH_WINDOW_MS = 4_000;
const PUNCH_AFTER_RX_MS = 1_500;
/** Bound on any single wait for an answer inside the lab (veth, no loss): generous for a loaded 2-core machine. */
const ANSWER_TIMEOUT_MS = 10_000;
/** Bound on a client process run via exec. */
const CLIENT_TIMEOUT_MS = 30_000;

/**
 * The reflector. argv: JSON list of "ip:port" to bind. Requests are JSON:
 *   {op:'echo', id}                    -> {id, seen}
 *   {op:'poke', id, from}              -> {poke: from} sent from socket `from` to the requester's address
 *   {op:'register', id, name, want}    -> {id, seen, peer}  (peer: want's last seen address, or null)
 */
const REFLECTOR_JS = `
const dgram = require('node:dgram');
const addrs = JSON.parse(process.argv.at(-1));
const socks = new Map();
const registry = new Map();
let bound = 0;
for (const a of addrs) {
  const i = a.lastIndexOf(':');
  const s = dgram.createSocket('udp4');
  socks.set(a, s);
  s.on('message', (buf, rinfo) => {
    let m;
    try { m = JSON.parse(buf.toString()); } catch { return; }
    const seen = rinfo.address + ':' + rinfo.port;
    const reply = (sock, obj) => sock.send(JSON.stringify(obj), rinfo.port, rinfo.address);
    if (m.op === 'echo') reply(s, { id: m.id, seen });
    else if (m.op === 'poke' && socks.has(m.from)) reply(socks.get(m.from), { poke: m.from });
    else if (m.op === 'register') {
      registry.set(m.name, seen);
      reply(s, { id: m.id, seen, peer: registry.get(m.want) ?? null });
    }
  });
  s.bind(Number(a.slice(i + 1)), a.slice(0, i), () => { if (++bound === addrs.length) console.log('reflector ready'); });
}
`;

/**
 * The node-side client. argv: JSON {mode, port, ...}; prints one JSON result
 * line (modes map/filter/punch) or a line per changed mapping (watch).
 *   map:    {targets}                     -> {mapped: [seen per target]}
 *   filter: {via, pokes, windowMs}        -> {mapped, received: [poke sources]}
 *   punch:  {via, name, want, windowMs, afterRxMs} -> {mapped, peer, receivedFrom: [addresses]}
 *   watch:  {via}                         -> "seen N ADDR" whenever the mapping changes; runs until killed
 */
const CLIENT_JS = `
const dgram = require('node:dgram');
const cfg = JSON.parse(process.argv.at(-1));
const s = dgram.createSocket('udp4');
const split = (a) => { const i = a.lastIndexOf(':'); return [Number(a.slice(i + 1)), a.slice(0, i)]; };
const send = (to, obj) => { const [p, h] = split(to); s.send(JSON.stringify(obj), p, h); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const handlers = new Set();
s.on('message', (buf, rinfo) => {
  let m;
  try { m = JSON.parse(buf.toString()); } catch { return; }
  for (const h of [...handlers]) h(m, rinfo.address + ':' + rinfo.port);
});
let nextId = 1;
/** Send req (plus a fresh id) every RESEND_MS until an answer with that id arrives. */
function ask(to, req) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => send(to, { ...req, id }), ${RESEND_MS});
    const give = setTimeout(() => { done(); reject(new Error('no answer from ' + to + ' to ' + JSON.stringify(req))); }, ${ANSWER_TIMEOUT_MS});
    const h = (m) => { if (m.id === id) { done(); resolve(m); } };
    const done = () => { clearInterval(timer); clearTimeout(give); handlers.delete(h); };
    handlers.add(h);
    send(to, { ...req, id });
  });
}
async function main() {
  if (cfg.mode === 'map') {
    const mapped = [];
    for (const t of cfg.targets) mapped.push((await ask(t, { op: 'echo' })).seen);
    return { mapped };
  }
  if (cfg.mode === 'filter') {
    const mapped = (await ask(cfg.via, { op: 'echo' })).seen;
    const received = new Set();
    handlers.add((m) => { if (typeof m.poke === 'string') received.add(m.poke); });
    const end = Date.now() + cfg.windowMs;
    while (Date.now() < end) {
      for (const from of cfg.pokes) send(cfg.via, { op: 'poke', from });
      await sleep(${RESEND_MS});
    }
    return { mapped, received: [...received].sort() };
  }
  if (cfg.mode === 'punch') {
    let reg = await ask(cfg.via, { op: 'register', name: cfg.name, want: cfg.want });
    const regEnd = Date.now() + ${ANSWER_TIMEOUT_MS};
    while (reg.peer === null) {
      if (Date.now() > regEnd) throw new Error('peer ' + cfg.want + ' never registered');
      await sleep(${RESEND_MS});
      reg = await ask(cfg.via, { op: 'register', name: cfg.name, want: cfg.want });
    }
    const receivedFrom = new Set();
    let firstRx = null;
    handlers.add((m, from) => { if (m.punch === cfg.want) { receivedFrom.add(from); firstRx ??= Date.now(); } });
    const end = Date.now() + cfg.windowMs;
    while (Date.now() < end && (firstRx === null || Date.now() - firstRx < cfg.afterRxMs)) {
      send(reg.peer, { punch: cfg.name });
      await sleep(${RESEND_MS});
    }
    return { mapped: reg.seen, peer: reg.peer, receivedFrom: [...receivedFrom].sort() };
  }
  if (cfg.mode === 'watch') {
    let last = null;
    let n = 0;
    for (;;) {
      const seen = (await ask(cfg.via, { op: 'echo' })).seen;
      if (seen !== last) { console.log('seen ' + n++ + ' ' + seen); last = seen; }
      await sleep(${RESEND_MS});
    }
  }
  throw new Error('unknown mode ' + cfg.mode);
}
s.bind(cfg.port, () => main().then((r) => { console.log(JSON.stringify(r)); s.close(); }, (e) => { console.error(String(e)); process.exit(1); }));
`;

interface Reflector {
  r1p1: string;
  r1p2: string;
  r2p1: string;
  r2p2: string;
}

async function startReflector(lab: NatLab): Promise<Reflector> {
  const r: Reflector = {
    r1p1: `${lab.relayIp}:${PORT_1}`, r1p2: `${lab.relayIp}:${PORT_2}`,
    r2p1: `${lab.relayIp2}:${PORT_1}`, r2p2: `${lab.relayIp2}:${PORT_2}`,
  };
  const proc = lab.spawn('inet', [process.execPath, '-e', REFLECTOR_JS, JSON.stringify(Object.values(r))], { label: 'inet:reflector' });
  await proc.waitForLine(/^reflector ready$/, ANSWER_TIMEOUT_MS);
  return r;
}

/** Run the client in `node` with cfg and parse its JSON result. */
async function client<T>(lab: NatLab, node: string, cfg: Record<string, unknown>): Promise<T> {
  const r = await lab.exec(node, [process.execPath, '-e', CLIENT_JS, JSON.stringify(cfg)], { timeoutMs: CLIENT_TIMEOUT_MS });
  assert.equal(r.code, 0, `client ${JSON.stringify(cfg)} on ${node} failed (${r.timedOut ? 'timed out' : `exit ${r.code}`}):\n${r.stderr.slice(-2_000)}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as T;
}

const portOf = (addr: string): number => Number(addr.slice(addr.lastIndexOf(':') + 1));
const hostOf = (addr: string): string => addr.slice(0, addr.lastIndexOf(':'));

/** Mapping behaviour of one side, per its NAT kind. */
async function checkMapping(lab: NatLab, refl: Reflector, side: NatSide, port: number): Promise<void> {
  const kind = lab.kinds[side];
  const { mapped } = await client<{ mapped: string[] }>(lab, side, { mode: 'map', port, targets: [refl.r1p1, refl.r2p1, refl.r1p2] });
  const hosts = new Set(mapped.map(hostOf));
  const ports = new Set(mapped.map(portOf));
  const why = `${side} (${kind}) mapped to ${mapped.join(', ')}`;
  assert.deepEqual([...hosts], [kind === 'none' ? lab.ip(side) : lab.wanIp(side)], why);
  if (kind === 'symmetric') {
    // A random port per destination; three equal draws out of tens of thousands of ports would be a broken NAT.
    assert.ok(ports.size >= 2, `${why}: expected a different port per destination`);
  } else {
    // One mapping for every destination; MASQUERADE keeps a free port (full-cone's DNAT model relies on it).
    assert.deepEqual([...ports], [port], `${why}: expected one mapping, port ${port}, for every destination`);
  }
}

/** Filtering behaviour of one side: which unsolicited pokes reach a socket that contacted refl.r1p1 only. */
async function checkFiltering(lab: NatLab, refl: Reflector, side: NatSide, port: number): Promise<void> {
  const kind = lab.kinds[side];
  const res = await client<{ mapped: string; received: string[] }>(lab, side, {
    mode: 'filter', port, via: refl.r1p1, pokes: [refl.r1p1, refl.r1p2, refl.r2p1], windowMs: FILTER_WINDOW_MS,
  });
  const open: Record<NatKind, string[]> = {
    'none': [refl.r1p1, refl.r1p2, refl.r2p1],
    'full-cone': [refl.r1p1, refl.r1p2, refl.r2p1],
    'port-restricted': [refl.r1p1],
    'symmetric': [refl.r1p1],
  };
  assert.deepEqual(res.received, [...open[kind]].sort(), `${side} (${kind}) behind ${res.mapped}: pokes that arrived`);
}

interface PunchResult { mapped: string; peer: string; receivedFrom: string[] }

/** Both sides hole-punch at once through the reflector's rendezvous. */
async function punch(lab: NatLab, refl: Reflector, port: number, tag: string): Promise<{ a: PunchResult; b: PunchResult }> {
  const cfg = (name: string, want: string): Record<string, unknown> => ({
    mode: 'punch', port, via: refl.r1p1, name: `${tag}-${name}`, want: `${tag}-${want}`, windowMs: PUNCH_WINDOW_MS, afterRxMs: PUNCH_AFTER_RX_MS,
  });
  const [a, b] = await Promise.all([client<PunchResult>(lab, 'a', cfg('a', 'b')), client<PunchResult>(lab, 'b', cfg('b', 'a'))]);
  return { a, b };
}

/** ping once; true when a reply came. */
async function pings(lab: NatLab, from: string, to: string): Promise<boolean> {
  const r = await lab.exec(from, ['ping', '-n', '-c', '1', '-W', '1', to], { timeoutMs: 10_000 });
  return r.code === 0;
}

/** Wait for a "seen N ADDR" line with N > after whose address satisfies ok; returns [N, ADDR]. */
async function waitSeen(proc: LabProcess, after: number, ok: (addr: string) => boolean, what: string): Promise<[number, string]> {
  const deadline = Date.now() + ANSWER_TIMEOUT_MS;
  for (;;) {
    for (const line of proc.stdout().split('\n')) {
      const m = /^seen (\d+) (\S+)$/.exec(line);
      if (m !== null && Number(m[1]) > after && ok(m[2]!)) return [Number(m[1]), m[2]!];
    }
    if (!proc.alive() || Date.now() > deadline) assert.fail(`${what}: not seen\nstdout: ${proc.stdout().slice(-2_000)}\nstderr: ${proc.stderr().slice(-2_000)}`);
    await new Promise((resolve) => setTimeout(resolve, RESEND_MS));
  }
}

test('options are checked before anything is built', async () => {
  await assert.rejects(createNatLab({ a: 'cone' as NatKind, b: 'none' }), /a: expected one of none, full-cone, port-restricted, symmetric/);
  await assert.rejects(createNatLab({ a: 'none', b: 'none', udpPorts: [2_000, 1_000] }), /udpPorts: expected \[lo, hi\]/);
});

describe('NAT lab: full cone (a) and no NAT (b)', { skip }, () => {
  let lab: NatLab | undefined;
  let refl: Reflector | undefined;
  before(async () => {
    lab = await createNatLab({ a: 'full-cone', b: 'none' });
    refl = await startReflector(lab);
  });
  after(async () => {
    await lab?.teardown();
  });

  test('addresses: inet, WAN and LAN as documented', () => {
    assert.equal(lab!.ip('inet'), lab!.relayIp);
    assert.equal(lab!.ip('r1'), lab!.wanIp('a'));
    assert.equal(lab!.publicIp('a'), lab!.wanIp('a'));
    assert.equal(lab!.publicIp('b'), lab!.ip('b'));
  });
  test('mapping: one WAN mapping keeping the port (full cone); the LAN address itself (none)', async () => {
    await checkMapping(lab!, refl!, 'a', NODE_PORT.mapA);
    await checkMapping(lab!, refl!, 'b', NODE_PORT.mapB);
  });
  test('filtering: unsolicited datagrams from any address and port arrive', async () => {
    await checkFiltering(lab!, refl!, 'a', NODE_PORT.filterA);
    await checkFiltering(lab!, refl!, 'b', NODE_PORT.filterB);
  });
  test('simultaneous open succeeds', async () => {
    const r = await punch(lab!, refl!, NODE_PORT.punch1, 'fc-none');
    assert.deepEqual(r.a.receivedFrom, [r.a.peer], `a: ${JSON.stringify(r)}`);
    assert.deepEqual(r.b.receivedFrom, [r.b.peer], `b: ${JSON.stringify(r)}`);
  });
  test('setMappingPortRange refuses a side without NAT', async () => {
    await assert.rejects(lab!.setMappingPortRange('b', [45_000, 45_099]), /side b has no NAT/);
  });
  test('a public LAN (none) is reachable from the internet; a NATed one is not', async () => {
    assert.ok(await pings(lab!, 'inet', lab!.ip('b')), 'inet could not ping b on its public LAN');
    assert.ok(await pings(lab!, 'a', lab!.ip('b')), 'a could not ping b on its public LAN');
    assert.ok(!(await pings(lab!, 'inet', lab!.ip('a'))), 'inet reached a\'s LAN address behind NAT');
    assert.ok(!(await pings(lab!, 'b', lab!.ip('a'))), 'b reached a\'s LAN address behind NAT');
  });
});

describe('NAT lab: port-restricted on both sides', { skip }, () => {
  let lab: NatLab | undefined;
  let refl: Reflector | undefined;
  before(async () => {
    lab = await createNatLab({ a: 'port-restricted', b: 'port-restricted' });
    refl = await startReflector(lab);
  });
  after(async () => {
    await lab?.teardown();
  });

  test('mapping: one WAN mapping for every destination', async () => {
    await checkMapping(lab!, refl!, 'a', NODE_PORT.mapA);
    await checkMapping(lab!, refl!, 'b', NODE_PORT.mapB);
  });
  test('filtering: only the contacted address and port get through', async () => {
    await checkFiltering(lab!, refl!, 'a', NODE_PORT.filterA);
  });
  test('simultaneous open: both receive (the hole punch)', async () => {
    const r = await punch(lab!, refl!, NODE_PORT.punch1, 'pr-pr');
    assert.equal(hostOf(r.a.mapped), lab!.wanIp('a'));
    assert.equal(hostOf(r.b.mapped), lab!.wanIp('b'));
    assert.deepEqual(r.a.receivedFrom, [r.b.mapped], `a: ${JSON.stringify(r)}`);
    assert.deepEqual(r.b.receivedFrom, [r.a.mapped], `b: ${JSON.stringify(r)}`);
  });
  test('flushConntrack + setMappingPortRange: the next mapping is in the new range, and back after removing it', async () => {
    const l = lab!;
    const proc = l.spawn('a', [process.execPath, '-e', CLIENT_JS, JSON.stringify({ mode: 'watch', port: NODE_PORT.watch, via: refl!.r1p1 })], { label: 'a:watch' });
    try {
      const [n0, first] = await waitSeen(proc, -1, () => true, 'first mapping');
      assert.equal(first, `${l.wanIp('a')}:${NODE_PORT.watch}`);
      const inRange = (addr: string): boolean => portOf(addr) >= REMAP_RANGE[0] && portOf(addr) <= REMAP_RANGE[1];
      await l.setMappingPortRange('a', REMAP_RANGE);
      await l.flushConntrack('a');
      const [n1, remapped] = await waitSeen(proc, n0, () => true, 'mapping after the flush');
      assert.ok(inRange(remapped) && hostOf(remapped) === l.wanIp('a'), `after the flush: ${remapped}, expected a port in ${REMAP_RANGE.join('-')}`);
      await l.setMappingPortRange('a', null);
      await l.flushConntrack('a');
      const [, back] = await waitSeen(proc, n1, () => true, 'mapping after removing the range');
      assert.equal(back, first);
    } finally {
      await proc.stop();
    }
  });
  test('LAN isolation: neither LAN is reachable from the other side or the internet', async () => {
    const l = lab!;
    assert.ok(await pings(l, 'a', l.relayIp), 'a could not reach the internet at all');
    assert.ok(!(await pings(l, 'a', l.ip('b'))), 'a reached b\'s LAN address');
    assert.ok(!(await pings(l, 'b', l.ip('a'))), 'b reached a\'s LAN address');
    assert.ok(!(await pings(l, 'inet', l.ip('a'))), 'inet reached a\'s LAN address');
  });
  test('teardown leaves none of the lab\'s namespaces', async () => {
    const l = lab!;
    assert.equal(labNamespaces(l.id).length, 6, `namespaces before teardown: ${labNamespaces(l.id).join(', ')}`);
    await l.teardown();
    assert.deepEqual(labNamespaces(l.id), []);
  });
});

describe('NAT lab: symmetric on both sides', { skip }, () => {
  let lab: NatLab | undefined;
  let refl: Reflector | undefined;
  before(async () => {
    lab = await createNatLab({ a: 'symmetric', b: 'symmetric' });
    refl = await startReflector(lab);
  });
  after(async () => {
    await lab?.teardown();
  });

  test('mapping: a new port per destination', async () => {
    await checkMapping(lab!, refl!, 'a', NODE_PORT.mapA);
  });
  test('filtering: only the contacted address and port get through', async () => {
    await checkFiltering(lab!, refl!, 'a', NODE_PORT.filterA);
  });
  test('simultaneous open: neither receives', async () => {
    const r = await punch(lab!, refl!, NODE_PORT.punch1, 'sym-sym');
    assert.deepEqual(r.a.receivedFrom, [], `a: ${JSON.stringify(r)}`);
    assert.deepEqual(r.b.receivedFrom, [], `b: ${JSON.stringify(r)}`);
  });
  test('setMappingPortRange confines random ports too', async () => {
    const l = lab!;
    await l.setMappingPortRange('a', REMAP_RANGE);
    await l.flushConntrack('a');
    try {
      const { mapped } = await client<{ mapped: string[] }>(l, 'a', { mode: 'map', port: NODE_PORT.watch, targets: [refl!.r1p1, refl!.r2p1, refl!.r1p2] });
      for (const m of mapped) assert.ok(portOf(m) >= REMAP_RANGE[0] && portOf(m) <= REMAP_RANGE[1], `mapped ${mapped.join(', ')}: expected ports in ${REMAP_RANGE.join('-')}`);
    } finally {
      await l.setMappingPortRange('a', null);
    }
  });
});
