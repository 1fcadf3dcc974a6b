/**
 * What a command does to get its configuration: find the file
 * (config-file.ts), read it, and merge it with the environment and the
 * command's flags (resolve-config.ts). One call for `up`, `relay` and
 * `config check|show`, so they cannot disagree.
 */
import type { Role } from './config-keys.js';
import { loadConfigFile, locateConfigFile } from './config-file.js';
import type { EffectiveConfig } from './effective-config.js';
import { resolveConfig, type ParsedFlags } from './resolve-config.js';

export interface LoadConfigInput {
  role?: Role;
  /** false: the role's keys are read but none is required (resolve-config.ts). */
  requireRoleKeys?: boolean;
  /** --config FILE, if given. */
  configFile?: string;
  flags?: ParsedFlags;
  env?: NodeJS.ProcessEnv;
}

export async function loadEffectiveConfig(input: LoadConfigInput): Promise<EffectiveConfig> {
  const env = input.env ?? process.env;
  const located = locateConfigFile(input.configFile, env);
  const file = located === null ? null : await loadConfigFile(located.path);
  return resolveConfig({
    ...(input.role !== undefined ? { role: input.role } : {}),
    ...(input.requireRoleKeys !== undefined ? { requireRoleKeys: input.requireRoleKeys } : {}),
    ...(input.flags !== undefined ? { flags: input.flags } : {}),
    env,
    file,
  });
}
