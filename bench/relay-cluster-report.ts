/**
 * The "Relay cluster" section of BENCHMARKS.md (issue 13; docs/architecture.md
 * "Relay cluster"), from bench/relay-scale.ts (one relay holding many
 * admitted members) and bench/relay-forwarding.ts (forwarding within one
 * relay vs across two relays through NATS). bench/run.ts calls it.
 */
import { cpus } from 'node:os';
import { renderRelayForwardingTable, type RelayForwardingResult } from './relay-forwarding.js';
import { renderRelayScaleSection, type RelayScaleResult } from './relay-scale.js';

export function renderRelayClusterSection(
  scale: RelayScaleResult | null,
  forwarding: RelayForwardingResult | null,
  failures: { scale?: string; forwarding?: string } = {},
  scaleCommand = 'node dist/bench/relay-scale.js',
): string {
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`;
  const out = ['## Relay cluster', ''];
  out.push(`### One relay holding many members`, '');
  out.push(`Command: \`${scaleCommand}\` (members: \`--members N\` or SHADOWMESH_SCALE_MEMBERS, default 10,000).`, '');
  out.push(
    'A relay process (`shadowmesh relay`, Node below) and N lightweight simulated members in one other process',
    '(bench/light-member.ts): each opens TLS 1.3 and the WebSocket and runs the real admission with a real',
    'CA-signed certificate and a real hybrid (Ed25519 + ML-DSA-87) signature, 32 at a time, then stays',
    'connected, reads and discards the PEER_UP of every other member and answers PINGs. Identities are',
    'made in worker threads and cached under the OS temp directory (bench/scale-identities.ts). Admission',
    'rate: members admitted ÷ wall time from the first connect to the last ESTABLISHED; the client work',
    '(TLS, an ML-DSA-87 signature, the presence it reads) shares the 2 cores with the relay.',
    '',
  );
  if (scale !== null) {
    out.push(`Run on ${scale.date}, ${machine}, Node ${scale.node}.`, '', renderRelayScaleSection(scale), '');
  } else {
    out.push(`Not measured: ${failures.scale ?? 'failed'}.`, '');
  }
  out.push('### Forwarding within one relay vs across two relays through NATS', '');
  out.push('Command: `node dist/bench/relay-forwarding.js` (`--seconds 5 --sizes 1200,16384`).', '');
  out.push(
    'Two lightweight members A and B (real admission); A sends SEND frames of one payload size to B as fast as',
    'its WebSocket drains, B counts the DELIVER frames arriving over the window after a 1 s warm-up.',
    '"one relay": A and B on the same relay process; "two relays": A on relay 1, B on relay 2, both',
    '`--cluster` to one local nats-server, so every frame is published on NATS by relay 1 and delivered',
    'by relay 2. Per-member rate limits lifted. All processes (two relays, nats-server, the members) share',
    'the cores.',
    '',
  );
  if (forwarding !== null) {
    out.push(`Run on ${forwarding.date}, ${machine}, Node ${forwarding.node}, ${forwarding.seconds} s per row.`, '', renderRelayForwardingTable(forwarding), '');
  } else {
    out.push(`Not measured: ${failures.forwarding ?? 'failed'}.`, '');
  }
  return out.join('\n');
}
