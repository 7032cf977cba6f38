/**
 * Trace-context header formats, read from the client and written upstream: W3C Trace Context
 * (`traceparent`), B3 (multi-header `X-B3-*` and single `b3`), Jaeger (`uber-trace-id`) and
 * OpenTracing (`ot-tracer-*`), with Kong's format names; Kong's vendor formats (aws, datadog, gcp,
 * instana) are in vendor-formats.ts. Every value is bounded before it is parsed (a header over 256
 * bytes, or sent twice, is ignored) and every pattern is linear.
 */
import type { GatewayRequest } from '../../pipeline/plugin.ts';
import { trimAsciiSpace } from '../header-value.ts';
import { traceHeader } from './header.ts';
import { traceId128 } from './ids.ts';
import { injectVendor, VENDOR_EXTRACTORS, VENDOR_FORMATS } from './vendor-formats.ts';

/** The formats Tollgate reads and writes: all of Kong's. */
export const FORMATS = ['w3c', 'b3', 'b3-single', 'jaeger', 'ot', ...VENDOR_FORMATS] as const;
export type Format = (typeof FORMATS)[number];

/**
 * @deprecated Every Kong format is carried now: empty. It listed the vendor formats Tollgate
 * refused at load.
 */
export const UNSUPPORTED_FORMATS: readonly string[] = [];

/** What a client's tracing headers said. */
export interface Extracted {
  /** The extractor that matched (`b3` for both B3 forms, as in Kong). */
  readonly format: Format;
  /** 16 or 32 lower-case hex; null when the header carried only a sampling decision (`b3: 1`). */
  readonly traceId: string | null;
  /** The client's span: the parent of the gateway's, or (sharedSpan) the span the gateway joins. */
  readonly spanId: string | null;
  /** B3's and Jaeger's parent span id: the parent of the shared span; null when none was sent. */
  readonly parentSpanId: string | null;
  /**
   * B3 and Jaeger share one span between client and server (Zipkin's model; Kong's extractors set
   * `reuse_span_id` for these two): Kong's zipkin plugin reports its request span under the
   * client's span id, with the client's parent id. W3C and OT name the client's own span only.
   */
  readonly sharedSpan: boolean;
  /** The client's sampling decision; null when it made none. */
  readonly sampled: boolean | null;
  /** B3 came as the single `b3` header (so `preserve` answers in kind). */
  readonly singleHeader: boolean;
  /** B3 debug flag (`X-B3-Flags: 1`, `b3: ...-d`). */
  readonly debug: boolean;
}

/** What the gateway sends upstream. */
export interface Injected {
  /** 16 or 32 hex. */
  readonly traceId: string;
  /** The span the upstream's span is a child of (the gateway's upstream-call span). */
  readonly spanId: string;
  /** Its parent: the gateway's request span. */
  readonly parentSpanId: string;
  readonly sampled: boolean;
  readonly debug: boolean;
  /**
   * The gateway started the trace (no trace id came from the client): an injector that takes 64 or
   * 128 bits then writes its default size, as Kong's injectors do for an id of no incoming size.
   */
  readonly newTrace?: boolean;
}

// W3C Trace Context: version-traceid-parentid-flags. Only version 00, as Kong's w3c extractor reads
// it ("invalid W3C Trace Context version; ignoring."): another version starts a new trace.
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO32 = '0'.repeat(32);
const ZERO16 = '0'.repeat(16);
const ALL_ZERO = /^0+$/;

function w3c(req: GatewayRequest): Extracted | null {
  const v = traceHeader(req, 'traceparent');
  if (v === null) return null;
  const m = TRACEPARENT.exec(trimAsciiSpace(v));
  if (m === null) return null;
  const [, traceId, spanId, flags] = m;
  if (traceId === ZERO32 || spanId === ZERO16) return null;
  return {
    format: 'w3c',
    traceId: traceId!,
    spanId: spanId!,
    parentSpanId: null,
    sharedSpan: false,
    sampled: (Number.parseInt(flags!, 16) & 1) === 1,
    singleHeader: false,
    debug: false,
  };
}

const HEX_ID = /^(?:[0-9a-f]{16}|[0-9a-f]{32})$/;
const HEX_SPAN = /^[0-9a-f]{16}$/;
const B3_SINGLE = /^([0-9a-f]{16}|[0-9a-f]{32})-([0-9a-f]{16})(?:-([01d]))?(?:-([0-9a-f]{16}))?$/;

function b3Sampled(v: string | null): boolean | null {
  if (v === '1' || v === 'true' || v === 'd') return true;
  if (v === '0' || v === 'false') return false;
  return null;
}

/** A B3 header that carried a sampling decision and no ids. */
function noIds(sampled: boolean, singleHeader: boolean, debug: boolean): Extracted {
  return {
    format: 'b3',
    traceId: null,
    spanId: null,
    parentSpanId: null,
    sharedSpan: true,
    sampled,
    singleHeader,
    debug,
  };
}

/** W3C's limit on the `tracestate` a vendor must pass on (Trace Context, section 3.3.1.1). */
const MAX_TRACESTATE = 512;

/**
 * A `b3=` member of `tracestate`, as Kong's b3 extractor reads one when no `b3` header came (its
 * spec: "extraction from tracestate", a single value or one of several lines). Lines of a header
 * arrive joined by commas, which is how W3C reads a list sent over several lines.
 */
function b3FromTracestate(req: GatewayRequest): string | null {
  const v = req.headers.tracestate;
  if (typeof v !== 'string' || v.length > MAX_TRACESTATE) return null;
  for (const member of v.split(',')) {
    const m = trimAsciiSpace(member);
    if (m.startsWith('b3=')) return m.slice(3);
  }
  return null;
}

function b3(req: GatewayRequest): Extracted | null {
  const single = traceHeader(req, 'b3') ?? b3FromTracestate(req);
  if (single !== null) {
    const s = trimAsciiSpace(single).toLowerCase();
    // A sampling decision alone: `b3: 0`, `b3: 1`, `b3: d`.
    if (s.length === 1) {
      const sampled = b3Sampled(s);
      if (sampled === null) return null;
      return noIds(sampled, true, s === 'd');
    }
    const m = B3_SINGLE.exec(s);
    if (m !== null && m[1] !== ZERO32 && m[1] !== ZERO16 && m[2] !== ZERO16) {
      return {
        format: 'b3',
        traceId: m[1]!,
        spanId: m[2]!,
        parentSpanId: m[4] === undefined || m[4] === ZERO16 ? null : m[4],
        sharedSpan: true,
        sampled: b3Sampled(m[3] ?? null),
        singleHeader: true,
        debug: m[3] === 'd',
      };
    }
    return null;
  }
  const traceId = traceHeader(req, 'x-b3-traceid')?.toLowerCase() ?? null;
  const spanId = traceHeader(req, 'x-b3-spanid')?.toLowerCase() ?? null;
  const debug = traceHeader(req, 'x-b3-flags') === '1';
  const sampled = debug ? true : b3Sampled(traceHeader(req, 'x-b3-sampled')?.toLowerCase() ?? null);
  if (traceId === null) {
    if (sampled === null) return null;
    return noIds(sampled, false, debug);
  }
  if (!HEX_ID.test(traceId) || ALL_ZERO.test(traceId)) return null;
  // Kong's b3 extractor keeps a trace id sent without X-B3-SpanId (its spec sends X-B3-TraceId and
  // X-B3-Sampled alone and expects the upstream to get that trace): the trace goes on, with no
  // client span to be the parent of the gateway's.
  if (spanId !== null && (!HEX_SPAN.test(spanId) || spanId === ZERO16)) return null;
  // A parent id that is not 16 hex digits is dropped alone. Kong's b3 extractor drops every id
  // for it (invalid_id) and starts a new trace: the client's trace broken over the one id the
  // gateway needs least (the shared span's parent).
  const parent = traceHeader(req, 'x-b3-parentspanid')?.toLowerCase() ?? null;
  const parentSpanId = parent !== null && HEX_SPAN.test(parent) && parent !== ZERO16 ? parent : null;
  return { format: 'b3', traceId, spanId, parentSpanId, sharedSpan: true, sampled, singleHeader: false, debug };
}

// Jaeger: {trace-id}:{span-id}:{parent-span-id}:{flags}, hex without leading zeros; ':' may come as %3A.
// The parent is read at any length (the header's bound holds it): Kong only warns about one that
// is too long ("invalid jaeger parent ID") and keeps the trace; here that parent is dropped alone.
const UBER = /^([0-9a-f]{1,32}):([0-9a-f]{1,16}):([0-9a-f]+):([0-9a-f]{1,2})$/;

function jaeger(req: GatewayRequest): Extracted | null {
  const v = traceHeader(req, 'uber-trace-id');
  if (v === null) return null;
  const m = UBER.exec(trimAsciiSpace(v).toLowerCase().replaceAll('%3a', ':'));
  if (m === null) return null;
  const raw = m[1]!;
  const traceId = raw.length <= 16 ? raw.padStart(16, '0') : raw.padStart(32, '0');
  const spanId = m[2]!.padStart(16, '0');
  if (ALL_ZERO.test(traceId) || spanId === ZERO16) return null;
  const flags = Number.parseInt(m[4]!, 16);
  // Parent 0 is Jaeger's "no parent" (a root span).
  const parent = m[3]!.padStart(16, '0');
  return {
    format: 'jaeger',
    traceId,
    spanId,
    parentSpanId: parent === ZERO16 || parent.length > 16 ? null : parent,
    sharedSpan: true,
    sampled: (flags & 1) === 1,
    singleHeader: false,
    debug: (flags & 2) === 2,
  };
}

function ot(req: GatewayRequest): Extracted | null {
  const traceId = traceHeader(req, 'ot-tracer-traceid')?.toLowerCase() ?? null;
  const spanId = traceHeader(req, 'ot-tracer-spanid')?.toLowerCase() ?? null;
  if (traceId === null || spanId === null) return null;
  if (!HEX_ID.test(traceId) || !HEX_SPAN.test(spanId) || ALL_ZERO.test(traceId) || spanId === ZERO16) return null;
  return {
    format: 'ot',
    traceId,
    spanId,
    parentSpanId: null,
    sharedSpan: false,
    sampled: b3Sampled(traceHeader(req, 'ot-tracer-sampled')),
    singleHeader: false,
    debug: false,
  };
}

/** Extractors by Kong's name (`b3` reads both B3 forms). */
export const EXTRACTORS: Readonly<Record<Exclude<Format, 'b3-single'>, (req: GatewayRequest) => Extracted | null>> = {
  w3c,
  b3,
  jaeger,
  ot,
  ...VENDOR_EXTRACTORS,
};

/**
 * Writes the context in one format on the request sent upstream; returns the trace id as that
 * format writes it (Kong's `get_formatted_trace_id`: the log entry's `trace_id.<format>`).
 */
export function inject(req: GatewayRequest, format: Format, ctx: Injected): string {
  switch (format) {
    case 'w3c':
      req.setUpstreamHeader('traceparent', `00-${traceId128(ctx.traceId)}-${ctx.spanId}-${ctx.sampled ? '01' : '00'}`);
      return traceId128(ctx.traceId);
    case 'b3':
      req.setUpstreamHeader('x-b3-traceid', ctx.traceId);
      req.setUpstreamHeader('x-b3-spanid', ctx.spanId);
      req.setUpstreamHeader('x-b3-parentspanid', ctx.parentSpanId);
      // B3: the debug flag implies sampling, and the two are not sent together.
      if (ctx.debug) {
        req.setUpstreamHeader('x-b3-flags', '1');
        req.removeUpstreamHeader('x-b3-sampled');
      } else req.setUpstreamHeader('x-b3-sampled', ctx.sampled ? '1' : '0');
      return ctx.traceId;
    case 'b3-single':
      req.setUpstreamHeader(
        'b3',
        `${ctx.traceId}-${ctx.spanId}-${ctx.debug ? 'd' : ctx.sampled ? '1' : '0'}-${ctx.parentSpanId}`,
      );
      return ctx.traceId;
    case 'jaeger':
      // The sampled bit alone, as Kong's Jaeger injector writes its flags ("01" or "00"): a B3 or
      // Jaeger debug flag is not carried into Jaeger's debug bit.
      req.setUpstreamHeader(
        'uber-trace-id',
        `${ctx.traceId}:${ctx.spanId}:${ctx.parentSpanId}:0${ctx.sampled ? 1 : 0}`,
      );
      return ctx.traceId;
    case 'ot': {
      // Kong's OT injector writes 8 bytes by default (trace_id_allowed_sizes { 8, 16 }), and a
      // client's 16-byte id at its size: a trace the gateway started goes as its low 64 bits.
      const traceId = ctx.newTrace === true ? ctx.traceId.slice(-16) : ctx.traceId;
      req.setUpstreamHeader('ot-tracer-traceid', traceId);
      req.setUpstreamHeader('ot-tracer-spanid', ctx.spanId);
      req.setUpstreamHeader('ot-tracer-sampled', ctx.sampled ? '1' : '0');
      return traceId;
    }
    default:
      return injectVendor(req, format, ctx);
  }
}
