// Upgrades: a WebSocket handshake is routed and checked like any request, then dispatched through
// the pool of the target the balancer picks (undici's upgrade), so it gets the service's timeouts,
// TLS verification and client certificate, for a plain service and an `upstreams:` entry alike.
// After the upstream's 101, bytes flow both ways untouched. Other upgrade offers (h2c) are ignored.
import type { IncomingMessage } from 'node:http';
import { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { HeaderValue } from '../pipeline/plugin.ts';
import { ResponseContext } from '../pipeline/response.ts';
import type { CompiledService } from '../pipeline/runtime.ts';
import { checkHeader } from '../pipeline/upstream-checks.ts';
import type { Balancer, Target } from '../upstream/balancer.ts';
import { attemptFailed, lastAttemptFailed, recordAttempt } from './attempts.ts';
import { addCharset } from './charset.ts';
import type { ProxyRequest } from './context.ts';
import type { Gateway } from './gateway.ts';
import { appendHeader, upstreamResponseHeaders } from './headers.ts';
import { pluginFailed, runPhase } from './phases.ts';
import { edgeHeaders, sendError } from './reply.ts';
import { finish } from './request-end.ts';
import { answerSpelling, spelledHead } from './response-head.ts';
import {
  INTERIM_MESSAGES,
  InterimCount,
  isConnectFailure,
  isRetryableFailure,
  passiveAnswer,
  passiveFailure,
  upstreamErrorCode,
} from './upstream-failures.ts';
import { upstreamHeaderObject, upstreamTarget } from './upstream-request.ts';

/**
 * node:http hands an upgrade's socket over without its error listener: a client that resets it
 * (a closed tab, a dropped mobile link) would otherwise be an uncaught error that ends the process.
 */
function dropOnError(this: Socket): void {
  this.destroy();
}

/**
 * A handshake answered with anything but a tunnel (a plugin's 401, the upstream's 404, the gateway's
 * 502) ends its connection once the answer is out, as node's server does for a response marked
 * `Connection: close`; this response was made by hand, so node's own listener is not on it.
 */
function endAfterAnswer(this: ServerResponse): void {
  this.socket?.destroySoon();
}

export function handleUpgrade(gw: Gateway, req: IncomingMessage, socket: Socket, head: Buffer): void {
  const res = rawSocketResponse(req, socket);
  if (res === null) return;
  const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
  // Only a WebSocket handshake is tunnelled, as Kong passes only `Upgrade: websocket` on
  // (runloop/handler.lua). Any other offer is declined by ignoring it (RFC 9110 7.8), as nginx
  // ignores an h2c upgrade: the request is served over HTTP/1.1 (its Upgrade, hop-by-hop, is not
  // forwarded, so no h2c tunnel to the upstream can form). Refused, the requests of clients that
  // offer h2c on cleartext connections (Java's HttpClient, `curl --http2`) all failed. node's
  // parser stops at an upgrade's head, so a body that comes with one is not read as a body: such a
  // request is still refused rather than sent upstream without it.
  if (upgrade !== 'websocket') {
    if (req.headers['transfer-encoding'] === undefined && Number(req.headers['content-length'] ?? 0) === 0) {
      // node hands the socket over paused, and without its end listener: read (and drop) what
      // follows, and close on the client's FIN, so that a client that leaves is seen (its 499, the
      // upstream exchange cancelled) as on any connection, and as EarlyBytes does for a handshake.
      socket.once('end', dropOnError);
      socket.resume();
      return gw.handle(req, res, false);
    }
    return gw.refuse(req, res, upgrade.includes('h2c') ? 'H2C_REFUSED' : 'BAD_REQUEST');
  }
  gw.handle(req, res, false, head);
}

/** CONNECT: the gateway is no forward proxy; answered 400 as an unknown method is, and logged. */
export function handleConnect(gw: Gateway, req: IncomingMessage, socket: Socket): void {
  const res = rawSocketResponse(req, socket);
  // nginx answers CONNECT 405 (the gateway is no forward proxy); an authority-form target, which
  // nginx's request line does not take, is refused first by the request checks (400).
  if (res !== null) gw.refuse(req, res, 'METHOD_NOT_ALLOWED');
}

/**
 * A ServerResponse on a socket node handed over (an upgrade, a CONNECT), so that routing, plugins
 * and errors answer exactly as for other requests; the connection ends after the answer. Null
 * when the request was pipelined behind one still being answered: the connection cannot be both
 * (node would throw on a second response for the socket), and it is closed, as a client that
 * pipelines an upgrade breaks HTTP/1.1's rules (RFC 9110 7.8: the upgrade applies after this response).
 */
function rawSocketResponse(req: IncomingMessage, socket: Socket): ServerResponse | null {
  socket.on('error', dropOnError);
  if ((socket as Socket & { _httpMessage?: unknown })._httpMessage != null) {
    socket.destroy();
    return null;
  }
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket);
  res.once('finish', endAfterAnswer);
  return res;
}

/** What a client may send before its handshake's 101 is kept up to this; past it, reading pauses. */
export const EARLY_BYTES_LIMIT = 64 * 1024;

/**
 * The client's side while its handshake waits on the upstream. node hands an upgrade's socket over
 * paused, so a client that left would go unseen until read_timeout, its upstream handshake held
 * meanwhile. It is read instead: its end closes it, which cancels the upstream exchange and logs
 * 499, as for any request (nginx, proxy_ignore_client_abort off). What it sends meanwhile is kept
 * (up to EARLY_BYTES_LIMIT, then reading pauses) and goes upstream after the 101.
 */
class EarlyBytes {
  private readonly socket: Socket | null;
  private chunks: Buffer[];
  private size: number;

  constructor(socket: Socket | null, head: Buffer) {
    this.socket = socket;
    this.chunks = head.length > 0 ? [head] : [];
    this.size = head.length;
    if (socket === null) return;
    socket.on('data', this.onData);
    socket.once('end', this.onEnd);
    if (this.size < EARLY_BYTES_LIMIT) socket.resume();
  }

  private readonly onData = (chunk: Buffer): void => {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size >= EARLY_BYTES_LIMIT) this.socket?.pause();
  };

  private readonly onEnd = (): void => {
    this.socket?.destroy();
  };

  /** Stops reading for the handshake; the bytes the client sent before the tunnel. */
  take(): Buffer {
    this.socket?.off('data', this.onData);
    this.socket?.off('end', this.onEnd);
    this.socket?.pause();
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
    this.chunks = [];
    this.size = 0;
    return all;
  }
}

/** Relays a WebSocket handshake to the picked target through its pool; after its 101, a tunnel. */
export function proxyWebSocket(rc: ProxyRequest, svc: CompiledService, head: Buffer | EarlyBytes, attempt = 0): void {
  const balancer = svc.balancer;
  if (svc.kind === 'echo' || balancer === null) return sendError(rc, 'BAD_REQUEST');
  const target = balancer.pick(rc);
  if (target === null) return sendError(rc, 'UPSTREAM_UNAVAILABLE');
  recordAttempt(rc, target.host, target.port);
  const early = head instanceof EarlyBytes ? head : new EarlyBytes(rc.res.socket, head);
  const headers = upstreamHeaderObject(rc, target.hostHeader);
  // undici writes `connection: upgrade` and `upgrade: websocket` itself from the `upgrade` option.
  delete headers.connection;
  delete headers.upgrade;
  if (attempt === 0) rc.upstreamStartedAt = performance.now();
  target.inflight++;
  target.pool.dispatch(
    {
      path: upstreamTarget(rc, svc),
      // The method the route and the plugins saw (GET for any RFC 6455 client): a fixed GET would let
      // a POST handshake pass a POST-only route's policy and reach the upstream as the GET of another.
      method: (rc.upstreamMethod ?? rc.method) as Dispatcher.HttpMethod,
      headers: headers as Record<string, string | string[]>,
      upgrade: 'websocket',
      headersTimeout: svc.readTimeout,
      bodyTimeout: svc.readTimeout,
    },
    new Handshake(rc, svc, balancer, target, early, attempt),
  );
}

/** undici handler of one handshake: a 101 becomes a tunnel; any other answer is relayed as a response. */
class Handshake implements Dispatcher.DispatchHandler {
  private readonly rc: ProxyRequest;
  private readonly balancer: Balancer;
  private target: Target | null;
  /** The target this handshake went to, kept after its release: a retry avoids it (least-connections). */
  private readonly picked: Target;
  private readonly early: EarlyBytes;
  private started = false;
  /** The client already got the gateway's own answer: later upstream events change nothing. */
  private settled = false;
  private readonly interim = new InterimCount();
  /** How the upstream spelled the names of a declined handshake's head (`spelledHead`). */
  private readonly spelling = new Map<string, string>();
  private readonly svc: CompiledService;
  private readonly attempt: number;

  constructor(
    rc: ProxyRequest,
    svc: CompiledService,
    balancer: Balancer,
    target: Target,
    early: EarlyBytes,
    attempt: number,
  ) {
    this.rc = rc;
    this.attempt = attempt;
    this.svc = svc;
    this.balancer = balancer;
    this.target = target;
    this.picked = target;
    this.early = early;
  }

  private release(): void {
    if (this.target === null) return;
    this.target.inflight--;
    this.target = null;
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.rc.finished) return abort();
    this.rc.abortUpstream = abort;
  }

  /** The upstream declined the upgrade: its answer goes to the client as a normal response. */
  onHeaders(status: number, raw: Buffer[], resume: () => void): boolean {
    const rc = this.rc;
    if (status < 200) {
      const refused = this.interim.next(this.svc);
      if (refused === null) return true;
      this.settled = true;
      rc.error = { code: refused, message: INTERIM_MESSAGES[refused] };
      sendError(rc, refused);
      const abort = rc.abortUpstream;
      rc.abortUpstream = null;
      abort?.(new Error(INTERIM_MESSAGES[refused]));
      return false;
    }
    this.started = true;
    if (this.target !== null) this.balancer.report(this.target, passiveAnswer(status));
    rc.upstreamLatency = performance.now() - rc.upstreamStartedAt;
    const out: Record<string, HeaderValue | undefined> = upstreamResponseHeaders(raw, this.spelling);
    if (rc.hashCookie !== null)
      appendHeader(out as Record<string, string | string[]>, 'set-cookie', rc.hashCookie.setCookie);
    rc.upstreamStatus = status;
    // The route's response phase has its say, as Kong runs header_filter on a declined handshake's
    // answer. Its body streams on as it comes: a transformBody rewrite is not applied to it.
    const res = new ResponseContext(status, out, false, this.spelling);
    rc.response = res;
    const go = rc.pipeline.hasResponse ? runPhase(rc, 'response', res) : true;
    if (go === true) return this.writeDeclined(res, resume);
    if (go === false) return this.abandon();
    go.then((ok) => {
      if (!ok) this.abandon();
      else if (this.writeDeclined(res, resume)) resume();
    });
    return false;
  }

  private writeDeclined(res: ResponseContext, resume: () => void): boolean {
    const rc = this.rc;
    if (rc.finished || rc.res.headersSent) return this.abandon();
    const out = res.headers;
    const settings = rc.runtime.config.settings;
    out[settings.request_id_header] = rc.id;
    addCharset(out, res.status, settings.nginx_http_charset);
    const added = edgeHeaders(rc, out);
    // The connection ends after this answer (rawSocketResponse), whatever a plugin set.
    out.connection = 'close';
    rc.status = res.status;
    rc.res.writeHead(res.status, spelledHead(out, res.spelling, added) as Record<string, string | string[]>);
    rc.sentResponseHead = out;
    rc.resumeUpstream = resume;
    return true;
  }

  /** The response phase failed or the client went: the answer is out (or gone), the upstream side ends. */
  private abandon(): false {
    this.settled = true;
    const abort = this.rc.abortUpstream;
    this.rc.abortUpstream = null;
    abort?.(new Error('the handshake was answered by the gateway'));
    return false;
  }

  onData(chunk: Buffer): boolean {
    const rc = this.rc;
    rc.bytesSent += chunk.length;
    const ok = rc.res.write(chunk);
    if (!ok && rc.resumeUpstream !== null) rc.res.once('drain', rc.resumeUpstream);
    return ok;
  }

  onComplete(): void {
    this.release();
    this.rc.abortUpstream = null;
    this.rc.resumeUpstream = null;
    this.rc.res.end();
  }

  onError(err: Error): void {
    const rc = this.rc;
    rc.abortUpstream = null;
    const code = (err as { code?: string }).code ?? '';
    const outcome = passiveFailure(code);
    if (this.target !== null && !this.started && !rc.finished && outcome !== null)
      this.balancer.report(this.target, outcome);
    this.release();
    if (rc.finished || this.settled) return;
    if (rc.res.headersSent) {
      // A declined handshake's answer cut short: the client must not take it as complete.
      rc.error = { code: 'UPSTREAM_ABORTED', message: err.message, cause: code };
      rc.res.destroy(err);
      return;
    }
    // A handshake carries no body: a connection that failed before any answer is retried on the
    // balancer's next pick, as a request is (nginx's proxy_next_upstream error, Kong's retries).
    if (this.attempt < this.svc.retries && (isRetryableFailure(code, err) || isConnectFailure(code, this.svc))) {
      (rc.failedTargets ??= []).push(this.picked);
      attemptFailed(rc, upstreamErrorCode(code) === 'UPSTREAM_TIMEOUT');
      return proxyWebSocket(rc, this.svc, this.early, this.attempt + 1);
    }
    const answer = upstreamErrorCode(code);
    rc.error = { code: answer, message: err.message, cause: code };
    lastAttemptFailed(rc, answer);
    sendError(rc, answer);
  }

  onUpgrade(_status: number, raw: Buffer[] | string[] | null, upstream: Duplex): void {
    const rc = this.rc;
    rc.abortUpstream = null;
    rc.upstreamLatency = performance.now() - rc.upstreamStartedAt;
    rc.upstreamStatus = 101;
    if (this.target !== null) this.balancer.report(this.target, { connected: true });
    const client = rc.res.socket;
    if (client === null || client.destroyed) {
      this.release();
      upstream.destroy();
      return;
    }
    // The route's response phase has its say on the 101 (Kong runs header_filter on it): on its
    // end-to-end headers; Upgrade stays the upstream's, and so does the status.
    const lines = (raw ?? []).map((v) => (typeof v === 'string' ? v : v.toString('latin1')));
    const spelling = new Map<string, string>();
    const head = upstreamResponseHeaders(
      lines.map((v) => Buffer.from(v, 'latin1')),
      spelling,
    );
    const res = new ResponseContext(101, head, false, spelling);
    rc.response = res;
    const go = rc.pipeline.hasResponse ? runPhase(rc, 'response', res) : true;
    if (go === true) return this.tunnel(lines, res, upstream, client);
    if (go === false) return this.endUpgrade(upstream);
    void go.then((ok) => (ok ? this.tunnel(lines, res, upstream, client) : this.endUpgrade(upstream)));
  }

  /** The upgrade ends before its tunnel (the response phase answered, or the client went). */
  private endUpgrade(upstream: Duplex): void {
    this.release();
    upstream.destroy();
  }

  private tunnel(lines: readonly string[], res: ResponseContext, upstream: Duplex, client: Socket): void {
    const rc = this.rc;
    if (rc.finished || client.destroyed || rc.res.headersSent) return this.endUpgrade(upstream);
    // Connection is hop-by-hop (RFC 9110 section 7.6.1): the gateway writes its own, as nginx (so
    // Kong) writes `Connection: upgrade` on every 101, whatever the upstream's said; Upgrade is relayed.
    let headText = 'HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n';
    for (let i = 0; i < lines.length; i += 2) {
      if (lines[i]!.toLowerCase() === 'upgrade') headText += `${lines[i]}: ${lines[i + 1]}\r\n`;
    }
    try {
      for (const name in res.headers) {
        const value = res.headers[name];
        if (value === undefined) continue;
        // Written as text: what a plugin put in the object directly is checked as setHeader checks it.
        checkHeader('res.headers', name, value);
        // The upstream's spelling of a name, or the plugin's that set it (`res.spelling`).
        const written = res.spelling?.get(name) ?? name;
        for (const v of typeof value === 'string' ? [value] : value) headText += `${written}: ${v}\r\n`;
      }
    } catch (err) {
      pluginFailed(rc, null, 'response', err);
      return this.endUpgrade(upstream);
    }
    if (rc.hashCookie !== null) headText += `set-cookie: ${rc.hashCookie.setCookie}\r\n`;
    headText += `${answerSpelling(rc.runtime.config.settings.request_id_header).requestId}: ${rc.id}\r\n\r\n`;
    rc.res.detachSocket(client);
    rc.status = 101;
    client.write(headText, 'latin1');
    const early = this.early.take();
    if (early.length > 0) upstream.write(early);
    upstream.pipe(client);
    client.pipe(upstream);
    // nginx re-arms proxy_read_timeout on every event of an upgraded connection, either way: a tunnel
    // silent in both directions for read_timeout is closed. Bytes either way pass the upstream socket.
    (upstream as Socket).setTimeout(this.svc.readTimeout);
    // The tunnel counts as in flight on its target (least-connections) until it closes.
    const done = (): void => {
      this.release();
      upstream.destroy();
      client.destroy();
      if (!rc.finished) {
        rc.finished = true;
        finish(rc);
      }
    };
    // Either side ending ends the tunnel (HTTP server sockets are half-open capable, so 'end' alone would linger).
    upstream.once('end', done);
    client.once('end', done);
    upstream.once('close', done);
    client.once('close', done);
    upstream.on('error', done);
    client.on('error', done);
    upstream.once('timeout', () => {
      rc.error ??= { code: 'UPSTREAM_TIMEOUT', message: 'the tunnel was idle for read_timeout' };
      done();
    });
  }
}
