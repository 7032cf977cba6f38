/**
 * The counters behind the Prometheus metrics: label values (Kong's), the per-route series that
 * requests bump, their latency histograms, and the collectors that read them at scrape time.
 */
import type { Registry } from 'prom-client';

/**
 * Kong 3's prometheus buckets (milliseconds): KONG_LATENCY_BUCKETS for `kong_kong_latency_ms`,
 * UPSTREAM_LATENCY_BUCKETS for `kong_upstream_latency_ms` and `kong_request_latency_ms`. Kong 2's
 * single DEFAULT_BUCKETS list is gone since 3.0: alerts and recording rules written against Kong's
 * `le` values find no series with other boundaries.
 */
export const GATEWAY_LATENCY_BUCKETS: readonly number[] = [
  1, 2, 5, 7, 10, 15, 20, 30, 50, 75, 100, 200, 500, 750, 1000, 3000, 6000,
];
export const UPSTREAM_LATENCY_BUCKETS: readonly number[] = [
  25, 50, 80, 100, 250, 400, 700, 1000, 2000, 5000, 10000, 30000, 60000,
];

export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];
export const METHOD_OTHER = METHODS.length;
export const METHOD_LABEL = [...METHODS, 'OTHER'];
export const METHOD_INDEX: ReadonlyMap<string, number> = new Map(METHODS.map((m, i) => [m, i]));
/**
 * Kong's `source` label: `service` when kong.response.get_source() says the upstream answered,
 * `kong` for everything else (a plugin's exit and the gateway's errors alike), as Kong's exporter
 * folds them; dashboards and alerts filter on `source="kong"`.
 */
export const SOURCE_LABEL = ['service', 'kong'] as const;
/** Upstream failures, by kind (from the request error's system `cause`); the `error` label takes only these values. */
export const UPSTREAM_ERROR_KIND: ReadonlyMap<string, number> = new Map([
  ['ECONNREFUSED', 0],
  ['UND_ERR_CONNECT_TIMEOUT', 1],
  ['ECONNRESET', 2],
  ['UND_ERR_SOCKET', 2],
  ['EPIPE', 2],
  ['UND_ERR_CLOSED', 2],
  ['UND_ERR_HEADERS_TIMEOUT', 3],
  ['UND_ERR_BODY_TIMEOUT', 3],
  ['ENOTFOUND', 4],
  ['EAI_AGAIN', 4],
  ['EHOSTUNREACH', 5],
  ['ENETUNREACH', 5],
]);
export const UPSTREAM_ERROR_LABEL = [
  'connection_refused',
  'connect_timeout',
  'connection_reset',
  'read_timeout',
  'dns',
  'unreachable',
  'other',
];
export const UPSTREAM_ERROR_OTHER = UPSTREAM_ERROR_LABEL.length - 1;
/** Codes the gateway sets on `rc.error` that are not upstream failures. */
export const NOT_UPSTREAM = new Set(['CLIENT_CLOSED', 'PLUGIN_FAILED', 'PLUGIN_TIMEOUT', 'REQUEST_TIMEOUT']);

export class Histo {
  readonly buckets: readonly number[];
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(buckets: readonly number[]) {
    this.buckets = buckets;
    this.counts = new Float64Array(buckets.length + 1);
  }
  observe(v: number): void {
    const buckets = this.buckets;
    let lo = 0;
    let hi = buckets.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (v <= buckets[mid]!) hi = mid;
      else lo = mid + 1;
    }
    this.counts[lo]!++;
    this.sum += v;
    this.count++;
  }
}

/** Counters of one consumer (or of everyone, when per_consumer is off) on one route. */
export class Counts {
  /** (status * 16 + method) * 4 + source → requests. */
  readonly requests = new Map<number, number>();
  ingress = 0;
  egress = 0;
}

/** Everything counted for one (service, route) label pair; survives reloads so counters stay monotonic. */
export class Series {
  readonly service: string;
  readonly route: string;
  readonly all = new Counts();
  byConsumer: Map<string, Counts> | null = null;
  readonly request = new Histo(UPSTREAM_LATENCY_BUCKETS);
  readonly upstream = new Histo(UPSTREAM_LATENCY_BUCKETS);
  readonly gateway = new Histo(GATEWAY_LATENCY_BUCKETS);
  readonly upstreamErrors = new Float64Array(UPSTREAM_ERROR_LABEL.length);
  constructor(service: string, route: string) {
    this.service = service;
    this.route = route;
  }
}

export interface MetricJson {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  aggregator: 'sum' | 'max' | 'min' | 'first' | 'omit' | 'average';
  values: { value: number; labels: Record<string, string | number>; metricName?: string }[];
}

/** A prom-client metric whose values are computed at scrape time. */
export function collector(
  registry: Registry,
  name: string,
  help: string,
  type: MetricJson['type'],
  values: () => MetricJson['values'],
  aggregator: MetricJson['aggregator'] = 'sum',
): void {
  const metric = {
    name,
    help,
    type,
    aggregator,
    get: (): MetricJson => ({ name, help, type, aggregator, values: values() }),
  };
  registry.registerMetric(metric as never);
}

export function pushRequests(out: MetricJson['values'], s: Series, c: Counts, consumer: string): void {
  for (const [key, value] of c.requests) {
    const source = key & 3;
    const method = (key >> 2) & 15;
    const code = Math.floor(key / 64);
    out.push({
      labels: {
        service: s.service,
        route: s.route,
        method: METHOD_LABEL[method]!,
        code,
        source: SOURCE_LABEL[source]!,
        consumer,
      },
      value,
    });
  }
}

export function pushBandwidth(out: MetricJson['values'], s: Series, c: Counts, consumer: string): void {
  if (c.ingress === 0 && c.egress === 0) return;
  out.push({ labels: { service: s.service, route: s.route, direction: 'ingress', consumer }, value: c.ingress });
  out.push({ labels: { service: s.service, route: s.route, direction: 'egress', consumer }, value: c.egress });
}
