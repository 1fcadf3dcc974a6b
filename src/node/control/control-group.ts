/**
 * The control socket's group (docs/configuration.md `node.controlGroup`):
 * resolving a group name to its id, so that members of an admin group may
 * run `shadowmesh status` (and every other control command) without sudo.
 * The socket is then owned by the daemon's user and that group with mode
 * 0660 (control-server.ts); without a group it stays 0600.
 *
 * Names are resolved through the system's group database (`getent group`,
 * so NSS sources such as LDAP count), falling back to /etc/group where
 * getent is missing; a decimal group id is taken as it is. An unknown group
 * is SM_ERR_CONTROL_GROUP, before the socket is created.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { ControlError } from './control-protocol.js';
import { ControlCode } from './control-errors.js';

/** getent answers from local files or a directory service; a directory that does not answer in this long is an error, not a hang. */
const GETENT_TIMEOUT_MS = 5_000;
/** POSIX portable group names, plus the upper case and dots some systems allow. */
const GROUP_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/;

/** The gid field of a group(5) line for `name`, or null. */
export function gidFromGroupLines(text: string, name: string): number | null {
  for (const line of text.split('\n')) {
    const [n, , gid] = line.split(':');
    if (n === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  return null;
}

function getent(name: string): Promise<string | null> {
  return new Promise((resolve, reject) => {
    execFile('getent', ['group', name], { timeout: GETENT_TIMEOUT_MS, encoding: 'utf8' }, (err, stdout) => {
      if (err === null) return resolve(stdout);
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return reject(err); // no getent: read /etc/group instead
      resolve(null); // exit 2: no such group
    });
  });
}

/** The numeric id of group `group` (a name or a decimal id); ControlError GROUP when there is no such group. */
export async function resolveGroupId(group: string): Promise<number> {
  if (/^\d{1,10}$/.test(group)) return Number(group);
  if (!GROUP_NAME.test(group)) throw new ControlError(ControlCode.GROUP, `control socket group ${JSON.stringify(group)}: not a group name`);
  let lines: string | null;
  try {
    lines = await getent(group);
  } catch {
    lines = await readFile('/etc/group', 'utf8').catch(() => null);
  }
  const gid = lines === null ? null : gidFromGroupLines(lines, group);
  if (gid === null) throw new ControlError(ControlCode.GROUP, `control socket group ${JSON.stringify(group)} does not exist on this machine (create it with groupadd, or fix --control-group / node.controlGroup)`);
  return gid;
}
