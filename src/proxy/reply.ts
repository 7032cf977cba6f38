// Responses the gateway makes itself: catalogued errors, a plugin's exit(), the https redirect, and
// the in-process echo upstream. Each passes through the route's response phase where one exists.
import { performance } from 'node:perf_hooks';
import { type ProxyErrorCode, ProxyErrors } from '../errors.ts';
import { trimAsciiSpace } from '../lib/header-value.ts';
import { hasRequestBody, readBodyWithin } from '../lib/request-body.ts';
import type { HeaderValue } from '../pipeline/plugin.ts';
import { ResponseContext, TransformError } from '../pipeline/response.ts';
import type { CompiledService } from '../pipeline/runtime.ts';
import { hstsHeader } from '../tls.ts';
import { addCharset } from './charset.ts';
import type { ProxyRequest } from './context.ts';
import { addDebugHeaders, wantsDebug } from './debug.ts';
import { ECHO_BODY_LIMIT, echoBody } from './echo.ts';
import { ERROR_CONTENT_TYPES, errorBodyText, errorFormat } from './error-body.ts';
import { exitAnswer } from './exit-answer.ts';
import { asGrpcAnswer, isGrpcType } from './grpc.ts';
import { stripConnectionSpecific } from './headers.ts';
import { pluginFailed, runPhase } from './phases.ts';
import { originForm, validHost } from './request-checks.ts';
import { answerSpelling, writeResponseHead } from './response-head.ts';
import { watchUnsent } from './send-timeout.ts';
import { upstreamHeaderObject, upstreamTarget } from './upstream-request.ts';

const EMPTY = Buffer.alloc(0);
/** The `close` option in a Connection value, as node's own test for it reads it. */
const CLOSE_OPTION = /(?:^|\W)close(?:$|\W)/i;

/**
 * Last touches on every response head: the debug view when asked for, HSTS on https, no
 * connection-specific headers on HTTP/2, and no Transfer-Encoding a plugin set (`exit()` headers,
 * `res.setHeader`): the framing is node's to choose, and one set beside the Content-Length the
 * gateway computes sent both (RFC 9112 6.2 forbids it). Kong's set_header and exit ignore it too.
 * A Connection a plugin set (or Kong's 426, `Upgrade`) keeps the close the connection is due.
 * Returns how the names it and its callers add (the request id's) go out on HTTP/1.1.
 */
export function edgeHeaders(
  rc: ProxyRequest,
  headers: Record<string, HeaderValue | undefined>,
): ReadonlyMap<string, string> {
  if (headers['transfer-encoding'] !== undefined) delete headers['transfer-encoding'];
  if (wantsDebug(rc)) addDebugHeaders(rc, headers);
  // Before the scheme test: a stream refused before its scheme was read is still HTTP/2.
  if (rc.raw.httpVersionMajor === 2) stripConnectionSpecific(headers);
  else {
    // node keeps the connection open when an answer names a Connection option other than close; a
    // client that asked to close (RFC 9112 9.6), or keepalive_timeout 0, still gets its connection
    // closed, as nginx closes it: the close is added to the list.
    const conn = headers.connection;
    if (conn !== undefined && !rc.res.shouldKeepAlive && !namesClose(conn))
      headers.connection = typeof conn === 'string' ? `${conn}, close` : [...conn, 'close'];
  }
  const settings = rc.runtime.config.settings;
  const hsts = rc.scheme === 'https' ? hstsHeader(settings) : null;
  if (hsts !== null) headers['strict-transport-security'] = hsts;
  return answerSpelling(settings.request_id_header).edge;
}

/** Whether a Connection value (its lines) names the close option. */
function namesClose(value: HeaderValue): boolean {
  if (typeof value === 'string') return CLOSE_OPTION.test(value);
  for (const v of value) if (CLOSE_OPTION.test(v)) return true;
  return false;
}

/**
 * Sends a response the gateway produced, after the response phase had its say: the route's plugins'
 * once its access phase started, else the global plugins' (no route matched, a refusal before the
 * plugins), as Kong runs header_filter on every answer with the collected or the global plugins.
 */
function respond(
  rc: ProxyRequest,
  res: ResponseContext,
  body: Buffer | string | null,
  close = false,
): Promise<void> | undefined {
  rc.response = res;
  if (rc.pipeline.hasResponse) {
    const r = runPhase(rc, 'response', res);
    if (r === false) return;
    if (r !== true) {
      return r.then((ok) => {
        if (ok) writeResponse(rc, res, body, close);
      });
    }
  }
  writeResponse(rc, res, body, close);
}

function writeResponse(rc: ProxyRequest, res: ResponseContext, body: Buffer | string | null, close: boolean): void {
  const status = res.status;
  // A 205 has no content (RFC 9110 15.3.6): the echo upstream's is dropped, as the exchange drops a
  // proxied upstream's.
  if (status === 205 && !res.fromGateway) body = null;
  // The in-process echo upstream's body, whole: filtered as one chunk (an answer the gateway made
  // is not), unless the answer has no body (HEAD, 204, 205, 304), as a proxied body is.
  if (
    res.bodyFilters !== null &&
    !res.fromGateway &&
    body !== null &&
    rc.method !== 'HEAD' &&
    status !== 204 &&
    status !== 304
  ) {
    try {
      const chunk = res.filterChunk(typeof body === 'string' ? Buffer.from(body) : body, rc);
      const tail = res.filterEnd(null, rc);
      body = tail.length === 0 ? chunk : Buffer.concat([chunk, tail]);
    } catch (err) {
      return transformFailed(rc, err);
    }
  }
  if (res.bodyTransforms !== null && body !== null) {
    try {
      body = res.applyTransforms(typeof body === 'string' ? Buffer.from(body) : body);
    } catch (err) {
      return transformFailed(rc, err);
    }
    res.headers['content-length'] = String(body.length);
  }
  // The gateway has the whole body: its length is the Content-Length, whatever a response plugin
  // set. A wrong one cut the answer short, or left bytes the client read as the start of its next
  // answer on the connection (a desync). A HEAD answer's may announce its GET's (RFC 9110 9.3.2),
  // and a 204 or 304 sends no body to measure.
  if (rc.method !== 'HEAD' && res.status !== 204 && res.status !== 304)
    res.headers['content-length'] = String(
      body === null ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.length,
    );
  // A refusal that may leave unread bytes on the connection closes it, whatever a plugin set.
  if (close) res.headers.connection = 'close';
  writeFinal(rc, res.status, res.headers, body, res.spelling);
}

/** A response body transform threw: the plugin that asked for it failed in its response phase. */
export function transformFailed(rc: ProxyRequest, err: unknown): void {
  if (err instanceof TransformError) pluginFailed(rc, err.plugin, 'response', err.cause);
  else pluginFailed(rc, null, 'response', err);
}

function writeFinal(
  rc: ProxyRequest,
  status: number,
  headers: Record<string, HeaderValue | undefined>,
  body: Buffer | string | null,
  spelling: Map<string, string> | null = null,
): void {
  const out = rc.res;
  if (rc.finished || out.headersSent || out.destroyed) return;
  // Kong's kong.response.exit for a gRPC request (a gRPC Content-Type over HTTP/2, Kong's
  // is_grpc_request): the status and message as gRPC's, no body. Over HTTP/1.1 the JSON answer.
  if (
    rc.raw.httpVersionMajor === 2 &&
    isGrpcType(rc.raw.headers['content-type']) &&
    !isGrpcType(headers['content-type'])
  ) {
    asGrpcAnswer(status, headers, body);
    body = null;
  }
  const settings = rc.runtime.config.settings;
  headers[settings.request_id_header] = rc.id;
  addCharset(headers, status, settings.nginx_http_charset);
  edgeHeaders(rc, headers);
  rc.status = status;
  // A head HTTP/2 refuses (a plugin's repeated Content-Type) goes the compatibility layer's way, as
  // it always did: the stream is reset.
  const own = answerSpelling(rc.runtime.config.settings.request_id_header).gateway;
  try {
    if (writeResponseHead(rc, status, headers, '', spelling, own) !== null)
      out.writeHead(status, headers as Record<string, string | string[]>);
  } catch (err) {
    return headRefused(rc, err);
  }
  if (body !== null && rc.method !== 'HEAD') {
    // A string body is written as bytes: Node sends a string first chunk in one write with the
    // head, in the chunk's encoding (UTF-8), which would re-encode a header's latin1 bytes.
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    rc.bytesSent += bytes.length;
    out.end(bytes);
  } else out.end();
  watchUnsent(rc);
}

/**
 * Answers with what an access handler passed to exit(), through the response phase. An exit the
 * gateway cannot send (a status out of range, a body that does not serialize) is that plugin's failure.
 */
export function sendExit(rc: ProxyRequest, by: string | null): Promise<void> | undefined {
  rc.source = by ?? rc.source ?? 'kong';
  rc.reason = rc.exitReason;
  const answer = exitAnswer(rc);
  if (answer instanceof Error) {
    pluginFailed(rc, by, 'access', answer);
    return;
  }
  return respond(rc, new ResponseContext(answer.status, answer.headers, true, answer.spelling), answer.body);
}

/**
 * node refused a head the gateway made (a value past U+00FF that no check caught): the error answer
 * carrying the same header would throw again, past every handler, and end the process. The answer
 * is a bare 500 instead, without the headers the answer would have added, and the cause is logged.
 */
function headRefused(rc: ProxyRequest, err: unknown): void {
  const out = rc.res;
  out.statusMessage = '';
  rc.gw.log.error(
    { request_id: rc.id, err: { message: (err as Error)?.message ?? String(err) } },
    'response head refused',
  );
  const { headers, body } = errorAnswer(rc, 'PLUGIN_FAILED');
  headers[rc.runtime.config.settings.request_id_header] = rc.id;
  rc.status = 500;
  try {
    out.writeHead(500, headers as Record<string, string | string[]>);
  } catch {
    out.destroy();
    return;
  }
  out.end(rc.method === 'HEAD' ? undefined : Buffer.from(body));
  watchUnsent(rc);
}

/**
 * Answers with a catalogued error and Kong's status: `{"message": ..., "request_id": ...}`, or
 * Kong's plain, HTML or XML template when the client's Accept asks for one. The answer goes through
 * the response phase, as Kong runs header_filter on its error pages (the router's 404, a refused
 * request, an upstream that failed, a plugin that failed): cors, correlation-id and
 * response-transformer headers are on a 404 or a 502 as on any other answer. Not when the response
 * phase already ran for this request (its own failure, or a failure after the upstream's head).
 */
export function sendError(rc: ProxyRequest, code: ProxyErrorCode): void {
  const out = rc.res;
  if (out.headersSent) {
    out.destroy();
    return;
  }
  if (rc.finished) return;
  const { status, headers, body } = errorAnswer(rc, code);
  const close = headers.connection === 'close';
  if (rc.response === null) return void respond(rc, new ResponseContext(status, headers, true), body, close);
  writeFinal(rc, status, headers, body);
}

function errorAnswer(
  rc: ProxyRequest,
  code: ProxyErrorCode,
): { status: number; headers: Record<string, HeaderValue | undefined>; body: string } {
  rc.error ??= { code, message: ProxyErrors[code].message };
  rc.source ??= 'kong';
  rc.reason ??= code;
  const def = ProxyErrors[code];
  const format = errorFormat(rc.raw.headers.accept);
  const body =
    format === 'json'
      ? // A trusted proxy's request id is kept as sent: encoded, it cannot break the body.
        `{"message":${JSON.stringify(def.message)},"request_id":${rc.trustedPeer ? JSON.stringify(rc.id) : `"${rc.id}"`}}`
      : errorBodyText(format, def.message, rc.id);
  const headers: Record<string, HeaderValue | undefined> = {
    'content-type': ERROR_CONTENT_TYPES[format],
    'content-length': String(Buffer.byteLength(body)),
  };
  // A request we refuse before reading its body may leave bytes on the connection: close it.
  if (
    def.status === 400 ||
    def.status === 431 ||
    def.status === 505 ||
    def.status === 501 ||
    def.status === 408 ||
    def.status === 413 ||
    def.status === 417
  )
    headers.connection = 'close';
  else if (code === 'HTTP2_REQUIRED') {
    headers.connection = 'Upgrade';
    headers.upgrade = 'HTTP/2';
  } else if (code === 'HTTPS_REQUIRED') {
    headers.connection = 'Upgrade';
    headers.upgrade = 'TLS/1.2, HTTP/1.1';
  } else if (code === 'GRPC_TLS_REQUIRED') headers['grpc-status'] = '1';
  return { status: def.status, headers, body };
}

export function redirectToHttps(rc: ProxyRequest): void {
  const route = rc.compiled!;
  const status = route.httpsRedirectStatus;
  // Kong answers it with kong.response.error: the request id in the body, the format by Accept.
  if (status === 426) return sendError(rc, 'HTTPS_REQUIRED');
  // The https listener's port as clients reach it (`port_maps` may put it behind another, 443
  // behind Docker's `-p 443:8443`), unless 443 or the request came through a trusted proxy (whose
  // public port we do not know).
  const own = rc.gw.httpsPort;
  const httpsPort = own === null ? null : (rc.runtime.hostPorts?.get(String(own)) ?? String(own));
  const port = httpsPort !== null && httpsPort !== '443' && !rc.trustedPeer ? `:${httpsPort}` : '';
  // As Kong: the host is nginx's $host (rc.host), or a trusted proxy's X-Forwarded-Host, which names
  // the public host (the Host it sent may be an internal name); the target is the origin-form one
  // (`$request_uri`), also for an absolute-form request line, whose scheme and authority would
  // otherwise land in the path.
  const forwarded = rc.trustedPeer ? forwardedHost(rc.headers['x-forwarded-host']) : null;
  // No host (HTTP/1.0 without Host; an empty one is refused before routing) makes no https URL:
  // Kong would redirect to nginx's server_name (`https://kong/...`), a host the client never
  // asked for; the upgrade answer names no host.
  if (forwarded === null && rc.hostHeader === '') return sendError(rc, 'HTTPS_REQUIRED');
  const host = forwarded ?? rc.host;
  const location = `https://${host}${forwarded === null ? port : ''}${originForm(rc.raw.url ?? '/')}`;
  void respond(rc, new ResponseContext(status, { location, 'content-length': '0' }, true), null);
}

/** The first X-Forwarded-Host value when it is a valid authority, else null. */
function forwardedHost(value: HeaderValue | undefined): string | null {
  if (value === undefined) return null;
  const first = trimAsciiSpace((typeof value === 'string' ? value : value[0]!).split(',')[0]!);
  return first !== '' && validHost(first) ? first : null;
}

/** The built-in echo upstream, answered in-process: the request as an upstream would have received it. */
export async function answerEcho(rc: ProxyRequest, svc: CompiledService): Promise<void> {
  const replaced = rc.upstreamBody;
  let body: Buffer | null = Buffer.isBuffer(replaced) ? replaced : EMPTY;
  const source = replaced !== null ? (Buffer.isBuffer(replaced) ? null : replaced) : hasRequestBody(rc) ? rc.raw : null;
  // Read here rather than with rc.readBody(), which would make it the upstream body: the echo shows
  // the framing (chunked or not) an upstream would get.
  if (source !== null) body = await readBodyWithin(source, ECHO_BODY_LIMIT, rc.res);
  if (body === null) {
    rc.exitError(413, 'Request size limit exceeded');
    return sendExit(rc, null);
  }
  rc.upstreamStartedAt = performance.now();
  const headers = upstreamHeaderObject(rc, svc.hostHeader);
  const payload = echoBody({
    method: rc.upstreamMethod ?? rc.method,
    url: upstreamTarget(rc, svc),
    httpVersion: rc.raw.httpVersion,
    headers: headers as Record<string, string | string[]>,
    body,
    clientAddress: rc.clientIp,
    clientPort: rc.raw.socket.remotePort ?? 0,
  });
  rc.upstreamLatency = performance.now() - rc.upstreamStartedAt;
  rc.upstreamAnswered = true;
  rc.upstreamStatus = 200;
  const res = new ResponseContext(
    200,
    { 'content-type': 'application/json; charset=utf-8', 'content-length': String(payload.length) },
    false,
  );
  await respond(rc, res, payload);
}
