// Upgrades: a WebSocket handshake is routed and checked like any request, then relayed to the
// upstream; after its 101, bytes flow both ways untouched. h2c and other upgrades are refused.
import { request as httpRequest, type IncomingMessage, ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { ProxyErrors } from '../errors.ts';
import type { CompiledService } from '../pipeline/runtime.ts';
import type { ProxyRequest } from './context.ts';
import { upstreamErrorCode } from './exchange.ts';
import type { Gateway } from './gateway.ts';
import { HOP_BY_HOP } from './headers.ts';
import { sendError } from './reply.ts';
import { finish } from './request-end.ts';
import { buildUpstreamHeaders, upstreamTarget } from './upstream-request.ts';

export function handleUpgrade(gw: Gateway, req: IncomingMessage, socket: Socket, head: Buffer): void {
  const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
  if (upgrade !== 'websocket') {
    const body = JSON.stringify({
      message: upgrade.includes('h2c') ? ProxyErrors.H2C_REFUSED.message : ProxyErrors.BAD_REQUEST.message,
    });
    socket.end(
      `HTTP/1.1 400 Bad Request\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
    );
    return;
  }
  // A ServerResponse on the raw socket lets routing, plugins and errors answer exactly as for other requests.
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket);
  void gw.handle(req, res, false, head);
}

/** Relays a WebSocket handshake to the upstream; after its 101, bytes flow both ways untouched. */
export function proxyWebSocket(rc: ProxyRequest, svc: CompiledService, head: Buffer): void {
  if (svc.kind === 'echo') return sendError(rc, 'BAD_REQUEST');
  const headers = buildUpstreamHeaders(rc, svc.hostHeader);
  headers.connection = 'Upgrade';
  headers.upgrade = 'websocket';
  const m = svc.model;
  const request = svc.scheme === 'https' ? httpsRequest : httpRequest;
  rc.upstreamStartedAt = performance.now();
  const ureq = request({
    host: m.host,
    port: m.port,
    method: 'GET',
    path: upstreamTarget(rc, svc),
    headers: headers as Record<string, string | string[]>,
    timeout: svc.connectTimeout,
    rejectUnauthorized: m.tls_verify ?? true,
    ...(m.ca_certificates !== null ? { ca: m.ca_certificates } : {}),
  });
  ureq.on('timeout', () =>
    ureq.destroy(Object.assign(new Error('upstream timeout'), { code: 'UND_ERR_CONNECT_TIMEOUT' })),
  );
  ureq.on('error', (err: Error & { code?: string }) => {
    const answer = upstreamErrorCode(err.code ?? '');
    rc.error = { code: answer, message: err.message, cause: err.code };
    sendError(rc, answer);
  });
  ureq.on('response', (ures) => {
    // The upstream declined the upgrade: relay its answer as a normal response.
    rc.upstreamLatency = performance.now() - rc.upstreamStartedAt;
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(ures.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
    rc.status = ures.statusCode ?? 502;
    rc.res.writeHead(rc.status, out);
    ures.pipe(rc.res);
  });
  ureq.on('upgrade', (ures, usock: Socket, uhead: Buffer) => {
    rc.upstreamLatency = performance.now() - rc.upstreamStartedAt;
    const client = rc.res.socket;
    if (client === null || client.destroyed) return usock.destroy();
    rc.res.detachSocket(client);
    rc.status = 101;
    let headText = 'HTTP/1.1 101 Switching Protocols\r\n';
    const raw = ures.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) headText += `${raw[i]}: ${raw[i + 1]}\r\n`;
    headText += `${rc.runtime.config.settings.request_id_header}: ${rc.id}\r\n\r\n`;
    client.write(headText);
    if (uhead.length > 0) client.write(uhead);
    if (head.length > 0) usock.write(head);
    usock.pipe(client);
    client.pipe(usock);
    const done = (): void => {
      usock.destroy();
      client.destroy();
      if (!rc.finished) {
        rc.finished = true;
        finish(rc);
      }
    };
    // Either side ending ends the tunnel (HTTP server sockets are half-open capable, so 'end' alone would linger).
    usock.once('end', done);
    client.once('end', done);
    usock.once('close', done);
    client.once('close', done);
    usock.on('error', done);
    client.on('error', done);
  });
  ureq.end();
}
