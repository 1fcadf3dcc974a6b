/**
 * Finding and reading the YAML configuration file (docs/configuration.md).
 *
 * Which file: `--config FILE`, else $SHADOWMESH_CONFIG, else
 * $SHADOWMESH_HOME/config.yaml (~/.shadowmesh/config.yaml without
 * SHADOWMESH_HOME) if it exists. A file named explicitly must exist; the one
 * in the home directory is optional.
 *
 * Reading parses YAML 1.2 (core schema: no dates, no `yes`/`no` booleans)
 * and refuses duplicate keys. Every syntax error is reported at once, each
 * with its line and column, as one ConfigError SM_ERR_CONFIG_FILE. The
 * document is returned as plain data; validating it is config-schema.ts's job.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigError } from '../errors.js';
import { ConfigFileCode } from './config-errors.js';
import { CONFIG_ENV, DEFAULT_CONFIG_FILE_NAME, HOME_ENV } from './config-keys.js';

/** Files larger than this are not configuration: refuse before parsing. */
const MAX_CONFIG_FILE_BYTES = 1024 * 1024;
/** YAML aliases expand; bound them so a small file cannot become a huge document. */
const MAX_ALIAS_COUNT = 100;

export interface LoadedConfigFile {
  /** Absolute path. */
  readonly path: string;
  /** The parsed document: plain data, {} for an empty file. */
  readonly doc: unknown;
}

/** $SHADOWMESH_HOME, else ~/.shadowmesh. */
export function shadowmeshHome(env: NodeJS.ProcessEnv = process.env): string {
  const home = env[HOME_ENV];
  return home !== undefined && home !== '' ? home : join(homedir(), '.shadowmesh');
}

/** The file to read, or null when none is named and the home directory holds none. */
export function locateConfigFile(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): { path: string; explicit: boolean } | null {
  if (explicit !== undefined) return { path: resolve(explicit), explicit: true };
  const fromEnv = env[CONFIG_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return { path: resolve(fromEnv), explicit: true };
  const implicit = join(shadowmeshHome(env), DEFAULT_CONFIG_FILE_NAME);
  return existsSync(implicit) ? { path: resolve(implicit), explicit: false } : null;
}

/** Parse YAML text; throws ConfigError SM_ERR_CONFIG_FILE listing every syntax error. */
export function parseConfigText(text: string, name: string): unknown {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => {
      const pos = e.linePos?.[0];
      const where = pos !== undefined ? `line ${pos.line}, column ${pos.col}: ` : '';
      const first = (e.message.split('\n')[0] ?? e.code).replace(/ at line \d+, column \d+:?$/, '');
      return `${name} ${where}${first}`;
    });
    const head = lines.length === 1 ? `not valid YAML: ${lines[0]}` : `not valid YAML (${lines.length} errors):\n  ${lines.join('\n  ')}`;
    throw Object.assign(new ConfigError(ConfigFileCode.FILE, head), { problems: lines.map((l) => `not valid YAML: ${l}`) });
  }
  const value: unknown = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  return value === null || value === undefined ? {} : value;
}

/** Read and parse a config file. */
export async function loadConfigFile(path: string): Promise<LoadedConfigFile> {
  const abs = resolve(path);
  let text: string;
  try {
    const buf = await readFile(abs);
    if (buf.length > MAX_CONFIG_FILE_BYTES) throw new ConfigError(ConfigFileCode.FILE, `config file ${abs}: ${buf.length} bytes, more than ${MAX_CONFIG_FILE_BYTES} is not a configuration file`);
    text = buf.toString('utf8');
  } catch (err) {
    if ((err as { code?: unknown }).code === ConfigFileCode.FILE) throw err;
    throw new ConfigError(ConfigFileCode.FILE, `config file ${abs}: cannot read it: ${(err as Error).message}`, { cause: err });
  }
  return { path: abs, doc: parseConfigText(text, abs) };
}
