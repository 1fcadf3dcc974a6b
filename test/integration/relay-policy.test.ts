/**
 * The relay carries the CA-signed network policy (docs/architecture.md
 * "Network policy"; docs/protocol.md §1 POLICY), as an operator meets it: a
 * CA, certificates and policies made through the real CLI, a real relay
 * given `--policy`, and two real daemons (`up --dev none` on loopback)
 * given no policy of their own.
 *
 * Shows:
 *   - a relay given a policy of another CA stops at start with SM_ERR_POLICY_OTHER_CA;
 *   - members admitted by a relay carrying v1 report policyVersion 1 in
 *     `status --json` and enforce it: v1's chat section allows chat, so
 *     alice's chat request reaches bob;
 *   - the operator signs v2 (chat denied), replaces the relay's file and
 *     SIGHUPs the relay: both members move to version 2 without a restart,
 *     and alice's next chat request is refused by bob (chat.policy_denied);
 *   - the relay refuses to go back: v1 put back and SIGHUP is refused with
 *     SM_ERR_POLICY_ROLLBACK, and members stay at 2;
 *   - the delivered policy is kept in the member's directory: bob restarted
 *     against a relay carrying no policy still enforces version 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlClient } from '../../src/node/control/control-client.js';
import type { ChatListResult, StatusResult } from '../../src/node/control/control-protocol.js';
import { runCliAsync, startDaemon, waitFor, type CliRun, type DaemonProcess } from '../../testkit/daemon-process.js';
import { loggedRecords } from '../../testkit/log-records.js';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';

const ANY_TRAFFIC = 'rules:\n  - name: all\n    from: any\n    to: any\n    proto: any\n';
const POLICY_V1 = `${ANY_TRAFFIC}chat:\n  - name: chat-allowed\n    from: any\n    to: any\n`;
const POLICY_V2 = `${ANY_TRAFFIC}chat:\n  - name: chat-denied\n    action: deny\n    from: any\n    to: any\n`;

function ok(r: CliRun, what: string): CliRun {
  assert.equal(r.status, 0, `${what}: ${r.stderr}`);
  return r;
}

test('the relay sends its signed policy to members, a newer one live on SIGHUP; members enforce and keep it, the relay refuses an older one and another CA', { timeout: 180_000 }, async () => {
  const work = await mkdtemp(join(tmpdir(), 'sm-relay-policy-'));
  const caDir = join(work, 'ca');
  const caFile = join(caDir, 'ca.crt');
  const relayPolicy = join(work, 'relay-policy.signed');
  const sock = (name: string): string => join(work, `${name}.sock`);
  const client = (name: string): ControlClient => new ControlClient({ path: sock(name), timeoutMs: 30_000 });
  const status = async (name: string): Promise<StatusResult> => (await client(name).call('status', {})) as StatusResult;
  const daemons: DaemonProcess[] = [];
  const relays: RelayProcess[] = [];
  const signPolicy = async (text: string, out: string, ca = caDir): Promise<void> => {
    const yaml = join(work, 'policy.yaml');
    await writeFile(yaml, text);
    ok(await runCliAsync(['ca', 'policy', 'sign', yaml, '--ca', ca, '--out', out]), 'ca policy sign');
  };
  /** Replace the relay's file as an operator would: write beside it, rename over it. */
  const replaceRelayPolicy = async (from: string): Promise<void> => {
    await writeFile(`${relayPolicy}.next`, await readFile(from));
    await rename(`${relayPolicy}.next`, relayPolicy);
  };
  try {
    ok(await runCliAsync(['ca', 'init', '--dir', caDir]), 'ca init');
    ok(await runCliAsync(['ca', 'init', '--dir', join(work, 'other-ca')]), 'ca init other');
    for (const [m, ip] of [['alice', '10.81.0.2/24'], ['bob', '10.81.0.3/24']] as const) {
      ok(await runCliAsync(['keygen', '--dir', join(work, m)]), `keygen ${m}`);
      ok(await runCliAsync(['ca', 'sign', '--ca', caDir, '--name', m, '--ip', ip, '--valid', '1d', '--pub', join(work, m, 'identity.pub'), '--out', join(work, `${m}.crt`)]), `ca sign ${m}`);
    }
    await signPolicy(POLICY_V1, join(work, 'v1.signed'));
    await signPolicy(POLICY_V2, join(work, 'v2.signed'));
    await signPolicy(POLICY_V1, join(work, 'other.signed'), join(work, 'other-ca'));

    // An operator's mistake is caught at start, with the code.
    const wrong = await runCliAsync(['relay', '--ca', caFile, '--listen', '127.0.0.1:0', '--data', join(work, 'relay-wrong'), '--no-stun', '--policy', join(work, 'other.signed')]);
    assert.notEqual(wrong.status, 0);
    assert.match(wrong.stderr, /SM_ERR_POLICY_OTHER_CA/);

    await replaceRelayPolicy(join(work, 'v1.signed'));
    const relay = await startRelayProcess({ caFile, args: ['--policy', relayPolicy] });
    relays.push(relay);
    const up = (r: RelayProcess, m: string): string[] => ['--relay', r.url, '--pin', r.pin, '--ca', caFile, '--cert', join(work, `${m}.crt`), '--dir', join(work, m), '--dev', 'none', '--control', sock(m), '--stun', 'none', '--no-direct'];
    let bob = await startDaemon(up(relay, 'bob'));
    daemons.push(bob);
    daemons.push(await startDaemon(up(relay, 'alice')));

    // v1 from the relay: both members report it (the CLI's status --json) and alice's chat reaches bob.
    for (const m of ['alice', 'bob']) {
      await waitFor(`${m} enforces v1`, async () => {
        const s = JSON.parse(ok(await runCliAsync(['status', '--json', '--control', sock(m)]), 'status --json').stdout) as StatusResult;
        return s.policyVersion === 1 ? true : undefined;
      }, 20_000, 200);
    }
    await waitFor('alice knows bob', async () => ((await client('alice').call('peers', {})) as { peers: { name: string }[] }).peers.some((p) => p.name === 'bob') || undefined, 20_000, 100);
    await client('alice').call('chat_request', { peer: 'bob', wait: false });
    await waitFor('bob holds alice\'s chat request', async () => (((await client('bob').call('chat_list', {})) as ChatListResult).conversations.length > 0 ? true : undefined), 20_000, 100);
    assert.equal((await status('bob')).drops['chat.policy_denied'] ?? 0, 0);

    // v2 signed, the relay's file replaced, SIGHUP: both move to 2 live, and bob refuses alice's chat.
    await replaceRelayPolicy(join(work, 'v2.signed'));
    relay.signal('SIGHUP');
    for (const m of ['alice', 'bob']) await waitFor(`${m} enforces v2`, async () => ((await status(m)).policyVersion === 2 ? true : undefined), 20_000, 100);
    // Applied once verified; written to bob's directory (policy.signed, then policy-version) right after.
    await waitFor('bob keeps v2 in his directory', async () => ((await readFile(join(work, 'bob', 'policy-version'), 'utf8').catch(() => '')).trim() === '2' ? true : undefined));
    await client('alice').call('chat_request', { peer: 'bob', wait: false });
    await waitFor('bob refuses alice\'s chat under v2', async () => (((await status('bob')).drops['chat.policy_denied'] ?? 0) > 0 ? true : undefined), 20_000, 100);
    assert.equal(((await client('bob').call('chat_list', {})) as ChatListResult).conversations.length, 1, 'the second request was not taken');

    // The relay refuses to go back, and members stay at 2.
    await replaceRelayPolicy(join(work, 'v1.signed'));
    relay.signal('SIGHUP');
    const refused = await waitFor('the relay refuses v1', async () => {
      const r = loggedRecords(relay.stderr(), /^policy reload refused/, 'error');
      return r.length > 0 ? r : undefined;
    });
    assert.equal(refused[0]!['code'], 'SM_ERR_POLICY_ROLLBACK', relay.stderr());
    assert.equal((await status('alice')).policyVersion, 2);
    assert.equal((await status('bob')).policyVersion, 2);
    // The relay's /stats: still version 2; v1 at each admission (two, more if a member was re-admitted), v2 once to each member (two).
    const carried = (await relay.stats()).policy;
    assert.ok(carried !== undefined && carried.version === 2 && carried.sent >= 4 && carried.skipped === 0, JSON.stringify(carried));

    // Bob restarted against a relay that carries no policy keeps enforcing what was delivered.
    await bob.stop();
    const bare = await startRelayProcess({ caFile });
    relays.push(bare);
    bob = await startDaemon(up(bare, 'bob'));
    daemons.push(bob);
    const s = await status('bob');
    assert.equal(s.policyVersion, 2);
    assert.deepEqual(s.policyRefused, {});
  } finally {
    for (const d of daemons) await d.stop();
    for (const r of relays) await r.stop();
    await rm(work, { recursive: true, force: true });
  }
});
