/**
 * shadowmesh_policy_drops_total{rule} (src/metrics/node-metrics.ts): the data
 * plane's policy drops, by rule name, read at scrape time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { registerNodeMetrics, type NodeMetricsSource } from '../../src/metrics/node-metrics.js';

test('policy drops appear per rule; no data plane, no series', async () => {
  let dataplane: NodeMetricsSource['node']['dataplane'] = { stats: { drops: {} }, policyDrops: () => ({ 'default-deny': 3, 'no-ssh': 1 }) };
  const source = {
    node: {
      link: { established: null, stats: { drops: {} } },
      peers: { drops: {} },
      paths: { stats: { migrations: { to_direct: 0, to_relay: 0 }, fallbacks: 0, retries: { ok: 0, failed: 0 }, drops: {} }, pathInfos: () => new Map(), on: () => undefined },
      get dataplane() { return dataplane; },
      peerList: () => [],
    },
    pinger: { drops: {} },
    chatService: { drops: {}, stats: { delivered: 0, acked: 0 } },
    chatInbox: { drops: {} },
  } as NodeMetricsSource;
  const registry = new Registry();
  registerNodeMetrics(registry, source);
  const text = await registry.getSingleMetricAsString('shadowmesh_policy_drops_total');
  assert.match(text, /shadowmesh_policy_drops_total\{rule="default-deny"\} 3/);
  assert.match(text, /shadowmesh_policy_drops_total\{rule="no-ssh"\} 1/);
  dataplane = null;
  assert.doesNotMatch(await registry.getSingleMetricAsString('shadowmesh_policy_drops_total'), /rule=/);
});
