/**
 * Kong's `propagation` record (`extract`, `inject`, `clear`, `default_format`) and its legacy
 * spelling (`header_type`, `default_header_type`), compiled once at load; and the per-request trace
 * the tracing plugins share: the first one to run reads the client's headers and picks the ids, the
 * others reuse them, so every backend and the upstream see one trace.
 *
 * Per request this costs a header lookup per extractor and two random span ids (a trace id too when
 * the client sent none): no span objects exist until a sampled request's log phase.
 */
import { PluginConfigError } from '../../errors.ts';
import type { GatewayRequest } from '../../pipeline/plugin.ts';
import { EXTRACTORS, type Extracted, FORMATS, type Format, inject } from './formats.ts';
import { newSpanId, newTraceId } from './ids.ts';

/** Kong's `propagation` record. */
export interface PropagationRecord {
  extract?: string[] | null;
  inject?: string[] | null;
  clear?: string[] | null;
  default_format: string;
}

/** The propagation-related fields of a tracing plugin's config. */
export interface PropagationSettings {
  propagation: PropagationRecord;
  header_type?: string | null;
  default_header_type?: string | null;
}

type Extractor = Exclude<Format, 'b3-single'>;

// Kong's legacy `header_type` order of extraction (get_plugin_params), for `preserve` and a format name alike.
const LEGACY_EXTRACT: readonly Extractor[] = ['b3', 'w3c', 'jaeger', 'ot', 'datadog', 'aws', 'gcp', 'instana'];

function supported(value: string, path: string): Format {
  if ((FORMATS as readonly string[]).includes(value)) return value as Format;
  throw new PluginConfigError(
    path,
    `the \`${value}\` trace header format is not supported by Tollgate (supported: ${FORMATS.join(', ')})`,
  );
}

export class Propagation {
  readonly extract: readonly Extractor[];
  readonly inject: readonly (Format | 'preserve')[];
  readonly defaultFormat: Format;
  readonly clear: readonly string[];

  /** Kong's `get_plugin_params`: the new record wins when any of its lists is set, else `header_type` is translated. */
  constructor(config: PropagationSettings) {
    const p = config.propagation;
    this.defaultFormat = supported(p.default_format, 'propagation.default_format');
    this.clear = (p.clear ?? []).map((h) => h.toLowerCase());
    if (p.extract != null || p.inject != null || p.clear != null) {
      this.extract = (p.extract ?? []).map((f, i) => supported(f, `propagation.extract[${i}]`) as Extractor);
      this.inject = (p.inject ?? []).map((f, i) =>
        f === 'preserve' ? 'preserve' : supported(f, `propagation.inject[${i}]`),
      );
      return;
    }
    let defaultFormat = this.defaultFormat;
    if (config.default_header_type != null) {
      defaultFormat = supported(config.default_header_type, 'default_header_type');
      this.defaultFormat = defaultFormat;
    }
    const headerType = config.header_type ?? 'preserve';
    if (headerType === 'preserve') {
      this.extract = LEGACY_EXTRACT;
      this.inject = ['preserve'];
    } else if (headerType === 'ignore') {
      this.extract = [];
      this.inject = [defaultFormat];
    } else {
      this.extract = LEGACY_EXTRACT;
      this.inject = ['preserve', supported(headerType, 'header_type')];
    }
  }
}

/** The trace of one request, shared by the tracing plugins of its route. */
export interface RequestTrace {
  /**
   * 32 hex, or 16 when the client's 64-bit id (B3, OT, Jaeger, Datadog, Instana) or Zipkin's
   * `traceid_byte_count: 8` says so.
   */
  readonly traceId: string;
  /** The gateway's span for the whole request. */
  readonly spanId: string;
  /** The gateway's span for the upstream call: the parent the upstream sees. */
  readonly upstreamSpanId: string;
  /** The client's span, when its headers carried one. */
  readonly parentSpanId: string | null;
  /**
   * The request span as Kong's zipkin plugin opens it: the client's own span when it sent B3 or
   * Jaeger ids (one span shared by client and server, Kong's `reuse_span_id`), with the client's
   * parent id; else spanId and parentSpanId. Kong's opentelemetry plugin does not share spans.
   */
  readonly sharedSpanId: string;
  readonly sharedParentSpanId: string | null;
  /** What the client's headers said, or null. */
  readonly extracted: Extracted | null;
}

const TRACE_KEY = 'tollgate.trace';

/** The request's trace: read from the client by the first tracing plugin, reused by the others. */
export function requestTrace(req: GatewayRequest, propagation: Propagation, traceIdBytes: 8 | 16 = 16): RequestTrace {
  const shared = req.ctx[TRACE_KEY] as RequestTrace | undefined;
  if (shared !== undefined) return shared;
  let extracted: Extracted | null = null;
  for (const name of propagation.extract) {
    extracted = EXTRACTORS[name](req);
    if (extracted !== null) break;
  }
  const spanId = newSpanId();
  const parentSpanId = extracted?.spanId ?? null;
  const joined = extracted?.sharedSpan === true && parentSpanId !== null ? parentSpanId : null;
  const trace: RequestTrace = {
    traceId: extracted?.traceId ?? newTraceId(traceIdBytes),
    spanId,
    upstreamSpanId: newSpanId(),
    parentSpanId,
    sharedSpanId: joined ?? spanId,
    sharedParentSpanId: joined !== null ? extracted!.parentSpanId : parentSpanId,
    extracted,
  };
  req.ctx[TRACE_KEY] = trace;
  return trace;
}

/** Kong's zipkin sampler: the client's decision when it made one, else `rate`. */
export function sampled(trace: RequestTrace, rate: number): boolean {
  const parent = trace.extracted?.sampled;
  if (parent !== null && parent !== undefined) return parent;
  return rate >= 1 || (rate > 0 && Math.random() < rate);
}

/** A 32-bit word with its bytes reversed, unsigned. */
const bswap32 = (x: number): number =>
  (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;

/**
 * Kong's tracer sampler (`kong.tracing:get_sampling_decision`, used by opentelemetry): a client's
 * "not sampled" wins; anything else, a client's "sampled" included, is sampled at `rate` by the
 * trace id, as OpenTelemetry's TraceIdRatioBased sampler: the id's first 8 bytes, read as an
 * unsigned integer in the byte order of Kong's FFI cast (little-endian), below rate × 2^64. So a
 * client cannot lift the share of exported requests above `sampling_rate`, and every hop with the
 * same rate decides alike for one trace.
 */
export function sampledByTraceId(trace: RequestTrace, rate: number): boolean {
  if (trace.extracted?.sampled === false) return false;
  if (rate >= 1) return true;
  if (rate <= 0) return false;
  const id = trace.traceId;
  const low = bswap32(Number.parseInt(id.slice(0, 8), 16));
  const high = bswap32(Number.parseInt(id.slice(8, 16), 16));
  return high * 2 ** 32 + low < rate * 2 ** 64;
}

/**
 * Where `propagate` leaves the trace id in each format it wrote upstream (`{ w3c: '4bf9...' }`):
 * the log entry's `trace_id`, as Kong 3.6+ adds it with `kong.log.set_serialize_value`, so a log
 * line leads to its trace.
 */
export const TRACE_ID_FORMATS_KEY = 'tollgate.trace_id_formats';

/**
 * Clears the configured headers, then writes the trace in every `inject` format on the upstream
 * request: the upstream call's span, a child of `requestSpanId` (the plugin's request span).
 */
export function propagate(
  req: GatewayRequest,
  propagation: Propagation,
  trace: RequestTrace,
  isSampled: boolean,
  requestSpanId: string = trace.spanId,
): void {
  for (const h of propagation.clear) req.removeUpstreamHeader(h);
  if (propagation.inject.length === 0) return;
  const ctx = {
    traceId: trace.traceId,
    spanId: trace.upstreamSpanId,
    parentSpanId: requestSpanId,
    sampled: isSampled,
    debug: trace.extracted?.debug === true,
    newTrace: trace.extracted?.traceId == null,
  };
  for (const f of propagation.inject) {
    let format: Format;
    if (f === 'preserve') {
      const from = trace.extracted?.format ?? null;
      format =
        from === null ? propagation.defaultFormat : from === 'b3' && trace.extracted!.singleHeader ? 'b3-single' : from;
    } else format = f;
    const written = inject(req, format, ctx);
    // Kong's injectors name the id after their format (`b3` for both B3 forms; Datadog's in decimal);
    // a second tracing plugin adds its formats to the same object, as Kong's add_trace_id_formats.
    let ids = req.ctx[TRACE_ID_FORMATS_KEY] as Record<string, string> | undefined;
    if (ids === undefined) req.ctx[TRACE_ID_FORMATS_KEY] = ids = {};
    ids[format === 'b3-single' ? 'b3' : format] = written;
  }
}
