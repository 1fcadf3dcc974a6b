/**
 * `config show` output: the effective configuration as YAML, each value
 * followed by a comment naming its source (`# default`, `# env
 * SHADOWMESH_RELAY`, `# flag --relay`, `# file /etc/shadowmesh/config.yaml`),
 * or as JSON with a separate `sources` map. Secret keys are replaced by
 * REDACTED before anything is rendered; the secret itself never reaches
 * the output.
 */
import { Document, isScalar } from 'yaml';
import { KEYS_BY_PATH } from './config-keys.js';
import type { EffectiveConfig, Setting } from './effective-config.js';

export const REDACTED = '<redacted>';

function sourceText(s: Setting): string {
  return s.source === 'default' ? 'default' : `${s.source} ${s.origin}`;
}

function shown(path: string, s: Setting): unknown {
  return KEYS_BY_PATH.get(path)?.kind.type === 'secret' ? REDACTED : s.value;
}

export interface ShownConfig {
  role: string;
  file: string | null;
  config: Record<string, unknown>;
  sources: Record<string, string>;
}

/** Plain data for --json: `home` first, then the sections in key-table order. */
export function configAsData(cfg: EffectiveConfig): ShownConfig {
  const config: Record<string, unknown> = { home: cfg.home.value };
  const sources: Record<string, string> = { home: sourceText(cfg.home) };
  for (const [path, s] of cfg.entries()) {
    const parts = path.split('.');
    let node = config;
    for (const p of parts.slice(0, -1)) node = (node[p] ??= {}) as Record<string, unknown>;
    node[parts[parts.length - 1] as string] = shown(path, s);
    sources[path] = sourceText(s);
  }
  return { role: cfg.role ?? 'all', file: cfg.file, config, sources };
}

/** YAML with a source comment on every value. */
export function configAsYaml(cfg: EffectiveConfig): string {
  const data = configAsData(cfg);
  const doc = new Document(data.config);
  doc.commentBefore = ` effective configuration (${data.role}); file: ${data.file ?? 'none'}\n precedence: flags > SHADOWMESH_* environment > file > defaults`;
  for (const [path, source] of Object.entries(data.sources)) {
    const node = doc.getIn(path.split('.'), true);
    if (isScalar(node)) node.comment = ` ${source}`;
  }
  return doc.toString({ lineWidth: 0 });
}
