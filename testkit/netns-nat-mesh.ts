/**
 * A ShadowMesh mesh inside the NAT lab (netns-nat-lab.ts): the relay (which
 * answers STUN on its own port) and a coturn STUN server in the "internet"
 * namespace, `shadowmesh up` daemons with TUN devices behind both routers,
 * each bound to UDP port NAT_MESH_UDP_PORT (inside the lab's full-cone
 * forwarding range) and asking both STUN servers, so each classifies its
 * NAT. Used by the NAT traversal tests and the NAT benchmark.
 *
 * What callers must know: startNatMesh returns once both daemons list each
 * other (no session yet: the first packet starts one); everything it
 * started goes with `lab.teardown()`, which the caller owns (it also runs if
 * the start fails).
 */
import { createNatLab, type NatKind, type NatLab } from './netns-nat-lab.js';
import { daemonLogs, waitBothListed } from './netns-lab-mesh.js';
import { LAB_RELAY_PORT, startLabDaemon, startLabRelay, type LabDaemon } from './netns-shadowmesh.js';
import type { TestMember, TestNetwork } from './test-network.js';

/** Both daemons bind this UDP port (inside the lab's full-cone forwarding range). */
export const NAT_MESH_UDP_PORT = 20_000;
/** coturn's STUN port on the lab's second server address. */
export const NAT_MESH_COTURN_PORT = 3478;
/** Admission of both daemons and the member list reaching each. */
export const NAT_MESH_MEMBERS_KNOWN_MS = 30_000;

export interface NatMesh {
  lab: NatLab;
  a: LabDaemon;
  b: LabDaemon;
  logs(): string;
}

/** A NAT lab with a relay, coturn and two daemons (UDP port UDP_PORT, both STUN servers); torn down by lab.teardown(). */
export async function startNatMesh(net: TestNetwork, ma: TestMember, mb: TestMember, kinds: { a: NatKind; b: NatKind }, options: { env?: Record<string, string>; args?: string[] } = {}): Promise<NatMesh> {
  const lab = await createNatLab({ a: kinds.a, b: kinds.b });
  try {
    lab.spawn('inet', ['turnserver', '-n', '--listening-ip', lab.relayIp2, '--listening-port', String(NAT_MESH_COTURN_PORT), '--stun-only', '--no-tls', '--no-dtls', '--no-cli', '--log-file', 'stdout', '--simple-log', '--pidfile', `/tmp/sm-turnserver-${process.pid}-${lab.id}.pid`], { label: 'inet:coturn' });
    const relay = await startLabRelay(lab, 'inet', { caFile: net.caFile, crlFile: net.crlFile });
    const common = {
      relay, caFile: net.caFile, dev: 'tun' as const, ifname: 'smtun0',
      args: ['--udp-port', String(NAT_MESH_UDP_PORT), '--stun', `${lab.relayIp}:${LAB_RELAY_PORT},${lab.relayIp2}:${NAT_MESH_COTURN_PORT}`, ...(options.args ?? [])],
      ...(options.env !== undefined ? { env: options.env } : {}),
    };
    const a = await startLabDaemon(lab, 'a', { ...common, certFile: ma.certFile, dir: ma.dir, control: `${ma.dir}/control-${lab.id}.sock` });
    const b = await startLabDaemon(lab, 'b', { ...common, certFile: mb.certFile, dir: mb.dir, control: `${mb.dir}/control-${lab.id}.sock` });
    await waitBothListed(a, b, NAT_MESH_MEMBERS_KNOWN_MS);
    return { lab, a, b, logs: () => daemonLogs(a, b) };
  } catch (err) {
    await lab.teardown();
    throw err;
  }
}

