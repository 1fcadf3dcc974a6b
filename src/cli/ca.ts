/**
 * `shadowmesh ca ...`: run the network CA (src/identity/ca.ts).
 *
 *   ca init   --dir CADIR [--name NAME] [--domain DOMAIN] [--valid DURATION] [--force]
 *   ca sign   --ca CADIR --name NAME --ip CIDR[,CIDR] [--groups a,b] [--route CIDR]... [--exit] [--valid DURATION] --pub PUBFILE --out CERTFILE
 *   ca revoke --ca CADIR (--peer PEERID | --cert CERTFILE)...
 *   ca show   FILE [--ca-cert CAFILE]
 *   ca policy sign POLICY.yaml --ca CADIR [--out FILE]   (src/cli/policy.ts)
 *
 * The CA key's passphrase comes from --passphrase-file, else
 * $SHADOWMESH_CA_PASSPHRASE (a separate variable from the node's, so a
 * node's passphrase is never tried on the CA key by accident).
 * Every command takes --json for scripts. Errors are SmErrors with a code;
 * main.ts prints them as one line.
 */
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { ConfigError, IdentityError } from '../errors.js';
import { toHex } from '../crypto/bytes.js';
import { ArmorLabel, decodeArmor, peekArmorLabel } from '../identity/armor.js';
import { CA_CERT_FILE, CA_CRL_FILE, CA_ISSUED_DIR, CA_KEY_FILE, initCa, revokeMembers, signMember } from '../identity/ca.js';
import { certExpiry, expiryMessage, formatTimeLeft } from '../identity/cert-expiry.js';
import { CertKind, decodeCaCertificate, decodeMemberCertificate, peekCertKind, type CaCertificate, type MemberCertificate } from '../identity/certificate.js';
import { IdentityCode } from '../identity/identity-errors.js';
import { loadCaCertificate, loadMemberCertificate, loadRevocationList, saveMemberCertificate } from '../identity/files.js';
import { decodePublicKey, readPublicKeyFile } from '../identity/key-file.js';
import { MembershipVerifier } from '../identity/membership.js';
import { resolvePassphrase } from '../identity/passphrase.js';
import { formatPeerId, parsePeerId, peerIdFromPublicKey } from '../identity/peer-id.js';
import { decodeRevocationList, decodeRevocationListUnverified, type RevocationList } from '../identity/revocation.js';
import { readPublicFile } from '../identity/secure-files.js';
import { formatDuration, parseDuration } from '../util/duration.js';
import { registerCaEnroll } from './ca-enroll.js';
import { registerCaPolicy } from './policy.js';
import { DEFAULT_NETWORK_DOMAIN, normalizeNetworkDomain } from '../names/network-domain.js';

export const CA_PASSPHRASE_ENV = 'SHADOWMESH_CA_PASSPHRASE';
const DEFAULT_MEMBER_VALID = '365d';
const DEFAULT_CA_VALID = '3650d';

/** commander collector: repeatable flag whose values may also be comma-separated. */
function collectList(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(',').map((s) => s.trim()).filter((s) => s.length > 0)];
}

/** commander collector: repeatable flag, values kept whole. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function print(json: boolean | undefined, value: Record<string, unknown>, human: string): void {
  process.stdout.write(json === true ? `${JSON.stringify(value)}\n` : human);
}

/** On stderr, when the CA certificate ends within 30 days or has ended (src/identity/cert-expiry.ts); --json gives one JSON line. */
function warnCaExpiry(json: boolean | undefined, ca: CaCertificate): void {
  const e = certExpiry('ca', ca.notAfterMs, Date.now());
  if (e.state === 'ok') return;
  const message = expiryMessage(e);
  process.stderr.write(json === true ? `${JSON.stringify({ warning: { cert: 'ca', state: e.state, notAfter: e.notAfter, message } })}\n` : `shadowmesh: warning: ${message}\n`);
}

function caPassphrase(file: string | undefined): Promise<string | undefined> {
  return resolvePassphrase({ file, envVar: CA_PASSPHRASE_ENV });
}

// --- ca init -----------------------------------------------------------------

interface InitOptions { dir: string; name?: string; domain?: string; valid: string; passphraseFile?: string; force?: boolean; json?: boolean }

async function runInit(opts: InitOptions): Promise<void> {
  const dir = resolve(opts.dir);
  const validMs = parseDuration(opts.valid);
  if (validMs <= 0) throw new ConfigError('SM_ERR_CONFIG_DURATION', `--valid: must be longer than 0, got ${JSON.stringify(opts.valid)}`);
  const domain = opts.domain === undefined ? undefined : normalizeNetworkDomain(opts.domain);
  const passphrase = await caPassphrase(opts.passphraseFile);
  let ca: CaCertificate;
  try {
    ca = await initCa(dir, { name: opts.name, validMs, passphrase, force: opts.force === true, ...(domain !== undefined ? { domain } : {}) });
  } catch (err) {
    if ((err as IdentityError).code === IdentityCode.EXISTS) {
      throw new IdentityError(IdentityCode.EXISTS, `a CA already exists in ${dir}; keeping it. Use --force to replace it (every certificate it issued becomes useless)`);
    }
    throw err;
  }
  const caId = toHex(ca.caId);
  warnCaExpiry(opts.json, ca);
  print(
    opts.json,
    { caId, name: ca.name, ...(ca.domain !== null ? { domain: ca.domain } : {}), notBefore: iso(ca.notBeforeMs), notAfter: iso(ca.notAfterMs), certificate: join(dir, CA_CERT_FILE), key: join(dir, CA_KEY_FILE), revocationList: join(dir, CA_CRL_FILE), encrypted: passphrase !== undefined },
    `Created network CA "${ca.name}" in ${dir}${passphrase !== undefined ? ' (key encrypted with the passphrase)' : ''}\n` +
      `CA id:       ${caId}\n` +
      (ca.domain !== null ? `domain:      ${ca.domain} (members are NAME.${ca.domain})\n` : '') +
      `valid:       ${iso(ca.notBeforeMs)} .. ${iso(ca.notAfterMs)}\n` +
      `certificate: ${join(dir, CA_CERT_FILE)} (give it to every relay and node)\n` +
      `key:         ${join(dir, CA_KEY_FILE)} (keep it secret)\n`,
  );
}

// --- ca sign -----------------------------------------------------------------

interface SignOptions { ca: string; name: string; ip: string[]; groups?: string[]; route?: string[]; exit?: boolean; valid: string; pub: string; out: string; passphraseFile?: string; json?: boolean }

function memberJson(cert: MemberCertificate): Record<string, unknown> {
  return {
    kind: 'member-certificate',
    name: cert.name,
    peerId: formatPeerId(cert.peerId),
    addresses: cert.addresses,
    groups: cert.groups,
    routes: cert.routes,
    exit: cert.exit,
    notBefore: iso(cert.notBeforeMs),
    notAfter: iso(cert.notAfterMs),
    serial: toHex(cert.serial),
    caId: toHex(cert.caId),
    bytes: cert.raw.length,
  };
}

function memberText(cert: MemberCertificate): string {
  return (
    `name:      ${cert.name}\n` +
    `peer id:   ${formatPeerId(cert.peerId)}\n` +
    `addresses: ${cert.addresses.join(', ')}\n` +
    `groups:    ${cert.groups.length > 0 ? cert.groups.join(', ') : '(none)'}\n` +
    `routes:    ${cert.routes.length > 0 ? cert.routes.join(', ') : '(none)'}\n` +
    `exit node: ${cert.exit ? 'yes (may carry 0.0.0.0/0 and ::/0)' : 'no'}\n` +
    `valid:     ${iso(cert.notBeforeMs)} .. ${iso(cert.notAfterMs)} (${formatDuration(cert.notAfterMs - cert.notBeforeMs)})\n` +
    `serial:    ${toHex(cert.serial)}\n` +
    `CA id:     ${toHex(cert.caId)}\n`
  );
}

async function runSign(opts: SignOptions): Promise<void> {
  const caDir = resolve(opts.ca);
  const validMs = parseDuration(opts.valid);
  if (validMs <= 0) throw new ConfigError('SM_ERR_CONFIG_DURATION', `--valid: must be longer than 0, got ${JSON.stringify(opts.valid)}`);
  if (opts.ip.length === 0) throw new ConfigError('SM_ERR_CONFIG_ADDRESS', '--ip: at least one mesh address is required, e.g. --ip 10.10.10.3/24');
  const publicKey = await readPublicKeyFile(resolve(opts.pub));
  const passphrase = await caPassphrase(opts.passphraseFile);
  const cert = await signMember(caDir, { name: opts.name, addresses: opts.ip, groups: opts.groups ?? [], routes: opts.route ?? [], ...(opts.exit === true ? { exit: true } : {}), validMs, publicKey, passphrase });
  const out = resolve(opts.out);
  await saveMemberCertificate(out, cert);
  warnCaExpiry(opts.json, await loadCaCertificate(join(caDir, CA_CERT_FILE)));
  print(opts.json, { ...memberJson(cert), file: out }, `Signed a member certificate, written to ${out}\n${memberText(cert)}`);
}

// --- ca revoke ---------------------------------------------------------------

interface RevokeOptions { ca: string; peer?: string[]; cert?: string[]; passphraseFile?: string; json?: boolean }

async function runRevoke(opts: RevokeOptions): Promise<void> {
  const caDir = resolve(opts.ca);
  const ids: Uint8Array[] = (opts.peer ?? []).map((p) => parsePeerId(p));
  for (const path of opts.cert ?? []) ids.push((await loadMemberCertificate(resolve(path))).peerId);
  if (ids.length === 0) throw new ConfigError('SM_ERR_CONFIG_PEER_ID', 'ca revoke: name at least one member with --peer PEERID or --cert CERTFILE');
  const passphrase = await caPassphrase(opts.passphraseFile);
  const crl = await revokeMembers(caDir, ids, { passphrase });
  const revoked = ids.map((id) => formatPeerId(id));
  print(
    opts.json,
    { number: crl.number, revoked, total: crl.peerIds.length, file: join(caDir, CA_CRL_FILE) },
    `Revocation list #${crl.number} written to ${join(caDir, CA_CRL_FILE)} (${crl.peerIds.length} revoked in all)\n` +
      revoked.map((id) => `revoked: ${id}\n`).join('') +
      'Distribute the new list to every relay and node.\n',
  );
}

// --- ca show -----------------------------------------------------------------

interface ShowOptions { caCert?: string; crl?: string; json?: boolean }

type Shown = { kind: string; json: Record<string, unknown>; text: string };

function showRevocationList(crl: RevocationList, verified: string): Shown {
  const ids = crl.peerIds.map((id) => formatPeerId(id));
  return {
    kind: 'revocation list',
    json: { kind: 'revocation-list', number: crl.number, issuedAt: iso(crl.issuedAtMs), caId: toHex(crl.caId), revoked: ids, signature: verified },
    text:
      `number:    ${crl.number}\n` +
      `issued:    ${iso(crl.issuedAtMs)}\n` +
      `CA id:     ${toHex(crl.caId)}\n` +
      `signature: ${verified}\n` +
      `revoked:   ${ids.length === 0 ? '(none)' : ids.length}\n` +
      ids.map((id) => `  ${id}\n`).join(''),
  };
}

/** What a file holds, from its armor label or (raw binary) its kind byte. */
function detect(data: Buffer): { label: string; bytes: Uint8Array } {
  const text = data.toString('utf8');
  const label = peekArmorLabel(text);
  if (label !== undefined) return { label, bytes: decodeArmor(text, label) };
  const kind = peekCertKind(data);
  const byKind: Record<number, string> = { [CertKind.Member]: ArmorLabel.MEMBER_CERTIFICATE, [CertKind.Ca]: ArmorLabel.CA_CERTIFICATE, [CertKind.RevocationList]: ArmorLabel.REVOCATION_LIST };
  if (kind === undefined) throw new IdentityError(IdentityCode.ARMOR, 'not a ShadowMesh certificate, revocation list or public key');
  return { label: byKind[kind] as string, bytes: Uint8Array.from(data) };
}

async function runShow(file: string, opts: ShowOptions): Promise<void> {
  const path = resolve(file);
  const data = await readPublicFile(path);
  const ca = opts.caCert !== undefined ? await loadCaCertificate(resolve(opts.caCert)) : undefined;
  if (ca !== undefined) warnCaExpiry(opts.json, ca);
  if (opts.crl !== undefined && ca === undefined) throw new ConfigError('SM_ERR_CONFIG_CRL', '--crl needs --ca-cert to check the list\'s signature');
  const crl = opts.crl !== undefined && ca !== undefined ? await loadRevocationList(resolve(opts.crl), ca) : undefined;
  let shown: Shown;
  try {
    const { label, bytes } = detect(data);
    if (label === ArmorLabel.MEMBER_CERTIFICATE) {
      const cert = decodeMemberCertificate(bytes);
      let status = 'not checked (pass --ca-cert)';
      if (ca !== undefined) {
        try {
          new MembershipVerifier(ca, crl).verify(bytes, Date.now());
          status = crl !== undefined ? `valid member of this CA now, not on revocation list #${crl.number}` : 'valid member of this CA now (revocation not checked: pass --crl)';
        } catch (err) {
          status = `NOT valid: ${(err as Error).message} (${(err as IdentityError).code})`;
        }
      }
      const left = certExpiry('member', cert.notAfterMs, Date.now());
      const expires = `${formatTimeLeft(left.remainingMs)}${left.state === 'expiring' ? ' (WARNING: ends within 30 days, renew it)' : ''}`;
      shown = {
        kind: 'member certificate',
        json: { ...memberJson(cert), status, remainingSeconds: Math.floor(left.remainingMs / 1_000), daysLeft: Math.floor(left.remainingMs / 86_400_000), expiry: left.state },
        text: `${memberText(cert)}expires:   ${expires}\nstatus:    ${status}\n`,
      };
    } else if (label === ArmorLabel.CA_CERTIFICATE) {
      const c = decodeCaCertificate(bytes);
      warnCaExpiry(opts.json, c);
      shown = {
        kind: 'CA certificate',
        json: { kind: 'ca-certificate', name: c.name, ...(c.domain !== null ? { domain: c.domain } : {}), caId: toHex(c.caId), notBefore: iso(c.notBeforeMs), notAfter: iso(c.notAfterMs), selfSignature: 'valid' },
        text: `name:      ${c.name}\n${c.domain !== null ? `domain:    ${c.domain}\n` : ''}CA id:     ${toHex(c.caId)}\nvalid:     ${iso(c.notBeforeMs)} .. ${iso(c.notAfterMs)}\nsignature: valid (self-signed)\n`,
      };
    } else if (label === ArmorLabel.REVOCATION_LIST) {
      shown = ca !== undefined
        ? showRevocationList(decodeRevocationList(bytes, ca), `valid (CA "${ca.name}")`)
        : showRevocationList(decodeRevocationListUnverified(bytes), 'not checked (pass --ca-cert)');
    } else if (label === ArmorLabel.PUBLIC_KEY) {
      const key = decodePublicKey(data.toString('utf8'), path);
      const peerId = formatPeerId(peerIdFromPublicKey(key));
      shown = { kind: 'public key', json: { kind: 'public-key', peerId }, text: `peer id:   ${peerId}\n` };
    } else {
      throw new IdentityError(IdentityCode.ARMOR, `cannot show a SHADOWMESH ${label} block`);
    }
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('SM_ERR_')) throw new IdentityError(code, `${path}: ${(err as Error).message}`, { cause: err });
    throw err;
  }
  print(opts.json, { file: path, ...shown.json }, `${path}: ${shown.kind}\n${shown.text}`);
}

// --- registration --------------------------------------------------------------

export function registerCa(program: Command): void {
  const ca = program.command('ca').description('run the network CA: create it, sign member certificates, revoke members, inspect files, issue join tokens and serve enrollment');
  const passphraseHelp = `CA key passphrase: first line of FILE (default: $${CA_PASSPHRASE_ENV} if set, else none)`;

  ca.command('init')
    .description(`create a network CA in CADIR: ${CA_KEY_FILE} (secret), ${CA_CERT_FILE} (public), ${CA_CRL_FILE} (empty revocation list #0), ${CA_ISSUED_DIR}/`)
    .requiredOption('--dir <CADIR>', 'CA directory (created 0700 if missing)')
    .option('--name <NAME>', 'CA name shown to members', 'ShadowMesh network CA')
    .option('--domain <DOMAIN>', `network domain of member names, NAME.<DOMAIN>, signed into the CA certificate so every member agrees on it (default: none, members use ${DEFAULT_NETWORK_DOMAIN} unless configured)`)
    .option('--valid <DURATION>', 'CA lifetime, e.g. 3650d, 8760h', DEFAULT_CA_VALID)
    .option('--passphrase-file <FILE>', `encrypt the CA key with the passphrase on the first line of FILE (default: $${CA_PASSPHRASE_ENV} if set, else unencrypted)`)
    .option('--force', 'replace an existing CA (every certificate it issued becomes useless)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: InitOptions) => runInit(opts));

  ca.command('sign')
    .description(
      'issue a member certificate for a public key (from shadowmesh keygen) and write it to CERTFILE. ' +
        'Signing a key whose certificate is still valid is a renewal: same name, every address and route kept (more may be added), not ending sooner; ' +
        'otherwise it is refused (SM_ERR_CERT_RENEWAL), because the older certificate stays valid. ' +
        'To give a member another name or address, ca revoke it and sign a new key. ' +
        'An address held by a valid certificate is never issued to another key.',
    )
    .requiredOption('--ca <CADIR>', 'CA directory')
    .requiredOption('--name <NAME>', 'member name, 1..64 bytes, unique among live members')
    .requiredOption('--ip <CIDR>', 'mesh address(es) with prefix, e.g. 10.10.10.3/24 or fd00::3/64; comma-separated or repeated, at most 8', collectList)
    .option('--groups <a,b>', 'groups, comma-separated or repeated (A-Z a-z 0-9 . _ -, at most 16)', collectList)
    .option(
      '--route <CIDR>',
      'a subnet behind this member it may serve to the mesh (up --advertise-routes), e.g. 192.168.50.0/24 or fd50::/64; ' +
        'comma-separated or repeated, at most 8; not a default route, not overlapping any mesh subnet or another member\'s route',
      collectList,
    )
    .option('--exit', 'mark this member an exit node: it may carry members\' default-route traffic (0.0.0.0/0 and ::/0) when it runs up --advertise-exit-node and they choose it with up --exit-node; kept by renewals')
    .option('--valid <DURATION>', 'lifetime from now, e.g. 365d, 30d12h (must end before the CA does)', DEFAULT_MEMBER_VALID)
    .requiredOption('--pub <PUBFILE>', 'the member\'s public key file (identity.pub)')
    .requiredOption('--out <CERTFILE>', 'where to write the certificate (replaced if it exists)')
    .option('--passphrase-file <FILE>', passphraseHelp)
    .option('--json', 'print the certificate fields as JSON')
    .action(async (opts: SignOptions) => runSign(opts));

  ca.command('revoke')
    .description(`revoke members by peer id or certificate: writes the next revocation list to CADIR/${CA_CRL_FILE} and prints its number`)
    .requiredOption('--ca <CADIR>', 'CA directory')
    .option('--peer <PEERID>', 'peer id (64 hex digits) to revoke; repeatable', collect)
    .option('--cert <CERTFILE>', 'member certificate whose peer id to revoke; repeatable', collect)
    .option('--passphrase-file <FILE>', passphraseHelp)
    .option('--json', 'print {number, revoked, total, file} as JSON')
    .action(async (opts: RevokeOptions) => runRevoke(opts));

  registerCaEnroll(ca);
  registerCaPolicy(ca);

  ca.command('show')
    .description('decode and print a member certificate, CA certificate, revocation list or public key file')
    .argument('<FILE>', 'file to show (armored text or raw binary)')
    .option('--ca-cert <CAFILE>', 'CA certificate (ca.crt): also check a member certificate\'s membership now, or a revocation list\'s signature')
    .option('--crl <CRLFILE>', 'revocation list (CADIR/crl) to check a member certificate against; needs --ca-cert')
    .option('--json', 'print the fields as JSON')
    .action(async (file: string, opts: ShowOptions) => runShow(file, opts));
}
