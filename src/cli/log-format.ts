/**
 * Which log format a command writes (docs/configuration.md, key
 * `log.format`): readable lines on a terminal, JSON lines otherwise, the
 * way tailscaled and most daemons behave. `auto` (the default) looks at
 * whether stderr is a TTY once, when the command starts; `json` and
 * `pretty` force one. The setting comes from log.format / SHADOWMESH_LOG_FORMAT
 * through src/config for `up` and `relay`, and from the environment alone
 * for `demo`. The formats themselves are src/util/logger.ts.
 *
 * Pure: the stream is passed in (tests inject `isTTY`); an unknown setting is
 * the config layer's to refuse, here it counts as `auto`.
 */
import type { LogFormat } from '../util/logger.js';

export type LogFormatSetting = 'auto' | LogFormat;
export const LOG_FORMAT_SETTINGS: readonly LogFormatSetting[] = Object.freeze(['auto', 'json', 'pretty']);

/** The format to write with: `json`/`pretty` as given, `auto` pretty exactly when stderr is a terminal. */
export function chooseLogFormat(setting: string | undefined, stderr: { isTTY?: boolean }): LogFormat {
  if (setting === 'json' || setting === 'pretty') return setting;
  return stderr.isTTY === true ? 'pretty' : 'json';
}
