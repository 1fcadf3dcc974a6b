/**
 * `shadowmesh config check` and `shadowmesh config show`
 * (docs/configuration.md).
 *
 * check: reads the configuration a command would run with (the file from
 * --config, $SHADOWMESH_CONFIG or $SHADOWMESH_HOME/config.yaml, merged with
 * SHADOWMESH_* variables and defaults) and prints "ok" (exit 0), or every
 * problem on stderr, one per line with the key's path (exit 1). With
 * --role, the keys that role cannot run without are required too.
 *
 * show: the effective configuration as YAML, each value with a comment
 * naming where it came from, or --json ({ role, file, config, sources }).
 * Secrets (the identity passphrase) are redacted.
 */
import type { Command } from 'commander';
import { ROLES, type Role } from '../config/config-keys.js';
import { loadEffectiveConfig } from '../config/load-config.js';
import { configAsData, configAsYaml } from '../config/render-config.js';
import { ConfigError } from '../errors.js';

interface ConfigCliOptions {
  config?: string;
  role?: string;
  json?: boolean;
}

function parseRole(text: string | undefined): Role | undefined {
  if (text === undefined) return undefined;
  if (!(ROLES as readonly string[]).includes(text)) throw new ConfigError('SM_ERR_CONFIG_VALUE', `--role: expected node or relay, got ${JSON.stringify(text)}`);
  return text as Role;
}

/** Every problem on its own line, then exit 1; other errors go to main.ts. */
async function withProblems(run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (err) {
    const problems = (err as { problems?: unknown }).problems;
    const code = (err as { code?: unknown }).code;
    if (!Array.isArray(problems) || typeof code !== 'string') throw err;
    process.stderr.write(`shadowmesh: ${problems.length} configuration problem${problems.length === 1 ? '' : 's'} (${code}):\n`);
    for (const p of problems) process.stderr.write(`  ${String(p)}\n`);
    process.exitCode = 1;
  }
}

export function registerConfig(program: Command): void {
  const config = program
    .command('config')
    .description('check or show the configuration (file, SHADOWMESH_* environment, defaults)');
  config
    .command('check')
    .showHelpAfterError(false)
    .description('validate the configuration: "ok" and exit 0, or every problem with its key path and exit 1')
    .option('--config <file>', 'config file (default $SHADOWMESH_CONFIG, else $SHADOWMESH_HOME/config.yaml if present)')
    .option('--role <role>', 'node or relay: also require the keys that role cannot run without')
    .action(async (opts: ConfigCliOptions) => {
      await withProblems(async () => {
        await loadEffectiveConfig({ ...(opts.config !== undefined ? { configFile: opts.config } : {}), ...(opts.role !== undefined ? { role: parseRole(opts.role)! } : {}) });
        process.stdout.write('ok\n');
      });
    });
  config
    .command('show')
    .showHelpAfterError(false)
    .description('print the effective configuration after all layers, each value with its source; secrets redacted')
    .option('--config <file>', 'config file (default $SHADOWMESH_CONFIG, else $SHADOWMESH_HOME/config.yaml if present)')
    .option('--role <role>', 'node or relay: only that role\'s keys, and require the keys it cannot run without')
    .option('--json', 'JSON: { role, file, config, sources }')
    .action(async (opts: ConfigCliOptions) => {
      await withProblems(async () => {
        const cfg = await loadEffectiveConfig({ ...(opts.config !== undefined ? { configFile: opts.config } : {}), ...(opts.role !== undefined ? { role: parseRole(opts.role)! } : {}) });
        process.stdout.write(opts.json === true ? JSON.stringify(configAsData(cfg), null, 2) + '\n' : configAsYaml(cfg));
      });
    });
}
