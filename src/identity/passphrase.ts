/**
 * Where a key passphrase comes from, for the commands that unlock keys: a
 * file named on the command line (its first line; the trailing newline
 * editors add is not part of the passphrase), else an environment variable,
 * else none (the key is stored or expected unencrypted).
 *
 * A file beats the variable so an explicit flag always wins. An empty
 * passphrase is refused (ConfigError SM_ERR_CONFIG_PASSPHRASE): it would
 * encrypt the key under a value anyone can guess. A file that group or
 * others can read is refused like a key file (IdentityError
 * SM_ERR_ID_PERMISSIONS, naming the file and `chmod 600`): the passphrase
 * is worth as much as the key it opens.
 */
import { ConfigError } from '../errors.js';
import { readSecretTextFile } from './secure-files.js';

export async function resolvePassphrase(source: { file?: string; envVar: string }): Promise<string | undefined> {
  if (source.file !== undefined) {
    const text = await readSecretTextFile(source.file);
    const first = text.split(/\r?\n/, 1)[0] ?? '';
    if (first.length === 0) throw new ConfigError('SM_ERR_CONFIG_PASSPHRASE', `passphrase file ${source.file}: the first line is empty`);
    return first;
  }
  const env = process.env[source.envVar];
  return env !== undefined && env.length > 0 ? env : undefined;
}
