/**
 * Connects a source of direct paths (the direct transport) to the
 * PathManager (docs/architecture.md "Fallback": retry with backoff).
 * The manager decides WHEN to try ('want_direct', after its backoff); the
 * source decides HOW (candidates, TLS, re-handshake) and hands over finished
 * paths ('path') or reports that an attempt failed ('connect_failed').
 *
 * `allow` (the network policy's gate, direct-policy.ts) is asked before
 * every attempt and for every path handed over: a peer it refuses gets no
 * attempt (counted as a failed one, so the manager backs off) and its paths
 * are closed with reason 'policy'.
 *
 * DirectPathSource is the consumer-owned view of the transport: only what
 * this wiring uses, so tests pass a plain EventEmitter. Returns a function
 * that undoes the wiring (call it before stopping either side).
 *
 * Several transports (WSS and UDP) are one source through
 * combineDirectSources(): connect() starts all of them, every path is handed
 * over, and an attempt counts as failed only when every transport reported
 * failure since the last connect() with no path in between — so a WSS
 * refusal behind NAT does not back off a UDP punch still under way.
 */
import { EventEmitter } from 'node:events';
import { toHex } from '../../crypto/bytes.js';
import type { Path } from './path.js';
import type { PathManager } from './path-manager.js';

export interface DirectPathSource {
  connect(peerId: Uint8Array): void;
  on(event: 'path', listener: (peerId: Uint8Array, path: Path) => void): unknown;
  on(event: 'connect_failed', listener: (peerId: Uint8Array) => void): unknown;
  off(event: 'path', listener: (peerId: Uint8Array, path: Path) => void): unknown;
  off(event: 'connect_failed', listener: (peerId: Uint8Array) => void): unknown;
}

export function wireDirectPaths(manager: PathManager, source: DirectPathSource, allow: (peerId: Uint8Array) => boolean = () => true): () => void {
  const onPath = (peerId: Uint8Array, path: Path): void => {
    if (!allow(peerId)) {
      path.close('policy');
      return;
    }
    manager.addDirectPath(peerId, path);
  };
  const onFailed = (peerId: Uint8Array): void => manager.directAttemptFailed(peerId);
  const onWant = (peerId: Uint8Array): void => {
    if (allow(peerId)) source.connect(peerId);
    else manager.directAttemptFailed(peerId);
  };
  source.on('path', onPath);
  source.on('connect_failed', onFailed);
  manager.on('want_direct', onWant);
  return () => {
    source.off('path', onPath);
    source.off('connect_failed', onFailed);
    manager.off('want_direct', onWant);
  };
}

/** One DirectPathSource over several (see the header). */
export function combineDirectSources(sources: readonly DirectPathSource[]): DirectPathSource & { detach(): void } {
  const out = new EventEmitter();
  /** toHex(peerId) -> sources that failed since the last connect(), or null once a path arrived. */
  const attempts = new Map<string, Set<DirectPathSource> | null>();
  const undo: (() => void)[] = [];
  for (const s of sources) {
    const onPath = (peerId: Uint8Array, path: Path): void => {
      attempts.set(toHex(peerId), null);
      out.emit('path', peerId, path);
    };
    const onFailed = (peerId: Uint8Array): void => {
      const k = toHex(peerId);
      const failed = attempts.get(k);
      if (failed === null || failed === undefined) return;
      failed.add(s);
      if (failed.size === sources.length) {
        attempts.delete(k);
        out.emit('connect_failed', peerId);
      }
    };
    s.on('path', onPath);
    s.on('connect_failed', onFailed);
    undo.push(() => {
      s.off('path', onPath);
      s.off('connect_failed', onFailed);
    });
  }
  return Object.assign(out, {
    connect(peerId: Uint8Array): void {
      attempts.set(toHex(peerId), new Set());
      for (const s of sources) s.connect(peerId);
    },
    detach(): void {
      for (const u of undo) u();
      attempts.clear();
    },
  }) as unknown as DirectPathSource & { detach(): void };
}
