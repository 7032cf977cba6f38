/**
 * Kong Gateway 3.13's OTLP metrics export (the opentelemetry plugin's `metrics` record): the `log`
 * phase counts each request into MetricAggregates, and every `push_interval` seconds the whole
 * aggregate goes to `metrics.endpoint` as an OTLP/HTTP protobuf ExportMetricsServiceRequest with
 * cumulative temporality. A failed push is not retried on its own: the next interval sends the
 * same cumulative values, grown, so a lost push loses nothing (OTLP's data model: a cumulative
 * point carries everything since its start time). The aggregate is shared across reloads of the
 * same instance (`services.shared`), so the sums do not restart at every config change.
 * The encoder (@opentelemetry/otlp-transformer) is loaded on the first push.
 */
import { createHash } from 'node:crypto';
import type { DependencyHealth, GatewayRequest, LogEntry, PluginContext } from '../../index.ts';
import { HttpExporter } from '../../lib/tracing/index.ts';
import {
  type Attributes,
  type Counter,
  type Histogram,
  MAX_SERIES,
  MetricAggregates,
  type MetricSwitches,
} from './metrics-series.ts';
import type { Resource, Scope } from './spans.ts';

export interface MetricsConfig {
  endpoint: string | null;
  push_interval: number;
  enable_request_metrics: boolean;
  enable_latency_metrics: boolean;
  enable_bandwidth_metrics: boolean;
  enable_upstream_health_metrics: boolean;
  enable_consumer_attribute: boolean;
  enable_ai_metrics: boolean;
}

export interface MetricsTarget {
  readonly headers: Readonly<Record<string, string>>;
  readonly connectTimeout: number;
  readonly sendTimeout: number;
  readonly readTimeout: number;
}

// The numbering @opentelemetry/sdk-metrics and @opentelemetry/api give the serializer (DataPointType,
// AggregationTemporality, ValueType): constants here so that the SDK is not loaded for them.
const HISTOGRAM = 0;
const SUM = 3;
const CUMULATIVE = 1;
const INT = 0;
const DOUBLE = 1;

type Serializer = { serializeRequest(metrics: unknown): Uint8Array | undefined };
let encoder: Promise<Serializer> | null = null;

function otlpEncoder(): Promise<Serializer> {
  encoder ??= import('@opentelemetry/otlp-transformer').then(
    (m) => m.ProtobufMetricsSerializer as unknown as Serializer,
  );
  return encoder;
}

/** [seconds, nanoseconds] from milliseconds since the epoch. */
function hrTime(ms: number): [number, number] {
  const s = Math.floor(ms / 1000);
  return [s, Math.min(999_999_999, Math.round((ms - s * 1000) * 1e6))];
}

export class MetricsExport {
  private readonly exporter: HttpExporter;
  private readonly switches: MetricSwitches;
  private readonly aggregates: MetricAggregates;
  private readonly intervalMs: number;
  private timer: NodeJS.Timeout | null = null;
  private pushing = false;
  private closed = false;
  private warnedFull = false;
  private pushes = 0;
  private failures = 0;
  private lastSuccessAt: number | null = null;
  private lastErrorAt: number | null = null;
  private lastError: string | null = null;

  constructor(
    config: MetricsConfig & { endpoint: string },
    target: MetricsTarget,
    private readonly resource: Resource,
    private readonly scope: Scope,
    private readonly context: PluginContext,
  ) {
    this.exporter = new HttpExporter({ url: config.endpoint, ...target }, 'application/x-protobuf');
    this.switches = {
      requests: config.enable_request_metrics,
      latency: config.enable_latency_metrics,
      bandwidth: config.enable_bandwidth_metrics,
      consumer: config.enable_consumer_attribute,
    };
    // A push at most every 100 ms, whatever push_interval says: the timer must not spin.
    this.intervalMs = Math.max(100, config.push_interval * 1000);
    // Kept across reloads while this instance stays the same: where it is, where it pushes, what
    // it counts (the headers as a digest: the key is never shown, but secrets stay out of it).
    const s = context.scope;
    const identity = createHash('sha256')
      .update(
        JSON.stringify([
          config.endpoint,
          target.headers,
          this.switches,
          s.route?.id ?? null,
          s.service?.id ?? null,
          s.consumer?.id ?? null,
        ]),
      )
      .digest('base64url');
    this.aggregates = context.services.shared(`opentelemetry:metrics:${identity}`, () => new MetricAggregates());
  }

  /** Where the metrics go, without credentials or query (for /status). */
  get label(): string {
    return this.exporter.label;
  }

  record(req: GatewayRequest, entry: LogEntry): void {
    if (this.closed) return;
    this.aggregates.record(req, entry, this.switches);
    if (this.timer === null) this.start();
    if (!this.warnedFull && this.aggregates.droppedSeries > 0) {
      this.warnedFull = true;
      this.context.log.warn(
        `opentelemetry: metrics hold ${MAX_SERIES} series, the most they keep: requests of new series are not counted`,
      );
    }
  }

  /** The push timer, from the first request counted: unref'd, the gateway's exit does not wait on it. */
  private start(): void {
    this.timer = setInterval(() => void this.push(), this.intervalMs);
    this.timer.unref();
  }

  /** One push of everything counted so far; skipped while the previous one is still under way. */
  async push(): Promise<void> {
    if (this.pushing || this.closed) return;
    this.pushing = true;
    try {
      const body = (await otlpEncoder()).serializeRequest(this.resourceMetrics(Date.now()));
      if (body === undefined) throw new Error('the OTLP encoder produced nothing');
      await this.exporter.send(body);
      this.pushes++;
      this.lastSuccessAt = Date.now();
    } catch (err) {
      this.failures++;
      this.lastErrorAt = Date.now();
      // The exporter's messages name a status or a system code, never the headers.
      this.lastError = err instanceof Error ? err.message : String(err);
    } finally {
      this.pushing = false;
    }
  }

  /** The aggregate as @opentelemetry/sdk-metrics' ResourceMetrics, which the serializer reads. */
  private resourceMetrics(now: number) {
    const a = this.aggregates;
    const metrics = [
      sum('http.server.request.count', 'Total number of incoming HTTP requests.', '{request}', a.requestCount, now),
      histogram(
        'kong.latency.total',
        'Complete end-to-end duration of a request in seconds.',
        's',
        a.latencyTotal,
        now,
      ),
      histogram(
        'kong.latency.internal',
        "Kong's internal processing time in seconds, from when the Gateway receives the request from the client to when it sends the request to the upstream service.",
        's',
        a.latencyInternal,
        now,
      ),
      histogram(
        'kong.latency.upstream',
        'Upstream processing time in seconds, from when the Gateway sends the request to the upstream, to when the data is returned to Kong.',
        's',
        a.latencyUpstream,
        now,
      ),
      histogram('http.server.request.size', 'Size of each incoming HTTP request in bytes.', 'By', a.requestSize, now),
      histogram(
        'http.server.response.size',
        'Total size of the HTTP response sent back to the client in bytes.',
        'By',
        a.responseSize,
        now,
      ),
    ].filter((m) => m.dataPoints.length > 0);
    return { resource: this.resource, scopeMetrics: [{ scope: this.scope, metrics }] };
  }

  health(): DependencyHealth {
    const ok = this.lastErrorAt === null || (this.lastSuccessAt !== null && this.lastSuccessAt >= this.lastErrorAt);
    return {
      kind: 'otlp_metrics',
      target: this.exporter.label,
      healthy: ok,
      lastSuccess: this.lastSuccessAt === null ? null : new Date(this.lastSuccessAt),
      lastError: ok ? null : this.lastError,
      lastErrorAt: this.lastErrorAt === null ? null : new Date(this.lastErrorAt),
      failures: this.failures,
      // Nothing waits in a queue (depth 0: a queue-depth alert must not fire on held series):
      // `sent` is the pushes delivered, `dropped` the series turned away past MAX_SERIES.
      queue: { depth: 0, sent: this.pushes, dropped: this.aggregates.droppedSeries },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.exporter.close();
  }
}

function sum(name: string, description: string, unit: string, family: Map<string, Counter>, now: number) {
  const end = hrTime(now);
  const dataPoints: {
    attributes: Attributes;
    startTime: [number, number];
    endTime: [number, number];
    value: number;
  }[] = [];
  for (const c of family.values()) {
    dataPoints.push({ attributes: c.attributes, startTime: hrTime(c.start), endTime: end, value: c.value });
  }
  return {
    descriptor: { name, description, unit, valueType: INT },
    dataPointType: SUM,
    aggregationTemporality: CUMULATIVE,
    isMonotonic: true,
    dataPoints,
  };
}

function histogram(name: string, description: string, unit: string, family: Map<string, Histogram>, now: number) {
  const end = hrTime(now);
  const dataPoints: unknown[] = [];
  for (const h of family.values()) {
    dataPoints.push({
      attributes: h.attributes,
      startTime: hrTime(h.start),
      endTime: end,
      value: {
        // Read as they are: the serializer runs synchronously, no request counts meanwhile.
        buckets: { boundaries: h.bounds, counts: h.counts },
        count: h.count,
        sum: h.sum,
        min: h.min,
        max: h.max,
      },
    });
  }
  return {
    descriptor: { name, description, unit, valueType: DOUBLE },
    dataPointType: HISTOGRAM,
    aggregationTemporality: CUMULATIVE,
    dataPoints,
  };
}
