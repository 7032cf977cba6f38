/**
 * opentelemetry's `access_logs.endpoint` (Kong Gateway 3.14; 3.13's `access_logs_endpoint`): one
 * OTLP LogRecord per request, its attributes those Kong documents for access logs ("API
 * transactional logs"), built from the request's log entry, the one http-log serializes
 * (src/lib/log/serializer.ts): credentials are already redacted there (`authorization`,
 * `proxy-authorization`, `cookie`, `apikey`, a credential plugin's key header and query
 * parameter, the response's `set-cookie` read `REDACTED`). Records go through Kong 3's queue (its
 * own, `opentelemetry:access_logs`) to the collector as OTLP/HTTP protobuf, after the response.
 * Kong's docs: access logs "typically don't have a severity"; they carry the request's trace and
 * span ids when the instance traces it.
 */
import type { DependencyHealth, GatewayRequest, LogEntry } from '../../index.ts';
import {
  DEFAULT_WORKSPACE,
  type KongLogEntry,
  LogQueue,
  type QueueConfig,
  queueHealth,
  serializeKong,
} from '../../lib/log/index.ts';
import type { HttpExporter } from '../../lib/tracing/index.ts';
import { type Attributes, hrTime, type LogTrace, sendLogRecords } from './logs.ts';
import type { Resource, Scope } from './spans.ts';

/** Header attributes a record carries, per direction (request, response): the first ones, in order. */
export const MAX_HEADER_ATTRIBUTES = 64;
/** Values of one header kept (a repeated header: `set-cookie`, `via`); the rest are left out. */
export const MAX_HEADER_VALUES = 16;
/** Characters of a header value kept in a record; a longer value is cut there. */
export const MAX_HEADER_VALUE_LENGTH = 1024;

/** One access log record in the shape @opentelemetry/otlp-transformer's logs serializer reads. */
class AccessLogRecord {
  readonly hrTime: [number, number];
  readonly hrTimeObserved: [number, number];
  // No severity and no body: Kong's access logs carry their content as attributes.
  readonly severityNumber = undefined;
  readonly severityText = undefined;
  readonly body = undefined;
  readonly droppedAttributesCount = 0;

  constructor(
    startedAt: number,
    readonly attributes: Attributes,
    readonly spanContext: LogTrace | undefined,
    readonly resource: Resource,
    readonly instrumentationScope: Scope,
  ) {
    this.hrTime = hrTime(startedAt);
    this.hrTimeObserved = hrTime(Date.now());
  }
}

export class OtlpAccessLogs {
  private queue: LogQueue<AccessLogRecord> | null = null;

  constructor(
    private readonly exporter: HttpExporter,
    private readonly queueConfig: QueueConfig,
    private readonly resource: Resource,
    private readonly scope: Scope,
    private readonly warn: (msg: string) => void,
  ) {}

  /** The request's record, after the response: it waits in the queue, never the client. */
  log(req: GatewayRequest, entry: LogEntry, trace: LogTrace | undefined): void {
    const kong = serializeKong(req, entry);
    this.queue ??= new LogQueue<AccessLogRecord>(
      'opentelemetry:access_logs',
      this.queueConfig,
      (batch) => this.send(batch),
      this.warn,
    );
    this.queue.add(
      new AccessLogRecord(kong.started_at, accessLogAttributes(req, kong), trace, this.resource, this.scope),
    );
  }

  private send(batch: AccessLogRecord[]): Promise<void> {
    return sendLogRecords(this.exporter, batch);
  }

  health(): DependencyHealth {
    return queueHealth('otlp_access_logs', this.exporter.label, this.queue as LogQueue<unknown> | null);
  }

  async close(): Promise<void> {
    await this.queue?.close();
    await this.exporter.close();
  }
}

/**
 * Kong's access log attributes that Tollgate has a value for (docs/plugins/opentelemetry.md lists
 * those left out). Sizes, statuses and ports are integers; latencies are integer milliseconds, the
 * unit of the same entry's `latencies` that Kong's log plugins send.
 */
export function accessLogAttributes(req: GatewayRequest, e: Readonly<KongLogEntry>): Attributes {
  const a: Attributes = {};
  a['client.address'] = e.client_ip;
  const uri = e.request.uri;
  const q = uri.indexOf('?');
  a['url.full'] = e.request.url;
  a['url.path'] = q < 0 ? uri : uri.slice(0, q);
  if (q >= 0) a['url.query'] = uri.slice(q + 1);
  const ua = req.headers['user-agent'];
  if (typeof ua === 'string') a['user_agent.original'] = cut(ua);
  a['http.request.method'] = e.request.method;
  a['http.request.size'] = e.request.size;
  headerAttributes(a, 'http.request.header.', e.request.headers);
  a['http.response.status_code'] = e.response.status;
  a['http.response.size'] = e.response.size;
  headerAttributes(a, 'http.response.header.', e.response.headers);
  a['kong.request.id'] = e.request.id;
  a['kong.request.started_at'] = e.started_at;
  // Kong's docs: `upstream` when the upstream service answered, `kong` otherwise.
  a['kong.response.source'] = e.source === 'upstream' ? 'upstream' : 'kong';
  a['kong.workspace.id'] = DEFAULT_WORKSPACE.id;
  a['kong.workspace.name'] = DEFAULT_WORKSPACE.name;
  a['kong.latency.total'] = e.latencies.request;
  a['kong.latency.internal'] = e.latencies.kong;
  if (e.latencies.proxy >= 0) {
    a['kong.latency.upstream'] = e.latencies.proxy;
    a['kong.latency.receive'] = e.latencies.receive;
  }
  const route = req.route;
  if (route !== null) {
    a['kong.route.id'] = route.id;
    if (route.name !== null) a['kong.route.name'] = route.name;
    if (route.paths !== null) a['kong.route.paths'] = route.paths;
    a['kong.route.tags'] = route.tags;
    a['kong.route.ws_id'] = DEFAULT_WORKSPACE.id;
    if (req.service !== null) a['kong.route.service.id'] = req.service.id;
  }
  const service = req.service;
  if (service !== null) {
    a['kong.service.id'] = service.id;
    if (service.name !== null) a['kong.service.name'] = service.name;
    a['kong.service.host'] = service.host;
    a['kong.service.port'] = service.port;
    a['kong.service.protocol'] = service.protocol;
    a['kong.service.tags'] = service.tags;
    a['kong.service.ws_id'] = DEFAULT_WORKSPACE.id;
  }
  if (e.upstream_status !== '') a['kong.upstream.status_code'] = Number(e.upstream_status);
  if (e.upstream_uri !== '') a['kong.upstream.uri'] = e.upstream_uri;
  if (req.credential !== null) a['kong.auth.type'] = req.credential.type;
  const consumer = e.consumer;
  if (consumer !== null) {
    a['kong.auth.consumer.id'] = consumer.id;
    if (consumer.username !== null) a['kong.auth.consumer.username'] = consumer.username;
    if (consumer.custom_id !== null) a['kong.auth.consumer.custom_id'] = consumer.custom_id;
  }
  const entity = e.authenticated_entity;
  if (entity !== null) {
    a['kong.auth.authenticated_entity.id'] = entity.id;
    if (entity.consumer_id !== null) a['kong.auth.authenticated_entity.consumer_id'] = entity.consumer_id;
  }
  return a;
}

/**
 * `<prefix><name>` for each header, as OpenTelemetry's semantic conventions write header
 * attributes (`http.request.header.<key>`: the lower-case name, the values as a string array):
 * at most MAX_HEADER_ATTRIBUTES headers, MAX_HEADER_VALUES values of each, each value cut at MAX_HEADER_VALUE_LENGTH characters.
 */
function headerAttributes(a: Attributes, prefix: string, headers: Readonly<Record<string, string | string[]>>): void {
  let n = 0;
  for (const name in headers) {
    if (n++ === MAX_HEADER_ATTRIBUTES) return;
    const v = headers[name]!;
    a[prefix + name] = typeof v === 'string' ? [cut(v)] : v.slice(0, MAX_HEADER_VALUES).map(cut);
  }
}

const cut = (v: string): string => (v.length > MAX_HEADER_VALUE_LENGTH ? v.slice(0, MAX_HEADER_VALUE_LENGTH) : v);
