/**
 * A node process driven over stdio, for integration tests that need real,
 * separate node processes before the daemon and its control API exist
 * (issue: data plane). Not part of the product's CLI.
 *
 * Usage: node dist/testkit/node-driver.js --dir DIR --ca CA.crt --cert NODE.crt
 *          --relay wss://HOST:PORT --pin sha256:HEX [--crl FILE] [--rekey-after-ms N] [--grace-ms N] [--no-direct]
 *
 * stdin, one JSON object per line:
 *   {"op":"send","peer":"<hex>","data":"<base64>"}   send a payload end to end
 *   {"op":"stats"}                                    print a stats event
 *   {"op":"exit"}                                     stop cleanly and exit 0
 * stdout, one JSON object per line:
 *   {"event":"ready","peerId":"<hex>"}
 *   {"event":"relay","observedAddress":..,"observedPort":..}
 *   {"event":"established","peer":"<hex>","name":".."}
 *   {"event":"payload","peer":"<hex>","data":"<base64>"}
 *   {"event":"send","result":"sent|queued|dropped"}
 *   {"event":"stats","link":{..},"drops":{..},"peers":[..]}
 *   {"event":"refused","code":".."}
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { loadIdentity } from '../src/identity/key-file.js';
import { loadCaCertificate, loadMemberCertificate, loadRevocationList } from '../src/identity/files.js';
import { MembershipVerifier } from '../src/identity/membership.js';
import { formatPeerId, parsePeerId } from '../src/identity/peer-id.js';
import { createLogger } from '../src/util/logger.js';
import { ShadowNode } from '../src/node/node.js';

function out(obj: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(obj, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string' }, ca: { type: 'string' }, cert: { type: 'string' }, crl: { type: 'string' },
      relay: { type: 'string' }, pin: { type: 'string' },
      'rekey-after-ms': { type: 'string' }, 'grace-ms': { type: 'string' }, 'no-direct': { type: 'boolean' },
    },
  });
  const need = (k: keyof typeof values): string => {
    const v = values[k];
    if (typeof v !== 'string') throw new Error(`--${k} is required`);
    return v;
  };
  const identity = await loadIdentity(need('dir'));
  const ca = await loadCaCertificate(need('ca'));
  const cert = await loadMemberCertificate(need('cert'));
  const verifier = new MembershipVerifier(ca, values.crl ? await loadRevocationList(values.crl, ca) : undefined);
  const timers: Record<string, number> = {};
  if (values['rekey-after-ms']) timers['rekeyAfterTimeMs'] = Number(values['rekey-after-ms']);
  if (values['grace-ms']) timers['previousKeyGraceMs'] = Number(values['grace-ms']);
  const node = new ShadowNode(
    { signer: identity.signer, peerId: identity.peerId, certificate: cert, verifier, logger: createLogger('node') },
    // Tests run on loopback: the direct-path listener binds (and so advertises) 127.0.0.1 only.
    { relay: { url: need('relay'), pin: need('pin'), reconnectBaseMs: 100, reconnectMaxMs: 1_000 }, peers: { timers }, direct: values['no-direct'] === true ? false : { listenHost: '127.0.0.1' } },
  );
  node.on('relay', (info: { observedAddress: string; observedPort: number }) =>
    out({ event: 'relay', observedAddress: info.observedAddress, observedPort: info.observedPort }));
  node.on('established', (peerId: Uint8Array, c: { name: string }) => out({ event: 'established', peer: formatPeerId(peerId), name: c.name }));
  node.on('payload', (peerId: Uint8Array, body: Uint8Array) =>
    out({ event: 'payload', peer: formatPeerId(peerId), data: Buffer.from(body).toString('base64') }));
  node.link.on('refused', (err: { code?: string }) => out({ event: 'refused', code: err.code ?? 'unknown' }));
  node.start();
  out({ event: 'ready', peerId: formatPeerId(identity.peerId) });

  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    let cmd: { op?: string; peer?: string; data?: string };
    try {
      cmd = JSON.parse(line) as typeof cmd;
    } catch {
      out({ event: 'error', message: 'bad json' });
      return;
    }
    if (cmd.op === 'send' && cmd.peer && typeof cmd.data === 'string') {
      out({ event: 'send', result: node.send(parsePeerId(cmd.peer), Buffer.from(cmd.data, 'base64')) });
    } else if (cmd.op === 'stats') {
      out({ event: 'stats', link: node.link.stats, drops: node.peers.drops, peers: node.peerList() });
    } else if (cmd.op === 'exit') {
      void node.stop().then(() => process.exit(0));
    } else {
      out({ event: 'error', message: `unknown op ${String(cmd.op)}` });
    }
  });
  rl.on('close', () => { void node.stop().then(() => process.exit(0)); });
}

main().catch((err: unknown) => {
  process.stderr.write(`node-driver: ${(err as Error).message}\n`);
  process.exit(1);
});
