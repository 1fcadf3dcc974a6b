/**
 * The DNS responder's Prometheus metrics (docs/configuration.md "Names"),
 * read at scrape time from its counters; absent responder: every series 0.
 *
 *   shadowmesh_dns_queries_total                 counter  queries received (UDP and TCP)
 *   shadowmesh_dns_answers_total{rcode}          counter  answered from the member directory: noerror / nxdomain / other (NOTIMP, FORMERR)
 *   shadowmesh_dns_forwarded_total{outcome}      counter  queries forwarded upstream: answered / failed (SERVFAIL sent) / busy (in-flight bound)
 *   shadowmesh_dns_truncated_total               counter  UDP answers sent empty with TC (too large for the client)
 *   shadowmesh_dns_drops_total{reason}           counter  packets dropped: malformed, not_query, short, oversize, tcp_limit
 */
import type { Registry } from 'prom-client';
import { byLabel, counterFrom } from './metrics-registry.js';
import type { ResponderStats } from '../names/dns-responder.js';
import type { ForwarderStats } from '../names/dns-forwarder.js';

export function registerNamesMetrics(registry: Registry, stats: () => ResponderStats | null, forwarder: () => ForwarderStats | null): void {
  counterFrom(registry, 'shadowmesh_dns_queries_total', 'DNS queries received by the names responder (UDP and TCP).', [], () => [[{}, stats()?.queries ?? 0]]);
  counterFrom(registry, 'shadowmesh_dns_answers_total', 'DNS queries answered from the member directory, by rcode.', ['rcode'], () => {
    const s = stats();
    return [[{ rcode: 'noerror' }, s?.answers ?? 0], [{ rcode: 'nxdomain' }, s?.nxdomain ?? 0], [{ rcode: 'other' }, s?.refusedQueries ?? 0]];
  });
  counterFrom(registry, 'shadowmesh_dns_forwarded_total', 'DNS queries for other names forwarded upstream, by outcome.', ['outcome'], () => {
    const f = forwarder();
    const s = stats();
    return [[{ outcome: 'answered' }, f?.answered ?? 0], [{ outcome: 'failed' }, s?.servfail ?? 0], [{ outcome: 'busy' }, f?.busy ?? 0]];
  });
  counterFrom(registry, 'shadowmesh_dns_truncated_total', 'UDP answers sent empty with TC set, too large for the client.', [], () => [[{}, stats()?.truncated ?? 0]]);
  counterFrom(registry, 'shadowmesh_dns_drops_total', 'DNS packets dropped by the names responder, by reason.', ['reason'], () => byLabel('reason', stats()?.drops ?? {}, {}));
}
