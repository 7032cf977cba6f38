// The data path: client request → checks → route → access phase → upstream (undici dispatch) → response phase → client.
import { randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingMessage, ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import { ProxyError, type ProxyErrorCode, ProxyErrors } from '../errors.ts';
import { accessSink, type LineSink, type Logger } from '../log.ts';
import type { HeaderValue } from '../pipeline/plugin.ts';
import { LogEntryImpl, RequestContext, ResponseContext } from '../pipeline/request.ts';
import type { CompiledService, PipelineSlot, PluginInstance, Runtime } from '../pipeline/runtime.ts';
import { normalizePath } from '../router/normalize.ts';
import { upstreamPath } from '../router/router.ts';
import type { Target } from './balancer.ts';
import { isoNow } from './clock.ts';
import { echoBody } from './echo.ts';
import { connectionTokens, HeaderScan, HOP_BY_HOP, scanRequestHeaders, stripConnectionSpecific } from './headers.ts';
import { hstsHeader } from './tls.ts';

const kCtx = Symbol('tollgate.request');

// Request ids: UUID-shaped, a random per-process part and a counter, so they are unique across
// processes and instances without drawing entropy for every request.
const ID_PREFIX = (() => {
  const h = randomBytes(10).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-`;
})();
let idCounter = 0;
function nextRequestId(): string {
  idCounter = (idCounter + 1) % 0x1000000000000;
  const c = idCounter.toString(16);
  return ID_PREFIX + '000000000000'.slice(c.length) + c;
}
const kTrustRuntime = Symbol('tollgate.trustRuntime');
const kTrusted = Symbol('tollgate.trusted');
const VIA = '1.1 tollgate';
const ECHO_BODY_LIMIT = 16 * 1024 * 1024;
const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

const kPeer = Symbol('tollgate.peer');
const kLocalPort = Symbol('tollgate.localPort');
/** Per-connection facts cached on the socket: each getter is a call into libuv. */
type TrackedSocket = Socket & {
  [kTrustRuntime]?: Runtime;
  [kTrusted]?: boolean;
  [kPeer]?: string;
  [kLocalPort]?: string;
};

function localPort(socket: TrackedSocket): string {
  return (socket[kLocalPort] ??= String(socket.localPort ?? ''));
}
type TrackedResponse = ServerResponse & { [kCtx]?: RequestContext };

/** Called once per finished request (metrics, tests). */
export type RequestObserver = (rc: RequestContext) => void;

export class Gateway {
  runtime: Runtime;
  readonly log: Logger;
  readonly accessLog: boolean;
  /** The log destination, written to directly for access lines. */
  readonly accessStream: LineSink | null;
  readonly observers: RequestObserver[] = [];
  /** Port of the first ssl listener, for https redirects (TLS, issue 10); null without one. */
  httpsPort: number | null = null;
  /** Listener callbacks, bound once. */
  readonly onRequest: (req: IncomingMessage, res: ServerResponse) => void;
  readonly onCheckContinue: (req: IncomingMessage, res: ServerResponse) => void;
  readonly onCheckExpectation: (req: IncomingMessage, res: ServerResponse) => void;
  readonly onUpgrade: (req: IncomingMessage, socket: Socket, head: Buffer) => void;

  constructor(runtime: Runtime, log: Logger, opts: { accessLog?: boolean } = {}) {
    this.runtime = runtime;
    this.log = log;
    this.accessStream = accessSink(log);
    this.accessLog = (opts.accessLog ?? true) && this.accessStream !== null && log.isLevelEnabled('info');
    this.onRequest = (req, res) => void handle(this, req, res, false);
    this.onCheckContinue = (req, res) => void handle(this, req, res, true);
    this.onCheckExpectation = (req, res) => {
      // HTTP/2 has no Connection header (node refuses to send one).
      res.writeHead(
        417,
        req.httpVersionMajor === 2
          ? { 'content-type': 'application/json; charset=utf-8' }
          : { 'content-type': 'application/json; charset=utf-8', connection: 'close' },
      );
      res.end(JSON.stringify({ message: ProxyErrors.EXPECTATION_FAILED.message }));
    };
    this.onUpgrade = (req, socket, head) => handleUpgrade(this, req, socket, head);
    attachRuntime(this, runtime);
  }

  /** Swaps in a new runtime; the old one closes once its in-flight requests are done. */
  swap(next: Runtime): Runtime {
    const prev = this.runtime;
    attachRuntime(this, next);
    this.runtime = next;
    prev.retired = true;
    if (prev.inflight === 0) void prev.close();
    return prev;
  }
}

async function handle(
  gw: Gateway,
  req: IncomingMessage,
  res: ServerResponse,
  expectContinue: boolean,
  upgradeHead: Buffer | null = null,
): Promise<void> {
  const rt = gw.runtime;
  rt.inflight++;
  const rc = new RequestContext(rt, req, res, performance.now());
  (res as TrackedResponse)[kCtx] = rc;
  res.on('close', onResponseClose); // 'close' comes once; `on` spares the once-wrapper
  rc.bytesReceivedAtStart = req.socket.bytesRead;
  try {
    const failure = prepare(gw, rc, req);
    if (failure !== null) return sendError(rc, failure);
    const route = rc.compiled!;
    // Kong: only an https-only route turns plain http away; an http-only route also serves https.
    if (rc.scheme === 'http' && !route.http) return redirectToHttps(gw, rc);
    if (route.pipeline.hasAccess) {
      const slots = route.pipeline.slots;
      for (let i = 0; i < slots.length; i++) {
        const inst = pick(slots[i]!, rc);
        if (inst === null || inst.handlers.access === undefined) continue;
        try {
          const r = inst.handlers.access(rc);
          if (r !== undefined) await (inst.timeout > 0 ? withTimeout(r, inst.timeout) : r);
        } catch (err) {
          return pluginFailed(gw, rc, inst, err);
        }
        if (rc.exitStatus !== 0) return await sendExit(gw, rc, inst);
        if (rc.finished) return;
      }
    }
    if (route.service === null) return sendError(rc, 'NO_SERVICE');
    if (expectContinue) res.writeContinue();
    if (upgradeHead !== null) return proxyWebSocket(rc, route.service, upgradeHead);
    if (route.service.kind === 'echo') return await answerEcho(gw, rc, route.service);
    dispatch(rc, route.service, 0);
  } catch (err) {
    if (err instanceof ProxyError) return sendError(rc, err.code);
    gw.log.error({ err: errInfo(err), request_id: rc.id }, 'request failed');
    sendError(rc, 'PLUGIN_FAILED');
  }
}

/** Request checks, header scan, normalization and routing. Returns an error code, or null to go on. */
function prepare(_gw: Gateway, rc: RequestContext, req: IncomingMessage): ProxyErrorCode | null {
  const rt = rc.runtime;
  const settings = rt.config.settings;
  // HTTP/2 arrives only on TLS listeners (node:http2, issue 10); its pseudo-headers are not counted.
  // A real HTTP/2 request comes through node:http2's compatibility layer (it has a stream); an 'HTTP/2.0' request line on HTTP/1 does not.
  const h2 = req.httpVersionMajor === 2 && (req as { stream?: unknown }).stream !== undefined;
  if (!h2 && (req.httpVersionMajor !== 1 || (req.httpVersionMinor !== 0 && req.httpVersionMinor !== 1)))
    return 'BAD_VERSION';
  const raw = req.rawHeaders;
  if (raw.length > settings.max_request_headers * 2 + (h2 ? 8 : 0)) return 'TOO_MANY_HEADERS';
  const headers: Record<string, HeaderValue> = {};
  const scan = scanRequestHeaders(raw, settings.headers_with_underscores, headers);
  if (scan.status !== HeaderScan.OK) {
    return scan.status === HeaderScan.DUPLICATE_HOST
      ? 'AMBIGUOUS_HOST'
      : scan.status === HeaderScan.UNDERSCORE
        ? 'HEADER_UNDERSCORE'
        : 'BAD_REQUEST';
  }
  const te = headers['transfer-encoding'];
  if (te !== undefined) {
    // Only plain chunked framing can be re-framed safely; anything else (or TE with CL) is a smuggling shape.
    if (headers['content-length'] !== undefined || String(te).trim().toLowerCase() !== 'chunked') return 'BAD_REQUEST';
  }
  if (scan.connection !== undefined) {
    for (const token of connectionTokens(scan.connection)) delete headers[token];
  }
  if (scan.upgrade !== undefined && /\bh2c\b/i.test(scan.upgrade)) return 'H2C_REFUSED';
  rc.headers = headers as RequestContext['headers'];

  const socket = req.socket as TrackedSocket;
  if (rt.trusted !== null) {
    if (socket[kTrustRuntime] !== rt) {
      socket[kTrustRuntime] = rt;
      const addr = socket.remoteAddress ?? '';
      socket[kTrusted] = rt.trusted.check(addr, addr.includes(':') ? 'ipv6' : 'ipv4');
    }
    rc.trustedPeer = socket[kTrusted] === true;
  }
  const peer = (socket[kPeer] ??= socket.remoteAddress ?? '');
  rc.scheme = (socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http';
  rc.clientIp = peer;
  const ridName = settings.request_id_header;
  const clientRid = headers[ridName];
  rc.id = rc.trustedPeer && typeof clientRid === 'string' && clientRid !== '' ? clientRid : nextRequestId();
  if (rc.trustedPeer) applyTrustedForwarding(rc, headers);

  let url = req.url ?? '/';
  let hostHeader = typeof headers.host === 'string' ? headers.host : '';
  if (url.charCodeAt(0) !== 47 /* / */) {
    // absolute-form (RFC 9112 3.2.2): its authority must agree with Host
    const m = /^https?:\/\/([^/?#]*)([^#]*)$/i.exec(url);
    if (m === null) return 'BAD_REQUEST';
    if (hostHeader !== '' && m[1]!.toLowerCase() !== hostHeader.toLowerCase()) return 'AMBIGUOUS_HOST';
    hostHeader = m[1]!;
    url = m[2] === '' ? '/' : m[2]!;
    if (url.charCodeAt(0) !== 47) url = `/${url}`;
  }
  rc.hostHeader = hostHeader;
  const colon = hostHeader.lastIndexOf(':');
  const bareHost = colon > hostHeader.lastIndexOf(']') ? hostHeader.slice(0, colon) : hostHeader;
  rc.host = bareHost.toLowerCase();

  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  rc.rawQuery = q < 0 ? '' : url.slice(q + 1);
  rc.path = normalizePath(rawPath, settings.encoded_slashes);

  const match = rt.router.match(rc.method, hostHeader, rc.path, rc.headers);
  if (match === null) return 'ROUTE_NOT_FOUND';
  rc.compiled = match.route;
  rc.matchedPath = match.matchedPath;
  rc.captures = match.captures;

  if (headers['content-length'] !== undefined || te !== undefined || (h2 && hasH2Body(req))) startBodyTimer(rc);
  return null;
}

/** From a trusted proxy: the client address is the rightmost untrusted X-Forwarded-For entry. */
function applyTrustedForwarding(rc: RequestContext, headers: Record<string, HeaderValue>): void {
  const proto = headers['x-forwarded-proto'];
  if (typeof proto === 'string' && proto.trim().toLowerCase() === 'https') rc.scheme = 'https';
  const xff = headers['x-forwarded-for'];
  if (xff === undefined) return;
  const trusted = rc.runtime.trusted!;
  const parts = (typeof xff === 'string' ? xff : xff.join(',')).split(',');
  for (let i = parts.length - 1; i >= 0; i--) {
    const ip = parts[i]!.trim();
    if (ip === '') continue;
    rc.clientIp = ip;
    if (!trusted.check(ip, ip.includes(':') ? 'ipv6' : 'ipv4')) break;
  }
}

function pick(slot: PipelineSlot, rc: RequestContext): PluginInstance | null {
  const inst =
    slot.byConsumer !== null && rc.consumer !== null
      ? (slot.byConsumer.get(rc.consumer.id) ?? slot.fallback)
      : slot.fallback;
  if (inst === null) return null;
  return (rc.scheme === 'http' ? inst.http : inst.https) ? inst : null;
}

function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new ProxyError('PLUGIN_TIMEOUT')), ms);
    p.then(
      () => {
        clearTimeout(t);
        resolve();
      },
      (err: unknown) => {
        clearTimeout(t);
        reject(err);
      },
    );
  });
}

function pluginFailed(gw: Gateway, rc: RequestContext, inst: PluginInstance, err: unknown): void {
  const timedOut = err instanceof ProxyError && err.code === 'PLUGIN_TIMEOUT';
  gw.log.error(
    { plugin: inst.name, request_id: rc.id, err: errInfo(err) },
    timedOut ? 'plugin timed out' : 'plugin failed',
  );
  sendError(rc, timedOut ? 'PLUGIN_TIMEOUT' : 'PLUGIN_FAILED');
}

function errInfo(err: unknown): { message: string; code?: string; stack?: string } {
  if (err instanceof Error) {
    return { message: err.message, code: (err as { code?: string }).code, stack: err.stack };
  }
  return { message: String(err) };
}

// ---------------------------------------------------------------------------------------------
// Upstream

/** `defaultHost`: the Host sent unless preserve_host or a plugin says otherwise (a balancer target's, or the service's). */
function buildUpstreamHeaders(rc: RequestContext, defaultHost: string): Record<string, HeaderValue> {
  const src = rc.headers as Record<string, HeaderValue | undefined>;
  const overrides = rc.headerOverrides;
  const out: Record<string, HeaderValue> = {};
  for (const name in src) {
    const v = src[name];
    if (v !== undefined && name !== 'transfer-encoding' && (overrides === null || !overrides.has(name))) out[name] = v;
  }
  if (overrides !== null) {
    for (const [name, v] of overrides) if (v !== null) out[name] = v;
  }
  const route = rc.compiled!;
  const peer = (rc.raw.socket as TrackedSocket)[kPeer] ?? rc.raw.socket.remoteAddress ?? '';
  const xff = rc.headers['x-forwarded-for'];
  out['x-forwarded-for'] = xff === undefined ? peer : `${typeof xff === 'string' ? xff : xff.join(', ')}, ${peer}`;
  const settings = rc.runtime.config.settings;
  if (!rc.trustedPeer || out['x-forwarded-proto'] === undefined) out['x-forwarded-proto'] = rc.scheme;
  if (!rc.trustedPeer || out['x-forwarded-host'] === undefined) out['x-forwarded-host'] = rc.host;
  if (!rc.trustedPeer || out['x-forwarded-port'] === undefined)
    out['x-forwarded-port'] = localPort(rc.raw.socket as TrackedSocket);
  if (!rc.trustedPeer || out['x-forwarded-path'] === undefined) out['x-forwarded-path'] = rc.path;
  if (route.strip_path && rc.matchedPath !== '') {
    if (!rc.trustedPeer || out['x-forwarded-prefix'] === undefined) out['x-forwarded-prefix'] = rc.matchedPath;
  } else if (!rc.trustedPeer) delete out['x-forwarded-prefix'];
  out['x-real-ip'] = rc.clientIp;
  const via = out.via;
  out.via = via === undefined ? VIA : `${typeof via === 'string' ? via : via.join(', ')}, ${VIA}`;
  out[settings.request_id_header] = rc.id;
  const hostOverride = overrides?.get('host');
  out.host =
    typeof hostOverride === 'string'
      ? hostOverride
      : route.preserve_host && rc.hostHeader !== ''
        ? rc.hostHeader
        : defaultHost;
  return out;
}

function upstreamTarget(rc: RequestContext, svc: CompiledService): string {
  const path = rc.upstreamPath ?? upstreamPath(svc.model.path, rc.compiled!, rc.path, rc.matchedPath);
  const query = rc.upstreamQuery ?? rc.rawQuery;
  return query === '' ? path : `${path}?${query}`;
}

function hasClientBody(rc: RequestContext): boolean {
  const cl = rc.headers['content-length'];
  if (cl === undefined && rc.raw.httpVersionMajor === 2) return hasH2Body(rc.raw);
  return rc.headers['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0');
}

/** An HTTP/2 request has a body unless its HEADERS frame ended the stream (no Content-Length needed). */
function hasH2Body(req: IncomingMessage): boolean {
  return (req as IncomingMessage & { stream?: { endAfterHeaders?: boolean } }).stream?.endAfterHeaders === false;
}

/** Last touches on every response head: HSTS on https, no connection-specific headers on HTTP/2. */
function edgeHeaders(rc: RequestContext, headers: Record<string, HeaderValue | undefined>): void {
  if (rc.scheme !== 'https') return;
  const hsts = hstsHeader(rc.runtime.config.settings);
  if (hsts !== null) headers['strict-transport-security'] = hsts;
  if (rc.raw.httpVersionMajor === 2) stripConnectionSpecific(headers);
}

function dispatch(rc: RequestContext, svc: CompiledService, attempt: number): void {
  if (rc.finished) return;
  const body = (rc.upstreamBody ?? (hasClientBody(rc) ? rc.raw : null)) as Dispatcher.DispatchOptions['body'];
  if (attempt === 0) rc.upstreamStartedAt = performance.now();
  // A replacement body that already failed would leave undici waiting for bytes that never come.
  const failed =
    body !== null && typeof body === 'object' && 'errored' in body ? (body as { errored: unknown }).errored : null;
  if (failed != null) {
    rc.error = {
      code: failed instanceof ProxyError ? failed.code : 'BAD_REQUEST',
      message: String((failed as Error).message ?? failed),
    };
    return sendError(rc, failed instanceof ProxyError ? failed.code : 'BAD_REQUEST');
  }
  // Upstreams with targets (issue 8): the balancer picks a healthy target; its pool carries the request.
  const target = svc.balancer === null ? null : svc.balancer.pick(rc);
  if (svc.balancer !== null && target === null) return sendError(rc, 'UPSTREAM_UNAVAILABLE');
  const opts: Dispatcher.DispatchOptions = {
    path: upstreamTarget(rc, svc),
    method: (rc.upstreamMethod ?? rc.method) as Dispatcher.HttpMethod,
    headers: buildUpstreamHeaders(rc, target?.hostHeader ?? svc.hostHeader) as Record<string, string | string[]>,
    body,
    headersTimeout: svc.readTimeout,
    bodyTimeout: svc.readTimeout,
  };
  const ex = new UpstreamExchange(rc, svc, attempt, body === null);
  if (target === null) {
    svc.pool!.dispatch(opts, ex);
    return;
  }
  target.inflight++;
  ex.target = target;
  target.pool.dispatch(opts, ex);
}

/** undici dispatch handler for one attempt: streams the upstream response to the client with backpressure. */
class UpstreamExchange implements Dispatcher.DispatchHandler {
  readonly rc: RequestContext;
  readonly svc: CompiledService;
  readonly attempt: number;
  readonly retryable: boolean;
  started = false;
  /** The client already got its answer (an error we chose); later upstream events are ignored. */
  settled = false;
  /** Body chunks held for a response-phase body transform; null when streaming straight through. */
  held: Buffer[] | null = null;
  heldBytes = 0;
  /** The balancer target of this attempt (upstreams with targets), released when the exchange ends. */
  target: Target | null = null;

  constructor(rc: RequestContext, svc: CompiledService, attempt: number, bodyless: boolean) {
    this.rc = rc;
    this.svc = svc;
    this.attempt = attempt;
    this.retryable = bodyless && IDEMPOTENT.has(rc.upstreamMethod ?? rc.method);
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.rc.finished) return abort();
    this.rc.abortUpstream = abort;
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void): boolean {
    const rc = this.rc;
    if (status < 200) return true; // 1xx interim responses are not relayed
    this.started = true;
    if (this.target !== null) this.svc.balancer!.report(this.target, { status });
    rc.upstreamLatency = performance.now() - rc.upstreamStartedAt;
    if (status > 599) {
      this.settled = true;
      rc.error = { code: 'UPSTREAM_BAD_STATUS', message: `upstream answered status ${status}` };
      sendError(rc, 'UPSTREAM_BAD_RESPONSE');
      const abort = rc.abortUpstream;
      rc.abortUpstream = null;
      abort?.(new Error('upstream status out of range'));
      return false;
    }
    rc.resumeUpstream = resume;
    if (!rc.compiled!.pipeline.hasResponse && rc.scheme === 'http') return writeHeadDirect(rc, status, raw);
    const headers: Record<string, HeaderValue | undefined> = {};
    let connection: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toString('latin1').toLowerCase();
      const value = raw[i + 1]!.toString('latin1');
      if (HOP_BY_HOP.has(name)) {
        if (name === 'connection') connection = value;
        continue;
      }
      const prev = headers[name];
      headers[name] = prev === undefined ? value : typeof prev === 'string' ? [prev, value] : [...prev, value];
    }
    if (connection !== undefined) for (const t of connectionTokens(connection)) delete headers[t];
    const res = new ResponseContext(status, headers, false);
    rc.response = res;
    if (rc.compiled!.pipeline.hasResponse) {
      let pending: Promise<void> | null;
      try {
        pending = runResponsePhase(rc, res);
      } catch (err) {
        this.responsePhaseFailed(err);
        return false;
      }
      if (pending !== null) {
        pending.then(
          () => this.writeHead(true),
          (err: unknown) => this.responsePhaseFailed(err),
        );
        return false;
      }
    }
    return this.writeHead(false);
  }

  writeHead(paused: boolean): boolean {
    const rc = this.rc;
    if (rc.finished || rc.res.headersSent) return false;
    const r = rc.response!;
    r.headers[rc.runtime.config.settings.request_id_header] = rc.id;
    edgeHeaders(rc, r.headers);
    rc.status = r.status;
    if (r.bodyTransforms !== null && rc.method !== 'HEAD' && r.status !== 204 && r.status !== 304) {
      // A plugin rewrites the body: hold the head until the whole body is here.
      this.held = [];
      if (paused && rc.resumeUpstream !== null) rc.resumeUpstream();
      return true;
    }
    rc.res.writeHead(r.status, r.headers as Record<string, string | string[]>);
    if (paused && rc.resumeUpstream !== null) rc.resumeUpstream();
    return true;
  }

  responsePhaseFailed(err: unknown): void {
    const rc = this.rc;
    this.settled = true;
    const abort = rc.abortUpstream;
    rc.abortUpstream = null;
    const gw = gatewayOf(rc.runtime);
    if (err instanceof PhaseError && gw !== undefined) pluginFailed(gw, rc, err.inst, err.cause);
    else {
      rc.error = { code: 'PLUGIN_FAILED', message: err instanceof Error ? err.message : String(err) };
      sendError(rc, 'PLUGIN_FAILED');
    }
    abort?.(new Error('response phase failed'));
  }

  onData(chunk: Buffer): boolean {
    const rc = this.rc;
    if (this.held !== null) {
      this.held.push(chunk);
      this.heldBytes += chunk.length;
      if (this.heldBytes <= rc.response!.bodyLimit) return true;
      // Too large to rewrite: send it as the upstream sent it.
      const held = this.held;
      this.held = null;
      rc.response!.bodyTransforms = null;
      rc.res.writeHead(rc.response!.status, rc.response!.headers as Record<string, string | string[]>);
      let ok = true;
      for (const c of held) {
        rc.bytesSent += c.length;
        ok = rc.res.write(c);
      }
      if (!ok) rc.res.once('drain', onResponseDrain);
      return ok;
    }
    rc.bytesSent += chunk.length;
    const ok = rc.res.write(chunk);
    if (!ok) rc.res.once('drain', onResponseDrain);
    return ok;
  }

  onComplete(): void {
    if (this.target !== null) this.target = releaseTarget(this.target);
    const rc = this.rc;
    rc.abortUpstream = null;
    rc.resumeUpstream = null;
    if (this.held !== null) {
      const r = rc.response!;
      let body: Buffer;
      try {
        body = r.applyTransforms(Buffer.concat(this.held, this.heldBytes));
      } catch (err) {
        this.held = null;
        rc.error = { code: 'PLUGIN_FAILED', message: err instanceof Error ? err.message : String(err) };
        return sendError(rc, 'PLUGIN_FAILED');
      }
      this.held = null;
      delete r.headers['transfer-encoding'];
      r.headers['content-length'] = String(body.length);
      rc.bytesSent += body.length;
      rc.res.writeHead(r.status, r.headers as Record<string, string | string[]>);
      rc.res.end(body);
      return;
    }
    rc.res.end();
  }

  onError(err: Error): void {
    const rc = this.rc;
    rc.abortUpstream = null;
    const code = (err as { code?: string }).code ?? '';
    if (this.target !== null) {
      // A client that went away says nothing about the target's health.
      if (!rc.finished && !this.settled && !this.started)
        this.svc.balancer!.report(this.target, { failure: code.includes('TIMEOUT') ? 'timeout' : 'tcp' });
      this.target = releaseTarget(this.target);
    }
    if (rc.finished || this.settled || rc.res.writableEnded) return;
    if (!this.started && !rc.res.headersSent) {
      // A plugin's replacement body stream may fail with a catalogued error (a size limit, say).
      if (err instanceof ProxyError) {
        rc.error = { code: err.code, message: err.message };
        return sendError(rc, err.code);
      }
      if (this.retryable && this.attempt < this.svc.retries && isConnectFailure(code)) {
        return dispatch(rc, this.svc, this.attempt + 1);
      }
      rc.error = { code, message: err.message };
      return sendError(rc, upstreamErrorCode(code));
    }
    // The response already started: a clean end would pass a truncated body off as complete.
    rc.error = { code, message: err.message };
    rc.res.destroy(err);
  }
}

/** Lengths of the hop-by-hop header names: other names skip the lower-casing and the set lookup. */
const HOP_LENGTHS: readonly boolean[] = (() => {
  const out: boolean[] = [];
  for (const name of HOP_BY_HOP) out[name.length] = true;
  return out;
})();

/**
 * The common case (no response-phase plugin, plain HTTP/1): the upstream head goes to the client as a
 * flat name/value list, without building a header object.
 */
function writeHeadDirect(rc: RequestContext, status: number, raw: Buffer[]): boolean {
  const flat: string[] = [];
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1');
    if (HOP_LENGTHS[name.length] === true) {
      const lower = name.toLowerCase();
      if (HOP_BY_HOP.has(lower)) {
        if (lower === 'connection') connection = raw[i + 1]!.toString('latin1');
        continue;
      }
    }
    flat.push(name, raw[i + 1]!.toString('latin1'));
  }
  if (connection !== undefined) {
    const drop = connectionTokens(connection);
    if (drop.length > 0) {
      for (let i = flat.length - 2; i >= 0; i -= 2) if (drop.includes(flat[i]!.toLowerCase())) flat.splice(i, 2);
    }
  }
  flat.push(rc.runtime.config.settings.request_id_header, rc.id);
  rc.status = status;
  rc.res.writeHead(status, flat);
  return true;
}

function releaseTarget(t: Target): null {
  t.inflight--;
  return null;
}

function onResponseDrain(this: ServerResponse): void {
  const resume = (this as TrackedResponse)[kCtx]?.resumeUpstream;
  if (resume != null) resume();
}

function isConnectFailure(code: string): boolean {
  return (
    code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH'
  );
}

function upstreamErrorCode(code: string): ProxyErrorCode {
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return 'UPSTREAM_TIMEOUT';
  }
  return 'UPSTREAM_BAD_RESPONSE';
}

/** A plugin's phase failed: carries the plugin so the log line and the status can name it. */
class PhaseError extends Error {
  constructor(
    readonly inst: PluginInstance,
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

function runResponsePhase(rc: RequestContext, res: ResponseContext): Promise<void> | null {
  const slots = rc.compiled!.pipeline.slots;
  for (let i = 0; i < slots.length; i++) {
    const inst = pick(slots[i]!, rc);
    if (inst === null || inst.handlers.response === undefined) continue;
    let r: void | Promise<void>;
    try {
      r = inst.handlers.response(rc, res);
    } catch (err) {
      throw new PhaseError(inst, err);
    }
    if (r !== undefined) return continueResponsePhase(rc, res, i, r, inst);
  }
  return null;
}

async function continueResponsePhase(
  rc: RequestContext,
  res: ResponseContext,
  index: number,
  pending: Promise<void>,
  inst: PluginInstance,
): Promise<void> {
  try {
    await (inst.timeout > 0 ? withTimeout(pending, inst.timeout) : pending);
  } catch (err) {
    throw new PhaseError(inst, err);
  }
  const slots = rc.compiled!.pipeline.slots;
  for (let i = index + 1; i < slots.length; i++) {
    const next = pick(slots[i]!, rc);
    if (next === null || next.handlers.response === undefined) continue;
    try {
      const r = next.handlers.response(rc, res);
      if (r !== undefined) await (next.timeout > 0 ? withTimeout(r, next.timeout) : r);
    } catch (err) {
      throw new PhaseError(next, err);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Echo upstream (in-process)

async function answerEcho(gw: Gateway, rc: RequestContext, svc: CompiledService): Promise<void> {
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
        return sendExit(gw, rc);
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
  await respond(gw, rc, res, payload);
}

// ---------------------------------------------------------------------------------------------
// Gateway-made responses

/** Sends a response the gateway produced, after the route's response phase had its say. */
async function respond(
  gw: Gateway,
  rc: RequestContext,
  res: ResponseContext,
  body: Buffer | string | null,
): Promise<void> {
  rc.response = res;
  if (rc.compiled?.pipeline.hasResponse) {
    try {
      const pending = runResponsePhase(rc, res);
      if (pending !== null) await pending;
    } catch (err) {
      if (err instanceof PhaseError) return pluginFailed(gw, rc, err.inst, err.cause);
      gw.log.error({ request_id: rc.id, err: errInfo(err) }, 'response phase failed');
      return sendError(rc, 'PLUGIN_FAILED');
    }
  }
  if (res.bodyTransforms !== null && body !== null) {
    try {
      body = res.applyTransforms(typeof body === 'string' ? Buffer.from(body) : body);
    } catch (err) {
      gw.log.error({ request_id: rc.id, err: errInfo(err) }, 'response body transform failed');
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

async function sendExit(gw: Gateway, rc: RequestContext, by: PluginInstance | null = null): Promise<void> {
  const headers: Record<string, HeaderValue | undefined> = {};
  if (rc.exitHeaders !== null) for (const k in rc.exitHeaders) headers[k.toLowerCase()] = rc.exitHeaders[k];
  let body: Buffer | string | null = null;
  const b = rc.exitBody;
  const st = rc.exitStatus;
  if (!Number.isInteger(st) || st < 200 || st > 599) {
    const err = new Error(`exit() status must be an integer from 200 to 599, not ${String(st)}`);
    if (by !== null) return pluginFailed(gw, rc, by, err);
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
        if (by !== null) return pluginFailed(gw, rc, by, err);
        throw err;
      }
      headers['content-type'] ??= 'application/json; charset=utf-8';
    }
    headers['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : body.length);
  } else if (rc.exitStatus !== 204 && rc.exitStatus !== 304 && (rc.exitStatus >= 200 || rc.exitStatus < 100)) {
    headers['content-length'] = '0';
  }
  await respond(gw, rc, new ResponseContext(rc.exitStatus, headers, true), body);
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

function redirectToHttps(gw: Gateway, rc: RequestContext): void {
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
  const port = gw.httpsPort !== null && gw.httpsPort !== 443 && !rc.trustedPeer ? `:${gw.httpsPort}` : '';
  const host = rc.hostHeader.replace(/:\d+$/, '');
  const location = `https://${host}${port}${rc.raw.url ?? '/'}`;
  writeFinal(rc, status, { location, 'content-length': '0' }, null);
}

// ---------------------------------------------------------------------------------------------
// Request body timeout and completion

function startBodyTimer(rc: RequestContext): void {
  const ms = rc.runtime.config.settings.client_body_timeout;
  if (ms > 0) {
    (rc.raw as IncomingMessage & { [kCtx]?: RequestContext })[kCtx] = rc;
    rc.raw.setTimeout(ms, onBodyTimeout);
    rc.raw.once('end', onBodyEnd);
  }
}

function onBodyTimeout(this: IncomingMessage): void {
  const rc = (this as IncomingMessage & { [kCtx]?: RequestContext })[kCtx];
  if (rc !== undefined && !rc.res.headersSent) {
    const abort = rc.abortUpstream;
    rc.abortUpstream = null;
    rc.error = { code: 'REQUEST_TIMEOUT', message: 'client body timeout' };
    sendError(rc, 'REQUEST_TIMEOUT');
    abort?.(new Error('client body timeout'));
    rc.res.once('finish', destroyClientSocket);
    return;
  }
  this.socket?.destroy();
}

function destroyClientSocket(this: ServerResponse): void {
  this.socket?.destroy();
}

function onBodyEnd(this: IncomingMessage): void {
  this.setTimeout(0);
}

function onResponseClose(this: ServerResponse): void {
  const rc = (this as TrackedResponse)[kCtx];
  if (rc === undefined || rc.finished) return;
  rc.finished = true;
  if (!this.writableFinished) {
    // The client went away (or we destroyed the response): cancel the upstream exchange.
    rc.abortUpstream?.(new Error('client closed the connection'));
    rc.error ??= { code: 'CLIENT_CLOSED', message: 'client closed the connection' };
    if (rc.status === 0) rc.status = 499;
  }
  rc.abortUpstream = null;
  finish(rc);
}

function finish(rc: RequestContext): void {
  const rt = rc.runtime;
  const latency = performance.now() - rc.startedAt;
  const gw = gatewayOf(rt);
  rc.bytesReceived = requestLength(
    rc,
    Math.max(0, (rc.raw.socket?.bytesRead ?? rc.bytesReceivedAtStart) - rc.bytesReceivedAtStart),
  );
  const route = rc.compiled;
  if (route?.pipeline.hasLog) {
    const entry = new LogEntryImpl(rc.status, rc.bytesSent, rc.bytesReceived, latency, rc.upstreamLatency, rc.error);
    const slots = route.pipeline.slots;
    for (let i = 0; i < slots.length; i++) {
      const inst = pick(slots[i]!, rc);
      if (inst === null || inst.handlers.log === undefined) continue;
      try {
        inst.handlers.log(rc, entry);
      } catch (err) {
        gw?.log.error({ plugin: inst.name, request_id: rc.id, err: errInfo(err) }, 'log phase failed');
      }
    }
  }
  if (gw !== undefined) {
    if (gw.accessLog) writeAccessLine(gw, rc, latency);
    for (const o of gw.observers) o(rc);
  }
  rt.inflight--;
  if (rt.retired && rt.inflight === 0) void rt.close();
}

/**
 * Bytes of the request as nginx's `$request_length` counts them (request line, headers, body).
 * The socket's byte count alone cannot tell: by the time a request is handled, its head and often
 * its body have already been read. A chunked body without Content-Length counts what the socket read.
 */
function requestLength(rc: RequestContext, socketBytes: number): number {
  const req = rc.raw;
  const raw = req.rawHeaders;
  let n = rc.method.length + (req.url?.length ?? 0) + 13;
  for (let i = 0; i < raw.length; i += 2) n += raw[i]!.length + raw[i + 1]!.length + 4;
  const cl = rc.headers['content-length'];
  if (typeof cl === 'string') {
    const len = Number(cl);
    if (len > 0) n += len;
  } else if (rc.headers['transfer-encoding'] !== undefined) {
    n += socketBytes;
  }
  return n;
}

/** One JSON line per request, serialized by hand: this runs for every request, pino's generic path is slower. */
function writeAccessLine(gw: Gateway, rc: RequestContext, latency: number): void {
  const route = rc.compiled;
  const consumer = rc.consumer === null ? 'null' : JSON.stringify(rc.consumer.username ?? rc.consumer.id);
  const upstream = rc.upstreamLatency < 0 ? 'null' : String(Math.round(rc.upstreamLatency * 1000) / 1000);
  const error = rc.error === null ? '' : `,"error":${JSON.stringify(rc.error.code)}`;
  gw.accessStream!.write(
    `{"level":"info","time":"${isoNow()}","type":"access","request_id":${rc.trustedPeer ? JSON.stringify(rc.id) : `"${rc.id}"`},"client_ip":"${rc.clientIp}","method":"${rc.method}","path":${JSON.stringify(rc.path)},"route":${route === null ? 'null' : route.labelJson},"service":${route?.service == null ? 'null' : route.service.labelJson},"consumer":${consumer},"status":${rc.status},"bytes_sent":${rc.bytesSent},"bytes_received":${rc.bytesReceived},"latency_ms":${Math.round(latency * 1000) / 1000},"upstream_latency_ms":${upstream}${error},"msg":"request"}\n`,
  );
}

// Runtimes know their gateway through a weak map, so RequestContext stays a plain data object.
const gateways = new WeakMap<Runtime, Gateway>();
function gatewayOf(rt: Runtime): Gateway | undefined {
  return gateways.get(rt);
}
export function attachRuntime(gw: Gateway, rt: Runtime): void {
  gateways.set(rt, gw);
}

// ---------------------------------------------------------------------------------------------
// Upgrade (WebSocket passes through; h2c never does)

function handleUpgrade(gw: Gateway, req: IncomingMessage, socket: Socket, head: Buffer): void {
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
  void handle(gw, req, res, false, head);
}

/** Relays a WebSocket handshake to the upstream; after its 101, bytes flow both ways untouched. */
function proxyWebSocket(rc: RequestContext, svc: CompiledService, head: Buffer): void {
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
    rc.error = { code: err.code ?? '', message: err.message };
    sendError(rc, upstreamErrorCode(err.code ?? ''));
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

export { kCtx };
