/**
 * `tollgate/tracing`: what tracing plugins share (trace-context formats, Kong's propagation
 * settings, the request's trace and sampling, HTTP export). Custom tracing plugins import it as
 * the built-in opentelemetry and zipkin do.
 */
export { CollectorAnswer, type ExportTarget, HttpExporter, socketReason } from './export.ts';
export {
  EXTRACTORS,
  type Extracted,
  FORMATS,
  type Format,
  type Injected,
  inject,
  UNSUPPORTED_FORMATS,
} from './formats.ts';
export { newSpanId, newTraceId, traceId128 } from './ids.ts';
export {
  Propagation,
  type PropagationRecord,
  type PropagationSettings,
  propagate,
  type RequestTrace,
  requestTrace,
  sampled,
  sampledByTraceId,
} from './propagation.ts';
