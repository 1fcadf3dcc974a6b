/**
 * The mesh most netns tests start from (docs/conventions.md §15: a netns lab
 * with real processes): a plain lab (netns-lab.ts) with nodes relay, a and
 * b on one bridge, a throw-away network (test-network.ts) with members a
 * (LAB_MESH_A/24) and b (LAB_MESH_B/24), a relay in `relay` and
 * `shadowmesh up` daemons with TUN devices in a and b, returned once both
 * daemons list each other (no session yet: the first packet starts one).
 * The NAT lab has its own (netns-nat-mesh.ts), which shares the wait.
 *
 * What callers must know: stop() tears the lab down (every process it
 * started, its namespaces) and removes the network's directory; a failing
 * start does the same and rethrows. Per-test flags and environment go in
 * through the options.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createNetnsLab, type NetnsLab } from '../src/demo/netns-lab.js';
import { startLabDaemon, startLabRelay, waitForPeerPath, type LabDaemon, type LabRelay } from './netns-shadowmesh.js';
import { createTestNetwork, type TestNetwork } from './test-network.js';

/** Mesh addresses of members a and b (one /24). */
export const LAB_MESH_A = '10.10.10.3';
export const LAB_MESH_B = '10.10.10.4';
/** TUN device name inside both namespaces. */
export const LAB_MESH_IFNAME = 'smtun0';
/** Admission of both daemons and the relay's member list reaching each. */
export const LAB_MESH_MEMBERS_KNOWN_MS = 30_000;

export interface LabMesh {
  lab: NetnsLab;
  net: TestNetwork;
  relay: LabRelay;
  a: LabDaemon;
  b: LabDaemon;
  /** The daemons' recent stderr, for assertion messages. */
  logs(): string;
  stop(): Promise<void>;
}

export interface LabMeshOptions {
  /** Extra `shadowmesh relay` flags (the lab is there for addresses). */
  relayArgs?: (lab: NetnsLab) => string[];
  /** Extra `shadowmesh up` flags per daemon (the network is there for its files, e.g. `--crl net.crlFile`). */
  daemonArgs?: (node: 'a' | 'b', lab: NetnsLab, net: TestNetwork) => string[];
  /** Environment of both daemons. */
  env?: Record<string, string>;
}

/** The daemons' stderr tails, for assertion messages. */
export function daemonLogs(a: LabDaemon, b: LabDaemon): string {
  return `\na stderr: ${a.proc.stderr().slice(-3_000)}\nb stderr: ${b.proc.stderr().slice(-3_000)}`;
}

/** Wait until a lists b and b lists a (the relay's member list reached both); asserts, with both logs, when not. */
export async function waitBothListed(a: LabDaemon, b: LabDaemon, timeoutMs: number): Promise<void> {
  assert.ok(await waitForPeerPath(a, 'b', () => true, timeoutMs) !== null, `a never listed b${daemonLogs(a, b)}`);
  assert.ok(await waitForPeerPath(b, 'a', () => true, timeoutMs) !== null, `b never listed a${daemonLogs(a, b)}`);
}

export async function startLabMesh(options: LabMeshOptions = {}): Promise<LabMesh> {
  const lab = await createNetnsLab({ nodes: ['relay', 'a', 'b'] });
  let net: TestNetwork | undefined;
  try {
    net = await createTestNetwork();
    const dir = net.dir;
    lab.onTeardown(() => rmSync(dir, { recursive: true, force: true }));
    const ma = await net.addMember('a', { address: `${LAB_MESH_A}/24` });
    const mb = await net.addMember('b', { address: `${LAB_MESH_B}/24` });
    const relay = await startLabRelay(lab, 'relay', { caFile: net.caFile, crlFile: net.crlFile, args: options.relayArgs?.(lab) ?? [] });
    const common = { relay, caFile: net.caFile, dev: 'tun' as const, ifname: LAB_MESH_IFNAME, ...(options.env !== undefined ? { env: options.env } : {}) };
    const a = await startLabDaemon(lab, 'a', { ...common, certFile: ma.certFile, dir: ma.dir, args: options.daemonArgs?.('a', lab, net) ?? [] });
    const b = await startLabDaemon(lab, 'b', { ...common, certFile: mb.certFile, dir: mb.dir, args: options.daemonArgs?.('b', lab, net) ?? [] });
    await waitBothListed(a, b, LAB_MESH_MEMBERS_KNOWN_MS);
    const network = net;
    return {
      lab, net: network, relay, a, b,
      logs: () => daemonLogs(a, b),
      async stop() {
        await lab.teardown();
        await network.cleanup();
      },
    };
  } catch (err) {
    await lab.teardown();
    await net?.cleanup();
    throw err;
  }
}
