// Responses the gateway makes itself: catalogued errors, a plugin's exit(), the https redirect, and
// the in-process echo upstream. Each passes through the route's response phase where one exists.
import { performance } from 'node:perf_hooks';
import { type ProxyErrorCode, ProxyErrors } from '../errors.ts';
import type { HeaderValue } from '../pipeline/plugin.ts';
import { type RequestContext, ResponseContext } from '../pipeline/request.ts';
import type { CompiledService, PluginInstance } from '../pipeline/runtime.ts';
import { errInfo, hasClientBody, type ProxyRequest } from './context.ts';
import { echoBody } from './echo.ts';
import { stripConnectionSpecific } from './headers.ts';
import { PhaseError, pluginFailed, runResponsePhase } from './phases.ts';
import { hstsHeader } from './tls.ts';
import { buildUpstreamHeaders, upstreamTarget } from './upstream-request.ts';

const ECHO_BODY_LIMIT = 16 * 1024 * 1024;

/** Last touches on every response head: HSTS on https, no connection-specific headers on HTTP/2. */
export function edgeHeaders(rc: RequestContext, headers: Record<string, HeaderValue | undefined>): void {
  if (rc.scheme !== 'https') return;
  const hsts = hstsHeader(rc.runtime.config.settings);
  if (hsts !== null) headers['strict-transport-security'] = hsts;
  if (rc.raw.httpVersionMajor === 2) stripConnectionSpecific(headers);
}

/** Sends a response the gateway produced, after the route's response phase had its say. */
async function respond(rc: ProxyRequest, res: ResponseContext, body: Buffer | string | null): Promise<void> {
  rc.response = res;
  if (rc.compiled?.pipeline.hasResponse) {
    try {
      const pending = runResponsePhase(rc, res);
      if (pending !== null) await pending;
    } catch (err) {
      if (err instanceof PhaseError) return pluginFailed(rc, err.inst, err.cause);
      rc.gw.log.error({ request_id: rc.id, err: errInfo(err) }, 'response phase failed');
      return sendError(rc, 'PLUGIN_FAILED');
    }
  }
  if (res.bodyTransforms !== null && body !== null) {
    try {
      body = res.applyTransforms(typeof body === 'string' ? Buffer.from(body) : body);
    } catch (err) {
      rc.gw.log.error({ request_id: rc.id, err: errInfo(err) }, 'response body transform failed');
      return sendError(rc, 'PLUGIN_FAILED');
    }
    res.headers['content-length'] = String(body.length);
  }
  writeFinal(rc, res.status, res.headers, body);
}

function writeFinal(
  rc: RequestContext,
  status: number,
  headers: Record<string, HeaderValue | undefined>,
  body: Buffer | string | null,
): void {
  const out = rc.res;
  if (rc.finished || out.headersSent || out.destroyed) return;
  headers[rc.runtime.config.settings.request_id_header] = rc.id;
  edgeHeaders(rc, headers);
  rc.status = status;
  out.writeHead(status, headers as Record<string, string | string[]>);
  if (body !== null && rc.method !== 'HEAD') {
    rc.bytesSent += typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    out.end(body);
  } else out.end();
}

export async function sendExit(rc: ProxyRequest, by: PluginInstance | null = null): Promise<void> {
  const headers: Record<string, HeaderValue | undefined> = {};
  if (rc.exitHeaders !== null) for (const k in rc.exitHeaders) headers[k.toLowerCase()] = rc.exitHeaders[k];
  let body: Buffer | string | null = null;
  const b = rc.exitBody;
  const st = rc.exitStatus;
  if (!Number.isInteger(st) || st < 200 || st > 599) {
    const err = new Error(`exit() status must be an integer from 200 to 599, not ${String(st)}`);
    if (by !== null) return pluginFailed(rc, by, err);
    throw err;
  }
  if (b !== undefined && b !== null) {
    if (typeof b === 'string' || Buffer.isBuffer(b)) {
      body = b;
      headers['content-type'] ??= 'text/plain; charset=utf-8';
    } else {
      try {
        body = JSON.stringify(b);
      } catch (err) {
        if (by !== null) return pluginFailed(rc, by, err);
        throw err;
      }
      headers['content-type'] ??= 'application/json; charset=utf-8';
    }
    headers['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : body.length);
  } else if (rc.exitStatus !== 204 && rc.exitStatus !== 304 && (rc.exitStatus >= 200 || rc.exitStatus < 100)) {
    headers['content-length'] = '0';
  }
  await respond(rc, new ResponseContext(rc.exitStatus, headers, true), body);
}

/** Answers with a catalogued error: `{"message": ..., "request_id": ...}` and Kong's status. */
export function sendError(rc: RequestContext, code: ProxyErrorCode): void {
  const out = rc.res;
  if (out.headersSent) {
    out.destroy();
    return;
  }
  rc.error ??= { code, message: ProxyErrors[code].message };
  const def = ProxyErrors[code];
  const body = `{"message":${JSON.stringify(def.message)},"request_id":"${rc.id}"}`;
  const headers: Record<string, HeaderValue | undefined> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
  };
  // A request we refuse before reading its body may leave bytes on the connection: close it.
  if (def.status === 400 || def.status === 431 || def.status === 505 || def.status === 408 || def.status === 413)
    headers.connection = 'close';
  writeFinal(rc, def.status, headers, body);
}

export function redirectToHttps(rc: ProxyRequest): void {
  const route = rc.compiled!;
  const status = route.httpsRedirectStatus;
  if (status === 426) {
    const body = '{"message":"Please use HTTPS protocol"}';
    writeFinal(
      rc,
      426,
      {
        'content-type': 'application/json; charset=utf-8',
        connection: 'Upgrade',
        upgrade: 'TLS/1.2, HTTP/1.1',
        'content-length': String(body.length),
      },
      body,
    );
    return;
  }
  // The https listener's port, unless 443 or the request came through a trusted proxy (whose public port we do not know).
  const httpsPort = rc.gw.httpsPort;
  const port = httpsPort !== null && httpsPort !== 443 && !rc.trustedPeer ? `:${httpsPort}` : '';
  const host = rc.hostHeader.replace(/:\d+$/, '');
  const location = `https://${host}${port}${rc.raw.url ?? '/'}`;
  writeFinal(rc, status, { location, 'content-length': '0' }, null);
}

/** The built-in echo upstream, answered in-process: the request as an upstream would have received it. */
export async function answerEcho(rc: ProxyRequest, svc: CompiledService): Promise<void> {
  const replaced = rc.upstreamBody;
  let body: Buffer = Buffer.isBuffer(replaced) ? replaced : Buffer.alloc(0);
  const source =
    replaced !== null && !Buffer.isBuffer(replaced) ? replaced : replaced === null && hasClientBody(rc) ? rc.raw : null;
  if (source !== null) {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of source as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > ECHO_BODY_LIMIT) {
        rc.exit(413, { message: 'Request size limit exceeded' });
        return sendExit(rc);
      }
      chunks.push(chunk);
    }
    body = Buffer.concat(chunks);
  }
  rc.upstreamStartedAt = performance.now();
  const headers = buildUpstreamHeaders(rc, svc.hostHeader);
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
  const res = new ResponseContext(
    200,
    { 'content-type': 'application/json; charset=utf-8', 'content-length': String(payload.length) },
    false,
  );
  await respond(rc, res, payload);
}
