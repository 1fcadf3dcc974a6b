/**
 * Numeric options of a benchmark script, read with node:util's parseArgs:
 * `--help` prints the usage and answers null (the caller exits), an unknown
 * option or a value outside its range throws with the usage, so a mistyped
 * flag never starts a minutes-long run with defaults.
 */
import { parseArgs } from 'node:util';

export interface NumberOption {
  default: number;
  min: number;
  max: number;
}

export function benchNumbers<K extends string>(usage: string, spec: Record<K, NumberOption>, argv: readonly string[] = process.argv.slice(2)): Record<K, number> | null {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const k of Object.keys(spec)) options[k] = { type: 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${usage}`);
  }
  if (values.help === true) {
    process.stdout.write(usage);
    return null;
  }
  const out = {} as Record<K, number>;
  for (const [k, o] of Object.entries(spec) as Array<[K, NumberOption]>) {
    const raw = values[k];
    const v = raw === undefined ? o.default : Number(raw);
    if (!(v >= o.min && v <= o.max)) throw new Error(`--${k}: expected ${o.min}..${o.max}, got ${String(raw)}\n${usage}`);
    out[k] = v;
  }
  return out;
}
