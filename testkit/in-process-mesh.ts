/**
 * A mesh inside the test process, without root: a real relay server (TLS 1.3
 * WSS on 127.0.0.1, fresh pin) for a throw-away test network, and
 * ShadowNodes for its members whose direct-path listeners bind 127.0.0.1
 * only. `stop()` stops every node, the relay, and removes the files. The
 * relay is a MaliciousRelay (testkit/adversary/malicious-relay.ts), which
 * behaves as an honest relay until a test uses its adversary methods.
 * `stopRelay()` / `startRelay()` take the relay away and bring a new one up
 * at the same address with the same TLS key (the same pin): a relay restart
 * as the nodes see it; `relay` is then the new one.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MembershipVerifier } from '../src/identity/membership.js';
import { ShadowNode, type NodeOptions } from '../src/node/node.js';
import { TlsIdentity } from '../src/relay/tls-identity.js';
import { createTestNetwork, type TestNetwork } from './test-network.js';
import { MaliciousRelay } from './adversary/malicious-relay.js';

export interface InProcessMesh {
  readonly net: TestNetwork;
  /** A MaliciousRelay: an honest relay until a test uses its adversary methods (testkit/adversary/). The current one after startRelay(). */
  readonly relay: MaliciousRelay<ReturnType<MembershipVerifier['verify']>>;
  /** Stop the relay (CLOSE to every member, listener released); the nodes keep running and retry. */
  stopRelay(): Promise<void>;
  /** A new relay at the same address with the same TLS key (same pin, same URL), e.g. after stopRelay(). */
  startRelay(): Promise<void>;
  readonly verifier: MembershipVerifier;
  /** A started node for member `name`; `options` adds to (or overrides) the loopback defaults. */
  node(name: string, options?: Partial<NodeOptions>): ShadowNode;
  stop(): Promise<void>;
}

export async function startInProcessMesh(members: string[]): Promise<InProcessMesh> {
  const dir = await mkdtemp(join(tmpdir(), 'sm-mesh-'));
  const net = await createTestNetwork({ members });
  const verifier = new MembershipVerifier(net.ca);
  const tls = await TlsIdentity.load({ dataDir: join(dir, 'relay'), hostnames: ['127.0.0.1'] }, Date.now());
  let relay = new MaliciousRelay({ verifier, tls }, { host: '127.0.0.1', port: 0 });
  await relay.start();
  const port = relay.port;
  const nodes: ShadowNode[] = [];
  return {
    net,
    get relay() {
      return relay;
    },
    verifier,
    async stopRelay() {
      await relay.stop();
    },
    async startRelay() {
      await relay.stop();
      relay = new MaliciousRelay({ verifier, tls }, { host: '127.0.0.1', port });
      await relay.start();
    },
    node(name, options = {}) {
      const m = net.member(name);
      const node = new ShadowNode(
        { signer: m.signer, peerId: m.peerId, certificate: m.certificate, verifier },
        { relay: { url: relay.url, pin: relay.pin }, direct: { listenHost: '127.0.0.1' }, ...options },
      );
      nodes.push(node);
      return node;
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
      await relay.stop();
      await net.cleanup();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Poll `cond` every 20 ms until it holds; throw naming `what` after `ms`. */
export async function waitUntil(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
