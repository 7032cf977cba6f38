/**
 * The `opentelemetry` plugin: Kong 3's opentelemetry. In `access` it reads the client's trace
 * context (W3C `traceparent` by default; B3, Jaeger, OT as configured), decides sampling (a
 * client's "not sampled", else `sampling_rate` by the trace id, as Kong's tracer) and writes the
 * context on the upstream request, with the gateway's upstream-call span as the parent the
 * upstream sees. In `log`, a sampled request's spans
 * (the request, the upstream call, plugin steps that waited on I/O) go through Kong 3's queue to
 * `traces_endpoint` as OTLP/HTTP protobuf, after the response, never delaying it.
 * An unsampled request costs the header lookups and two span ids: no span object is built.
 * With `logs_endpoint` (Kong OSS 3.8), the gateway's log lines go to the collector too (logs.ts).
 * With `metrics.endpoint` (Kong Gateway 3.13), `log` also counts every request into the metrics
 * pushed to it every `push_interval` seconds (metrics-export.ts).
 * With `access_logs.endpoint` (Kong Gateway 3.14), `log` sends one OTLP LogRecord per request
 * (access-logs.ts).
 * The OTLP encoder (@opentelemetry/otlp-transformer) is loaded on the first export.
 */
import { hostname } from 'node:os';
import schema from '../../../schemas/plugins/opentelemetry.schema.json' with { type: 'json' };
import type {
  DependencyHealth,
  GatewayRequest,
  GatewayResponse,
  LogEntry,
  PluginConfigIssue,
  PluginContext,
  PluginHandlers,
} from '../../index.ts';
import { configuredRequestHeaders, definePlugin, nodeId, PluginConfigError, VERSION } from '../../index.ts';
import { HTTP_PROTOCOLS } from '../../lib/kong-config.ts';
import { LogQueue, type QueueConfig, queueHealth } from '../../lib/log/index.ts';
import {
  HttpExporter,
  Propagation,
  type PropagationRecord,
  propagate,
  type RequestTrace,
  requestTrace,
  sampledByTraceId,
  traceId128,
} from '../../lib/tracing/index.ts';
import { OtlpAccessLogs } from './access-logs.ts';
import { envResourceAttributes } from './env-resource.ts';
import { type LogTrace, OtlpLogs } from './logs.ts';
import { type MetricsConfig, MetricsExport } from './metrics-export.ts';
import { type OtlpSpan, type Resource, requestSpans, type Scope } from './spans.ts';

export interface OpenTelemetryConfig {
  traces_endpoint: string | null;
  endpoint?: string | null;
  logs_endpoint: string | null;
  headers: Record<string, string> | null;
  resource_attributes: Record<string, string> | null;
  queue: QueueConfig;
  batch_span_count: number | null;
  batch_flush_delay: number | null;
  connect_timeout: number;
  send_timeout: number;
  read_timeout: number;
  http_response_header_for_traceid: string | null;
  header_type: string;
  sampling_rate: number | null;
  propagation: PropagationRecord;
  metrics: MetricsConfig | null;
  /** Kong Gateway 3.14's access log export (`custom_attributes_by_lua` loads only empty). */
  access_logs: { endpoint: string | null } | null;
  /** Kong Gateway 3.13's name of `access_logs.endpoint`, deprecated in 3.14. */
  access_logs_endpoint: string | null;
}

/** A Kong template expression in a value (Kong's own test for one: `%$%(.*%)`). */
const TEMPLATE = /\$\(.*\)/s;

/** Per request, in `req.ctx`: the trace when this plugin sampled it, false when it did not. */
const SAMPLED = 'opentelemetry.sampled';

type Serializer = { serializeRequest(spans: unknown[]): Uint8Array | undefined };
let encoder: Promise<Serializer> | null = null;

/** The OTLP encoder, imported once, on the first export of any instance. */
function otlpEncoder(): Promise<Serializer> {
  encoder ??= import('@opentelemetry/otlp-transformer').then((m) => m.ProtobufTraceSerializer as unknown as Serializer);
  return encoder;
}

class OpenTelemetry implements PluginHandlers {
  private readonly propagation: Propagation;
  private readonly rate: number;
  /** Null for a logs-only instance, which neither reads nor writes trace context (Kong's handler). */
  private readonly exporter: HttpExporter | null;
  private readonly logs: OtlpLogs | null;
  /** Kong Gateway 3.14's access logs, when `access_logs.endpoint` is set (access-logs.ts). */
  private readonly accessLogs: OtlpAccessLogs | null;
  /** Kong Gateway 3.13's `metrics` export, when `metrics.endpoint` is set (metrics-export.ts). */
  private readonly metrics: MetricsExport | null = null;
  private readonly queueConfig: QueueConfig;
  private readonly resource: Resource;
  private readonly scope: Scope = { name: 'tollgate', version: VERSION };
  private readonly traceHeader: string | null;
  private queue: LogQueue<OtlpSpan> | null = null;
  /** Only with traces_endpoint: Kong's access handler traces only then. */
  readonly access?: (req: GatewayRequest) => void;
  /** Only when `http_response_header_for_traceid` is set: a response handler costs every request. */
  readonly response?: (req: GatewayRequest, res: GatewayResponse) => void;

  constructor(
    config: OpenTelemetryConfig,
    private readonly warn: (msg: string, field?: string) => void,
    context: PluginContext,
  ) {
    const endpoint = config.traces_endpoint ?? config.endpoint ?? null;
    const logsEndpoint = config.logs_endpoint ?? null;
    const metrics = config.metrics?.endpoint != null ? config.metrics : null;
    const accessLogsEndpoint = config.access_logs?.endpoint ?? config.access_logs_endpoint ?? null;
    // Kong's entity check: at_least_one_of traces_endpoint, logs_endpoint; Kong Gateway 3.13 also
    // takes an instance that only pushes metrics (its documented metrics example sets nothing else)
    // and 3.14 one that only sends access logs (its transactional-logs example).
    if (endpoint === null && logsEndpoint === null && metrics === null && accessLogsEndpoint === null) {
      throw new PluginConfigError(
        'traces_endpoint',
        "at least one of these fields must be non-empty: 'traces_endpoint', 'logs_endpoint', 'metrics.endpoint', 'access_logs.endpoint'",
      );
    }
    // Kong's schema deprecations, with its messages: the `endpoint` shorthand whenever it is set,
    // `header_type` when it is not its old default.
    if (config.endpoint != null) {
      warn('OpenTelemetry: config.endpoint is deprecated, please use config.traces_endpoint instead', 'endpoint');
    }
    if (config.access_logs_endpoint != null) {
      warn(
        'opentelemetry: config.access_logs_endpoint is deprecated, please use config.access_logs.endpoint instead',
        'access_logs_endpoint',
      );
    }
    if (config.header_type != null && config.header_type !== 'preserve') {
      warn(
        'opentelemetry: config.header_type is deprecated, please use config.propagation options instead',
        'header_type',
      );
    }
    const headers = configuredRequestHeaders(config.headers, warn);
    this.propagation = new Propagation(config);
    // Kong falls back to kong.conf's tracing_sampling_rate; Tollgate has none, so unset means every request.
    this.rate = config.sampling_rate ?? 1;
    const exporter = (url: string) =>
      new HttpExporter(
        {
          url,
          headers,
          connectTimeout: config.connect_timeout,
          sendTimeout: config.send_timeout,
          readTimeout: config.read_timeout,
        },
        'application/x-protobuf',
      );
    this.exporter = endpoint === null ? null : exporter(endpoint);
    // Kong's Queue.get_plugin_params: a deprecated batch setting other than its old default (200
    // spans, 3 s) still sets the queue, with Kong's warning; the old default leaves the queue's.
    this.queueConfig = { ...config.queue };
    if (config.batch_span_count != null && config.batch_span_count !== 200) {
      this.queueConfig.max_batch_size = config.batch_span_count;
      warn(
        'the batch_span_count parameter is deprecated, please update your configuration to use queue.max_batch_size instead',
        'batch_span_count',
      );
    }
    if (config.batch_flush_delay != null && config.batch_flush_delay !== 3) {
      this.queueConfig.max_coalescing_delay = config.batch_flush_delay;
      warn(
        'the batch_flush_delay parameter is deprecated, please update your configuration to use queue.max_coalescing_delay instead',
        'batch_flush_delay',
      );
    }
    // Kong renders a value like `$(headers.host)` as a template (Lua, with untrusted_lua on) from
    // the last request queued before each export (its queue keeps the latest handler conf);
    // Tollgate renders none. Sent as written without a word, the collector got `$(headers.host)`
    // for a host name and nothing said why.
    for (const name in config.resource_attributes ?? {}) {
      if (TEMPLATE.test(config.resource_attributes![name]!)) {
        warn(
          `opentelemetry: resource_attributes.${name} is a Kong template ($(...)), which Tollgate does not render: it is sent as written`,
          'resource_attributes',
        );
      }
    }
    // Kong Gateway 3.15 reads OTEL_RESOURCE_ATTRIBUTES beneath the config's resource_attributes.
    const env = envResourceAttributes(process.env.OTEL_RESOURCE_ATTRIBUTES);
    if ('error' in env) warn(`opentelemetry: OTEL_RESOURCE_ATTRIBUTES is ignored: ${env.error}`, 'resource_attributes');
    this.resource = {
      attributes: {
        'service.name': 'kong',
        'service.version': VERSION,
        'service.instance.id': hostname(),
        ...('attributes' in env ? env.attributes : {}),
        ...(config.resource_attributes ?? {}),
      },
    };
    // Kong's log queue is its traces queue's settings under another name (`<name>:logs`).
    this.logs =
      logsEndpoint === null
        ? null
        : new OtlpLogs(exporter(logsEndpoint), this.queueConfig, this.resource, this.scope, (msg) => warn(msg));
    // Its own queue, with the traces queue's settings as Kong's logs queue (`<name>:access_logs`).
    this.accessLogs =
      accessLogsEndpoint === null
        ? null
        : new OtlpAccessLogs(exporter(accessLogsEndpoint), this.queueConfig, this.resource, this.scope, (msg) =>
            warn(msg),
          );
    if (metrics !== null) {
      // The traces' resource, with the node id as service.instance.id unless the operator set one:
      // each gateway's cumulative series stay apart (process.pid parts the workers of one node).
      const own =
        config.resource_attributes?.['service.instance.id'] ??
        ('attributes' in env ? env.attributes['service.instance.id'] : undefined);
      const resource = {
        attributes: { ...this.resource.attributes, 'service.instance.id': own ?? nodeId(), 'process.pid': process.pid },
      };
      const target = {
        headers,
        connectTimeout: config.connect_timeout,
        sendTimeout: config.send_timeout,
        readTimeout: config.read_timeout,
      };
      this.metrics = new MetricsExport(
        { ...metrics, endpoint: metrics.endpoint! },
        target,
        resource,
        this.scope,
        context,
      );
    }
    this.traceHeader = config.http_response_header_for_traceid?.toLowerCase() ?? null;
    if (this.exporter === null) return;
    this.access = this.traceRequest;
    if (this.traceHeader !== null) this.response = this.answerTraceId;
  }

  open(): void {
    this.logs?.open();
  }

  private traceRequest(req: GatewayRequest): void {
    const trace = requestTrace(req, this.propagation);
    const isSampled = sampledByTraceId(trace, this.rate);
    req.ctx[SAMPLED] = isSampled ? trace : false;
    propagate(req, this.propagation, trace, isSampled);
  }

  /** Kong's header_filter sets it on every answer, sampled or not: the id the upstream was given. */
  private answerTraceId(req: GatewayRequest, res: GatewayResponse): void {
    res.setHeader(this.traceHeader!, traceId128(requestTrace(req, this.propagation).traceId));
  }

  log(req: GatewayRequest, entry: LogEntry): void {
    this.metrics?.record(req, entry);
    if (this.exporter === null) {
      this.logs?.log(req, undefined);
      this.accessLogs?.log(req, entry, undefined);
      return;
    }
    const sampled = this.traceSpans(req, entry);
    if (this.logs === null && this.accessLogs === null) return;
    const trace = this.logTrace(req, sampled);
    this.logs?.log(req, trace);
    this.accessLogs?.log(req, entry, trace);
  }

  /** A sampled request's spans to the queue; its trace, or null when it is not sampled. */
  private traceSpans(req: GatewayRequest, entry: LogEntry): RequestTrace | null {
    const decided = req.ctx[SAMPLED] as RequestTrace | false | undefined;
    if (decided === false) return null;
    let trace = decided;
    if (trace === undefined) {
      // An earlier plugin answered before this one's access handler ran (key-auth's 401, say):
      // the request is still traced, as the client's context or the sampler decide.
      trace = requestTrace(req, this.propagation);
      if (!sampledByTraceId(trace, this.rate)) return null;
    }
    this.queue ??= new LogQueue<OtlpSpan>('opentelemetry', this.queueConfig, (batch) => this.send(batch), this.warn);
    for (const span of requestSpans(req, entry, trace, this.resource, this.scope)) this.queue.add(span);
    return trace;
  }

  /**
   * The ids a traced request's log records carry (Kong's tracing_context): its trace id, sampled
   * or not (the one the upstream was given), and the request's span id when sampled.
   */
  private logTrace(req: GatewayRequest, sampled: RequestTrace | null): LogTrace {
    if (sampled !== null) return { traceId: traceId128(sampled.traceId), spanId: sampled.spanId, traceFlags: 1 };
    return { traceId: traceId128(requestTrace(req, this.propagation).traceId), spanId: undefined, traceFlags: 0 };
  }

  private async send(batch: OtlpSpan[]): Promise<void> {
    const body = (await otlpEncoder()).serializeRequest(batch);
    if (body === undefined) throw new Error('the OTLP encoder produced nothing');
    await this.exporter!.send(body);
  }

  health(): DependencyHealth[] {
    const out: DependencyHealth[] = [];
    if (this.exporter !== null) {
      out.push(queueHealth('otlp_traces', this.exporter.label, this.queue as LogQueue<unknown> | null));
    }
    if (this.logs !== null) out.push(this.logs.health());
    if (this.accessLogs !== null) out.push(this.accessLogs.health());
    if (this.metrics !== null) out.push(this.metrics.health());
    return out;
  }

  async close(): Promise<void> {
    // Log capture stops at once (the release is synchronous): a line written while the queues
    // flush goes to the next config's instance, not to this one's closing queue.
    const logs = this.logs?.close();
    await this.queue?.close();
    await this.exporter?.close();
    await this.metrics?.close();
    await this.accessLogs?.close();
    await logs;
  }
}

/**
 * Kong Gateway's fields past Kong OSS's opentelemetry: their defaults, which decK dumps write, are
 * what Tollgate does and load; a value asking for more is refused at its field, with the way out.
 */
function configIssues(config: Readonly<Record<string, unknown>>): PluginConfigIssue[] {
  const issues: PluginConfigIssue[] = [];
  if (config.sampling_strategy === 'parent_probability_fallback') {
    issues.push({
      at: ['sampling_strategy'],
      message:
        "sampling_strategy: parent_probability_fallback (Kong Gateway 3.11, Enterprise) is not implemented: it traces every request whose client says sampled; Tollgate samples as Kong's default, parent_drop_probability_fallback: a client's not-sampled is honoured and sampling_rate decides the rest: remove the field, or set sampling_rate: 1 to trace every request a client does not drop",
      severity: 'error',
    });
  }
  const lua = member(config.access_logs, 'custom_attributes_by_lua');
  if (lua !== null && typeof lua === 'object' && Object.keys(lua).length > 0) {
    issues.push({ at: ['access_logs', 'custom_attributes_by_lua'], message: LUA_REFUSED, severity: 'error' });
  }
  return issues;
}

const LUA_REFUSED =
  "access_logs.custom_attributes_by_lua runs Lua code, which Tollgate cannot run: remove it (http-log's custom_fields adds $(headers.NAME)-style fields to each request's entry: docs/logging.md)";

/** `record[name]` of a config record as written (anything, or absent), or null. */
function member(record: unknown, name: string): unknown {
  if (record === null || typeof record !== 'object' || Array.isArray(record)) return null;
  return (record as Record<string, unknown>)[name] ?? null;
}

export default definePlugin<OpenTelemetryConfig>({
  name: 'opentelemetry',
  version: '1.0.0',
  // Kong's priority for opentelemetry.
  priority: 14,
  schema,
  protocols: HTTP_PROTOCOLS,
  configIssues,
  create(config, context) {
    // context.warn locates a warning given while created at its field, and only logs afterwards.
    return new OpenTelemetry(config, context.warn, context);
  },
});
