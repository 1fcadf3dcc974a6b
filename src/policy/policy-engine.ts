/**
 * The policy engine a node's data plane calls for each packet
 * (docs/architecture.md "Network policy"): the compiled policy's decision,
 * made stateful by the connection table, with drops counted per rule name.
 *
 * check(flow):
 *  1. a packet of a tracked connection, either way, passes under the rule
 *     that allowed the connection (`via: 'conntrack'`);
 *  2. otherwise the policy decides (`via: 'rule'`); an allowed flow is
 *     tracked, so its return traffic passes in step 1; a denied one is
 *     counted under the deciding rule's name (default-deny when none).
 *
 * Connections are owned by the remote end (the sender of an inbound flow,
 * the receiver of an outbound one) for the table's per-owner bound.
 *
 * An outbound flow the policy does not check (outbound: false) is still
 * tracked, so the replies to what this node sends pass inbound, as with
 * Nebula's firewall. Replacing the policy (setPolicy, a newer signed
 * version) clears the table: connections allowed by the old policy must
 * pass the new one again.
 *
 * The data plane (src/node/dataplane/dataplane.ts) calls check() for every
 * packet of a node that has a policy.
 */
import type { Clock } from '../util/clock.js';
import type { CompiledPolicy, Decision, Flow } from './compiled-policy.js';
import { ConnectionTable, type ConntrackOptions } from './conntrack.js';

export interface EngineDecision extends Decision {
  via: 'conntrack' | 'rule';
}

export class PolicyEngine {
  readonly conntrack: ConnectionTable;
  #policy: CompiledPolicy;
  readonly #drops = new Map<string, number>();
  #allowedPackets = 0;
  #droppedPackets = 0;

  constructor(policy: CompiledPolicy, clock: Clock, options: ConntrackOptions = {}) {
    this.#policy = policy;
    this.conntrack = new ConnectionTable(clock, options);
  }

  get policy(): CompiledPolicy {
    return this.#policy;
  }

  /** Switches to another policy; tracked connections are forgotten. Drop counters are kept. */
  setPolicy(policy: CompiledPolicy): void {
    this.#policy = policy;
    this.conntrack.clear();
  }

  check(flow: Flow): EngineDecision {
    const tuple = { protocol: flow.protocol, srcIp: flow.from.ip, srcPort: flow.srcPort, dstIp: flow.to.ip, dstPort: flow.dstPort };
    const tracked = this.conntrack.lookup(tuple);
    if (tracked !== undefined) {
      this.#allowedPackets++;
      return { allowed: true, rule: tracked, via: 'conntrack' };
    }
    const d = this.#policy.decide(flow);
    if (d.allowed) {
      this.conntrack.track(tuple, d.rule, flow.direction === 'inbound' ? flow.from.ip : flow.to.ip);
      this.#allowedPackets++;
    } else {
      this.#droppedPackets++;
      this.#drops.set(d.rule, (this.#drops.get(d.rule) ?? 0) + 1);
    }
    return { ...d, via: 'rule' };
  }

  /** Packets dropped, by the name of the rule that dropped them. */
  dropsByRule(): Record<string, number> {
    return Object.fromEntries(this.#drops);
  }

  get allowedPackets(): number {
    return this.#allowedPackets;
  }

  get droppedPackets(): number {
    return this.#droppedPackets;
  }
}
