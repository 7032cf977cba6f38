// Listeners: node:http servers (plain) and node:http2 secure servers (ssl: HTTP/2 and HTTP/1.1 by ALPN),
// configured with the gateway's client limits and bound to the same Gateway handlers.
import type { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import type { SecureContext, TLSSocket } from 'node:tls';
import type { ListenAddress } from '../config/listen.ts';
import type { TollgateSettings } from '../config/model.ts';
import { NO_CERTIFICATE_MESSAGE } from '../errors.ts';
import { certificateStore, clientHelloRead, readServerName } from '../tls.ts';
import { onFirstBytes } from './first-bytes.ts';
import type { Gateway } from './gateway.ts';
import { watchSessions } from './h2-sessions.ts';
import { refusePlainHttp } from './refused.ts';

export { type ListenAddress, parseListen } from '../config/listen.ts';

/**
 * Whether `listen({ reusePort })` works here: Node 22.12+ and 23.1+ on Linux (SO_REUSEPORT with
 * the kernel spreading connections). Earlier versions ignore the option, so a second exclusive
 * bind of the port would fail.
 */
export const REUSE_PORT_SUPPORTED = ((): boolean => {
  if (process.platform !== 'linux') return false;
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
})();

export function createProxyServer(gateway: Gateway, settings: TollgateSettings): Server {
  const server = createServer({
    // One over the limit, so that a request exceeding it is seen (Node drops headers past maxHeadersCount silently).
    maxHeaderSize: 32 * 1024,
    requestTimeout: 0,
    headersTimeout: settings.client_header_timeout,
    keepAliveTimeout: settings.keepalive_timeout,
    connectionsCheckingInterval: Math.min(1000, settings.client_header_timeout),
    joinDuplicateHeaders: false,
    // The missing Host of an HTTP/1.1 request is refused by `prepare` (MISSING_HOST): node's own
    // refusal had no body, no request id and no access line, and the TLS listener had none at all.
    requireHostHeader: false,
  });
  server.maxHeadersCount = settings.max_request_headers + 1;
  if (settings.keepalive_timeout === 0) closeAfterEachResponse(server);
  closeSilentConnections(server, settings.client_header_timeout);
  server.on('request', gateway.onRequest);
  server.on('checkContinue', gateway.onCheckContinue);
  server.on('checkExpectation', gateway.onCheckExpectation);
  server.on('upgrade', gateway.onUpgrade);
  server.on('connect', gateway.onConnect);
  server.on('clientError', gateway.onClientError);
  return server;
}

/**
 * nginx's client_header_timeout runs from the connection's accept; node's headersTimeout only from
 * a request's first byte, so a connection to the plain listener that never sent one was held for
 * ever, and enough of them exhaust the process's descriptors. One that has sent nothing is closed
 * after client_header_timeout; once bytes come, node's head deadline (the 408) applies, and after
 * a response its keep-alive timeout. (The ssl listener bounds the ClientHello and the handshake
 * the same way, and node's HTTP/2 server closes a TLS connection that then stays silent.)
 */
function closeSilentConnections(server: EventEmitter, ms: number): void {
  server.on('connection', (socket: Socket) => {
    const timer = setTimeout(closeIfSilent, ms, socket);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  });
}

function closeIfSilent(socket: Socket): void {
  if (socket.bytesRead === 0 && !socket.destroyed) socket.destroy();
}

/**
 * `keepalive_timeout: 0` is nginx's `keepalive_timeout 0`: no keep-alive, each HTTP/1.1 answer ends
 * its connection. (node's `keepAliveTimeout: 0` means the opposite: idle connections kept forever.)
 * HTTP/2 sessions are closed once idle by watchSessions.
 */
function closeAfterEachResponse(server: EventEmitter): void {
  const noKeepAlive = (req: IncomingMessage, res: { shouldKeepAlive?: boolean }): void => {
    if (req.httpVersionMajor !== 2) res.shouldKeepAlive = false;
  };
  for (const event of ['request', 'checkContinue', 'checkExpectation']) server.on(event, noKeepAlive);
}

/**
 * A TLS listener: HTTP/2 when the client offers `h2` by ALPN, HTTP/1.1 otherwise. Certificates come
 * from the serving runtime at each handshake, so a reload serves renewed ones to new connections
 * while established connections keep theirs. It also answers `closeIdleConnections()` and
 * `closeAllConnections()` like a node:http server, so shutdown treats both kinds alike.
 */
export interface SecureProxyServer extends Http2SecureServer {
  closeIdleConnections(): void;
  closeAllConnections(): void;
}

/** Streams one HTTP/2 session may have open at once (nginx's http2_max_concurrent_streams is 128 too). */
export const H2_MAX_CONCURRENT_STREAMS = 128;

/**
 * How much request body a client may send ahead, per stream and per session (HTTP/2 flow control).
 * HTTP/2's default is 64 KiB for both, which held an upload to 64 KiB per round trip, a whole
 * session's uploads together (8 MiB took 21 s at 100 ms RTT, 2.4 s with these windows, 0.7 s over
 * HTTP/1.1). nginx opens both windows to the maximum, as it spools bodies to disk; a body here
 * streams upstream, and what an upstream does not take yet waits in memory up to these windows,
 * so they stay bounded: 512 KiB a stream, 2 MiB a session.
 */
export const H2_STREAM_WINDOW = 512 * 1024;
export const H2_SESSION_WINDOW = 2 * 1024 * 1024;

/** Gives each session of `server` its receive window (the streams' comes with the SETTINGS). */
export function openSessionWindow(server: EventEmitter): void {
  server.on('session', (session: ServerHttp2Session) => session.setLocalWindowSize(H2_SESSION_WINDOW));
}

/** What every HTTP/2 listener (TLS or h2c) bounds, documented in docs/tls.md. */
export function h2ServerOptions(settings: TollgateSettings) {
  return {
    // Pseudo-headers travel in the header list too: room for them on top of the request limit.
    maxHeaderListPairs: settings.max_request_headers + 8,
    settings: {
      maxConcurrentStreams: H2_MAX_CONCURRENT_STREAMS,
      maxHeaderListSize: 32 * 1024,
      initialWindowSize: H2_STREAM_WINDOW,
    },
    // Bounds of one session: memory nghttp2 may hold for it (MB), invalid frames and refused
    // streams before the session is dropped (nghttp2 ends a reset flood itself; a client flooding
    // PINGs or SETTINGS without reading the answers stops being read, and its idle session is cut,
    // h2-sessions.ts). node's maxOutstandingPings is no such bound: it counts the PINGs this side
    // sends, and the gateway sends none.
    maxSessionMemory: 10,
    maxSessionInvalidFrames: 1000,
    maxSessionRejectedStreams: 100,
  };
}

export function createSecureProxyServer(gateway: Gateway, settings: TollgateSettings): SecureProxyServer {
  const initial = certificateStore(gateway.runtime.config);
  if (initial.fallbackOptions === null) {
    throw new Error(NO_CERTIFICATE_MESSAGE);
  }
  const server = createSecureServer({
    ...initial.fallbackOptions,
    allowHTTP1: true,
    // The handshake after the ClientHello gets client_header_timeout too (node's default is 120 s):
    // a client that stops mid-handshake holds its memory and socket no longer than one that says nothing.
    handshakeTimeout: settings.client_header_timeout,
    ...h2ServerOptions(settings),
  }) as SecureProxyServer;
  // HTTP/1.1 connections on this listener follow the same limits as the plain listener.
  Object.assign(server, {
    // node:http reads the parser's limit from here (its default is 16 KiB): the 32 KiB head of the
    // plain listener and of HTTP/2 (MAX_HEAD_BYTES), not a 431 for TLS HTTP/1.1 alone.
    maxHeaderSize: 32 * 1024,
    headersTimeout: settings.client_header_timeout,
    // How often node looks for heads past headersTimeout: its HTTP/1.1 fallback checks every 30 s,
    // which let a dripping head hold the connection up to 30 s whatever client_header_timeout says.
    connectionsCheckingInterval: Math.min(1000, settings.client_header_timeout),
    requestTimeout: 0,
    keepAliveTimeout: settings.keepalive_timeout,
    maxHeadersCount: settings.max_request_headers + 1,
    // As on the plain listener, `prepare` refuses a missing Host (MISSING_HOST); Node 24's fallback
    // otherwise answers it with a bare 400 of its own first.
    requireHostHeader: false,
  });
  if (settings.keepalive_timeout === 0) closeAfterEachResponse(server);
  acceptHttp10Alpn(server);
  chooseCertificateBeforeHandshake(server, gateway, settings.client_header_timeout);

  openSessionWindow(server);
  const sessions = new Set<ServerHttp2Session>();
  const h1 = new Set<TLSSocket>();
  server.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  watchSessions(server, {
    headerTimeoutMs: settings.client_header_timeout,
    idleTimeoutMs: settings.keepalive_timeout,
    sendTimeoutMs: () => gateway.runtime.config.settings.send_timeout,
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.alpnProtocol === 'h2') return;
    h1.add(socket);
    socket.once('close', () => h1.delete(socket));
  });
  server.closeIdleConnections = () => {
    for (const s of sessions) if (!s.closed) s.close();
    for (const sock of h1) {
      if ((sock as TLSSocket & { _httpMessage?: unknown })._httpMessage == null) sock.destroy();
    }
  };
  server.closeAllConnections = () => {
    for (const s of sessions) s.destroy();
    for (const sock of h1) sock.destroy();
  };
  // A handshake that fails (a plain-HTTP client, an unknown CA) concerns that connection only.
  server.on('tlsClientError', (_err: Error, socket: Socket) => socket.destroy());
  server.on('sessionError', () => undefined);

  const onRequest = gateway.onRequest as unknown as (req: unknown, res: unknown) => void;
  server.on('request', onRequest);
  server.on('checkContinue', gateway.onCheckContinue as unknown as (req: unknown, res: unknown) => void);
  server.on('checkExpectation', gateway.onCheckExpectation as unknown as (req: unknown, res: unknown) => void);
  server.on('upgrade', gateway.onUpgrade as unknown as (req: IncomingMessage, socket: Socket, head: Buffer) => void);
  server.on('connect', gateway.onConnect as unknown as (req: IncomingMessage, socket: Socket) => void);
  // HTTP/1.1 connections on this listener go through node:http's parser, and its refusals come here too.
  (server as unknown as EventEmitter).on('clientError', gateway.onClientError);
  return server;
}

type TlsServerInternals = { _sharedCreds: SecureContext };

/**
 * nginx's ALPN list holds http/1.0 too, and `curl --http1.0` offers only that: node's HTTP/2 server
 * offers h2 and http/1.1 and ends such a handshake with a no_application_protocol alert. The
 * listener offers http/1.0 as well (after the others: a client offering h2 or http/1.1 gets it) and
 * hands such a connection to node's HTTP/1.x server, as it hands http/1.1 ones.
 */
function acceptHttp10Alpn(server: Http2SecureServer): void {
  // What node's TLS server gives each new TLS socket as its ALPN list (wire format).
  (server as unknown as { ALPNProtocols: Buffer }).ALPNProtocols = Buffer.from(
    '\x02h2\x08http/1.1\x08http/1.0',
    'latin1',
  );
  const [h2Listener] = server.listeners('secureConnection') as ((this: Http2SecureServer, s: TLSSocket) => void)[];
  if (h2Listener === undefined) throw new Error('node:http2 changed: no secureConnection listener to wrap');
  server.removeListener('secureConnection', h2Listener);
  server.prependListener('secureConnection', function (this: Http2SecureServer, socket: TLSSocket) {
    // node's listener serves HTTP/1.x for 'http/1.1' (or no ALPN) and HTTP/2 for anything else.
    if (socket.alpnProtocol === 'http/1.0')
      (socket as { alpnProtocol: string | false | null }).alpnProtocol = 'http/1.1';
    h2Listener.call(this, socket);
  });
}

/**
 * Picks the certificate from the ClientHello's server name before node's TLS layer sees the
 * connection, then lets node build the TLS socket with it as the listener's context. Node's own
 * SNICallback cannot do this: it adds the chosen certificate next to the default one, and a client
 * preferring the default's key type (ECDSA over RSA, say) would get the default certificate.
 * The store is the serving runtime's, read per connection: a reload serves renewed certificates to
 * new connections and leaves established ones alone.
 */
function chooseCertificateBeforeHandshake(server: Http2SecureServer, gateway: Gateway, timeoutMs: number): void {
  const [tlsListener] = server.listeners('connection') as ((this: Http2SecureServer, raw: Socket) => void)[];
  if (tlsListener === undefined) throw new Error('node:tls changed: no connection listener to wrap');
  server.removeListener('connection', tlsListener);
  server.on('connection', (raw: Socket) =>
    onFirstBytes(
      raw,
      timeoutMs,
      (buf) => (clientHelloRead(buf) ? true : null),
      (buf) => {
        // An HTTP request line (methods are upper-case letters) where a ClientHello belongs.
        const first = buf[0] ?? 0;
        if (first >= 0x41 && first <= 0x5a) return refusePlainHttp(gateway, raw, buf);
        const store = certificateStore(gateway.runtime.config);
        const ctx = store.select(readServerName(buf));
        if (ctx !== null) (server as unknown as TlsServerInternals)._sharedCreds = ctx;
        // Node's listener reads the context synchronously and feeds the buffered hello to OpenSSL.
        tlsListener.call(server, raw);
      },
    ),
  );
}

/**
 * Binds `server` to `addr`. `ownSocket` (a cluster worker, on a fixed port, where the platform has
 * SO_REUSEPORT) gives the process a listening socket of its own instead of the cluster primary's.
 */
export function listen(server: Server | Http2SecureServer, addr: ListenAddress, ownSocket = false): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // ipv6Only: nginx's IPV6_V6ONLY default (node's is dual-stack); the cluster primary honours it too.
    const base = { port: addr.port, host: addr.host, backlog: addr.backlog, ipv6Only: addr.ipv6Only };
    const options = ownSocket ? { ...base, reusePort: true, exclusive: true } : base;
    server.listen(options, () => {
      server.off('error', reject);
      const a = server.address() as AddressInfo;
      resolve(a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`);
    });
  });
}
