#!/usr/bin/env node
/**
 * `shadowmesh` command line. Thin: each command lives in its own file under
 * src/cli/ and registers itself on the program here. Commands either start a
 * component (relay, node) or talk to one through its control API.
 *
 * Errors that are ShadowMesh errors (they carry an SM_ERR_* code) are printed
 * as one line, `shadowmesh: <message> (<code>)`, with exit status 1; anything
 * else is a bug and keeps its stack trace.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { registerKeygen } from './keygen.js';
import { registerCa } from './ca.js';
import { registerRelay } from './relay.js';
import { registerDemo } from './demo.js';
import { registerUp } from './up.js';
import { registerStatus } from './status.js';
import { registerPeers } from './peers.js';
import { registerPing } from './ping.js';
import { registerUsers } from './users.js';
import { registerSend } from './send.js';
import { registerRecv } from './recv.js';
import { registerChat } from './chat.js';
import { registerConfig } from './config.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('shadowmesh')
    .description('Post-quantum zero-trust mesh VPN')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  registerKeygen(program);
  registerCa(program);
  registerRelay(program);
  registerDemo(program);
  registerUp(program);
  registerStatus(program);
  registerPeers(program);
  registerPing(program);
  registerUsers(program);
  registerSend(program);
  registerRecv(program);
  registerChat(program);
  registerConfig(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('SM_ERR_')) {
      process.stderr.write(`shadowmesh: ${(err as Error).message} (${code})\n`);
      return 1;
    }
    throw err;
  }
}

/** True when this file is the program being run, also through the npm bin symlink (argv[1] is then the link). */
function isInvokedDirectly(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

const invokedDirectly = isInvokedDirectly();
if (invokedDirectly) {
  main(process.argv).then(
    (status) => { if (status !== 0) process.exitCode = status; },
    (err: unknown) => { process.stderr.write(`${(err as Error).stack ?? String(err)}\n`); process.exitCode = 70; },
  );
}
