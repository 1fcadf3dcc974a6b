import type { Command } from 'commander';

/** Placeholder until the command is written. */
export function registerRelay(program: Command): void {
  void program;
}
