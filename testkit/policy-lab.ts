/**
 * The lab the network-policy netns tests share (docs/architecture.md
 * "Network policy"): a relay and three members in groups web, db and ops,
 * each with a real TUN or TAP device, each loading its own signed policy
 * file (so a test can change one member's policy and SIGHUP it), and TCP
 * servers on ports 5432, 22 and 8080 in web and db. Everything it starts is
 * torn down by teardown(), and by itself when setup fails half way.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createNetnsLab, type NetnsLab } from '../src/demo/netns-lab.js';
import { encodeSignedPolicy, signPolicy } from '../src/policy/ca-policy.js';
import type { SignedPolicy } from '../src/policy/signed-policy.js';
import { startLabDaemon, startLabRelay, waitForPeerPath, type LabDaemon } from './netns-shadowmesh.js';
import { createTestNetwork, type TestNetwork } from './test-network.js';

export type PolicyMember = 'web' | 'db' | 'ops';
export const POLICY_MEMBERS: readonly PolicyMember[] = ['web', 'db', 'ops'];

export interface PolicyLabOptions {
  dev: 'tun' | 'tap';
  ifname: string;
  /** Mesh address of each member (a /24 each). */
  ip: Readonly<Record<PolicyMember, string>>;
  /** Policy text (docs/configuration.md "Network policy") every member starts with. */
  policy: string;
}

export interface PolicyLab {
  readonly lab: NetnsLab;
  readonly net: TestNetwork;
  readonly daemon: Readonly<Record<PolicyMember, LabDaemon>>;
  /** The signed policy every member started with. */
  readonly initial: SignedPolicy;
  /** Sign policy text with the network CA. */
  sign(text: string): Promise<SignedPolicy>;
  /** Write a signed policy into the files of the members given (all by default); SIGHUP applies it. */
  install(sp: SignedPolicy, members?: readonly PolicyMember[]): void;
  /** Whether a TCP connection from one member to another's port opens within the timeout. */
  connects(from: PolicyMember, to: PolicyMember, port: number, timeoutMs: number): Promise<boolean>;
  /** A member's drop counters from `status`. */
  drops(m: PolicyMember): Promise<Record<string, number>>;
  /** A member's policy version from `status`. */
  version(m: PolicyMember): Promise<number | null>;
  /** The tail of every daemon's log, for assertion messages. */
  logs(): string;
  teardown(): Promise<void>;
}

const LISTED_MS = 30_000;
/** TCP servers on every port given, in the namespace; prints one line when all listen. */
const SERVER = "const n=require('net');let k=0;const ps=process.argv.slice(1);for(const p of ps)n.createServer((s)=>s.end()).listen(Number(p),'0.0.0.0',()=>{if(++k===ps.length)console.log('listening')});";
/** Exit 0 when a TCP connection opens within the timeout, else 1. */
const CONNECT = "const s=require('net').connect({host:process.argv[1],port:Number(process.argv[2])});s.on('connect',()=>process.exit(0));s.on('error',()=>process.exit(1));setTimeout(()=>process.exit(1),Number(process.argv[3]));";

export async function startPolicyLab(o: PolicyLabOptions): Promise<PolicyLab> {
  const lab = await createNetnsLab({ nodes: ['relay', ...POLICY_MEMBERS] });
  let net: TestNetwork | undefined;
  const daemon: Partial<Record<PolicyMember, LabDaemon>> = {};
  const logs = (): string => Object.entries(daemon).map(([k, v]) => `\n${k}: ${v!.proc.stderr().slice(-2_000)}`).join('');
  const teardown = async (): Promise<void> => {
    await lab.teardown();
    await net?.cleanup();
  };
  try {
    net = await createTestNetwork();
    const n = net;
    lab.onTeardown(() => rmSync(n.dir, { recursive: true, force: true }));
    const policyFile = (m: PolicyMember): string => join(n.dir, `policy-${m}.signed`);
    const install = (sp: SignedPolicy, members: readonly PolicyMember[] = POLICY_MEMBERS): void => {
      for (const m of members) writeFileSync(policyFile(m), encodeSignedPolicy(sp));
    };
    const sign = (text: string): Promise<SignedPolicy> => signPolicy(n.caDir, text);
    const initial = await sign(o.policy);
    install(initial);
    const relay = await startLabRelay(lab, 'relay', { caFile: n.caFile, crlFile: n.crlFile, args: [] });
    for (const m of POLICY_MEMBERS) {
      const mem = await n.addMember(m, { address: `${o.ip[m]}/24`, groups: [m] });
      daemon[m] = await startLabDaemon(lab, m, { relay, caFile: n.caFile, dev: o.dev, ifname: o.ifname, certFile: mem.certFile, dir: mem.dir, args: ['--policy', policyFile(m)] });
    }
    for (const [a, b] of [['web', 'db'], ['db', 'web'], ['ops', 'db'], ['ops', 'web']] as const) {
      assert.ok(await waitForPeerPath(daemon[a]!, b, () => true, LISTED_MS) !== null, `${a} never listed ${b}${logs()}`);
    }
    for (const m of ['web', 'db'] as const) {
      const server = lab.spawn(m, [process.execPath, '-e', SERVER, '5432', '22', '8080'], { label: `${m}:tcp` });
      await server.waitForLine(/listening/, 10_000);
    }
    const d = daemon as Record<PolicyMember, LabDaemon>;
    return {
      lab,
      net: n,
      daemon: d,
      initial,
      sign,
      install,
      async connects(from, to, port, timeoutMs) {
        const r = await lab.exec(from, [process.execPath, '-e', CONNECT, o.ip[to], String(port), String(timeoutMs)], { timeoutMs: timeoutMs + 10_000 });
        return r.code === 0;
      },
      async drops(m) {
        return ((await d[m].status()) as { drops: Record<string, number> }).drops;
      },
      async version(m) {
        return ((await d[m].status()) as { policyVersion: number | null }).policyVersion;
      },
      logs,
      teardown,
    };
  } catch (err) {
    await teardown();
    throw err;
  }
}
