/**
 * The netns lab itself (src/demo/netns-lab.ts): namespaces appear, nodes
 * reach each other across the bridge, link cuts, loss and rate limits act
 * and undo, and teardown
 * leaves none of this lab's namespaces or processes behind — after a throwing
 * test body, on process exit without teardown, and on SIGTERM. Needs root;
 * skipped otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createNetnsLab, labNamespaces, type NetnsLab } from '../../src/demo/netns-lab.js';
import { measureIperf3, parsePing } from '../../testkit/netns-measure.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const LAB_MODULE = new URL('../../src/demo/netns-lab.js', import.meta.url).href;
/** A child process must create its lab and print the id well within this. */
const CHILD_TIMEOUT_MS = 20_000;

/** True while the pid runs; a killed zombie awaiting its reaper counts as gone. */
function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

test('namespaces exist, nodes ping across the bridge, teardown removes them', { skip: !isRoot }, async () => {
  const lab = await createNetnsLab({ nodes: ['relay', 'a', 'b'] });
  try {
    assert.match(lab.id, /^sm-[0-9a-f]{6}$/);
    assert.deepEqual(labNamespaces(lab.id).sort(), [`${lab.id}-a`, `${lab.id}-b`, `${lab.id}-br`, `${lab.id}-relay`]);
    assert.equal(lab.ip('a'), '172.31.0.11');
    const addr = await lab.check('b', ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    assert.match(addr.stdout, /inet 172\.31\.0\.12\/24/);
    const ping = await lab.check('a', ['ping', '-c', '2', '-i', '0.2', '-W', '2', lab.ip('b')]);
    assert.match(ping.stdout, /2 received/);
    await lab.check('relay', ['ping', '-c', '1', '-W', '2', lab.ip('a')]);
    // The host cannot see the lab: its namespaces hold the only route to the subnet.
    const failed = await lab.exec('a', ['ping', '-c', '1', '-W', '1', '172.31.0.250']);
    assert.notEqual(failed.code, 0);
  } finally {
    await lab.teardown();
  }
  assert.deepEqual(labNamespaces(lab.id), []);
  await lab.teardown(); // idempotent
});

test('cut drops traffic between two nodes only, and the undo heals it', { skip: !isRoot }, async () => {
  const lab = await createNetnsLab({ nodes: ['a', 'b', 'c'] });
  try {
    const undo = await lab.cut('a', 'b');
    const cut = await lab.exec('a', ['ping', '-c', '2', '-i', '0.2', '-W', '1', lab.ip('b')]);
    assert.notEqual(cut.code, 0, `ping across a cut link succeeded:\n${cut.stdout}`);
    await lab.check('a', ['ping', '-c', '1', '-W', '2', lab.ip('c')]);
    await undo();
    await lab.check('a', ['ping', '-c', '1', '-W', '2', lab.ip('b')]);
  } finally {
    await lab.teardown();
  }
});

test('loss drops a fraction of packets and rateLimit caps throughput; both undo', { skip: !isRoot }, async () => {
  const lab = await createNetnsLab({ nodes: ['a', 'b'] });
  try {
    const undoLoss = await lab.loss('b', 0.5);
    const lossy = parsePing((await lab.exec('a', ['ping', '-n', '-c', '60', '-i', '0.01', '-W', '1', lab.ip('b')], { timeoutMs: 20_000 })).stdout);
    // Echo requests are dropped on b's input with p = 0.5: Binomial(60, 0.5) replies; outside 3..57 has negligible probability.
    assert.ok(lossy.received >= 3 && lossy.received <= 57, `received ${lossy.received}/60 with 50% loss`);
    await undoLoss();
    assert.equal(parsePing((await lab.check('a', ['ping', '-n', '-c', '20', '-i', '0.01', lab.ip('b')])).stdout).received, 20);
    const undoRate = await lab.rateLimit('a', 50);
    const limited = await measureIperf3(lab, 'a', 'b', lab.ip('b'), { seconds: 2 });
    assert.ok(limited.bitsPerSecond < 50e6 * 1.3, `${(limited.bitsPerSecond / 1e6).toFixed(1)} Mbit/s through a 50 Mbit/s limit`);
    assert.ok(limited.bitsPerSecond > 50e6 * 0.5, `${(limited.bitsPerSecond / 1e6).toFixed(1)} Mbit/s: the limit starved the link`);
    await undoRate();
    const free = await measureIperf3(lab, 'a', 'b', lab.ip('b'), { seconds: 1 });
    assert.ok(free.bitsPerSecond > 200e6, `${(free.bitsPerSecond / 1e6).toFixed(1)} Mbit/s after removing the limit`);
  } finally {
    await lab.teardown();
  }
});

test('teardown after a throwing body leaves no namespace and no process behind', { skip: !isRoot }, async () => {
  let lab: NetnsLab | undefined;
  let sleeperPid = -1;
  await assert.rejects(async () => {
    lab = await createNetnsLab({ nodes: ['a', 'b'] });
    try {
      const sleeper = lab.spawn('a', ['sleep', '300']);
      sleeperPid = sleeper.pid;
      assert.ok(pidAlive(sleeperPid));
      throw new Error('test body failed');
    } finally {
      await lab.teardown();
    }
  }, /test body failed/);
  assert.ok(lab !== undefined);
  assert.deepEqual(labNamespaces(lab.id), []);
  assert.equal(pidAlive(sleeperPid), false, 'spawned process survived teardown');
});

/** Run a child that builds a lab, prints its id and then ends as `ending` says; returns the id. */
async function labInChild(ending: 'exit' | 'throw' | 'sigterm'): Promise<{ id: string; sleeperPid: number }> {
  const script = `
    import { createNetnsLab } from ${JSON.stringify(LAB_MODULE)};
    const lab = await createNetnsLab({ nodes: ['a', 'b'] });
    const s = lab.spawn('a', ['sleep', '300']);
    console.log(JSON.stringify({ id: lab.id, sleeperPid: s.pid }));
    const ending = ${JSON.stringify(ending)};
    if (ending === 'exit') process.exit(3);
    if (ending === 'throw') setTimeout(() => { throw new Error('uncaught'); }, 10);
    if (ending === 'sigterm') setTimeout(() => {}, 60_000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const timer = setTimeout(() => child.pid !== undefined && process.kill(child.pid, 'SIGKILL'), CHILD_TIMEOUT_MS);
  try {
    if (ending === 'sigterm') {
      const deadline = Date.now() + CHILD_TIMEOUT_MS;
      while (!out.includes('\n') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
      assert.ok(out.includes('\n'), `child printed no lab id; stderr:\n${err}`);
      process.kill(child.pid!, 'SIGTERM');
    }
    await exited;
  } finally {
    clearTimeout(timer);
  }
  const line = out.split('\n')[0] ?? '';
  assert.ok(line.startsWith('{'), `child printed no lab id; stderr:\n${err}`);
  return JSON.parse(line) as { id: string; sleeperPid: number };
}

for (const ending of ['exit', 'throw', 'sigterm'] as const) {
  test(`a process that ends by ${ending} without teardown still removes its lab`, { skip: !isRoot }, async () => {
    const { id, sleeperPid } = await labInChild(ending);
    assert.deepEqual(labNamespaces(id), []);
    assert.equal(pidAlive(sleeperPid), false, 'spawned process survived its lab');
  });
}

test('bad node names are refused before anything is created', { skip: !isRoot }, async () => {
  await assert.rejects(createNetnsLab({ nodes: ['Bad_Name'] }), /node name/);
  await assert.rejects(createNetnsLab({ nodes: ['a', 'a'] }), /unique/);
  await assert.rejects(createNetnsLab({ nodes: [] }), /at least one/);
});
