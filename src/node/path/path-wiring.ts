/**
 * Connects a source of direct paths (the direct transport) to the
 * PathManager (DESIGN.md "Paths, migration, fallback": retry with backoff).
 * The manager decides WHEN to try ('want_direct', after its backoff); the
 * source decides HOW (candidates, TLS, re-handshake) and hands over finished
 * paths ('path') or reports that an attempt failed ('connect_failed').
 *
 * DirectPathSource is the consumer-owned view of the transport: only what
 * this wiring uses, so tests pass a plain EventEmitter. Returns a function
 * that undoes the wiring (call it before stopping either side).
 */
import type { Path } from './path.js';
import type { PathManager } from './path-manager.js';

export interface DirectPathSource {
  connect(peerId: Uint8Array): void;
  on(event: 'path', listener: (peerId: Uint8Array, path: Path) => void): unknown;
  on(event: 'connect_failed', listener: (peerId: Uint8Array) => void): unknown;
  off(event: 'path', listener: (peerId: Uint8Array, path: Path) => void): unknown;
  off(event: 'connect_failed', listener: (peerId: Uint8Array) => void): unknown;
}

export function wireDirectPaths(manager: PathManager, source: DirectPathSource): () => void {
  const onPath = (peerId: Uint8Array, path: Path): void => {
    manager.addDirectPath(peerId, path);
  };
  const onFailed = (peerId: Uint8Array): void => manager.directAttemptFailed(peerId);
  const onWant = (peerId: Uint8Array): void => source.connect(peerId);
  source.on('path', onPath);
  source.on('connect_failed', onFailed);
  manager.on('want_direct', onWant);
  return () => {
    source.off('path', onPath);
    source.off('connect_failed', onFailed);
    manager.off('want_direct', onWant);
  };
}
