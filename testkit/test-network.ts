/**
 * A throw-away ShadowMesh network for tests: a temp directory holding a real
 * network CA (src/identity/ca.ts: CADIR/ca.crt, CADIR/crl, CADIR/ca.key) and
 * N member identities, each with a signed certificate on disk. Everything is
 * made with the identity package's own functions, so tests exercise the same
 * files a user's `shadowmesh ca init / keygen / ca sign` would produce.
 *
 * Usage:
 *
 *     const net = await createTestNetwork({ members: ['alice', 'bob'] });
 *     try {
 *       const alice = net.member('alice');   // .signer, .peerId, .certBytes, .certFile, .dir …
 *       // start a relay with --ca net.caFile --crl net.crlFile …
 *       await net.revoke(alice);              // rewrites net.crlFile (number + 1)
 *     } finally {
 *       await net.cleanup();                  // removes the temp directory
 *     }
 *
 * What callers must know:
 *  - The CA is backdated by CA_BACKDATE_MS so `addMember({ nowMs })` can issue
 *    certificates that are already expired (membership allows a 5-minute clock
 *    skew: expire them by more than that).
 *  - Members get addresses 10.77.0.<n>/24 in creation order, unless given.
 *  - `addMember({ ca: other })` signs with another network's CA: a "member"
 *    the first network must refuse as NotMember.
 *  - Identity keys are generated fresh (ML-DSA-87 keygen: a few ms each);
 *    keys are stored unencrypted, 0600, inside the temp directory.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HybridSigner } from '../src/crypto/hybrid-sign.js';
import { CA_CERT_FILE, CA_CRL_FILE, initCa, revokeMembers, signMember } from '../src/identity/ca.js';
import type { CaCertificate, MemberCertificate } from '../src/identity/certificate.js';
import { saveMemberCertificate } from '../src/identity/files.js';
import { createIdentity } from '../src/identity/key-file.js';
import type { RevocationList } from '../src/identity/revocation.js';

/** How far the test CA's validity starts in the past: room for pre-expired member certificates. */
export const CA_BACKDATE_MS = 7 * 24 * 60 * 60 * 1_000;
/** First host number of member addresses (10.77.0.2, .3, …). */
const FIRST_HOST = 2;

export interface TestMember {
  name: string;
  /** The member's identity directory (identity.key, identity.pub, member.crt). */
  dir: string;
  signer: HybridSigner;
  publicKey: Uint8Array;
  peerId: Uint8Array;
  certificate: MemberCertificate;
  /** The encoded certificate (what HELLO carries). */
  certBytes: Uint8Array;
  /** Armored certificate file, for CLI flags such as --cert. */
  certFile: string;
}

export interface AddMemberOptions {
  /** Mesh address (CIDR); default 10.77.0.<n>/24. */
  address?: string;
  groups?: string[];
  /** More mesh addresses after `address` (e.g. an IPv6 one). */
  extraAddresses?: string[];
  /** Subnet routes the CA signs into the certificate (ca sign --route). */
  routes?: string[];
  /** Mark the member an exit node (ca sign --exit). */
  exit?: boolean;
  /** Issue "at" this time (Unix ms); with a short validMs, an expired certificate. */
  nowMs?: number;
  validMs?: number;
  /** Sign with another test network's CA instead (a non-member of this one). */
  ca?: TestNetwork;
}

export interface TestNetwork {
  /** The temp directory holding everything. */
  readonly dir: string;
  readonly caDir: string;
  /** CADIR/ca.crt */
  readonly caFile: string;
  /** CADIR/crl: the CA's current revocation list (starts empty, number 0). */
  readonly crlFile: string;
  readonly ca: CaCertificate;
  readonly members: TestMember[];
  member(name: string): TestMember;
  addMember(name: string, options?: AddMemberOptions): Promise<TestMember>;
  /** Revoke members; rewrites crlFile with the next number. */
  revoke(...members: TestMember[]): Promise<RevocationList>;
  /** Remove the temp directory (idempotent). */
  cleanup(): Promise<void>;
}

export async function createTestNetwork(options: { members?: number | string[]; caName?: string; caDomain?: string } = {}): Promise<TestNetwork> {
  const dir = await mkdtemp(join(tmpdir(), 'shadowmesh-net-'));
  const caDir = join(dir, 'ca');
  const ca = await initCa(caDir, { name: options.caName ?? 'test network', nowMs: Date.now() - CA_BACKDATE_MS, ...(options.caDomain !== undefined ? { domain: options.caDomain } : {}) });
  const members: TestMember[] = [];
  let hosts = 0;
  let cleaned = false;

  const network: TestNetwork = {
    dir,
    caDir,
    caFile: join(caDir, CA_CERT_FILE),
    crlFile: join(caDir, CA_CRL_FILE),
    ca,
    members,
    member(name: string): TestMember {
      const m = members.find((x) => x.name === name);
      if (m === undefined) throw new Error(`test network: no member named ${name}`);
      return m;
    },
    async addMember(name: string, add: AddMemberOptions = {}): Promise<TestMember> {
      const memberDir = join(dir, 'members', name);
      const identity = await createIdentity(memberDir);
      const issuer = add.ca ?? network;
      const host = FIRST_HOST + hosts++;
      const certificate = await signMember(issuer.caDir, {
        name,
        addresses: [add.address ?? `10.77.0.${host}/24`, ...(add.extraAddresses ?? [])],
        ...(add.groups !== undefined ? { groups: add.groups } : {}),
        ...(add.routes !== undefined ? { routes: add.routes } : {}),
        ...(add.exit === true ? { exit: true } : {}),
        ...(add.nowMs !== undefined ? { nowMs: add.nowMs } : {}),
        ...(add.validMs !== undefined ? { validMs: add.validMs } : {}),
        publicKey: identity.publicKey,
      });
      const certFile = join(memberDir, 'member.crt');
      await saveMemberCertificate(certFile, certificate);
      const member: TestMember = {
        name,
        dir: memberDir,
        signer: identity.signer,
        publicKey: identity.publicKey,
        peerId: identity.peerId,
        certificate,
        certBytes: certificate.raw,
        certFile,
      };
      if (add.ca === undefined) members.push(member);
      return member;
    },
    async revoke(...toRevoke: TestMember[]): Promise<RevocationList> {
      return revokeMembers(caDir, toRevoke.map((m) => m.peerId));
    },
    async cleanup(): Promise<void> {
      if (cleaned) return;
      cleaned = true;
      for (const m of members) m.signer.destroy();
      await rm(dir, { recursive: true, force: true });
    },
  };

  const wanted = options.members ?? 0;
  const names = typeof wanted === 'number' ? Array.from({ length: wanted }, (_, i) => `member${i + 1}`) : wanted;
  try {
    for (const name of names) await network.addMember(name);
  } catch (err) {
    await network.cleanup();
    throw err;
  }
  return network;
}
