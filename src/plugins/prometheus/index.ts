/**
 * prometheus (Kong priority 13). Tollgate collects metrics for every request whether or not this
 * plugin is configured, and serves them on the admin listener's `/metrics`; the plugin exists so a
 * Kong file with a prometheus entry loads unchanged; the metrics read `per_consumer` from the instance
 * that applies to each request.
 * It does no per-request work.
 */

import schema from '../../../schemas/plugins/prometheus.schema.json' with { type: 'json' };
import { definePlugin } from '../../index.ts';

export interface PrometheusConfig {
  per_consumer: boolean;
  status_code_metrics: boolean;
  latency_metrics: boolean;
  bandwidth_metrics: boolean;
  upstream_health_metrics: boolean;
  ai_metrics: boolean;
  wasm_metrics: boolean;
}

export default definePlugin<PrometheusConfig>({
  name: 'prometheus',
  version: '1.0.0',
  priority: 13,
  schema,
  // Kong's prometheus schema has no no_consumer: a file may scope it to a consumer (decK dumps do).
  // Its config is read by the metrics, from the instance that applies to each request.
  create() {
    return {};
  },
});
