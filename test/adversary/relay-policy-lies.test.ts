/**
 * A relay that lies about the network policy (docs/threat-model.md
 * "Malicious relay"; docs/protocol.md §1 POLICY): a real NodeDaemon on
 * 127.0.0.1 against the in-process MaliciousRelay, policies signed by the
 * network's real CA directory (src/policy/ca-policy.ts) and by another CA.
 *
 * The member starts with no policy at all. The relay then:
 *   - serves v1: the member starts enforcing it (a member without a policy
 *     takes the first verified one) and keeps it in DIR/policy.signed; v2
 *     moves it on;
 *   - serves v1 again (rollback), v2 with one byte flipped (tampered), a
 *     policy of another CA, garbage of the largest size a POLICY may carry,
 *     a POLICY whose declared length is over the bound, a burst of
 *     tampered blobs and a paced flood of them (verified no faster than the
 *     member's budget): each is refused with its code, counted in `status`
 *     and in Prometheus, and the member keeps enforcing version 2 (DIR
 *     files unchanged);
 *   - serves v3: accepted, so the member was left working.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatStatus } from '../../src/cli/status.js';
import { signPolicy } from '../../src/policy/ca-policy.js';
import { PolicyCode } from '../../src/policy/policy-errors.js';
import { issueSignedPolicy } from '../../src/policy/signed-policy.js';
import { NodeDaemon, RELAY_POLICY_VERIFY_BURST, RELAY_POLICY_VERIFY_PER_SEC } from '../../src/node/daemon.js';
import type { StatusResult } from '../../src/node/control/control-protocol.js';
import { FrameType, HEADER_BYTES, MAX_POLICY_BLOB_BYTES, PROTOCOL_VERSION } from '../../src/wire/constants.js';
import { freePort } from '../../testkit/free-port.js';
import { flipBit, makeCa } from '../../testkit/identity-fixtures.js';
import { startInProcessMesh, waitUntil } from '../../testkit/in-process-mesh.js';
import { scrape } from '../../testkit/metrics-scrape.js';
import { seriesValue } from '../../testkit/prometheus-exposition.js';

const TEXT = (chat: 'allow' | 'deny'): string => `rules:\n  - name: all\n    from: any\n    to: any\n    proto: any\nchat:\n  - name: chat\n    action: ${chat}\n    from: any\n    to: any\n`;
/** Tampered blobs sent back to back: more than the member may hold at once (one in work, one waiting). */
const BURST = 50;
/** Then tampered blobs paced so each finds the inbox empty: only the verification budget bounds them. */
const FLOOD = 100;
const FLOOD_GAP_MS = 20;

/** Polls `file` until it holds `text` (trimmed): at most 200 reads, 50 ms apart. */
async function waitForFile(file: string, text: string): Promise<void> {
  let last = '';
  for (let i = 0; i < 200; i++) {
    last = (await readFile(file, 'utf8').catch(() => '')).trim();
    if (last === text) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`${file} holds ${JSON.stringify(last)}, expected ${JSON.stringify(text)}`);
}

test('a relay serving an older, tampered, other-CA, malformed or oversized policy is refused with its code and counted; the member keeps enforcing its version', { timeout: 60_000 }, async (t) => {
  const mesh = await startInProcessMesh(['alice']);
  const dir = await mkdtemp(join(tmpdir(), 'sm-rpl-'));
  let daemon: NodeDaemon | undefined;
  try {
    const m = mesh.net.member('alice');
    const metricsPort = await freePort();
    daemon = await NodeDaemon.load({}, {
      relayUrl: mesh.relay.url, pin: mesh.relay.pin, caFile: mesh.net.caFile, certFile: m.certFile,
      identityDir: m.dir, device: 'none', controlPath: join(dir, 'alice.sock'), direct: false, metrics: { host: '127.0.0.1', port: metricsPort },
    });
    await daemon.start();
    const d = daemon;
    const status = (): StatusResult => d.controlHandlers.status() as StatusResult;
    const alice = m.peerId;
    const refused = (code: string): number => d.policyRefused[code] ?? 0;
    assert.equal(d.policyVersion, null, 'alice starts without a policy');

    const v1 = await signPolicy(mesh.net.caDir, TEXT('allow'));
    const v2 = await signPolicy(mesh.net.caDir, TEXT('deny'));
    const v3 = await signPolicy(mesh.net.caDir, TEXT('allow'));
    assert.deepEqual([v1.version, v2.version, v3.version], [1, 2, 3]);
    const other = makeCa('another network');
    const otherCa = issueSignedPolicy(other.signer, other.ca, { version: 9, issuedAtMs: Date.now(), text: TEXT('allow') });

    // The first policy a member without one receives is enforced; the next version moves it on.
    assert.ok(mesh.relay.servePolicy(alice, v1.raw));
    await waitUntil('alice enforces v1', () => d.policyVersion === 1);
    assert.ok(mesh.relay.servePolicy(alice, v2.raw));
    await waitUntil('alice enforces v2', () => d.policyVersion === 2);
    // Verified first, then written (policy.signed, then policy-version): wait for the second write.
    await waitForFile(join(m.dir, 'policy-version'), '2');
    const storedV2 = await readFile(join(m.dir, 'policy.signed'), 'utf8');

    // Each lie: refused with its code and counted, version 2 stays.
    const lies: [string, Uint8Array, string][] = [
      ['rollback to v1', v1.raw, PolicyCode.ROLLBACK],
      // issuedAtMs (bytes 44..51): the structure still decodes, only the signature can tell.
      ['v2 with one byte flipped', flipBit(v2.raw, 44, 0), PolicyCode.SIGNATURE],
      ['v3 with one signature byte flipped', flipBit(v3.raw, v3.raw.length - 1, 7), PolicyCode.SIGNATURE],
      ['another CA\'s policy', otherCa.raw, PolicyCode.OTHER_CA],
      ['garbage of the largest size', new Uint8Array(MAX_POLICY_BLOB_BYTES).fill(0xa5), PolicyCode.MALFORMED],
      ['another blob under version 2', (await signPolicyAs(v2.version)).raw, PolicyCode.ROLLBACK],
    ];
    async function signPolicyAs(version: number) {
      const { loadCa } = await import('../../src/identity/ca.js');
      const { ca, signer } = await loadCa(mesh.net.caDir, undefined);
      try {
        return issueSignedPolicy(signer, ca, { version, issuedAtMs: Date.now(), text: TEXT('allow') });
      } finally {
        signer.destroy();
      }
    }
    for (const [what, blob, code] of lies) {
      const before = refused(code);
      assert.ok(mesh.relay.servePolicy(alice, blob), what);
      await waitUntil(`${what} refused with ${code}`, () => refused(code) === before + 1);
      assert.equal(d.policyVersion, 2, `${what} changed the policy`);
    }

    // A POLICY whose declared length is over the bound: dropped by the link before any allocation or verification.
    const linkMalformed = d.node.link.stats.drops['malformed'] ?? 0;
    const liar = new Uint8Array(HEADER_BYTES + 4 + 16);
    liar[0] = PROTOCOL_VERSION;
    liar[1] = FrameType.Policy;
    new DataView(liar.buffer).setUint32(HEADER_BYTES, MAX_POLICY_BLOB_BYTES + 1, true);
    assert.ok(mesh.relay.sendRaw(alice, liar));
    await waitUntil('the lying POLICY dropped as malformed', () => (d.node.link.stats.drops['malformed'] ?? 0) === linkMalformed + 1);

    // A burst (low bytes of issuedAtMs flipped, so each decodes and only the signature fails): each is refused or replaced by the next while one is in work; none changes the policy.
    const burstBefore = refused(PolicyCode.SIGNATURE);
    for (let i = 0; i < BURST; i++) assert.ok(mesh.relay.servePolicy(alice, flipBit(v3.raw, 44 + (i % 4), Math.floor(i / 4) % 8)));
    // Then a paced flood, one every FLOOD_GAP_MS: each would find the inbox empty, so only the verification budget bounds the work.
    const floodStart = Date.now();
    for (let i = 0; i < FLOOD; i++) {
      assert.ok(mesh.relay.servePolicy(alice, flipBit(v3.raw, 44 + (i % 4), Math.floor(i / 4) % 8)));
      await new Promise((r) => setTimeout(r, FLOOD_GAP_MS));
    }
    // The newest always waits its turn: wait for the count to settle (no change for longer than the budget's refill).
    const settleMs = 3 * (1_000 / RELAY_POLICY_VERIFY_PER_SEC);
    let last = refused(PolicyCode.SIGNATURE);
    let stableSince = Date.now();
    for (let i = 0; i < 400 && Date.now() - stableSince < settleMs; i++) {
      await new Promise((r) => setTimeout(r, 50));
      if (refused(PolicyCode.SIGNATURE) !== last) {
        last = refused(PolicyCode.SIGNATURE);
        stableSince = Date.now();
      }
    }
    const burstRefused = refused(PolicyCode.SIGNATURE) - burstBefore;
    const budget = RELAY_POLICY_VERIFY_BURST + Math.ceil(((Date.now() - floodStart) / 1_000) * RELAY_POLICY_VERIFY_PER_SEC) + 1;
    assert.ok(burstRefused >= 1 && burstRefused <= budget, `${burstRefused} of ${BURST + FLOOD} tampered blobs verified; the budget allows ${budget}`);
    t.diagnostic(`burst and flood: ${burstRefused} of ${BURST + FLOOD} tampered blobs verified and refused (budget ${budget}); the rest replaced in the one-slot inbox before their turn`);
    assert.equal(d.policyVersion, 2);

    // What status and Prometheus say, and the files: version 2, untouched.
    const s = status();
    assert.equal(s.policyVersion, 2);
    assert.equal(s.policyRefused?.[PolicyCode.ROLLBACK], 2);
    assert.equal(s.policyRefused?.[PolicyCode.OTHER_CA], 1);
    assert.equal(s.policyRefused?.[PolicyCode.MALFORMED], 1);
    assert.equal(s.policyRefused?.[PolicyCode.SIGNATURE], 2 + burstRefused);
    // What `status` prints for an operator.
    assert.match(formatStatus(s), /^policy {5}version 2; refused from the relay: .*SM_ERR_POLICY_ROLLBACK 2/m);
    const exposition = await scrape(metricsPort);
    for (const code of [PolicyCode.ROLLBACK, PolicyCode.SIGNATURE, PolicyCode.OTHER_CA, PolicyCode.MALFORMED]) {
      assert.equal(seriesValue(exposition, 'shadowmesh_policy_refused_total', { code }), s.policyRefused?.[code], code);
    }
    assert.equal(await readFile(join(m.dir, 'policy.signed'), 'utf8'), storedV2);
    assert.equal((await readFile(join(m.dir, 'policy-version'), 'utf8')).trim(), '2');

    // The member was left working: the genuine next version is taken.
    assert.ok(mesh.relay.servePolicy(alice, v3.raw));
    await waitUntil('alice enforces v3', () => d.policyVersion === 3);
    await waitForFile(join(m.dir, 'policy-version'), '3');
  } finally {
    await daemon?.stop();
    await mesh.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
