/**
 * Where a key passphrase comes from, for the commands that unlock keys: a
 * file named on the command line (its first line; the trailing newline
 * editors add is not part of the passphrase), else an environment variable,
 * else none (the key is stored or expected unencrypted).
 *
 * A file beats the variable so an explicit flag always wins. An empty
 * passphrase is refused (ConfigError SM_ERR_CONFIG_PASSPHRASE): it would
 * encrypt the key under a value anyone can guess.
 */
import { ConfigError } from '../errors.js';
import { readTextFile } from './secure-files.js';

export async function resolvePassphrase(source: { file?: string; envVar: string }): Promise<string | undefined> {
  if (source.file !== undefined) {
    const text = await readTextFile(source.file);
    const first = text.split(/\r?\n/, 1)[0] ?? '';
    if (first.length === 0) throw new ConfigError('SM_ERR_CONFIG_PASSPHRASE', `passphrase file ${source.file}: the first line is empty`);
    return first;
  }
  const env = process.env[source.envVar];
  return env !== undefined && env.length > 0 ? env : undefined;
}
