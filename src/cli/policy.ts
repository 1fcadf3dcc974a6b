/**
 * Network policy on the command line (docs/architecture.md "Network
 * policy"; docs/configuration.md "Network policy file"):
 *
 *   ca policy sign POLICY.yaml --ca CADIR [--out FILE] [--passphrase-file FILE] [--json]
 *   policy test FROM TO PROTO[/PORT] --policy FILE (--ca CADIR | --ca-cert FILE) [--cert CERTFILE]... [--outbound] [--json]
 *
 * `ca policy sign` validates the file (every problem with line:column),
 * signs it as the CA directory's next policy version and writes the
 * armored blob (default ./policy.signed).
 *
 * `policy test` answers whether a flow from FROM to TO would pass, and under
 * which rule: exit status 0 when allowed, 1 when denied. FROM and TO are
 * member names or addresses; names, groups and the addresses of names come
 * from the certificates: CADIR/issued/ (signature and revocation checked)
 * and any --cert file. --policy takes the YAML file or a signed policy,
 * whose signature is then checked against the CA. The flow is judged as
 * inbound at TO (outbound at FROM with --outbound).
 */
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../errors.js';
import { decodeArmor, peekArmorLabel } from '../identity/armor.js';
import { CA_CERT_FILE, CA_CRL_FILE, CA_ISSUED_DIR } from '../identity/ca.js';
import type { CaCertificate, MemberCertificate } from '../identity/certificate.js';
import { loadCaCertificate, loadMemberCertificate, loadRevocationList } from '../identity/files.js';
import { MembershipVerifier } from '../identity/membership.js';
import { resolvePassphrase } from '../identity/passphrase.js';
import { pathExists, readPublicFile } from '../identity/secure-files.js';
import { canonicalIpText } from '../wire/ip-address.js';
import { signPolicy, encodeSignedPolicy } from '../policy/ca-policy.js';
import { CompiledPolicy, type FlowEnd } from '../policy/compiled-policy.js';
import { PolicyCode } from '../policy/policy-errors.js';
import { DEFAULT_DENY_RULE, MAX_POLICY_TEXT_BYTES, type Protocol } from '../policy/policy-file.js';
import { decodeSignedPolicy, POLICY_ARMOR_LABEL } from '../policy/signed-policy.js';
import { writeFileAtomic, PUBLIC_FILE_MODE } from '../identity/secure-files.js';

const CA_PASSPHRASE_ENV = 'SHADOWMESH_CA_PASSPHRASE';
const DEFAULT_SIGNED_POLICY_FILE = 'policy.signed';

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function print(json: boolean | undefined, value: Record<string, unknown>, human: string): void {
  process.stdout.write(json === true ? `${JSON.stringify(value)}\n` : human);
}

async function readPolicyText(path: string): Promise<string> {
  const data = await readPublicFile(path);
  if (data.length > MAX_POLICY_TEXT_BYTES) throw new ConfigError(PolicyCode.INVALID, `${path}: ${data.length} bytes, limit ${MAX_POLICY_TEXT_BYTES}`);
  return data.toString('utf8');
}

// --- ca policy sign ------------------------------------------------------------

interface SignOptions { ca: string; out: string; passphraseFile?: string; json?: boolean }

async function runSign(file: string, opts: SignOptions): Promise<void> {
  const path = resolve(file);
  const caDir = resolve(opts.ca);
  const text = await readPolicyText(path);
  CompiledPolicy.fromText(text, path); // every problem, before asking for a passphrase
  const passphrase = await resolvePassphrase({ file: opts.passphraseFile, envVar: CA_PASSPHRASE_ENV });
  const sp = await signPolicy(caDir, text, { passphrase, name: path });
  const out = resolve(opts.out);
  await writeFileAtomic(out, encodeSignedPolicy(sp), { mode: PUBLIC_FILE_MODE });
  const rules = sp.policy.spec.rules.length;
  const chat = sp.policy.spec.chat;
  print(
    opts.json,
    { version: sp.version, issuedAt: new Date(sp.issuedAtMs).toISOString(), rules, chatRules: chat === null ? null : chat.length, outbound: sp.policy.spec.outbound, file: out },
    `Signed policy version ${sp.version} (${rules} rule${rules === 1 ? '' : 's'}${chat === null ? '' : `, ${chat.length} chat rule${chat.length === 1 ? '' : 's'}`}), written to ${out}\n` +
      'Members refuse any version lower than the highest they have verified.\n',
  );
}

// --- policy test ---------------------------------------------------------------

interface TestOptions { policy: string; ca?: string; caCert?: string; cert?: string[]; outbound?: boolean; json?: boolean }

interface Known { name: string; groups: readonly string[]; hosts: string[] }

function hostOf(cidr: string): string {
  return cidr.slice(0, cidr.indexOf('/'));
}

function known(cert: MemberCertificate): Known {
  return { name: cert.name, groups: cert.groups, hosts: cert.addresses.map(hostOf) };
}

/** Members known from CADIR/issued (verified, not revoked, not expired) and --cert files. */
async function knownMembers(ca: CaCertificate | undefined, caDir: string | undefined, certFiles: readonly string[]): Promise<Known[]> {
  const out: Known[] = [];
  if (caDir !== undefined && ca !== undefined) {
    const crlPath = join(caDir, CA_CRL_FILE);
    const crl = (await pathExists(crlPath)) ? await loadRevocationList(crlPath, ca) : undefined;
    const verifier = new MembershipVerifier(ca, crl);
    const issued = join(caDir, CA_ISSUED_DIR);
    const names = (await pathExists(issued)) ? (await readdir(issued)).filter((n) => n.endsWith('.crt')).sort() : [];
    for (const n of names) {
      try {
        const cert = await loadMemberCertificate(join(issued, n));
        verifier.verify(cert.raw, Date.now());
        out.push(known(cert));
      } catch {
        // revoked, expired or damaged: not a member now
      }
    }
  }
  for (const f of certFiles) {
    const cert = await loadMemberCertificate(resolve(f));
    if (ca !== undefined) new MembershipVerifier(ca).verify(cert.raw, Date.now());
    out.push(known(cert));
  }
  return out;
}

function endpoint(text: string, members: readonly Known[], which: string): FlowEnd {
  const ip = canonicalIpText(text);
  if (ip !== null) {
    const m = members.find((k) => k.hosts.includes(ip));
    return m !== undefined ? { ip, name: m.name, groups: m.groups } : { ip };
  }
  const m = members.find((k) => k.name === text);
  if (m === undefined) {
    throw new ConfigError(PolicyCode.UNKNOWN_ENDPOINT, `${which} ${JSON.stringify(text)}: not an address and no certificate of that name (pass --ca CADIR or --cert CERTFILE)`);
  }
  const host = m.hosts.find((h) => !h.includes(':')) ?? m.hosts[0] ?? '';
  return { ip: host, name: m.name, groups: m.groups };
}

function parseFlowSpec(text: string): { protocol: Protocol; port: number } {
  const m = /^(tcp|udp|icmp)(?:\/(\d{1,5}))?$/.exec(text);
  const port = m?.[2] !== undefined ? Number(m[2]) : 0;
  if (m === null || (m[1] !== 'icmp' && (m[2] === undefined || port < 1 || port > 65535)) || (m[1] === 'icmp' && m[2] !== undefined)) {
    throw new ConfigError(PolicyCode.FLOW, `flow ${JSON.stringify(text)}: expected tcp/PORT, udp/PORT or icmp (e.g. tcp/5432)`);
  }
  return { protocol: m[1] as Protocol, port };
}

async function runTest(from: string, to: string, flowText: string, opts: TestOptions): Promise<void> {
  const { protocol, port } = parseFlowSpec(flowText);
  const caDir = opts.ca !== undefined ? resolve(opts.ca) : undefined;
  const caCertPath = opts.caCert !== undefined ? resolve(opts.caCert) : caDir !== undefined ? join(caDir, CA_CERT_FILE) : undefined;
  const ca = caCertPath !== undefined ? await loadCaCertificate(caCertPath) : undefined;
  const policyPath = resolve(opts.policy);
  const text = await readPolicyText(policyPath);
  let policy: CompiledPolicy;
  let version: number | null = null;
  if (peekArmorLabel(text) === POLICY_ARMOR_LABEL) {
    if (ca === undefined) throw new ConfigError('SM_ERR_CONFIG_CA', `${policyPath} is a signed policy: pass --ca CADIR or --ca-cert FILE to check its signature`);
    const sp = decodeSignedPolicy(decodeArmor(text, POLICY_ARMOR_LABEL), ca);
    policy = sp.policy;
    version = sp.version;
  } else {
    policy = CompiledPolicy.fromText(text, policyPath);
  }
  const members = await knownMembers(ca, caDir, opts.cert ?? []);
  const fromEnd = endpoint(from, members, 'FROM');
  const toEnd = endpoint(to, members, 'TO');
  const direction = opts.outbound === true ? 'outbound' : 'inbound';
  const d = policy.decide({ direction, protocol, from: fromEnd, to: toEnd, srcPort: protocol === 'icmp' ? 0 : 49152, dstPort: port });
  const flowLabel = protocol === 'icmp' ? 'icmp' : `${protocol}/${port}`;
  const label = (e: FlowEnd): string => (e.name !== undefined ? `${e.name} (${e.ip}${e.groups !== undefined && e.groups.length > 0 ? `; ${e.groups.join(', ')}` : ''})` : e.ip);
  print(
    opts.json,
    { allowed: d.allowed, rule: d.rule, direction, from: fromEnd, to: toEnd, protocol, port: protocol === 'icmp' ? null : port, policyVersion: version },
    `${d.allowed ? 'allowed' : 'denied'}: ${label(fromEnd)} -> ${label(toEnd)} ${flowLabel}, by rule ${d.rule}${d.rule === DEFAULT_DENY_RULE ? ' (no rule matched)' : ''}\n`,
  );
  if (!d.allowed) process.exitCode = 1;
}

// --- registration --------------------------------------------------------------

/** `ca policy sign`, registered on the `ca` command by src/cli/ca.ts. */
export function registerCaPolicy(ca: Command): void {
  const policy = ca.command('policy').description('sign the network policy (docs/configuration.md "Network policy file")');
  policy.command('sign')
    .description('validate POLICY.yaml and sign it with the CA as the next policy version (CADIR/policy-version records the last); members refuse lower versions')
    .argument('<POLICY.yaml>', 'the policy file')
    .requiredOption('--ca <CADIR>', 'CA directory')
    .option('--out <FILE>', 'where to write the signed policy', DEFAULT_SIGNED_POLICY_FILE)
    .option('--passphrase-file <FILE>', `CA key passphrase: first line of FILE (default: $${CA_PASSPHRASE_ENV} if set, else none)`)
    .option('--json', 'print {version, issuedAt, rules, chatRules, outbound, file} as JSON')
    .action(async (file: string, opts: SignOptions) => runSign(file, opts));
}

/** `policy test`. */
export function registerPolicy(program: Command): void {
  const policy = program.command('policy').description('check flows against a network policy (not yet enforced by the data plane)');
  policy.command('test')
    .description('would a flow FROM -> TO PROTO/PORT pass the policy, and by which rule? Exit status 0 allowed, 1 denied')
    .argument('<FROM>', 'member name or address')
    .argument('<TO>', 'member name or address')
    .argument('<PROTO/PORT>', 'tcp/PORT, udp/PORT or icmp')
    .requiredOption('--policy <FILE>', 'policy YAML file or signed policy')
    .option('--ca <CADIR>', 'CA directory: its certificate and the members in CADIR/issued/')
    .option('--ca-cert <CAFILE>', 'CA certificate (without a CA directory)')
    .option('--cert <CERTFILE>', 'a member certificate to know names and groups from; repeatable', collect)
    .option('--outbound', 'judge the flow as outbound at FROM instead of inbound at TO')
    .option('--json', 'print {allowed, rule, direction, from, to, protocol, port, policyVersion} as JSON')
    .action(async (from: string, to: string, flow: string, opts: TestOptions) => runTest(from, to, flow, opts));
}
