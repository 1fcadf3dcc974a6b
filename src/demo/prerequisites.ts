/**
 * What the namespace demo (netns-demo.ts, `npm start` as root) needs from
 * the machine, checked before anything starts so that a missing tool is one
 * line that says what to install, not a 30 s wait for a first ping and a
 * stack trace. The userspace demo needs none of it.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface MissingPrerequisite {
  /** What is missing, as a user would name it. */
  what: string;
  /** How to get it on Debian. */
  remedy: string;
}

/** The TUN/TAP driver's device node. */
export const TUN_DEVICE = '/dev/net/tun';

/** Tools the namespace demo runs: `ip` builds the namespaces and veths, `ping` crosses the tunnel. */
const TOOLS: ReadonlyArray<{ command: string; pkg: string }> = [
  { command: 'ip', pkg: 'iproute2' },
  { command: 'ping', pkg: 'iputils-ping' },
];

export interface PrerequisiteProbe {
  /** The search path (process.env.PATH). */
  path: string | undefined;
  /** Whether a file exists and is executable. */
  isExecutable(file: string): boolean;
  /** Whether a path exists. */
  exists(file: string): boolean;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export const systemProbe = (): PrerequisiteProbe => ({ path: process.env['PATH'], isExecutable, exists: existsSync });

/** Whether `command` is found on the search path. */
export function onPath(command: string, probe: PrerequisiteProbe): boolean {
  return (probe.path ?? '').split(delimiter).some((dir) => dir !== '' && probe.isExecutable(join(dir, command)));
}

/** Everything the namespace demo lacks on this machine, in the order a user would fix it; empty when it can run. */
export function missingNetnsPrerequisites(probe: PrerequisiteProbe = systemProbe()): MissingPrerequisite[] {
  const missing: MissingPrerequisite[] = [];
  for (const t of TOOLS) {
    if (!onPath(t.command, probe)) missing.push({ what: `\`${t.command}\``, remedy: `apt-get install -y --no-install-recommends ${t.pkg}` });
  }
  if (!probe.exists(TUN_DEVICE)) missing.push({ what: `${TUN_DEVICE} (the TUN/TAP driver)`, remedy: 'modprobe tun' });
  return missing;
}

/** One line for the error: each missing part and its remedy, and the way out that needs none of them. */
export function describeMissing(missing: readonly MissingPrerequisite[]): string {
  const parts = missing.map((m) => `${m.what} (${m.remedy})`);
  return `the namespace demo needs ${parts.join(', ')}; or run the userspace mesh instead: shadowmesh demo --userspace`;
}
