/**
 * The spans of one sampled request, in the shape the OTLP protobuf serializer of
 * @opentelemetry/otlp-transformer reads (its ReadableSpan fields, without the SDK): Kong's span names
 * and attributes (`kong` for the request, `kong.balancer` for the upstream call,
 * `kong.access.plugin.NAME` for a plugin step that waited on I/O).
 */
import type { GatewayRequest, LogEntry } from '../../index.ts';
import { loggedUri } from '../../lib/log/index.ts';
import { newSpanId, type RequestTrace, traceId128 } from '../../lib/tracing/index.ts';

type Attributes = Record<string, string | number | boolean>;

/** OTLP's resource and instrumentation scope: one object each per plugin instance (the serializer groups by identity). */
export interface Resource {
  readonly attributes: Attributes;
}
export interface Scope {
  readonly name: string;
  readonly version: string;
}

// SpanKind as @opentelemetry/api numbers it (the serializer adds 1 for the wire).
const INTERNAL = 0;
const SERVER = 1;
const CLIENT = 2;

/** [seconds, nanoseconds] from milliseconds since the epoch. */
function hrTime(ms: number): [number, number] {
  const s = Math.floor(ms / 1000);
  return [s, Math.min(999_999_999, Math.round((ms - s * 1000) * 1e6))];
}

export class OtlpSpan {
  readonly events: never[] = [];
  readonly links: never[] = [];
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;
  readonly startTime: [number, number];
  readonly endTime: [number, number];
  readonly parentSpanContext: { spanId: string; isRemote: boolean } | undefined;
  readonly status: { code: number };

  constructor(
    readonly traceId: string,
    readonly spanId: string,
    parent: string | null,
    remoteParent: boolean,
    readonly name: string,
    readonly kind: number,
    start: number,
    end: number,
    readonly attributes: Attributes,
    error: boolean,
    readonly traceFlags: number,
    readonly resource: Resource,
    readonly instrumentationScope: Scope,
  ) {
    this.startTime = hrTime(start);
    this.endTime = hrTime(Math.max(start, end));
    this.parentSpanContext = parent === null ? undefined : { spanId: parent, isRemote: remoteParent };
    // OTLP status codes: 0 unset, 2 error.
    this.status = { code: error ? 2 : 0 };
  }

  spanContext(): { traceId: string; spanId: string; traceFlags: number } {
    return { traceId: this.traceId, spanId: this.spanId, traceFlags: this.traceFlags };
  }
}

/** The request span, the upstream call's and one per plugin step that waited. */
export function requestSpans(
  req: GatewayRequest,
  entry: LogEntry,
  trace: RequestTrace,
  resource: Resource,
  scope: Scope,
): OtlpSpan[] {
  const traceId = traceId128(trace.traceId);
  const start = entry.startedAt;
  const end = start + entry.latency;
  const url = `${req.scheme}://${req.host}${loggedUri(req, entry)}`;
  const attrs: Attributes = {
    'http.method': req.method,
    'http.url': url,
    'http.host': req.host,
    'http.scheme': req.scheme,
    'http.flavor': req.raw.httpVersion,
    'http.client_ip': req.clientIp,
    'http.status_code': entry.status,
    'kong.request.id': req.id,
    'kong.source': entry.source,
  };
  // Kong's request span: http.client_ip is kong.client.get_forwarded_ip() (trusted_ips apply),
  // net.peer.ip kong.client.get_ip(), the address of the connection's peer (a proxy, say). Not
  // read from req.raw.socket: an HTTP/2 stream's is gone by the log phase.
  if (req.peerIp !== '') attrs['net.peer.ip'] = req.peerIp;
  const route = req.route;
  // Kong's runloop_before_header_filter sets http.route on every request span: the route's first
  // path, else "" (a route matched by host alone, or no route at all).
  attrs['http.route'] = route?.paths?.[0] ?? '';
  if (route !== null) {
    attrs['kong.route.id'] = route.id;
    if (route.name !== null) attrs['kong.route.name'] = route.name;
  }
  if (req.service !== null) {
    attrs['kong.service.id'] = req.service.id;
    if (req.service.name !== null) attrs['kong.service.name'] = req.service.name;
  }
  if (req.consumer !== null) attrs['kong.consumer'] = req.consumer.username ?? req.consumer.id;
  if (entry.reason !== null) attrs['kong.reason'] = entry.reason;
  const failed = entry.status >= 500 || entry.error !== null;
  const spans = [
    new OtlpSpan(
      traceId,
      trace.spanId,
      trace.parentSpanId,
      true,
      'kong',
      SERVER,
      start,
      end,
      attrs,
      failed,
      1,
      resource,
      scope,
    ),
  ];
  if (entry.upstreamStartedAt >= 0) {
    // Kong's balancer instrumentation: one `kong.balancer` span per try, with the target's address
    // and port and the try's number; a try that failed and was retried is an error with its code.
    // The last one is the span the upstream was given as its parent.
    const tries = entry.tries;
    const count = Math.max(1, tries.length);
    for (let i = 0; i < count; i++) {
      const t = tries[i];
      const last = i === count - 1;
      const up: Attributes = { try_count: i + 1 };
      if (t !== undefined) {
        up['net.peer.ip'] = t.ip;
        up['net.peer.port'] = t.port;
      }
      if (req.service !== null) up['net.peer.name'] = req.service.host;
      const start = t?.start ?? entry.upstreamStartedAt;
      // A try that was retried failed (nginx's get_last_failure: 502, or 504 for a timeout) and
      // ended when the next began; the last one ends with the upstream's answer, or the request.
      const answered = entry.upstreamLatency >= 0;
      if (!last) up['http.status_code'] = t!.code ?? 502;
      else if (answered && entry.source === 'upstream') up['http.status_code'] = entry.status;
      const tryEnd = !last ? tries[i + 1]!.start : answered ? entry.upstreamStartedAt + entry.upstreamLatency : end;
      spans.push(
        new OtlpSpan(
          traceId,
          last ? trace.upstreamSpanId : newSpanId(),
          trace.spanId,
          false,
          'kong.balancer',
          CLIENT,
          start,
          tryEnd,
          up,
          !last || (!answered && entry.error !== null),
          1,
          resource,
          scope,
        ),
      );
    }
  }
  for (const step of entry.pluginSteps) {
    spans.push(
      new OtlpSpan(
        traceId,
        // A plugin step's span id is fresh: nothing downstream refers to it.
        newSpanId(),
        trace.spanId,
        false,
        `kong.${step.phase}.plugin.${step.plugin}`,
        INTERNAL,
        step.start,
        step.end,
        { 'kong.plugin': step.plugin },
        false,
        1,
        resource,
        scope,
      ),
    );
  }
  return spans;
}
