// HTTP/2 without TLS (Kong's `http2` flag on a plain listener: how plaintext gRPC clients reach
// it). A connection that opens with the HTTP/2 connection preface speaks HTTP/2 from its first
// byte (prior knowledge, RFC 9113 section 3.3); any other is HTTP/1.1 on the same port, as nginx
// serves both there. An HTTP/1.1 request offering `Upgrade: h2c` is served over HTTP/1.1, the
// offer ignored, as nginx ignores it.
import type { Server } from 'node:http';
import { createServer as createH2Server, type ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { TollgateSettings } from '../config/model.ts';
import { onFirstBytes } from './first-bytes.ts';
import type { Gateway } from './gateway.ts';
import { watchSessions } from './h2-sessions.ts';
import { createProxyServer, h2ServerOptions, openSessionWindow } from './server.ts';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** 'h2' once the whole preface is in, 'h1' at the first byte that differs, null while it may still come. */
export function sniffPreface(buf: Buffer): 'h2' | 'h1' | null {
  const n = Math.min(buf.length, PREFACE.length);
  for (let i = 0; i < n; i++) if (buf[i] !== PREFACE[i]) return 'h1';
  return buf.length >= PREFACE.length ? 'h2' : null;
}

/** A plain listener serving HTTP/1.1 and, to clients that open with the preface, HTTP/2. */
export function createCleartextH2ProxyServer(gateway: Gateway, settings: TollgateSettings): Server {
  const server = createProxyServer(gateway, settings);
  const h2 = createH2Server(h2ServerOptions(settings));
  openSessionWindow(h2);
  const sessions = new Set<ServerHttp2Session>();
  h2.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  const stopWatching = watchSessions(h2, {
    headerTimeoutMs: settings.client_header_timeout,
    idleTimeoutMs: settings.keepalive_timeout,
    sendTimeoutMs: () => gateway.runtime.config.settings.send_timeout,
  });
  h2.on('sessionError', () => undefined);
  h2.on('request', gateway.onRequest as unknown as (req: unknown, res: unknown) => void);
  h2.on('checkContinue', gateway.onCheckContinue as unknown as (req: unknown, res: unknown) => void);
  h2.on('checkExpectation', gateway.onCheckExpectation as unknown as (req: unknown, res: unknown) => void);

  const [h1Listener] = server.listeners('connection') as ((this: Server, raw: Socket) => void)[];
  if (h1Listener === undefined) throw new Error('node:http changed: no connection listener to wrap');
  server.removeListener('connection', h1Listener);
  // A client that says nothing is closed after client_header_timeout, as an HTTP/1.1 one would be.
  server.on('connection', (raw: Socket) =>
    onFirstBytes(raw, settings.client_header_timeout, sniffPreface, (_buf, kind) => {
      if (kind === 'h2') {
        // node:http accepted it half-open; an HTTP/2 session ends with its peer's FIN, as on TLS.
        raw.allowHalfOpen = false;
        h2.emit('connection', raw);
      } else h1Listener.call(server, raw);
    }),
  );

  // Shutdown closes the HTTP/2 sessions with the HTTP/1.1 connections.
  const closeIdle = server.closeIdleConnections.bind(server);
  const closeAll = server.closeAllConnections.bind(server);
  server.closeIdleConnections = () => {
    closeIdle();
    for (const s of sessions) if (!s.closed) s.close();
  };
  server.closeAllConnections = () => {
    closeAll();
    for (const s of sessions) s.destroy();
  };
  server.once('close', stopWatching);
  return server;
}
