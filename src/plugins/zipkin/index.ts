/**
 * The `zipkin` plugin: Kong 3's zipkin. In `access` it reads the client's trace context (B3 by
 * default, W3C, Jaeger, OT as configured; Kong's legacy `header_type`/`default_header_type` or the
 * `propagation` record), decides sampling (the client's decision, else `sample_ratio`) and writes
 * the context upstream, with the gateway's proxy span as the parent the upstream sees. In `log`, a
 * sampled request's Zipkin v2 spans (the request, SERVER; the proxied call, CLIENT) are posted as
 * JSON to `http_endpoint` through Kong 3's queue, after the response, never delaying it.
 */
import { STATUS_CODES } from 'node:http';
import schema from '../../../schemas/plugins/zipkin.schema.json' with { type: 'json' };
import type {
  DependencyHealth,
  GatewayRequest,
  GatewayResponse,
  LogEntry,
  PluginHandlers,
  PluginLogger,
} from '../../index.ts';
import { definePlugin, headerLines, PluginConfigError } from '../../index.ts';
import { LogQueue, type QueueConfig, queueHealth, RepeatedWarning } from '../../lib/log/index.ts';
import {
  CollectorAnswer,
  HttpExporter,
  Propagation,
  type PropagationRecord,
  propagate,
  type RequestTrace,
  requestTrace,
  sampled,
  socketReason,
} from '../../lib/tracing/index.ts';
import { requestTags, type ZipkinSpan, zipkinSpans } from './spans.ts';

export interface ZipkinConfig {
  local_service_name: string;
  http_endpoint: string | null;
  sample_ratio: number;
  default_service_name: string | null;
  include_credential: boolean;
  traceid_byte_count: 8 | 16;
  header_type: string;
  default_header_type: string;
  tags_header: string;
  static_tags: { name: string; value: string }[] | null;
  http_span_name: 'method' | 'method_path';
  connect_timeout: number;
  send_timeout: number;
  read_timeout: number;
  http_response_header_for_traceid: string | null;
  phase_duration_flavor: 'annotations' | 'tags';
  queue: QueueConfig;
  propagation: PropagationRecord;
}

/** Per request, in `req.ctx`: the trace when this plugin sampled it, false when it did not. */
const SAMPLED = 'zipkin.sampled';
/** When this plugin's access handler ran (epoch ms): where Kong's proxy span starts. */
const ACCESS_AT = 'zipkin.access_at';
/**
 * The client's port, read in `access`: an HTTP/2 stream's socket is gone by the log phase, and
 * Kong's request span names the port over HTTP/2 too.
 */
const CLIENT_PORT = 'zipkin.client_port';

class Zipkin implements PluginHandlers {
  private readonly propagation: Propagation;
  private readonly exporter: HttpExporter | null;
  private readonly tagsHeader: string;
  private readonly traceHeader: string | null;
  private queue: LogQueue<ZipkinSpan> | null = null;
  /**
   * Kong's handler warns `Could not parse the following Zipkin tags: ...` on each request whose
   * tags_header has pairs its grammar refuses; a client can send them on every request, so here at
   * most once a second, with the count held back.
   */
  private readonly badTags: RepeatedWarning;
  /** Only when `http_response_header_for_traceid` is set: a response handler costs every request. */
  readonly response?: (req: GatewayRequest, res: GatewayResponse) => void;

  constructor(
    private readonly config: ZipkinConfig,
    private readonly warn: (msg: string, field?: string) => void,
    log: PluginLogger,
  ) {
    this.badTags = new RepeatedWarning(log, 'Could not parse the following Zipkin tags');
    const names = new Set<string>();
    for (const t of config.static_tags ?? []) {
      if (names.has(t.name)) throw new PluginConfigError('static_tags', `repeated tags are not allowed: ${t.name}`);
      names.add(t.name);
    }
    // Kong's schema deprecations, with its messages, when a field is not its old default.
    if (config.header_type !== 'preserve') {
      warn('zipkin: config.header_type is deprecated, please use config.propagation options instead', 'header_type');
    }
    if (config.default_header_type !== 'b3') {
      warn(
        'zipkin: config.default_header_type is deprecated, please use config.propagation.default_format instead',
        'default_header_type',
      );
    }
    this.propagation = new Propagation(config);
    this.exporter =
      config.http_endpoint === null
        ? null
        : new HttpExporter(
            {
              url: config.http_endpoint,
              headers: {},
              connectTimeout: config.connect_timeout,
              sendTimeout: config.send_timeout,
              readTimeout: config.read_timeout,
            },
            'application/json',
          );
    this.tagsHeader = config.tags_header.toLowerCase();
    this.traceHeader = config.http_response_header_for_traceid?.toLowerCase() ?? null;
    if (this.traceHeader !== null) this.response = this.answerTraceId;
  }

  access(req: GatewayRequest): void {
    const trace = requestTrace(req, this.propagation, this.config.traceid_byte_count);
    const isSampled = sampled(trace, this.config.sample_ratio);
    req.ctx[SAMPLED] = isSampled ? trace : false;
    if (isSampled) {
      req.ctx[ACCESS_AT] = performance.timeOrigin + performance.now();
      req.ctx[CLIENT_PORT] = req.raw.socket?.remotePort;
    }
    propagate(req, this.propagation, trace, isSampled, trace.sharedSpanId);
  }

  /** Kong's header_filter sets it on every answer, sampled or not: the id the upstream was given. */
  private answerTraceId(req: GatewayRequest, res: GatewayResponse): void {
    res.setHeader(this.traceHeader!, requestTrace(req, this.propagation, this.config.traceid_byte_count).traceId);
  }

  log(req: GatewayRequest, entry: LogEntry): void {
    if (this.exporter === null) return;
    const decided = req.ctx[SAMPLED] as RequestTrace | false | undefined;
    if (decided === false) return;
    let trace = decided;
    if (trace === undefined) {
      // An earlier plugin answered before this one's access handler ran: still traced when sampled.
      trace = requestTrace(req, this.propagation, this.config.traceid_byte_count);
      if (!sampled(trace, this.config.sample_ratio)) return;
    }
    this.queue ??= new LogQueue<ZipkinSpan>('zipkin', this.config.queue, (batch) => this.send(batch), this.warn);
    // One item per header line, as Kong parses a repeated tags_header.
    const skipped: string[] = [];
    const tags = requestTags(headerLines(req, this.tagsHeader), skipped);
    if (skipped.length > 0) this.badTags.report({}, `Could not parse the following Zipkin tags: ${skipped.join(', ')}`);
    const accessAt = req.ctx[ACCESS_AT] as number | undefined;
    const port = (req.ctx[CLIENT_PORT] as number | undefined) ?? req.raw.socket?.remotePort;
    for (const span of zipkinSpans(req, entry, trace, this.config, tags, accessAt, port)) this.queue.add(span);
  }

  private async send(batch: ZipkinSpan[]): Promise<void> {
    try {
      await this.exporter!.send(JSON.stringify(batch));
    } catch (err) {
      // Kong's reporter's words, which the queue's `handler could not process entries` line carries.
      if (err instanceof CollectorAnswer) {
        throw new Error(`zipkin server responded unexpectedly: ${err.status} ${STATUS_CODES[err.status] ?? ''}`);
      }
      throw new Error(`zipkin request failed: ${socketReason(err)}`);
    }
  }

  health(): DependencyHealth[] {
    if (this.exporter === null) return [];
    return [queueHealth('zipkin', this.exporter.label, this.queue as LogQueue<unknown> | null)];
  }

  async close(): Promise<void> {
    await this.queue?.close();
    await this.exporter?.close();
  }
}

export default definePlugin<ZipkinConfig>({
  name: 'zipkin',
  version: '1.0.0',
  // Kong's priority for zipkin: first of all, so the request span covers every other plugin.
  priority: 100000,
  schema,
  create(config, context) {
    // context.warn locates a warning given while created at its field, and only logs afterwards.
    return new Zipkin(config, context.warn, context.log);
  },
});
