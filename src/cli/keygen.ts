import type { Command } from 'commander';

/** Placeholder until the command is written. */
export function registerKeygen(program: Command): void {
  void program;
}
