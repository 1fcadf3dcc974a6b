/**
 * Runs testkit/native-device-in-netns.js (the compliance suite and the kernel-only checks
 * for the native TAP/TUN) inside a fresh network namespace `sm-dev-<random>`,
 * and removes the namespace afterwards even on failure (every device in it
 * goes with it). Needs root and Linux; skipped elsewhere with the reason.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/** The child needs about 2 s; generous for a loaded CI machine, and the suite stays under ~30 s. */
const CHILD_TIMEOUT_MS = 25_000;
const CHILD = fileURLToPath(new URL('../../../testkit/native-device-in-netns.js', import.meta.url));
/** Keep at most this much child output for the failure message. */
const MAX_OUTPUT_CHARS = 64 * 1024;

function skipReason(): string | undefined {
  if (process.platform !== 'linux') return 'native TAP/TUN is Linux only';
  if (process.getuid?.() !== 0) return 'needs root to create a network namespace';
  if (spawnSync('ip', ['-V']).status !== 0) return 'iproute2 (ip) not installed';
  return undefined;
}

test('native TAP/TUN device in a network namespace', { skip: skipReason() ?? false, timeout: CHILD_TIMEOUT_MS + 10_000 }, async () => {
  const ns = `sm-dev-${randomBytes(4).toString('hex')}`;
  const add = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(add.status, 0, `ip netns add ${ns}: ${add.stderr}`);
  try {
    spawnSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up'], { timeout: 10_000 });
    // Without NODE_TEST_CONTEXT (set by a parent `node --test`) the child reports plain TAP, not the runner's binary protocol.
    const env = { ...process.env };
    delete env['NODE_TEST_CONTEXT'];
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--test-reporter=tap', CHILD], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let output = '';
    const keep = (chunk: Buffer): void => {
      if (output.length < MAX_OUTPUT_CHARS) output += chunk.toString('utf8');
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const code = await new Promise<number | string>((resolve) => {
      const timer = setTimeout(() => {
        if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
        resolve(`killed after ${CHILD_TIMEOUT_MS} ms`);
      }, CHILD_TIMEOUT_MS);
      child.on('exit', (c, signal) => {
        clearTimeout(timer);
        resolve(c ?? String(signal));
      });
    });
    const failed = output.split('\n').filter((l) => l.startsWith('not ok'));
    assert.equal(code, 0, `native device checks failed (${failed.join('; ')}):\n${output}`);
    assert.match(output, /^# fail 0$/m, output);
    assert.match(output, /^# pass (\d+)$/m);
  } finally {
    spawnSync('ip', ['netns', 'del', ns], { timeout: 10_000 });
  }
});
