/**
 * Zipkin v2 spans of one sampled request, with Kong's names and tags: the request span (SERVER,
 * named by the method, or method and path), one per balancer try (CLIENT, `NAME (balancer try N)`)
 * and the proxied call (CLIENT, `NAME (proxy)`), whose id is the parent the upstream received.
 * Timestamps and durations in microseconds.
 */
import { isIP } from 'node:net';
import { type GatewayRequest, type LogEntry, nodeId, trimAsciiSpace } from '../../index.ts';
import { newSpanId, type RequestTrace } from '../../lib/tracing/index.ts';
import type { ZipkinConfig } from './index.ts';

export interface ZipkinSpan {
  traceId: string;
  id: string;
  parentId?: string;
  name: string;
  kind: 'SERVER' | 'CLIENT';
  timestamp: number;
  duration: number;
  localEndpoint: { serviceName: string };
  remoteEndpoint?: { serviceName?: string; ipv4?: string; ipv6?: string; port?: number };
  /** Left out when empty, as Kong's reporter leaves out a span's unset tags. */
  tags?: Record<string, string>;
  annotations?: { timestamp: number; value: string }[];
}

const MAX_TAGS_HEADER = 4096;
const MAX_TAGS = 32;
const NO_TAGS: Readonly<Record<string, string>> = Object.freeze({});
const SPACE = /\s/;

/**
 * Kong's `tags_header`: `name=value; name=value` pairs (at most 32, from a header of at most 4 KiB).
 * As Kong's request_tags grammar, a name has no spaces and a value is not empty: other pairs are
 * skipped (Zipkin tags are non-empty, and Kong's reporter drops empty ones) and, when `skipped` is
 * given, pushed to it as written, for Kong's warning; an empty one (`;;`) is skipped silently. A
 * repeated header's lines (a list) are parsed one by one, as Kong's request_tags.parse does.
 */
export function requestTags(
  value: string | readonly string[] | undefined,
  skipped?: string[],
): Readonly<Record<string, string>> {
  if (value === undefined) return NO_TAGS;
  const text = typeof value === 'string' ? value : value.join(';');
  if (text.length > MAX_TAGS_HEADER) return NO_TAGS;
  const out: Record<string, string> = {};
  let n = 0;
  for (const pair of text.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = eq <= 0 ? '' : trimAsciiSpace(pair.slice(0, eq));
    const tag = eq <= 0 ? '' : trimAsciiSpace(pair.slice(eq + 1));
    if (name === '' || tag === '' || SPACE.test(name)) {
      skipped?.push(pair);
      continue;
    }
    if (name === '__proto__') continue;
    out[name] = tag;
    if (++n >= MAX_TAGS) break;
  }
  return out;
}

const micros = (ms: number): number => Math.round(ms * 1000);

/** Kong's tag_with_service_and_route, for the balancer try and proxy spans. */
function tagServiceAndRoute(req: GatewayRequest, tags: Record<string, string>): void {
  if (req.route !== null) tags['kong.route'] = req.route.id;
  if (req.route?.name != null) tags['kong.route_name'] = req.route.name;
  if (req.service !== null) {
    tags['kong.service'] = req.service.id;
    if (req.service.name !== null) tags['kong.service_name'] = req.service.name;
  }
}

function endpoint(ip: string, port: number | undefined): NonNullable<ZipkinSpan['remoteEndpoint']> {
  const out: NonNullable<ZipkinSpan['remoteEndpoint']> = ip.includes(':') ? { ipv6: ip } : { ipv4: ip };
  if (port !== undefined) out.port = port;
  return out;
}

export function zipkinSpans(
  req: GatewayRequest,
  entry: LogEntry,
  trace: RequestTrace,
  config: ZipkinConfig,
  requestTags: Readonly<Record<string, string>>,
  accessAt?: number,
  /** The client's port (read while its connection or stream was open). */
  clientPort?: number,
): ZipkinSpan[] {
  const local = { serviceName: config.local_service_name };
  const name = config.http_span_name === 'method_path' ? `${req.method} ${req.path}` : req.method;
  // Kong's order: its access-phase tags, static_tags, then the client's tags_header (which may
  // replace those), and last what the log phase knows. A client's header never replaces the status,
  // consumer, credential, route, service or who answered.
  const tags: Record<string, string> = {
    lc: 'kong',
    'http.method': req.method,
    'http.host': req.host,
    'http.path': req.path,
    // Kong's 'HTTP/' .. kong.request.get_http_version(), a Lua number: HTTP/1.1, HTTP/1, HTTP/2.
    'http.protocol': `HTTP/${Number(req.raw.httpVersion)}`,
  };
  // An empty static tag value is refused at load, as Kong's schema refuses it.
  for (const t of config.static_tags ?? []) tags[t.name] = t.value;
  for (const k in requestTags) tags[k] = requestTags[k]!;
  tags['http.status_code'] = String(entry.status);
  tags['kong.source'] = entry.source;
  if (req.route !== null) tags['kong.route'] = req.route.id;
  if (req.route?.name != null) tags['kong.route_name'] = req.route.name;
  if (req.service !== null) {
    tags['kong.service'] = req.service.id;
    if (req.service.name !== null) tags['kong.service_name'] = req.service.name;
  }
  if (req.consumer !== null) tags['kong.consumer'] = req.consumer.id;
  if (config.include_credential && req.credential !== null) tags['kong.credential'] = req.credential.id;
  if (entry.reason !== null) tags['kong.reason'] = entry.reason;
  // Kong's log phase: `request_span:set_tag("kong.node.id", kong.node.get_id())`, after the client's tags.
  tags['kong.node.id'] = nodeId();
  if (entry.status >= 500 || entry.error !== null) tags.error = 'true';

  const request: ZipkinSpan = {
    traceId: trace.traceId,
    // Kong's: a client's B3 or Jaeger span is the request span (shared), else the gateway's own.
    id: trace.sharedSpanId,
    name,
    kind: 'SERVER',
    timestamp: micros(entry.startedAt),
    duration: Math.max(1, micros(entry.latency)),
    localEndpoint: local,
    remoteEndpoint: endpoint(req.clientIp, clientPort),
    tags,
  };
  // Kong's request span has no service of its own: its remote endpoint takes default_service_name.
  if (config.default_service_name != null) request.remoteEndpoint!.serviceName = config.default_service_name;
  if (trace.sharedParentSpanId !== null) request.parentId = trace.sharedParentSpanId;
  const steps = entry.pluginSteps;
  if (steps.length > 0) {
    if (config.phase_duration_flavor === 'tags') {
      for (const s of steps)
        tags[`kong.${s.phase}.plugin.${s.plugin}.duration_ms`] = String(Math.round(s.end - s.start));
    } else {
      request.annotations = [];
      for (const s of steps) {
        request.annotations.push(
          { timestamp: micros(s.start), value: `kong.${s.phase}.plugin.${s.plugin}.start` },
          { timestamp: micros(s.end), value: `kong.${s.phase}.plugin.${s.plugin}.finish` },
        );
      }
    }
  }
  const spans = [request];
  const tries = entry.tries;
  // Kong's reporter: a span tagged with the service names it (else default_service_name) as its
  // remote endpoint; without either, no serviceName is sent.
  const remoteService = req.service?.name ?? config.default_service_name ?? undefined;
  for (let i = 0; i < tries.length; i++) {
    // Kong's balancer try spans: picking the target (and connecting); a try that failed and was
    // retried is an error with its state and code, and lasts until the next try.
    const t = tries[i]!;
    const tryTags: Record<string, string> = { 'kong.balancer.try': String(i + 1) };
    if (t.state !== null) {
      tryTags.error = 'true';
      tryTags['kong.balancer.state'] = t.state;
      tryTags['http.status_code'] = String(t.code ?? 502);
    }
    tagServiceAndRoute(req, tryTags);
    const span: ZipkinSpan = {
      traceId: trace.traceId,
      id: newSpanId(),
      parentId: trace.sharedSpanId,
      name: `${name} (balancer try ${i + 1})`,
      kind: 'CLIENT',
      timestamp: micros(t.start),
      duration: i + 1 < tries.length ? Math.max(1, micros(tries[i + 1]!.start - t.start)) : 1,
      localEndpoint: local,
      tags: tryTags,
    };
    // Zipkin refuses a span whose ipv4/ipv6 is not an address (a target named by a host name).
    if (isIP(t.ip) !== 0) span.remoteEndpoint = endpoint(t.ip, t.port);
    if (remoteService !== undefined) span.remoteEndpoint = { serviceName: remoteService, ...span.remoteEndpoint };
    spans.push(span);
  }
  spans.push(proxySpan(req, entry, trace, name, local, remoteService, accessAt));
  return spans;
}

/**
 * Kong's proxy span is made for every request (its access handler, else its header_filter or log
 * handler, adds it): from the upstream call's start, or, for an answer that went to no upstream (a
 * plugin's 401, an unmatched 404), from the plugin's access handler, else from the answer; with no
 * tags or remote endpoint when no route matched.
 */
function proxySpan(
  req: GatewayRequest,
  entry: LogEntry,
  trace: RequestTrace,
  name: string,
  local: ZipkinSpan['localEndpoint'],
  remoteService: string | undefined,
  accessAt: number | undefined,
): ZipkinSpan {
  const svc = req.service;
  const tags: Record<string, string> = {};
  const remote: NonNullable<ZipkinSpan['remoteEndpoint']> = {};
  if (remoteService !== undefined) remote.serviceName = remoteService;
  const answered = entry.startedAt + entry.latency;
  let start: number;
  let end = answered;
  if (entry.upstreamStartedAt >= 0) {
    start = entry.upstreamStartedAt;
    if (entry.upstreamLatency >= 0) end = entry.upstreamStartedAt + entry.upstreamLatency;
    if (svc !== null) tags['peer.hostname'] = svc.host;
    if (entry.upstreamLatency < 0 && entry.error !== null) tags.error = 'true';
    // Kong's proxy span names the address and port of the target that served (the last try).
    const served = entry.tries.at(-1);
    if (served !== undefined && isIP(served.ip) !== 0) Object.assign(remote, endpoint(served.ip, served.port));
    else if (svc !== null) remote.port = served?.port ?? svc.port;
  } else {
    // within the request span (its start is whole milliseconds), as Kong's proxy span is
    start = Math.min(Math.max(accessAt ?? answered, entry.startedAt), answered);
  }
  tagServiceAndRoute(req, tags);
  const span: ZipkinSpan = {
    traceId: trace.traceId,
    id: trace.upstreamSpanId,
    parentId: trace.sharedSpanId,
    name: `${name} (proxy)`,
    kind: 'CLIENT',
    timestamp: micros(start),
    duration: Math.max(1, micros(end - start)),
    localEndpoint: local,
  };
  if (Object.keys(remote).length > 0) span.remoteEndpoint = remote;
  if (Object.keys(tags).length > 0) span.tags = tags;
  return span;
}
