/**
 * opentelemetry's `logs_endpoint` (Kong OSS 3.8): the gateway's log lines as OTLP LogRecords,
 * through Kong 3's queue (its own, as Kong's `<name>:logs` queue) to the collector as OTLP/HTTP
 * protobuf. In the log phase, the lines written while the request was served, with Kong's
 * `request.id` attribute and, when this instance traced the request, its trace id, span id and
 * flags; lines outside any request at `warn` and above as they are written (Kong's worker logs,
 * which wait for the next request's log phase there). The encoder is loaded on the first export.
 */
import type { DependencyHealth, GatewayRequest } from '../../index.ts';
import {
  type CapturedLine,
  captureLogs,
  LogQueue,
  MAX_REQUEST_LINES,
  MAX_REQUEST_LOG_BYTES,
  type QueueConfig,
  queueHealth,
  takeRequestLines,
} from '../../lib/log/index.ts';
import type { HttpExporter } from '../../lib/tracing/index.ts';
import type { Resource, Scope } from './spans.ts';

export type Attributes = Record<string, string | number | boolean | readonly (string | number | boolean)[]>;

/** The trace context a request's records carry: Kong's tracing_context ids of the request. */
export interface LogTrace {
  /** 32 hex digits. */
  readonly traceId: string;
  /** 16 hex digits: the request's span, when it is sampled. */
  readonly spanId: string | undefined;
  /** W3C trace flags: 1 sampled. */
  readonly traceFlags: number;
}

/**
 * Kong's severities (its nginx levels mapped as kong/observability/otlp does) for pino's levels:
 * error is nginx's ERR, fatal its EMERG.
 */
const SEVERITY: Readonly<Record<number, readonly [number, string]>> = {
  10: [1, 'TRACE'],
  20: [5, 'DEBUG'],
  30: [9, 'INFO'],
  40: [13, 'WARN'],
  50: [17, 'ERR'],
  60: [23, 'EMERG'],
};

/** [seconds, nanoseconds] from milliseconds since the epoch. */
export function hrTime(ms: number): [number, number] {
  const s = Math.floor(ms / 1000);
  return [s, Math.min(999_999_999, Math.round((ms - s * 1000) * 1e6))];
}

/** One LogRecord in the shape @opentelemetry/otlp-transformer's logs serializer reads (ReadableLogRecord). */
export class OtlpLogRecord {
  readonly hrTime: [number, number];
  readonly hrTimeObserved: [number, number];
  readonly severityNumber: number;
  readonly severityText: string;
  readonly droppedAttributesCount = 0;

  constructor(
    time: number,
    level: number,
    readonly body: string,
    readonly attributes: Attributes,
    readonly spanContext: LogTrace | undefined,
    readonly resource: Resource,
    readonly instrumentationScope: Scope,
  ) {
    this.hrTime = this.hrTimeObserved = hrTime(time);
    const severity = SEVERITY[level] ?? SEVERITY[30]!;
    this.severityNumber = severity[0];
    this.severityText = severity[1];
  }
}

type Serializer = { serializeRequest(records: unknown[]): Uint8Array | undefined };
let encoder: Promise<Serializer> | null = null;

/** The OTLP logs encoder, imported once, on the first export of any logs or access-logs queue. */
function logsEncoder(): Promise<Serializer> {
  encoder ??= import('@opentelemetry/otlp-transformer').then((m) => m.ProtobufLogsSerializer as unknown as Serializer);
  return encoder;
}

/** The plugin's own lines (its exporters' failures) are not exported: through a failing collector they would loop. */
const SELF = 'opentelemetry';

/** A batch of log records (the gateway's lines or access logs), encoded and sent to the collector. */
export async function sendLogRecords(exporter: HttpExporter, batch: readonly object[]): Promise<void> {
  const body = (await logsEncoder()).serializeRequest(batch as unknown[]);
  if (body === undefined) throw new Error('the OTLP encoder produced nothing');
  await exporter.send(body);
}

export class OtlpLogs {
  private queue: LogQueue<OtlpLogRecord> | null = null;
  private release: (() => void) | null = null;

  constructor(
    private readonly exporter: HttpExporter,
    private readonly queueConfig: QueueConfig,
    private readonly resource: Resource,
    private readonly scope: Scope,
    private readonly warn: (msg: string) => void,
  ) {}

  /** Starts capturing when the instance serves traffic (never for `gateway validate`). */
  open(): void {
    this.release ??= captureLogs(this.exporter.label, (line) => {
      if (line.plugin !== SELF) this.add(record(line, undefined, undefined, this.resource, this.scope));
    });
  }

  /** The request's lines, after the response: they wait in the queue, never the client. */
  log(req: GatewayRequest, trace: LogTrace | undefined): void {
    const taken = takeRequestLines(req);
    if (taken === null) return;
    for (const line of taken.lines) {
      if (line.plugin === SELF) continue;
      this.add(record(line, req.id, trace, this.resource, this.scope));
    }
    if (taken.dropped > 0) {
      const note = `opentelemetry: ${taken.dropped} more log lines of this request were not exported (at most ${MAX_REQUEST_LINES} lines and ${MAX_REQUEST_LOG_BYTES} bytes of text a request)`;
      this.add(new OtlpLogRecord(Date.now(), 40, note, { 'request.id': req.id }, trace, this.resource, this.scope));
    }
  }

  private add(rec: OtlpLogRecord): void {
    this.queue ??= new LogQueue<OtlpLogRecord>(
      'opentelemetry:logs',
      this.queueConfig,
      (batch) => this.send(batch),
      this.warn,
    );
    this.queue.add(rec);
  }

  private send(batch: OtlpLogRecord[]): Promise<void> {
    return sendLogRecords(this.exporter, batch);
  }

  health(): DependencyHealth {
    return queueHealth('otlp_logs', this.exporter.label, this.queue as LogQueue<unknown> | null);
  }

  async close(): Promise<void> {
    this.release?.();
    this.release = null;
    await this.queue?.close();
    await this.exporter.close();
  }
}

/** A captured line as a record: Kong's `request.id` and `plugin.name` attributes, then the line's fields. */
function record(
  line: CapturedLine,
  requestId: string | undefined,
  trace: LogTrace | undefined,
  resource: Resource,
  scope: Scope,
): OtlpLogRecord {
  const attributes: Attributes = {};
  for (const k in line.fields) attributes[k] = line.fields[k]!;
  // A gateway line about a request outside its scope (a log-phase failure) names it in request_id.
  const id = requestId ?? line.fields.request_id;
  if (id !== undefined) attributes['request.id'] = id;
  if (line.plugin !== null) attributes['plugin.name'] = line.plugin;
  return new OtlpLogRecord(line.time, line.level, line.msg, attributes, trace, resource, scope);
}
