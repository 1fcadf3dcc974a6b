/**
 * Stopgap for @peculiar/x509: its dependency tsyringe refuses to load unless
 * a Reflect metadata API is present (normally the `reflect-metadata`
 * package, which is not a dependency of ours yet). This installs the few
 * functions tsyringe calls, only when they are missing, backed by a WeakMap.
 *
 * Import it before '@peculiar/x509' (tls-identity.ts does). Once
 * `reflect-metadata` is added to package.json, replace this file with
 * `import 'reflect-metadata'`.
 *
 * It only stores and returns metadata objects; nothing security-relevant
 * depends on it. Idempotent.
 */

type MetadataMap = Map<unknown, unknown>;
type Target = object;

interface ReflectMetadataApi {
  defineMetadata(key: unknown, value: unknown, target: Target, property?: string | symbol): void;
  getMetadata(key: unknown, target: Target, property?: string | symbol): unknown;
  getOwnMetadata(key: unknown, target: Target, property?: string | symbol): unknown;
  hasMetadata(key: unknown, target: Target, property?: string | symbol): boolean;
  hasOwnMetadata(key: unknown, target: Target, property?: string | symbol): boolean;
  metadata(key: unknown, value: unknown): (target: Target, property?: string | symbol) => void;
}

const reflect = Reflect as unknown as Partial<ReflectMetadataApi>;

if (typeof reflect.getMetadata !== 'function') {
  const store = new WeakMap<Target, Map<string | symbol | undefined, MetadataMap>>();
  const own = (target: Target, property: string | symbol | undefined, create: boolean): MetadataMap | undefined => {
    let byProperty = store.get(target);
    if (byProperty === undefined) {
      if (!create) return undefined;
      byProperty = new Map();
      store.set(target, byProperty);
    }
    let map = byProperty.get(property);
    if (map === undefined && create) {
      map = new Map();
      byProperty.set(property, map);
    }
    return map;
  };
  const lookup = (key: unknown, target: Target, property: string | symbol | undefined): MetadataMap | undefined => {
    // Walk the prototype chain, as reflect-metadata's getMetadata does.
    for (let t: Target | null = target; t !== null; t = Object.getPrototypeOf(t) as Target | null) {
      const map = own(t, property, false);
      if (map?.has(key) === true) return map;
    }
    return undefined;
  };
  const api: ReflectMetadataApi = {
    defineMetadata: (key, value, target, property) => {
      (own(target, property, true) as MetadataMap).set(key, value);
    },
    getMetadata: (key, target, property) => lookup(key, target, property)?.get(key),
    getOwnMetadata: (key, target, property) => own(target, property, false)?.get(key),
    hasMetadata: (key, target, property) => lookup(key, target, property) !== undefined,
    hasOwnMetadata: (key, target, property) => own(target, property, false)?.has(key) === true,
    metadata: (key, value) => (target, property) => api.defineMetadata(key, value, target, property),
  };
  Object.assign(Reflect, api);
}

export {};
