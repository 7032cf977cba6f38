/**
 * The JSON payload the aws-lambda plugin sends the function, as Kong's
 * `kong/plugins/aws-lambda/request-util.lua` builds it: the legacy shape (query and body
 * arguments merged), the `forward_request_*` shape, or an API Gateway proxy event
 * (`awsgateway_compatible`).
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
  if (config.awsgateway_compatible) return JSON.stringify(apiGatewayEvent(req, config, body, started));
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
        text = body === null ? undefined : body.toString('base64');
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
  const pathParameters: Record<string, string> = {};
  for (const k of Object.keys(req.captures)) if (!NUMBERED.test(k)) pathParameters[k] = req.captures[k]!;
  const queryStringParameters: Record<string, unknown> = {};
  const multiValueQueryStringParameters: Record<string, unknown[]> = {};
  const args = kongQuery(req) as Record<string, unknown>;
  for (const name of Object.keys(args)) {
    const v = args[name];
    queryStringParameters[name] = Array.isArray(v) ? v[0] : v;
    multiValueQueryStringParameters[name] = Array.isArray(v) ? v : [v];
  }
  let text: string | undefined;
  let isBase64Encoded = false;
  if (body !== null) {
    if (body.length > 0 && config.base64_encode_body) {
      text = body.toString('base64');
      isBase64Encoded = true;
    } else text = body.toString('utf8');
  }
  const v = req.raw.httpVersion;
  return {
    version: '1.0',
    resource: matchedRoutePath(req),
    path: req.path,
    httpMethod: req.method,
    headers,
    multiValueHeaders,
    pathParameters,
    queryStringParameters,
    multiValueQueryStringParameters,
    body: text,
    isBase64Encoded,
    requestContext: {
      path: req.path,
      protocol: v ? `HTTP/${v}` : undefined,
      httpMethod: req.method,
      domainName: req.host,
      domainPrefix: req.host.split('.', 1)[0],
      identity: { sourceIp: req.clientIp, userAgent: headers['user-agent'] },
      requestId: req.id,
      requestTime: clfTime(started),
      requestTimeEpoch: started,
      // Kong has no stages: the resource path is the path.
      resourcePath: req.path,
    },
  };
}
