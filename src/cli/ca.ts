import type { Command } from 'commander';

/** Placeholder until the command is written. */
export function registerCa(program: Command): void {
  void program;
}
