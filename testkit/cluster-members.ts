/**
 * Members of a relay cluster test (docs/architecture.md "Relay cluster"):
 * `shadowmesh up --dev none --no-direct` daemons, each attached to one relay
 * process, driven over their control sockets. Shared by the relay cluster
 * integration tests.
 *
 *     const members = new ClusterMembers(net, workDir);
 *     await members.start('alice', relayA);           // up, attached to relayA
 *     await members.seesAll('alice', ['alice', 'bob']);
 *     assert.equal(await members.ping('alice', 'bob'), 3);
 *     await members.stopAll();
 *
 * What callers must know:
 *  - Control sockets live in `workDir` (the caller removes it); the member's
 *    keys and certificate come from the TestNetwork.
 *  - Waits are bounded (`waitFor`); a ping returns the replies received, so
 *    the caller asserts on the count.
 */
import { join } from 'node:path';
import { ControlClient } from '../src/node/control/control-client.js';
import type { UsersResult } from '../src/node/control/control-protocol.js';
import { startDaemon, waitFor, type DaemonProcess } from './daemon-process.js';
import type { RelayProcess } from './relay-process.js';
import type { TestNetwork } from './test-network.js';

export class ClusterMembers {
  readonly #net: TestNetwork;
  readonly #work: string;
  readonly daemons: Record<string, DaemonProcess> = {};

  constructor(net: TestNetwork, workDir: string) {
    this.#net = net;
    this.#work = workDir;
  }

  sock(name: string): string {
    return join(this.#work, `${name}.sock`);
  }

  client(name: string): ControlClient {
    return new ControlClient({ path: this.sock(name), timeoutMs: 30_000 });
  }

  /** The `up` arguments of `name` attached to `relay` only. */
  upArgs(name: string, relay: RelayProcess): string[] {
    const x = this.#net.member(name);
    return ['--relay', relay.url, '--pin', relay.pin, '--ca', this.#net.caFile, '--crl', this.#net.crlFile, '--cert', x.certFile, '--dir', x.dir, '--dev', 'none', '--no-direct', '--control', this.sock(name)];
  }

  async start(name: string, relay: RelayProcess): Promise<DaemonProcess> {
    const d = await startDaemon(this.upArgs(name, relay));
    this.daemons[name] = d;
    return d;
  }

  /** Names of the members `name` sees up, sorted. */
  async users(name: string): Promise<string[]> {
    return ((await this.client(name).call('users', {})) as UsersResult).users.map((u) => u.name ?? '').sort();
  }

  /** Wait until `name` sees exactly the others of `all`. */
  async seesAll(name: string, all: readonly string[], timeoutMs = 20_000): Promise<void> {
    const others = all.filter((m) => m !== name).sort();
    await waitFor(`${name} sees ${others.join(', ')}`, async () => (JSON.stringify(await this.users(name)) === JSON.stringify(others) ? true : undefined), timeoutMs, 100);
  }

  /** Mesh ping `from` -> `to`; the number of replies received. */
  async ping(from: string, to: string, count = 3): Promise<number> {
    const r = await this.client(from).ping({ peer: to, count, intervalMs: 100 });
    return r.summary.received;
  }

  async stopAll(): Promise<void> {
    for (const d of Object.values(this.daemons)) await d.stop();
  }
}
