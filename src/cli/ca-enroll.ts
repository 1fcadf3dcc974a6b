/**
 * `shadowmesh ca serve` and `shadowmesh ca token`: the CA's enrollment
 * service and the join tokens it accepts (docs/architecture.md
 * "Enrollment"; docs/configuration.md "Joining with a token").
 *
 * `ca serve` runs in the foreground until SIGTERM/SIGINT, prints one line
 * on stdout once it listens, which scripts and tests parse:
 *
 *     enrollment service on HOST:PORT pin sha256:<hex> pool CIDR
 *
 * and records HOST:PORT in CADIR/enroll-endpoint (unless it listens on every
 * address), so `ca token` can put it in tokens without --endpoint. Logs
 * (every join and every refusal with its code and reason) go to stderr.
 *
 * `ca token` prints one token line (or with --json the token and its
 * record); `--list` shows the tokens of CADIR, `--revoke ID` deletes one.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../errors.js';
import { CA_CERT_FILE } from '../identity/ca.js';
import { loadCaCertificate } from '../identity/files.js';
import { resolvePassphrase } from '../identity/passphrase.js';
import { pathExists } from '../identity/secure-files.js';
import { formatDuration, parseDuration } from '../util/duration.js';
import { parsePool } from '../enroll/address-pool.js';
import { encodeJoinToken, isTokenHost, tokenEndpoint } from '../enroll/join-token.js';
import { createTokenRecord, listTokenRecords, revokeTokenRecord, type TokenRecord } from '../enroll/token-store.js';

export const ENDPOINT_FILE = 'enroll-endpoint';
export const DEFAULT_ENROLL_LISTEN = '0.0.0.0:7443';
const CA_PASSPHRASE_ENV = 'SHADOWMESH_CA_PASSPHRASE';

function collectList(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(',').map((s) => s.trim()).filter((s) => s.length > 0)];
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

async function endpointOf(text: string, flag: string): Promise<{ host: string; port: number }> {
  const { parseListenText } = await import('../config/config-schema.js');
  const l = parseListenText(text);
  if (l === null || l.port === 0 || !isTokenHost(l.host)) throw new ConfigError('SM_ERR_CONFIG_VALUE', `${flag}: expected HOST:PORT or [IPV6]:PORT, got ${JSON.stringify(text)}`);
  return l;
}

/** The service's TLS key pin: the key in CADIR (created here if the service never ran). */
async function servicePin(caDir: string): Promise<string> {
  await loadCaCertificate(join(caDir, CA_CERT_FILE)); // a CA directory, not a typo
  const { TlsIdentity } = await import('../relay/tls-identity.js');
  return (await TlsIdentity.load({ dataDir: caDir }, Date.now())).pin;
}

// --- ca serve ------------------------------------------------------------------

interface ServeOptions { ca: string; listen: string; pool: string; relay?: string[]; valid: string; passphraseFile?: string }

async function runServe(opts: ServeOptions): Promise<void> {
  const caDir = resolve(opts.ca);
  const { parseListenText, parseRelayEntry } = await import('../config/config-schema.js');
  const listen = parseListenText(opts.listen);
  if (listen === null) throw new ConfigError('SM_ERR_CONFIG_VALUE', `--listen: expected HOST:PORT, got ${JSON.stringify(opts.listen)}`);
  const pool = parsePool(opts.pool);
  const relays = opts.relay ?? [];
  if (relays.length === 0) throw new ConfigError('SM_ERR_CONFIG_VALUE', '--relay: at least one relay members should join, as wss://HOST:PORT#PIN (the pin `shadowmesh relay` prints)');
  for (const r of relays) if (parseRelayEntry(r) === null) throw new ConfigError('SM_ERR_CONFIG_VALUE', `--relay: expected wss://HOST:PORT#PIN[,PIN...], got ${JSON.stringify(r)}`);
  const validMs = parseDuration(opts.valid);
  if (validMs <= 0) throw new ConfigError('SM_ERR_CONFIG_DURATION', `--valid: must be longer than 0, got ${JSON.stringify(opts.valid)}`);
  await loadCaCertificate(join(caDir, CA_CERT_FILE));
  const passphrase = await resolvePassphrase({ file: opts.passphraseFile, envVar: CA_PASSPHRASE_ENV });
  // The service's modules (TLS, x509, the logger) load only when it runs: `ca sign` and `ca show` stay quick.
  const [{ EnrollServer }, { createLogger }, { runUntilStopped }, { chooseLogFormat }] = await Promise.all([
    import('../enroll/enroll-server.js'),
    import('../util/logger.js'),
    import('./foreground.js'),
    import('./log-format.js'),
  ]);
  const logger = createLogger('enroll', { format: chooseLogFormat('auto', process.stderr) });
  const server = await EnrollServer.start({ caDir, host: listen.host, port: listen.port, pool, relays, validMs, ...(passphrase !== undefined ? { passphrase } : {}), logger });
  const bound = server.address;
  const endpoint = tokenEndpoint(bound);
  if (bound.host !== '0.0.0.0' && bound.host !== '::') await writeFile(join(caDir, ENDPOINT_FILE), `${endpoint}\n`, { mode: 0o644 });
  logger.info('enrollment service listening', { endpoint, pin: server.pin, pool: pool.text, relays: relays.length, valid: formatDuration(validMs) });
  await runUntilStopped({ logger }, {
    readyLine: `enrollment service on ${endpoint} pin ${server.pin} pool ${pool.text}`,
    stop: async () => {
      logger.info('enrollment service stopping', { joined: server.joined, refused: [...server.refusals].map(([c, n]) => `${c}=${n}`).join(',') });
      await server.close();
    },
  });
}

// --- ca token ------------------------------------------------------------------

interface TokenOptions { ca: string; groups?: string[]; ttl: string; uses: string; endpoint?: string; list?: boolean; revoke?: string; json?: boolean }

function recordJson(r: TokenRecord, nowMs: number): Record<string, unknown> {
  const state = r.usesLeft <= 0 ? 'used-up' : nowMs >= r.expiresAtMs ? 'expired' : 'valid';
  return { id: r.id, groups: r.groups, created: new Date(r.createdAtMs).toISOString(), expires: new Date(r.expiresAtMs).toISOString(), usesLeft: r.usesLeft, state };
}

async function runToken(opts: TokenOptions): Promise<void> {
  const caDir = resolve(opts.ca);
  const json = opts.json === true;
  if (opts.list === true) {
    const now = Date.now();
    const rows = (await listTokenRecords(caDir)).map((r) => recordJson(r, now));
    process.stdout.write(json ? `${JSON.stringify({ tokens: rows })}\n` : rows.length === 0 ? 'no join tokens\n' : rows.map((r) => `${String(r['id'])}  ${String(r['state']).padEnd(7)}  uses left ${String(r['usesLeft'])}  expires ${String(r['expires'])}  groups ${(r['groups'] as string[]).join(',') || '(none)'}\n`).join(''));
    return;
  }
  if (opts.revoke !== undefined) {
    await revokeTokenRecord(caDir, opts.revoke);
    process.stdout.write(json ? `${JSON.stringify({ revoked: opts.revoke })}\n` : `revoked join token ${opts.revoke}\n`);
    return;
  }
  let endpointText = opts.endpoint;
  if (endpointText === undefined) {
    const file = join(caDir, ENDPOINT_FILE);
    if (!(await pathExists(file))) throw new ConfigError('SM_ERR_CONFIG_VALUE', `--endpoint: required (HOST:PORT members reach \`ca serve\` at); ${file} is absent because ca serve has not run on a specific address`);
    endpointText = (await readFile(file, 'utf8')).trim();
  }
  const endpoint = await endpointOf(endpointText, '--endpoint');
  const ttlMs = parseDuration(opts.ttl);
  if (!/^\d{1,4}$/.test(opts.uses)) throw new ConfigError('SM_ERR_CONFIG_VALUE', `--uses: expected a whole number, got ${JSON.stringify(opts.uses)}`);
  const pin = await servicePin(caDir);
  const { record, secret } = await createTokenRecord(caDir, { groups: opts.groups ?? [], ttlMs, uses: Number(opts.uses) });
  const token = encodeJoinToken({ host: endpoint.host, port: endpoint.port, pin, id: record.id, secret });
  process.stdout.write(json ? `${JSON.stringify({ token, endpoint: tokenEndpoint(endpoint), pin, ...recordJson(record, Date.now()) })}\n` : `${token}\n`);
}

export function registerCaEnroll(ca: Command): void {
  ca.command('serve')
    .description(
      'run the enrollment service in the foreground: members join with `shadowmesh up --join TOKEN` and get a certificate with the lowest free address of --pool, ' +
        'the CA certificate, the revocation list and the relays. HTTPS, TLS 1.3 only, with its own key in CADIR/tls-key.pem that tokens pin; the CA key never leaves CADIR',
    )
    .requiredOption('--ca <CADIR>', 'CA directory')
    .option('--listen <HOST:PORT>', 'address to listen on', DEFAULT_ENROLL_LISTEN)
    .requiredOption('--pool <CIDR>', 'subnet whose addresses members get, lowest free first, e.g. 10.10.0.0/24 (never one held by a live certificate of this CA)')
    .option('--relay <wss://HOST:PORT#PIN>', 'relay members join, with its pin set; repeatable; at least one', collect)
    .option('--valid <DURATION>', 'lifetime of the certificates it issues', '365d')
    .option('--passphrase-file <FILE>', `CA key passphrase: first line of FILE (default: $${CA_PASSPHRASE_ENV} if set, else none)`)
    .addHelpText('after', '\nPrints "enrollment service on HOST:PORT pin sha256:... pool CIDR" on stdout once it listens; logs on stderr. SIGTERM/SIGINT stop it.')
    .action(async (opts: ServeOptions) => runServe(opts));

  ca.command('token')
    .description('print a one-line join token for `shadowmesh up --join` (endpoint, the service\'s key pin, token id, secret); CADIR keeps only a hash of the secret')
    .requiredOption('--ca <CADIR>', 'CA directory')
    .option('--groups <a,b>', 'groups of the members joining with it, comma-separated or repeated', collectList)
    .option('--ttl <DURATION>', 'how long the token may be used, at most 30d', '1h')
    .option('--uses <N>', 'how many members may join with it', '1')
    .option('--endpoint <HOST:PORT>', `where members reach ca serve (default: CADIR/${ENDPOINT_FILE}, written by ca serve)`)
    .option('--list', 'list the tokens of CADIR: id, state, uses left, expiry, groups')
    .option('--revoke <ID>', 'delete a token so it can no longer be used')
    .option('--json', 'print as JSON')
    .action(async (opts: TokenOptions) => runToken(opts));
}
