/**
 * Kong's vendor trace-context formats: AWS X-Ray (`X-Amzn-Trace-Id`), Datadog (`x-datadog-*`),
 * Google Cloud (`X-Cloud-Trace-Context`) and Instana (`X-INSTANA-*`), read and written as Kong's
 * extractors and injectors do (kong/observability/tracing/propagation). None of them shares its
 * span with the server (Kong sets no `reuse_span_id`): the client's id is the parent of the gateway's.
 *
 * Values come bounded by `traceHeader` (256 bytes); the patterns are linear; a decimal id is
 * checked for its digit count before it is converted, so no value costs more than a 39-digit
 * BigInt. Where Kong keeps an id it has warned about (an Instana id of the wrong length) or cuts
 * one to its low-order bytes (a decimal beyond 64 or 128 bits), Tollgate ignores the header; an
 * all-zero id is ignored, as in the other formats.
 */
import type { GatewayRequest } from '../../pipeline/plugin.ts';
import { trimAsciiSpace } from '../header-value.ts';
import type { Extracted, Injected } from './formats.ts';
import { traceHeader } from './header.ts';
import { traceId128 } from './ids.ts';

/** The vendor formats, by Kong's names. */
export const VENDOR_FORMATS = ['aws', 'datadog', 'gcp', 'instana'] as const;
export type VendorFormat = (typeof VENDOR_FORMATS)[number];

const ALL_ZERO = /^0+$/;
const ZERO32 = '0'.repeat(32);
const HEX16 = /^[0-9a-f]{16}$/;

function context(
  format: VendorFormat,
  traceId: string | null,
  spanId: string | null,
  sampled: boolean | null,
): Extracted {
  return { format, traceId, spanId, parentSpanId: null, sharedSpan: false, sampled, singleHeader: false, debug: false };
}

// X-Ray's trace id: version 1, 8 hex digits of epoch seconds, 24 of random; OpenTelemetry's id is
// the two hex runs joined (docs.aws.amazon.com/xray, "Tracing header").
const AWS_ROOT = /^1-([0-9a-f]{8})-([0-9a-f]{24})$/;

/**
 * `X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1`:
 * `key=value` fields in any order, space around either trimmed, other keys (`Self`, `Lineage`)
 * skipped. As Kong: a malformed `Root`, `Parent` (not 16 characters) or `Sampled` (not 0 or 1)
 * discards the header; a header with `Parent` or `Sampled` and no `Root` gives the gateway's new
 * trace that parent and decision.
 */
function aws(req: GatewayRequest): Extracted | null {
  const v = traceHeader(req, 'x-amzn-trace-id');
  if (v === null) return null;
  let traceId: string | null = null;
  let spanId: string | null = null;
  let sampled: boolean | null = null;
  for (const field of v.split(';')) {
    const eq = field.indexOf('=');
    const key = trimAsciiSpace(eq === -1 ? field : field.slice(0, eq));
    const value = eq === -1 ? '' : trimAsciiSpace(field.slice(eq + 1)).toLowerCase();
    if (key === 'Root') {
      const m = AWS_ROOT.exec(value);
      if (m === null) return null;
      traceId = m[1]! + m[2]!;
      if (ALL_ZERO.test(traceId)) return null;
    } else if (key === 'Parent') {
      // Kong checks the length alone and decodes what is not hex as raw bytes; not hex is refused here.
      if (!HEX16.test(value) || ALL_ZERO.test(value)) return null;
      spanId = value;
    } else if (key === 'Sampled') {
      if (value !== '0' && value !== '1') return null;
      sampled = value === '1';
    }
  }
  if (traceId === null && spanId === null && sampled === null) return null;
  return context('aws', traceId, spanId, sampled);
}

const DIGITS = /^[0-9]+$/;
const LEADING_ZEROS = /^0+/;
const TWO_64 = 1n << 64n;
const TWO_128 = 1n << 128n;

/**
 * A decimal id as hex (no padding), or null when it is not digits, is zero or does not fit in
 * `bits`. Leading zeros are cut and the digit count checked (20 digits hold 64 bits, 39 hold 128)
 * before the BigInt conversion, so its cost is bounded whatever the client sends.
 */
function decimalToHex(value: string, bits: 64 | 128): string | null {
  if (!DIGITS.test(value)) return null;
  const digits = value.replace(LEADING_ZEROS, '');
  if (digits.length === 0 || digits.length > (bits === 64 ? 20 : 39)) return null;
  const n = BigInt(digits);
  return n < (bits === 64 ? TWO_64 : TWO_128) ? n.toString(16) : null;
}

/**
 * `x-datadog-trace-id` and `x-datadog-parent-id` (unsigned decimal; space around trimmed),
 * `x-datadog-sampling-priority` (1 or 2: sampled; 0 or -1: not). As Kong: a priority of another
 * value discards the three; a malformed trace id is dropped with its parent id, a malformed parent
 * id alone; a priority without a trace id still decides sampling.
 */
function datadog(req: GatewayRequest): Extracted | null {
  const priority = traceHeader(req, 'x-datadog-sampling-priority');
  let sampled: boolean | null = null;
  if (priority === '1' || priority === '2') sampled = true;
  else if (priority === '0' || priority === '-1') sampled = false;
  else if (priority !== null) return null;
  const rawTrace = traceHeader(req, 'x-datadog-trace-id');
  const trace = rawTrace === null ? null : decimalToHex(trimAsciiSpace(rawTrace), 128);
  if (trace === null) return sampled === null ? null : context('datadog', null, null, sampled);
  // Kong keeps an id's size in bytes for the injectors that take 64 or 128 bits (b3, ot, jaeger,
  // instana): a trace id of exactly 8 bytes stays 64-bit; a shorter or longer one is widened to 128.
  const traceId = trace.length > 14 && trace.length <= 16 ? trace.padStart(16, '0') : trace.padStart(32, '0');
  const rawParent = traceHeader(req, 'x-datadog-parent-id');
  const parent = rawParent === null ? null : decimalToHex(trimAsciiSpace(rawParent), 64);
  return context('datadog', traceId, parent?.padStart(16, '0') ?? null, sampled);
}

// TRACE_ID/SPAN_ID;o=OPTIONS: 32 lower-case hex, a decimal 64-bit span id, one option digit
// (cloud.google.com/trace/docs/trace-context, Kong's GCP_TRACECONTEXT_REGEX).
const GCP = /^([0-9a-f]{32})\/([0-9]{1,20})(?:;o=([0-9]))?$/;

/** `X-Cloud-Trace-Context`; as Kong, only `o=1` says sampled: `o=0`, another digit or no option say not. */
function gcp(req: GatewayRequest): Extracted | null {
  const v = traceHeader(req, 'x-cloud-trace-context');
  if (v === null) return null;
  const m = GCP.exec(trimAsciiSpace(v));
  if (m === null || m[1] === ZERO32) return null;
  const span = decimalToHex(m[2]!, 64);
  if (span === null) return null;
  return context('gcp', m[1]!, span.padStart(16, '0'), m[3] === '1');
}

const HEX_RUN = /^[0-9a-f]+/;

/**
 * `X-INSTANA-T` (16 or 32 hex), `X-INSTANA-S` (1 to 16 hex), `X-INSTANA-L` (its first character:
 * 1 sampled, anything else not; `1,correlationType=...` is level 1). As Kong, both ids must be
 * sent, each read up to its first non-hex character, and a request without `X-INSTANA-L` is not
 * sampled. An id of another length discards the header (Kong warns and keeps the hex it found).
 */
function instana(req: GatewayRequest): Extracted | null {
  const t = traceHeader(req, 'x-instana-t');
  const s = traceHeader(req, 'x-instana-s');
  if (t === null || s === null) return null;
  const traceId = HEX_RUN.exec(t.toLowerCase())?.[0];
  const spanId = HEX_RUN.exec(s.toLowerCase())?.[0];
  if (traceId === undefined || (traceId.length !== 16 && traceId.length !== 32) || ALL_ZERO.test(traceId)) return null;
  if (spanId === undefined || spanId.length > 16 || ALL_ZERO.test(spanId)) return null;
  const level = traceHeader(req, 'x-instana-l');
  return context('instana', traceId, spanId.padStart(16, '0'), level?.charAt(0) === '1');
}

export const VENDOR_EXTRACTORS: Readonly<Record<VendorFormat, (req: GatewayRequest) => Extracted | null>> = {
  aws,
  datadog,
  gcp,
  instana,
};

const hexToDecimal = (hex: string): string => BigInt(`0x${hex}`).toString(10);

/**
 * Writes the context in a vendor format, as Kong's injectors do, and returns the trace id as that
 * format names it (the log entry's `trace_id.<format>`).
 */
export function injectVendor(req: GatewayRequest, format: VendorFormat, ctx: Injected): string {
  const sampled = ctx.sampled ? '1' : '0';
  switch (format) {
    case 'aws': {
      // X-Ray needs 128 bits: a 64-bit id is left-padded, as Kong's injector sizes it.
      const id = traceId128(ctx.traceId);
      req.setUpstreamHeader(
        'x-amzn-trace-id',
        `Root=1-${id.slice(0, 8)}-${id.slice(8)};Parent=${ctx.spanId};Sampled=${sampled}`,
      );
      return id;
    }
    case 'datadog': {
      // Kong's Datadog injector writes 64-bit ids only: the low 8 bytes of a 128-bit trace id.
      const id = hexToDecimal(ctx.traceId.slice(-16));
      req.setUpstreamHeader('x-datadog-trace-id', id);
      req.setUpstreamHeader('x-datadog-parent-id', hexToDecimal(ctx.spanId));
      req.setUpstreamHeader('x-datadog-sampling-priority', sampled);
      return id;
    }
    case 'gcp': {
      const id = traceId128(ctx.traceId);
      req.setUpstreamHeader('x-cloud-trace-context', `${id}/${hexToDecimal(ctx.spanId)};o=${sampled}`);
      return id;
    }
    case 'instana':
      // 64 or 128 bits, as the trace came (Kong's injector takes both sizes).
      req.setUpstreamHeader('x-instana-t', ctx.traceId);
      req.setUpstreamHeader('x-instana-s', ctx.spanId);
      req.setUpstreamHeader('x-instana-l', sampled);
      return ctx.traceId;
  }
}
