/**
 * `shadowmesh keygen`: create this machine's identity (src/identity/key-file.ts)
 * and print its peer id and public key file, the file a network CA signs.
 *
 * Running it again does not regenerate: the existing identity is kept and
 * the command fails with SM_ERR_ID_EXISTS, naming the existing peer id,
 * unless --force is given (which replaces the key for good).
 *
 * DIR defaults to $SHADOWMESH_HOME, else ~/.shadowmesh. The passphrase comes
 * from --passphrase-file, else $SHADOWMESH_PASSPHRASE, else none.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { IdentityError } from '../errors.js';
import { IdentityCode } from '../identity/identity-errors.js';
import { createIdentity, IDENTITY_KEY_FILE, IDENTITY_PUB_FILE, readPublicKeyFile } from '../identity/key-file.js';
import { resolvePassphrase } from '../identity/passphrase.js';
import { formatPeerId, peerIdFromPublicKey } from '../identity/peer-id.js';

export const PASSPHRASE_ENV = 'SHADOWMESH_PASSPHRASE';
export const HOME_ENV = 'SHADOWMESH_HOME';

/** The identity directory: $SHADOWMESH_HOME, else ~/.shadowmesh. */
export function defaultIdentityDir(): string {
  const env = process.env[HOME_ENV];
  return env !== undefined && env.length > 0 ? env : join(homedir(), '.shadowmesh');
}

interface KeygenOptions {
  dir?: string;
  passphraseFile?: string;
  force?: boolean;
  json?: boolean;
}

async function existingPeerId(dir: string): Promise<string | undefined> {
  try {
    return formatPeerId(peerIdFromPublicKey(await readPublicKeyFile(join(dir, IDENTITY_PUB_FILE))));
  } catch {
    return undefined;
  }
}

async function runKeygen(opts: KeygenOptions): Promise<void> {
  const dir = resolve(opts.dir ?? defaultIdentityDir());
  const passphrase = await resolvePassphrase({ file: opts.passphraseFile, envVar: PASSPHRASE_ENV });
  let identity;
  try {
    identity = await createIdentity(dir, { passphrase, force: opts.force === true });
  } catch (err) {
    if ((err as IdentityError).code === IdentityCode.EXISTS) {
      const id = await existingPeerId(dir);
      throw new IdentityError(
        IdentityCode.EXISTS,
        `an identity already exists in ${dir}${id !== undefined ? ` (peer id ${id})` : ''}; keeping it. Use --force to replace it (its peer id is then lost)`,
      );
    }
    throw err;
  }
  try {
    const peerId = formatPeerId(identity.peerId);
    const pubPath = join(dir, IDENTITY_PUB_FILE);
    if (opts.json === true) {
      process.stdout.write(`${JSON.stringify({ peerId, publicKeyFile: pubPath, keyFile: join(dir, IDENTITY_KEY_FILE), encrypted: passphrase !== undefined })}\n`);
      return;
    }
    process.stdout.write(
      `Created a new identity in ${dir}${passphrase !== undefined ? ' (key encrypted with the passphrase)' : ''}\n` +
        `peer id:    ${peerId}\n` +
        `public key: ${pubPath}\n` +
        `Give the public key file to your network CA: shadowmesh ca sign --pub ${pubPath} ...\n`,
    );
  } finally {
    identity.signer.destroy();
  }
}

export function registerKeygen(program: Command): void {
  program
    .command('keygen')
    .description('create this machine\'s identity (hybrid Ed25519 + ML-DSA-87 key) and print its peer id; never replaces an existing one without --force')
    .option('--dir <DIR>', `identity directory (default: $${HOME_ENV}, else ~/.shadowmesh)`)
    .option('--passphrase-file <FILE>', `encrypt the key with the passphrase on the first line of FILE (default: $${PASSPHRASE_ENV} if set, else unencrypted)`)
    .option('--force', 'replace an existing identity (its peer id is lost and its certificate becomes useless)')
    .option('--json', 'print {peerId, publicKeyFile, keyFile, encrypted} as JSON')
    .action(async (opts: KeygenOptions) => {
      await runKeygen(opts);
    });
}
