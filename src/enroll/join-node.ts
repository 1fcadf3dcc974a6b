/**
 * `shadowmesh up --join TOKEN` before the daemon starts (docs/architecture.md
 * "Enrollment"; docs/configuration.md "Joining with a token"): on a machine
 * with nothing but the token, create the identity (as keygen does, same
 * passphrase rules), join through the service the token names
 * (join-client.ts) and store what it answered where `up` reads it:
 *
 *     DIR/identity.key, identity.pub   the new identity (kept if present)
 *     DIR/member.crt                   the member certificate
 *     DIR/ca.crt                       the network CA certificate
 *     DIR/crl                          the CA's revocation list
 *     DIR/enrollment.json              {host, port, pin} of the service, for
 *                                      renewals (requestRenew, join-client.ts)
 *     CONFIG (default DIR's $SHADOWMESH_HOME/config.yaml)
 *                                      node.dir, node.ca, node.cert,
 *                                      node.crl and node.relays
 *
 * Then `up` starts as it always does, from that configuration. Once
 * DIR/member.crt and the config file exist, the node is enrolled: a later
 * `up`, with or without --join, uses them and never contacts the service.
 * A config file that exists without an enrollment is not overwritten
 * (SM_ERR_ENROLL_CONFIG_EXISTS). A join that failed (service unreachable,
 * token refused) leaves only the identity, which the next attempt reuses.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { checkName } from '../identity/cert-fields.js';
import { saveCaCertificate, saveMemberCertificate, saveRevocationList } from '../identity/files.js';
import { loadOrCreateIdentity } from '../identity/key-file.js';
import { formatPeerId } from '../identity/peer-id.js';
import { pathExists, PRIVATE_FILE_MODE, writeFileAtomic } from '../identity/secure-files.js';
import type { Logger } from '../util/logger.js';
import { EnrollCode, EnrollError } from './enroll-errors.js';
import { requestJoin } from './join-client.js';
import { decodeJoinToken, tokenEndpoint } from './join-token.js';

export const MEMBER_CERT_FILE = 'member.crt';
export const JOINED_CA_FILE = 'ca.crt';
export const JOINED_CRL_FILE = 'crl';
export const ENROLLMENT_FILE = 'enrollment.json';

export interface JoinNodeInput {
  token: string;
  /** The identity directory (node.dir). */
  dir: string;
  /** The config file to write: --config, else $SHADOWMESH_CONFIG, else $SHADOWMESH_HOME/config.yaml. */
  configPath: string;
  passphrase?: string;
  /** Member name; default: this machine's host name. */
  name?: string;
  logger: Logger;
  timeoutMs?: number;
}

/** The member name a join asks for: --hostname, else the machine's host name up to its first dot. */
export function memberNameFor(given: string | undefined): string {
  const name = given ?? hostname().split('.')[0] ?? '';
  checkName(name, given !== undefined ? '--hostname' : `this machine's host name (choose one with --hostname)`);
  return name;
}

function yamlConfig(dir: string, relays: string[], nowMs: number): string {
  const q = (s: string) => JSON.stringify(s);
  return (
    `# This member's enrollment, written by \`shadowmesh up --join\` at ${new Date(nowMs).toISOString()}.\n` +
    `# Flags and SHADOWMESH_* variables still override it (docs/configuration.md).\n` +
    'node:\n' +
    `  dir: ${q(dir)}\n` +
    `  ca: ${q(join(dir, JOINED_CA_FILE))}\n` +
    `  cert: ${q(join(dir, MEMBER_CERT_FILE))}\n` +
    `  crl: ${q(join(dir, JOINED_CRL_FILE))}\n` +
    '  relays:\n' +
    relays.map((r) => `    - ${q(r)}\n`).join('')
  );
}

/** Joins unless already enrolled; true when it joined now. */
export async function joinNode(input: JoinNodeInput): Promise<boolean> {
  const token = decodeJoinToken(input.token);
  const certPath = join(input.dir, MEMBER_CERT_FILE);
  const configExists = await pathExists(input.configPath);
  if (configExists && (await pathExists(certPath))) {
    input.logger.info('already enrolled: using the stored certificate and configuration; the join token is not needed again', { cert: certPath, config: input.configPath });
    return false;
  }
  if (configExists) {
    throw new EnrollError(EnrollCode.CONFIG_EXISTS, `${input.configPath} exists and this node has no ${certPath}: --join writes its own configuration there; move the file away, or give --config a new path`);
  }
  const name = memberNameFor(input.name);
  const { identity, created } = await loadOrCreateIdentity(input.dir, input.passphrase !== undefined ? { passphrase: input.passphrase } : {});
  try {
    input.logger.info(created ? 'created a new identity' : 'using the existing identity', { dir: input.dir, peerId: formatPeerId(identity.peerId) });
    input.logger.info('joining', { service: tokenEndpoint(token), token: token.id, name });
    const r = await requestJoin(token, identity.signer, name, input.timeoutMs !== undefined ? { timeoutMs: input.timeoutMs } : {});
    await saveCaCertificate(join(input.dir, JOINED_CA_FILE), r.ca);
    await saveRevocationList(join(input.dir, JOINED_CRL_FILE), r.crl);
    await writeFileAtomic(join(input.dir, ENROLLMENT_FILE), `${JSON.stringify({ host: token.host, port: token.port, pin: token.pin })}\n`, { mode: PRIVATE_FILE_MODE });
    await saveMemberCertificate(certPath, r.certificate);
    await writeFileAtomic(input.configPath, yamlConfig(input.dir, r.relays, Date.now()), { mode: PRIVATE_FILE_MODE, noClobber: true });
    input.logger.info('joined', { name: r.certificate.name, addresses: r.certificate.addresses.join(','), groups: r.certificate.groups.join(','), notAfter: new Date(r.certificate.notAfterMs).toISOString(), config: input.configPath });
    return true;
  } finally {
    identity.signer.destroy();
  }
}
