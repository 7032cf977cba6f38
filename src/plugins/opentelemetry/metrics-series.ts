/**
 * The in-process aggregates behind Kong Gateway 3.13's OTLP metrics (developer.konghq.com's
 * otel-metrics list): cumulative counters and fixed-bucket histograms, one per series (a metric's
 * attribute values). Bounded: at most MAX_SERIES series per aggregate; a request that would open
 * one more is not counted in it, and `droppedSeries` says how many were turned away. A request
 * whose series exist costs one string key and a map lookup per metric family, then increments.
 */
import type { GatewayRequest, LogEntry } from '../../index.ts';

/** Series per aggregate (all metrics together): about 3 MB at the histograms' size. */
export const MAX_SERIES = 10_000;

/**
 * Kong's prometheus plugin's default latency buckets (DEFAULT_BUCKETS in its exporter.lua, in
 * milliseconds), in seconds: the unit of Kong's kong.latency.* metrics.
 */
export const LATENCY_BOUNDS: readonly number[] = [
  1, 2, 5, 7, 10, 15, 20, 30, 50, 75, 100, 200, 500, 750, 1000, 2000, 5000, 10000, 30000, 60000,
].map((ms) => ms / 1000);

/** Byte buckets of http.server.*.size: powers of 4 from 64 B to 64 MiB (Kong does not list its own). */
export const SIZE_BOUNDS: readonly number[] = [
  64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];

/**
 * The methods OpenTelemetry's HTTP semantic conventions name (RFC 9110's and PATCH); any other is
 * `_OTHER`, as those conventions require. Over HTTP/2 a client may send any token as a method, and
 * each would otherwise open a series of its own until the cap turned every new series away.
 */
const KNOWN_METHODS: ReadonlySet<string> = new Set([
  'CONNECT',
  'DELETE',
  'GET',
  'HEAD',
  'OPTIONS',
  'PATCH',
  'POST',
  'PUT',
  'TRACE',
]);

/** DB-less Kong's one workspace: the value of its kong.workspace.name attribute. */
const WORKSPACE = 'default';

export type Attributes = Record<string, string | number>;

export class Counter {
  value = 0;
  constructor(
    readonly attributes: Attributes,
    readonly start: number,
  ) {}
}

export class Histogram {
  readonly counts: number[];
  count = 0;
  sum = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;
  constructor(
    readonly attributes: Attributes,
    readonly start: number,
    readonly bounds: readonly number[],
  ) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  record(v: number): void {
    // OTLP's explicit buckets: bucket i holds bounds[i-1] < v <= bounds[i] (metrics.proto).
    let i = 0;
    const b = this.bounds;
    while (i < b.length && v > b[i]!) i++;
    this.counts[i]!++;
    this.count++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }
}

/** Which of Kong's metric families are on (its `metrics.enable_*` switches). */
export interface MetricSwitches {
  readonly requests: boolean;
  readonly latency: boolean;
  readonly bandwidth: boolean;
  readonly consumer: boolean;
}

/** One series family: its series by key. */
type Family<T> = Map<string, T>;

export class MetricAggregates {
  readonly requestCount: Family<Counter> = new Map();
  readonly latencyTotal: Family<Histogram> = new Map();
  readonly latencyInternal: Family<Histogram> = new Map();
  readonly latencyUpstream: Family<Histogram> = new Map();
  readonly requestSize: Family<Histogram> = new Map();
  readonly responseSize: Family<Histogram> = new Map();
  /** Series turned away because MAX_SERIES were held. */
  droppedSeries = 0;
  private series = 0;

  constructor(readonly maxSeries = MAX_SERIES) {}

  /** Counts one request in the families `on` enables. */
  record(req: GatewayRequest, entry: LogEntry, on: MetricSwitches): void {
    const service = req.service?.name ?? '';
    const route = req.route?.name ?? '';
    const consumer = on.consumer ? (req.consumer?.username ?? req.consumer?.custom_id ?? '') : '';
    const now = entry.startedAt;
    if (on.requests) {
      // Kong's kong.response.source: `upstream` when the upstream answered, `kong` otherwise (a
      // plugin's exit or the gateway's own error).
      const source = entry.source === 'upstream' ? 'upstream' : 'kong';
      const method = KNOWN_METHODS.has(req.method) ? req.method : '_OTHER';
      const key = `${service}\u0000${route}\u0000${consumer}\u0000${source}\u0000${method}\u0000${entry.status}`;
      let c = this.requestCount.get(key);
      if (c === undefined && this.admit()) {
        const attributes = this.routeAttributes(service, route, on.consumer ? consumer : null);
        attributes['kong.response.source'] = source;
        attributes['http.request.method'] = method;
        attributes['kong.response.status_code'] = entry.status;
        c = new Counter(attributes, now);
        this.requestCount.set(key, c);
      }
      // Turned away by the cap, the request is still counted in the other families' series.
      if (c !== undefined) c.value++;
    }
    if (on.latency) {
      const key = `${service}\u0000${route}`;
      const total = entry.latency / 1000;
      // Kong's KONG_PROXY_LATENCY (its kong.latency.internal): until the upstream was called, the
      // whole request when none was; as the log serializer's `latencies.kong`.
      const internal =
        entry.upstreamStartedAt >= 0
          ? Math.min(entry.latency, Math.max(0, entry.upstreamStartedAt - entry.startedAt)) / 1000
          : entry.upstreamLatency >= 0
            ? Math.max(0, entry.latency - entry.upstreamLatency) / 1000
            : total;
      this.histogram(this.latencyTotal, key, service, route, null, LATENCY_BOUNDS, now)?.record(total);
      this.histogram(this.latencyInternal, key, service, route, null, LATENCY_BOUNDS, now)?.record(internal);
      if (entry.upstreamLatency >= 0) {
        this.histogram(this.latencyUpstream, key, service, route, null, LATENCY_BOUNDS, now)?.record(
          entry.upstreamLatency / 1000,
        );
      }
    }
    if (on.bandwidth) {
      const key = `${service}\u0000${route}\u0000${consumer}`;
      const who = on.consumer ? consumer : null;
      this.histogram(this.requestSize, key, service, route, who, SIZE_BOUNDS, now)?.record(entry.bytesReceived);
      this.histogram(this.responseSize, key, service, route, who, SIZE_BOUNDS, now)?.record(entry.responseSize);
    }
  }

  private histogram(
    family: Family<Histogram>,
    key: string,
    service: string,
    route: string,
    consumer: string | null,
    bounds: readonly number[],
    now: number,
  ): Histogram | null {
    let h = family.get(key);
    if (h === undefined) {
      if (!this.admit()) return null;
      h = new Histogram(this.routeAttributes(service, route, consumer), now, bounds);
      family.set(key, h);
    }
    return h;
  }

  private admit(): boolean {
    if (this.series >= this.maxSeries) {
      this.droppedSeries++;
      return false;
    }
    this.series++;
    return true;
  }

  /**
   * Kong's attributes of a series: a request no route matched has no service or route, and the
   * attributes are then empty strings (a series still, so such requests are counted).
   */
  private routeAttributes(service: string, route: string, consumer: string | null): Attributes {
    const a: Attributes = { 'kong.service.name': service, 'kong.route.name': route };
    if (consumer !== null) a['kong.auth.consumer.name'] = consumer;
    a['kong.workspace.name'] = WORKSPACE;
    return a;
  }
}
