/**
 * The JSON payload the aws-lambda plugin sends the function, as Kong's
 * `kong/plugins/aws-lambda/request-util.lua` builds it: the legacy shape (query and body
 * arguments merged), the `forward_request_*` shape, or an API Gateway proxy event
 * (`awsgateway_compatible`, payload format 1.0 or 2.0).
 */
import type { GatewayRequest } from '../../index.ts';
import { kongBodyArgs, kongHeaders, kongQuery } from '../../lib/kong-request.ts';

/** The fields of the config the payload depends on. */
export interface PayloadConfig {
  forward_request_method: boolean;
  forward_request_uri: boolean;
  forward_request_headers: boolean;
  forward_request_body: boolean;
  awsgateway_compatible: boolean;
  awsgateway_compatible_payload_version: '1.0' | '2.0';
  skip_large_bodies: boolean;
  base64_encode_body: boolean;
}

/**
 * Kong leaves out a body nginx buffered to disk (`skip_large_bodies`), which happens past
 * `client_body_buffer_size`, 8 KiB by Kong's default.
 */
export const SKIPPED_BODY_SIZE = 8 * 1024;
/** The most body sent otherwise: Lambda refuses a synchronous payload over 6 MB anyway. */
export const MAX_BODY_SIZE = 6 * 1024 * 1024;

/** Types Kong's forward_request_body sends as text even when it cannot parse them. */
const RAW_CONTENT_TYPES: ReadonlySet<string> = new Set([
  'text/plain',
  'text/html',
  'application/xml',
  'text/xml',
  'application/soap+xml',
]);

/** The body read for the payload, or null when it was left out (too large for skip_large_bodies). */
export type BodyRead = Buffer | null;

/** Whether a payload of this config reads the request body. */
export function readsBody(config: PayloadConfig): boolean {
  return (
    config.awsgateway_compatible ||
    config.forward_request_body ||
    !(config.forward_request_method || config.forward_request_uri || config.forward_request_headers)
  );
}

/**
 * Whether `kong.request.get_body()` knows the type: Kong looks for these in the lower-cased
 * Content-Type, and answers "missing content type" / "unsupported content type" otherwise.
 */
function parsableType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const t = contentType.toLowerCase();
  return (
    t.includes('application/x-www-form-urlencoded') ||
    t.includes('application/json') ||
    t.includes('multipart/form-data')
  );
}

/** The payload's JSON text; `started` is the request's arrival (ms since the epoch). */
export function buildPayload(req: GatewayRequest, config: PayloadConfig, body: BodyRead, started: number): string {
  if (config.awsgateway_compatible) {
    const event =
      config.awsgateway_compatible_payload_version === '2.0'
        ? httpApiEvent(req, config, body, started)
        : apiGatewayEvent(req, config, body, started);
    return JSON.stringify(event);
  }
  const forwarding =
    config.forward_request_body ||
    config.forward_request_headers ||
    config.forward_request_method ||
    config.forward_request_uri;
  if (!forwarding) {
    // Kong's backwards-compatible payload: the query arguments, overridden by the body's.
    const out: Record<string, unknown> = kongQuery(req) as Record<string, unknown>;
    const args = body === null ? undefined : kongBodyArgs(req.headers['content-type'], body);
    // A JSON array body with no query stays an array, as Lua's merge of it into an empty table
    // encodes; with query arguments beside it, its items go under "1", "2", ... as Lua numbers them.
    if (Array.isArray(args)) {
      if (Object.keys(out).length === 0) return JSON.stringify(args);
      for (let i = 0; i < args.length; i++) out[String(i + 1)] = args[i];
    } else if (args !== undefined && typeof args === 'object') Object.assign(out, args);
    return JSON.stringify(out);
  }
  const out: Record<string, unknown> = {};
  if (config.forward_request_method) out.request_method = req.method;
  if (config.forward_request_headers) out.request_headers = kongHeaders(req);
  if (config.forward_request_uri) {
    // Kong's get_path_with_query(): nginx's request_uri, the target as the client sent it.
    out.request_uri = req.raw.url ?? (req.rawQuery === '' ? req.path : `${req.path}?${req.rawQuery}`);
    out.request_uri_args = kongQuery(req);
  }
  if (config.forward_request_body) {
    const contentType = req.headers['content-type'];
    let text = body === null ? undefined : body.toString('utf8');
    let args: unknown;
    if (!parsableType(contentType)) {
      args = {};
      // Kong base64-encodes a body of a type it does not know (the header's whole value compared).
      if ((contentType === undefined || !RAW_CONTENT_TYPES.has(contentType)) && config.base64_encode_body) {
        // A skipped body is Kong's nil, which ngx.encode_base64 turns into "".
        text = body === null ? '' : body.toString('base64');
        out.request_body_base64 = true;
      }
    } else if (body !== null) {
      args = kongBodyArgs(contentType, body) ?? (body.length === 0 ? {} : undefined);
    }
    if (text !== undefined) out.request_body = text;
    if (args !== undefined) out.request_body_args = args;
  }
  return JSON.stringify(out);
}

/** A numbered capture (Kong leaves them out of pathParameters). */
const NUMBERED = /^\d+$/;

/** Kong's month names for the CLF time (`dd/MMM/yyyy:HH:mm:ss +0000`). */
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function two(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** The request's arrival as API Gateway's requestTime, in UTC. */
function clfTime(ms: number): string {
  const d = new Date(ms);
  return `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
}

/** The route path the request matched, as Kong's `router_matches.uri`: a plain prefix, else the path. */
function matchedRoutePath(req: GatewayRequest): string {
  for (const p of req.route?.paths ?? []) if (!p.startsWith('~') && req.path.startsWith(p)) return p;
  return req.path;
}

/** The named captures of a regex route path, API Gateway's pathParameters. */
function pathParameters(req: GatewayRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(req.captures)) if (!NUMBERED.test(k)) out[k] = req.captures[k]!;
  return out;
}

/** The body and isBase64Encoded of an event (both formats), as Kong's aws_serializer reads them. */
function eventBody(config: PayloadConfig, body: BodyRead): { body: string | undefined; isBase64Encoded: boolean } {
  // A skipped body is Kong's nil: with base64_encode_body, ngx.encode_base64(nil) makes it "".
  if (body === null)
    return config.base64_encode_body
      ? { body: '', isBase64Encoded: true }
      : { body: undefined, isBase64Encoded: false };
  if (body.length > 0 && config.base64_encode_body) return { body: body.toString('base64'), isBase64Encoded: true };
  return { body: body.toString('utf8'), isBase64Encoded: false };
}

/** Kong's aws_serializer: an API Gateway (REST API, payload format 1.0) proxy event. */
function apiGatewayEvent(
  req: GatewayRequest,
  config: PayloadConfig,
  body: BodyRead,
  started: number,
): Record<string, unknown> {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  const all = kongHeaders(req);
  for (const name in all) {
    const v = all[name]!;
    headers[name] = typeof v === 'string' ? v : v[0]!;
    multiValueHeaders[name] = typeof v === 'string' ? [v] : v;
  }
  const queryStringParameters: Record<string, unknown> = {};
  const multiValueQueryStringParameters: Record<string, unknown[]> = {};
  const args = kongQuery(req) as Record<string, unknown>;
  for (const name of Object.keys(args)) {
    const v = args[name];
    queryStringParameters[name] = Array.isArray(v) ? v[0] : v;
    multiValueQueryStringParameters[name] = Array.isArray(v) ? v : [v];
  }
  const { body: text, isBase64Encoded } = eventBody(config, body);
  const v = req.raw.httpVersion;
  // Kong's aws_serializer takes the path of nginx's upstream_uri, which its router set (strip_path
  // applied, the service's path joined) and an earlier plugin may have replaced (request-transformer's
  // replace.uri): the path an upstream would get.
  const path = req.upstreamPath ?? req.routedPath;
  return {
    version: '1.0',
    resource: matchedRoutePath(req),
    path,
    httpMethod: req.method,
    headers,
    multiValueHeaders,
    pathParameters: pathParameters(req),
    queryStringParameters,
    multiValueQueryStringParameters,
    body: text,
    isBase64Encoded,
    requestContext: {
      path,
      protocol: v ? `HTTP/${v}` : undefined,
      httpMethod: req.method,
      domainName: req.host,
      domainPrefix: req.host.split('.', 1)[0],
      identity: { sourceIp: req.clientIp, userAgent: headers['user-agent'] },
      requestId: req.id,
      requestTime: clfTime(started),
      requestTimeEpoch: started,
      // Kong has no stages: the resource path is the path.
      resourcePath: path,
    },
  };
}

/** A query value of an HTTP API event: a bare `?flag` (Kong's get_query gives true) is empty, as in AWS's. */
function queryValue(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** A cookie pair of a Cookie header: `; ` between them (RFC 6265, section 4.2.1). */
const COOKIE_SEPARATOR = /;\s*/;

/**
 * Kong 3.12's `awsgateway_compatible_payload_version: "2.0"`: an API Gateway HTTP API proxy event
 * in AWS's payload format 2.0 (API Gateway developer guide, "Working with AWS Lambda proxy
 * integrations for HTTP APIs"). A header or query argument given twice is one value, its values
 * joined with commas; the Cookie header's pairs are `cookies`, not a header; `rawQueryString` and
 * `queryStringParameters` are the query the plugins before left, as the 1.0 event's are. Kong has
 * no API Gateway routes or stages: both are `$default`, AWS's catch-all route.
 */
function httpApiEvent(
  req: GatewayRequest,
  config: PayloadConfig,
  body: BodyRead,
  started: number,
): Record<string, unknown> {
  // Null prototypes: a client's `__proto__` header or query argument is a key like any other.
  const headers: Record<string, string> = Object.create(null);
  let cookies: string[] | undefined;
  const all = kongHeaders(req);
  for (const name in all) {
    const v = all[name]!;
    if (name === 'cookie') {
      cookies = [];
      for (const line of typeof v === 'string' ? [v] : v) {
        for (const pair of line.split(COOKIE_SEPARATOR)) if (pair !== '') cookies.push(pair);
      }
    } else headers[name] = typeof v === 'string' ? v : v.join(',');
  }
  const queryStringParameters: Record<string, string> = Object.create(null);
  const args = kongQuery(req) as Record<string, unknown>;
  for (const name of Object.keys(args)) {
    const v = args[name];
    if (!Array.isArray(v)) {
      queryStringParameters[name] = queryValue(v);
      continue;
    }
    let joined = '';
    for (let i = 0; i < v.length; i++) joined += (i === 0 ? '' : ',') + queryValue(v[i]);
    queryStringParameters[name] = joined;
  }
  const { body: text, isBase64Encoded } = eventBody(config, body);
  const v = req.raw.httpVersion;
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: req.path,
    rawQueryString: req.upstreamQuery ?? req.rawQuery,
    ...(cookies === undefined ? {} : { cookies }),
    headers,
    queryStringParameters,
    pathParameters: pathParameters(req),
    requestContext: {
      domainName: req.host,
      domainPrefix: req.host.split('.', 1)[0],
      http: {
        method: req.method,
        path: req.path,
        protocol: v ? `HTTP/${v}` : undefined,
        sourceIp: req.clientIp,
        userAgent: headers['user-agent'],
      },
      requestId: req.id,
      routeKey: '$default',
      stage: '$default',
      time: clfTime(started),
      timeEpoch: started,
    },
    body: text,
    isBase64Encoded,
  };
}
