/**
 * The merged configuration of one command, and the settings it is made of
 * (resolve-config.ts builds it; the cross-key checks, the component option
 * builders, rendering and reload read it). Its own file so that those
 * readers do not import the resolver that runs them.
 */
import { parseDuration } from '../util/duration.js';
import type { Role } from './config-keys.js';

export type ConfigValue = string | number | boolean;
export type ConfigSource = 'flag' | 'env' | 'file' | 'default';

export interface Setting {
  readonly value: ConfigValue;
  readonly source: ConfigSource;
  /** What set it: '--relay', 'SHADOWMESH_RELAY', the file's path, or 'default'. */
  readonly origin: string;
}

/** One layer: values by dotted key path. */
export type Layer = ReadonlyMap<string, Setting>;

/** The merged configuration of one command; values in file form (durations as text). */
export class EffectiveConfig {
  readonly role: Role | undefined;
  /** The config file read, or null. */
  readonly file: string | null;
  readonly home: Setting;
  readonly #values: Layer;

  constructor(role: Role | undefined, file: string | null, home: Setting, values: Layer) {
    this.role = role;
    this.file = file;
    this.home = home;
    this.#values = values;
  }

  get(path: string): Setting | undefined {
    return this.#values.get(path);
  }

  entries(): IterableIterator<[string, Setting]> {
    return this.#values.entries();
  }

  /** The value, or undefined when no layer set it; throws if the key holds another type (a bug). */
  string(path: string): string | undefined {
    const v = this.#values.get(path)?.value;
    if (v !== undefined && typeof v !== 'string') throw new TypeError(`config ${path}: not a string`);
    return v;
  }

  number(path: string): number | undefined {
    const v = this.#values.get(path)?.value;
    if (v !== undefined && typeof v !== 'number') throw new TypeError(`config ${path}: not a number`);
    return v;
  }

  boolean(path: string): boolean | undefined {
    const v = this.#values.get(path)?.value;
    if (v !== undefined && typeof v !== 'boolean') throw new TypeError(`config ${path}: not a boolean`);
    return v;
  }

  /** A duration key in milliseconds. */
  ms(path: string): number | undefined {
    const v = this.string(path);
    return v === undefined ? undefined : parseDuration(v);
  }

  /** Set by anything but its default. */
  isSet(path: string): boolean {
    const s = this.#values.get(path);
    return s !== undefined && s.source !== 'default';
  }
}
