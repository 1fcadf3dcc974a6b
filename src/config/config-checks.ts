/**
 * Checks that span several keys, run on the merged configuration after
 * every single value passed the schema (resolve-config.ts). Each names the
 * key a user would change. The components' own option resolvers run last,
 * so `config check` refuses exactly what `up` and `relay` would.
 */
import { resolvePathTimers } from '../node/path/path-timers.js';
import { resolveRelayOptions } from '../relay/relay-options.js';
import { clusterOf, pathTimersOf, relayListOf, relayServerOptionsOf } from './component-options.js';
import type { EffectiveConfig } from './effective-config.js';

export type CrossCheck = (cfg: EffectiveConfig, problem: (path: string, message: string) => void) => void;

function hasNode(cfg: EffectiveConfig): boolean {
  return cfg.role === 'node' || (cfg.role === undefined && [...cfg.entries()].some(([p, s]) => p.startsWith('node.') && s.source !== 'default'));
}

function hasRelay(cfg: EffectiveConfig): boolean {
  return cfg.role === 'relay' || (cfg.role === undefined && [...cfg.entries()].some(([p, s]) => p.startsWith('relay.') && s.source !== 'default'));
}

/** node.relay and node.pin come as a pair (the required check covers a missing pair); each relay is listed once. */
function nodeRelayChecks(cfg: EffectiveConfig, problem: (path: string, message: string) => void): void {
  if (cfg.isSet('node.relay') !== cfg.isSet('node.pin')) {
    // Without node.relays the required check has named the missing one already.
    // Named by the one that was written, so the message points at what the user typed.
    if (cfg.isSet('node.relays')) problem(cfg.isSet('node.relay') ? 'node.relay' : 'node.pin', `${cfg.isSet('node.relay') ? 'has no node.pin (--pin)' : 'has no node.relay (--relay URL)'}: the two go together; a relay written wss://HOST:PORT#PIN in node.relays carries its own pins`);
    return;
  }
  if (!cfg.isSet('node.relay') && !cfg.isSet('node.relays')) return;
  const seen = new Set<string>();
  for (const r of relayListOf(cfg)) {
    const url = new URL(r.url).href;
    if (seen.has(url)) problem('node.relays', `lists ${r.url} twice (node.relay counts too); give each relay once, with all of its pins`);
    seen.add(url);
  }
}

const nodeChecks: CrossCheck = (cfg, problem) => {
  if (!hasNode(cfg)) return;
  nodeRelayChecks(cfg, problem);
  if (cfg.string('node.dev') === 'none') {
    for (const p of ['node.mtu', 'node.name']) if (cfg.isSet(p)) problem(p, 'configures a device; it makes no sense with node.dev none (--dev none)');
  }
  if (cfg.boolean('node.p2p.enabled') === false) {
    for (const p of ['node.p2p.port', 'node.p2p.listen']) if (cfg.isSet(p)) problem(p, 'sets the direct-path listener; it makes no sense with direct paths off (--no-direct, node.p2p.enabled false)');
  } else if (cfg.boolean('node.p2p.wss') === false) {
    if (cfg.boolean('node.p2p.udp') === false) problem('node.p2p.wss', 'false with node.p2p.udp false leaves direct paths no carrier; to stay on the relay say so (--no-direct, node.p2p.enabled false)');
    if (cfg.isSet('node.p2p.port')) problem('node.p2p.port', 'sets the TCP port of the WSS listener; it makes no sense with WSS direct paths off (--no-wss, node.p2p.wss false)');
  }
  const ms = (p: string): number => cfg.ms(p) ?? Number.NaN;
  const probe = ms('node.p2p.healthCheckInterval');
  const trust = ms('node.p2p.trustWindow');
  const dead = ms('node.p2p.deadTime');
  let ok = true;
  if (!(trust > probe)) { ok = false; problem('node.p2p.trustWindow', `must be longer than node.p2p.healthCheckInterval (${cfg.string('node.p2p.healthCheckInterval')}), or one late probe demotes the path`); }
  if (!(dead >= trust)) { ok = false; problem('node.p2p.deadTime', `must be at least node.p2p.trustWindow (${cfg.string('node.p2p.trustWindow')})`); }
  if (!(ms('node.p2p.retryMax') >= ms('node.p2p.retryInterval'))) { ok = false; problem('node.p2p.retryMax', `must be at least node.p2p.retryInterval (${cfg.string('node.p2p.retryInterval')})`); }
  if (ok) {
    try {
      resolvePathTimers(pathTimersOf(cfg));
    } catch (err) {
      problem('node.p2p', (err as Error).message);
    }
  }
};

const relayChecks: CrossCheck = (cfg, problem) => {
  if (!hasRelay(cfg)) return;
  if (cfg.isSet('relay.cert') !== cfg.isSet('relay.key')) problem(cfg.isSet('relay.cert') ? 'relay.key' : 'relay.cert', 'relay.cert and relay.key (--cert, --key) go together');
  if (cfg.isSet('relay.cert') && cfg.isSet('relay.tls.certLifetime')) problem('relay.tls.certLifetime', 'sets the lifetime of the self-signed certificate; an operator certificate (relay.cert) has its own validity');
  const heartbeat = cfg.ms('relay.heartbeat') ?? Number.NaN;
  const idle = cfg.ms('relay.idleTimeout') ?? Number.NaN;
  if (!(idle > heartbeat)) {
    problem('relay.idleTimeout', `must be longer than relay.heartbeat (${cfg.string('relay.heartbeat')}), or every member would time out between two PINGs`);
    return;
  }
  try {
    resolveRelayOptions(relayServerOptionsOf(cfg));
  } catch (err) {
    problem('relay', (err as Error).message);
  }
  try {
    clusterOf(cfg);
  } catch (err) {
    problem('relay.cluster', (err as Error).message);
  }
};

export const CROSS_CHECKS: readonly CrossCheck[] = [nodeChecks, relayChecks];
