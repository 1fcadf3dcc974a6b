#!/usr/bin/env node
/**
 * `shadowmesh` command line. Thin: each command lives in its own file under
 * src/cli/ and registers itself on the program here. Commands either start a
 * component (relay, node) or talk to one through its control API.
 *
 * Startup: a command's module is imported only once the command line names
 * it (COMMANDS below), so `status`, `peers`, `ping`, `whois`, `ip`, `send`,
 * `recv`, `users` and `down` load the control client and commander, never the post-quantum
 * crypto, x509, pino, ajv or prom-client the daemons need
 * (test/cli/control-imports.test.ts keeps it so; bench/cli-startup.ts
 * measures it). Without a known command (top-level help, an unknown
 * command), and for `completion` (its script lists them all), every command
 * is loaded so help, suggestions and completion are whole.
 * `--version` (`-V`) in first place is the `version` command.
 *
 * Errors, one line on stderr (or with --json anywhere on the command line,
 * one JSON object `{"error": {"code", "message"}}` on stderr, the control
 * API's error shape):
 *  - a ShadowMesh error (it carries an SM_ERR_* code):
 *    `shadowmesh: <message> (<code>)`, exit status 1;
 *  - the command line does not parse (unknown command or option, missing
 *    or extra argument): `shadowmesh: <message> (SM_ERR_CLI_USAGE)`, exit
 *    status 2, as usage errors exit in most Unix tools;
 *  - anything else is a bug and keeps its stack trace (exit status 70).
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { CliCode } from './cli-errors.js';

type Register = (program: Command) => void;

/** Every command, by name, and how to load the module that registers it. */
const COMMANDS: Readonly<Record<string, () => Promise<Register>>> = Object.freeze({
  keygen: async () => (await import('./keygen.js')).registerKeygen,
  ca: async () => (await import('./ca.js')).registerCa,
  relay: async () => (await import('./relay.js')).registerRelay,
  demo: async () => (await import('./demo.js')).registerDemo,
  up: async () => (await import('./up.js')).registerUp,
  down: async () => (await import('./down.js')).registerDown,
  status: async () => (await import('./status.js')).registerStatus,
  peers: async () => (await import('./peers.js')).registerPeers,
  ping: async () => (await import('./ping.js')).registerPing,
  whois: async () => (await import('./whois.js')).registerWhois,
  ip: async () => (await import('./ip.js')).registerIp,
  users: async () => (await import('./users.js')).registerUsers,
  send: async () => (await import('./send.js')).registerSend,
  recv: async () => (await import('./recv.js')).registerRecv,
  forward: async () => (await import('./forward.js')).registerForward,
  chat: async () => (await import('./chat.js')).registerChat,
  web: async () => (await import('./web.js')).registerWeb,
  policy: async () => (await import('./policy.js')).registerPolicy,
  config: async () => (await import('./config.js')).registerConfig,
  netcheck: async () => (await import('./netcheck.js')).registerNetcheck,
  completion: async () => (await import('./completion.js')).registerCompletion,
  version: async () => (await import('./version.js')).registerVersion,
});

/** Commands that describe the whole program, so every command is registered when they run. */
const WHOLE_PROGRAM_COMMANDS: ReadonlySet<string> = new Set(['completion']);

/** Exit status of a command line that does not parse. */
export const USAGE_EXIT_STATUS = 2;
/** Exit status of a failure that is not a ShadowMesh error (a bug): EX_SOFTWARE of sysexits(3). */
export const BUG_EXIT_STATUS = 70;

/** Commander's own exits that are not errors: help or version shown. */
const COMMANDER_NON_ERRORS = new Set(['commander.helpDisplayed', 'commander.help', 'commander.version']);

/** `--version`/`-V` in first place is the `version` command (and keeps its flags: `--version --json`). */
function withVersionCommand(argv: string[]): string[] {
  const first = argv[2];
  return first === '--version' || first === '-V' ? [...argv.slice(0, 2), 'version', ...argv.slice(3)] : argv;
}

/** The command the line names (also through `help CMD`), or null: none, or not one of ours. */
export function chosenCommand(argv: string[]): string | null {
  const words = argv.slice(2).filter((a) => !a.startsWith('-'));
  const name = words[0] === 'help' ? words[1] : words[0];
  return name !== undefined && Object.hasOwn(COMMANDS, name) ? name : null;
}

/** The program with the chosen command registered, or every command when none is chosen. */
export async function buildProgram(argv: string[]): Promise<Command> {
  const program = new Command();
  program
    .name('shadowmesh')
    .description('Post-quantum zero-trust mesh VPN')
    .option('-V, --version', 'print the version, the Node version and the post-quantum backend (the `version` command)')
    .enablePositionalOptions()
    .configureOutput({ outputError: () => undefined })
    .exitOverride();
  const chosen = chosenCommand(argv);
  const names = chosen === null || WHOLE_PROGRAM_COMMANDS.has(chosen) ? Object.keys(COMMANDS) : [chosen];
  const registers = await Promise.all(names.map((n) => COMMANDS[n]!()));
  for (const register of registers) register(program);
  return program;
}

/** True when the command line asks for JSON output (before a `--`). */
function wantsJson(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
}

function printError(json: boolean, code: string, message: string): void {
  process.stderr.write(json ? `${JSON.stringify({ error: { code, message } })}\n` : `shadowmesh: ${message} (${code})\n`);
}

export async function main(rawArgv: string[]): Promise<number> {
  const argv = withVersionCommand(rawArgv);
  const json = wantsJson(argv);
  try {
    const program = await buildProgram(argv);
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (COMMANDER_NON_ERRORS.has(err.code)) return err.exitCode;
      printError(json, CliCode.USAGE, err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' '));
      return USAGE_EXIT_STATUS;
    }
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('SM_ERR_')) {
      printError(json, code, (err as Error).message);
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
    (err: unknown) => { process.stderr.write(`${(err as Error).stack ?? String(err)}\n`); process.exitCode = BUG_EXIT_STATUS; },
  );
}
