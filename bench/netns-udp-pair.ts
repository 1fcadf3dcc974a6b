/**
 * The ShadowMesh half of the latency benches' lab: a relay and two
 * `shadowmesh up` daemons (TUN, mesh addresses MESH_A and MESH_B) in the
 * netns lab's nodes relay, a and b, brought to a direct UDP path on the lab
 * link (pings 200 ms apart until both ends show it). Used by
 * netns-echo-cost.ts, netns-floor.ts and netns-idle.ts; netns-ping-interleaved.ts
 * brings up its own phases (TAP, relay only) on the same addresses and timeout.
 *
 * Everything started is pushed onto `stack` (the test network's files first),
 * so the caller stops it by popping in reverse, also when this throws.
 */
import type { NetnsLab } from '../src/demo/netns-lab.js';
import { labLinkOnly, startLabDaemon, startLabRelay, waitForPeerPath, waitForPing } from '../testkit/netns-shadowmesh.js';
import { createTestNetwork } from '../testkit/test-network.js';

export const MESH_A = '10.10.10.3';
export const MESH_B = '10.10.10.4';
/** Each step of the set-up (first ping, direct UDP path at each end) within this. */
export const READY_TIMEOUT_MS = 30_000;

export interface UdpPair {
  relayPid: number;
  aPid: number;
  bPid: number;
}

export async function startUdpPair(lab: NetnsLab, stack: Array<{ stop(): Promise<unknown> }>): Promise<UdpPair> {
  const net = await createTestNetwork();
  stack.push({ stop: () => net.cleanup() });
  const ma = await net.addMember('a', { address: `${MESH_A}/24` });
  const mb = await net.addMember('b', { address: `${MESH_B}/24` });
  const relay = await startLabRelay(lab, 'relay', { caFile: net.caFile });
  stack.push(relay);
  const common = { relay, caFile: net.caFile, dev: 'tun', ifname: 'smtun0' } as const;
  const da = await startLabDaemon(lab, 'a', { ...common, args: labLinkOnly(lab, 'a', []), certFile: ma.certFile, dir: ma.dir });
  stack.push(da);
  const db = await startLabDaemon(lab, 'b', { ...common, args: labLinkOnly(lab, 'b', []), certFile: mb.certFile, dir: mb.dir });
  stack.push(db);
  if ((await waitForPing(lab, 'a', MESH_B, READY_TIMEOUT_MS)) === null) throw new Error('no ping across ShadowMesh');
  const keep = lab.spawn('a', ['ping', '-n', '-i', '0.2', '-W', '1', MESH_B], { label: 'a:keep-ping' });
  try {
    for (const [d, peer] of [[da, 'b'], [db, 'a']] as const) {
      if ((await waitForPeerPath(d, peer, (x) => x.path === 'direct' && x.carrier === 'udp', READY_TIMEOUT_MS)) === null) {
        throw new Error(`no direct UDP path to ${peer} within ${READY_TIMEOUT_MS} ms`);
      }
    }
  } finally {
    await keep.stop();
  }
  return { relayPid: relay.proc.pid, aPid: da.proc.pid, bPid: db.proc.pid };
}
