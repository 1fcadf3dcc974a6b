/**
 * `shadowmesh completion bash|zsh|fish`: print a completion script for the
 * shell (completion-scripts.ts), built from the commander program itself:
 * every command, subcommand and option `--help` shows, so the script
 * follows the CLI without being edited by hand. main.ts registers every
 * command when this one is chosen, so the tree is whole.
 *
 *     source <(shadowmesh completion bash)          # ~/.bashrc
 *     source <(shadowmesh completion zsh)           # ~/.zshrc
 *     shadowmesh completion fish | source           # ~/.config/fish/config.fish
 *
 * An unknown shell is a usage error (exit 2), as commander reports a
 * choice outside the list.
 */
import { Argument, type Command } from 'commander';
import { COMPLETION_SHELLS, completionScript, type CompletionCommand, type CompletionShell } from './completion-scripts.js';

/** The command tree of `cmd` as the scripts need it; hidden options and commands are left out. */
export function completionTree(cmd: Command): CompletionCommand {
  const options = cmd.options
    .filter((o) => !o.hidden)
    .map((o) => ({ flags: [o.short, o.long].filter((f): f is string => f !== undefined), takesValue: o.required || o.optional, description: o.description }));
  const subcommands = cmd.commands.filter((c) => !(c as Command & { _hidden?: boolean })._hidden).map((c) => completionTree(c));
  if (cmd.commands.length > 0 && !subcommands.some((s) => s.name === 'help')) {
    subcommands.push({ name: 'help', description: 'display help for command', options: [], subcommands: [] });
  }
  return { name: cmd.name(), description: cmd.description(), options, subcommands };
}

export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .showHelpAfterError(false)
    .description('print a shell completion script: source <(shadowmesh completion bash)')
    .addArgument(new Argument('<shell>', 'the shell').choices(COMPLETION_SHELLS))
    .action((shell: CompletionShell) => {
      process.stdout.write(completionScript(shell, completionTree(program)));
    });
}
