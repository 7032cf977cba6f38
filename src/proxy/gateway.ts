// The data path: client request → checks → route → access phase → upstream (undici dispatch) → response phase → client.
// This module holds the flow; each step lives in its own module (request-checks, phases, exchange,
// reply, websocket, request-end).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { ProxyError, type ProxyErrorCode } from '../errors.ts';
import { bindRequestLines, inRequestScope, logCaptureActive } from '../lib/log/capture.ts';
import { accessSink, type LineSink, type Logger } from '../log.ts';
import type { RequestContext } from '../pipeline/request.ts';
import type { CompiledService, Runtime } from '../pipeline/runtime.ts';
import { useResolver } from '../upstream/dns.ts';
import { clientWentAway, errInfo, kCtx, ProxyRequest, type TrackedResponse } from './context.ts';
import { dispatch } from './exchange.ts';
import { grpcRefusal } from './grpc.ts';
import { runPhase } from './phases.ts';
import { waitForTurn } from './pipelining.ts';
import { isPluginBodyError, pluginBodyFailed, pluginBodyStream, watchEchoBody } from './plugin-body.ts';
import { onClientError, refusedBodyOf } from './refused.ts';
import { answerEcho, redirectToHttps, sendError } from './reply.ts';
import { prepare, refuseClientBody } from './request-checks.ts';
import { onResponseClose } from './request-end.ts';
import { handleConnect, handleUpgrade, proxyWebSocket } from './websocket.ts';

/** Called once per finished request (metrics, tests). */
export type RequestObserver = (rc: RequestContext) => void;

export class Gateway {
  runtime: Runtime;
  readonly log: Logger;
  readonly accessLog: boolean;
  /** The log destination, written to directly for access lines. */
  readonly accessStream: LineSink | null;
  readonly observers: RequestObserver[] = [];
  /** Requests finished (answered and logged) since start, across reloads: Kong's `total_requests`. */
  requestsFinished = 0;
  /** The serving runtime and the retired ones still draining requests. */
  readonly runtimes = new Set<Runtime>();
  /** Port of the first ssl listener, for https redirects; null without one. */
  httpsPort: number | null = null;
  /** Listener callbacks, bound once. */
  readonly onRequest: (req: IncomingMessage, res: ServerResponse) => void;
  readonly onCheckContinue: (req: IncomingMessage, res: ServerResponse) => void;
  readonly onCheckExpectation: (req: IncomingMessage, res: ServerResponse) => void;
  readonly onUpgrade: (req: IncomingMessage, socket: Socket, head: Buffer) => void;
  readonly onConnect: (req: IncomingMessage, socket: Socket) => void;
  readonly onClientError: (err: Error, socket: Duplex) => void;

  constructor(runtime: Runtime, log: Logger, opts: { accessLog?: boolean } = {}) {
    this.runtime = runtime;
    this.runtimes.add(runtime);
    useResolver(runtime.config.settings);
    this.log = log;
    this.accessStream = accessSink(log);
    // Independent of log_level, as Kong's proxy_access_log is of its (error log) log_level: an
    // operator quieting the log with warn kept no record of traffic. --no-access-log turns it off.
    this.accessLog = (opts.accessLog ?? true) && this.accessStream !== null;
    this.onRequest = (req, res) => this.handle(req, res, false);
    this.onCheckContinue = (req, res) => this.handle(req, res, true);
    // An Expect other than 100-continue (RFC 9110 10.1.1): 417, answered, logged and counted as any refusal.
    this.onCheckExpectation = (req, res) => this.refuse(req, res, 'EXPECTATION_FAILED');
    this.onUpgrade = (req, socket, head) => handleUpgrade(this, req, socket, head);
    // node:http passes CONNECT the raw socket; the HTTP/2 compatibility layer (on a TLS listener,
    // which serves HTTP/1.1 through node:http too) passes a response on the stream.
    this.onConnect = (req, socketOrResponse) => {
      if (req.httpVersionMajor === 2) this.refuse(req, socketOrResponse as unknown as ServerResponse, 'BAD_REQUEST');
      else handleConnect(this, req, socketOrResponse as Socket);
    };
    this.onClientError = (err, socket) => onClientError(this, err, socket);
  }

  /** Swaps in a new runtime; the old one closes once its in-flight requests are done. */
  swap(next: Runtime): Runtime {
    const prev = this.runtime;
    this.runtimes.add(next);
    this.runtime = next;
    // The plugins' own connections resolve names with the serving config's dns_* settings: a
    // config that failed to load after compiling (or never got here) does not change them.
    useResolver(next.config.settings);
    prev.retired = true;
    // Its requests in flight may last (a WebSocket tunnel, a long download): its probes stop now,
    // not at its close, so they do not run beside the new config's or on targets it removed.
    for (const s of prev.services.values()) s.balancer?.stopActiveChecks();
    if (prev.inflight === 0) this.release(prev);
    return prev;
  }

  /** A retired runtime whose last request ended: its pools and plugin instances close. */
  release(rt: Runtime): void {
    if (!this.runtimes.delete(rt)) return;
    void rt.close();
  }

  /** Retires and closes every runtime, the serving one included (shutdown). */
  async closeRuntimes(): Promise<void> {
    const all = [...this.runtimes];
    this.runtimes.clear();
    for (const rt of all) rt.retired = true;
    await Promise.allSettled(all.map((rt) => rt.close()));
  }

  /**
   * One request, synchronous up to the upstream dispatch while every access-phase plugin answers
   * synchronously (the common case costs no promise); continues in `afterAccess` otherwise.
   */
  handle(req: IncomingMessage, res: ServerResponse, expectContinue: boolean, upgradeHead: Buffer | null = null): void {
    // While OTLP log export captures (opentelemetry's logs_endpoint), each request is served in
    // its own async scope, so the lines written while serving it are its own (Kong's request logs).
    if (logCaptureActive()) return inRequestScope(serve, this, req, res, expectContinue, upgradeHead);
    this.serve(req, res, expectContinue, upgradeHead);
  }

  /** `handle`, in the request's log scope when there is one. */
  serve(req: IncomingMessage, res: ServerResponse, expectContinue: boolean, upgradeHead: Buffer | null): void {
    // A pipelined request whose response waits behind another's: handled at its turn.
    if (res.socket === null && req.httpVersionMajor !== 2) {
      waitForTurn(req, res, () => this.handle(req, res, expectContinue, upgradeHead));
      return;
    }
    const rc = this.begin(req, res);
    rc.continuePending = expectContinue;
    try {
      const failure = prepare(rc, req);
      const refusedBody = refusedBodyOf(req);
      if (refusedBody !== undefined) return refuseClientBody(rc, refusedBody.message, refusedBody.cause, req.socket);
      if (failure !== null) return sendError(rc, failure);
      const route = rc.compiled!;
      if (route.grpc) {
        const refusal = grpcRefusal(rc, route.http);
        if (refusal !== null) return sendError(rc, refusal);
        rc.grpc = rc.grpcCall = true;
        // Kong: only an https-only route turns plain http away; an http-only route also serves https.
      } else if (rc.scheme === 'http' && !route.http) return redirectToHttps(rc);
      // Kong refuses the protocol mismatches above before it collects the route's plugins: only
      // the global ones see those answers. From here on the route's plugins run, every answer included.
      rc.routePlugins = true;
      if (route.pipeline.hasAccess) {
        const go = runPhase(rc, 'access', null);
        if (go === false) return;
        if (go !== true) return void this.afterAccess(rc, go, expectContinue, upgradeHead);
      }
      this.proxy(rc, expectContinue, upgradeHead);
    } catch (err) {
      this.failed(rc, err);
    }
  }

  /** The request's record, counted in flight on the serving runtime until its response closes. */
  private begin(req: IncomingMessage, res: ServerResponse): ProxyRequest {
    const rt = this.runtime;
    rt.inflight++;
    const rc = new ProxyRequest(this, rt, req, res, performance.now());
    if (logCaptureActive()) bindRequestLines(rc);
    (res as TrackedResponse)[kCtx] = rc;
    res.on('close', onResponseClose); // 'close' comes once; `on` spares the once-wrapper
    return rc;
  }

  /**
   * Answers a request the gateway does not serve (a CONNECT, an upgrade other than WebSocket) with
   * `code`, or with what the request checks refuse first, read, answered and logged as any other.
   */
  refuse(req: IncomingMessage, res: ServerResponse, code: ProxyErrorCode): void {
    const rc = this.begin(req, res);
    try {
      // The checks read the request for the log; their refusal wins, but no route is no reason here.
      const failure = prepare(rc, req);
      sendError(rc, failure === null || failure === 'ROUTE_NOT_FOUND' ? code : failure);
    } catch (err) {
      this.failed(rc, err);
    }
  }

  /** The rest of a request whose access phase went asynchronous. */
  private async afterAccess(
    rc: ProxyRequest,
    access: Promise<boolean>,
    expectContinue: boolean,
    upgradeHead: Buffer | null,
  ): Promise<void> {
    try {
      if (await access) this.proxy(rc, expectContinue, upgradeHead);
    } catch (err) {
      this.failed(rc, err);
    }
  }

  /** After the access phase let the request through: to the service (upstream, WebSocket or echo). */
  private proxy(rc: ProxyRequest, expectContinue: boolean, upgradeHead: Buffer | null): void {
    const svc = rc.compiled!.service;
    if (svc === null) return sendError(rc, 'NO_SERVICE');
    if (expectContinue) rc.sendContinue();
    if (upgradeHead !== null) return proxyWebSocket(rc, svc, upgradeHead);
    if (svc.kind === 'echo') return void this.echo(rc, svc);
    // HTTP/2: nghttp2 hands frames over one at a time, so a RST_STREAM read in the same packet as its
    // HEADERS is seen only after this event. One turn of the loop later, a stream the client has
    // already reset ("rapid reset", CVE-2023-44487) costs no upstream connection.
    if (rc.onSession) return void setImmediate(dispatchUnlessReset, this, rc, svc);
    dispatch(rc, svc, 0);
  }

  private async echo(rc: ProxyRequest, svc: CompiledService): Promise<void> {
    try {
      const answered = answerEcho(rc, svc);
      const stream = pluginBodyStream(rc);
      if (stream !== null) watchEchoBody(rc, stream, svc.writeTimeout);
      await answered;
    } catch (err) {
      if (isPluginBodyError(rc, err)) return pluginBodyFailed(rc, err);
      this.failed(rc, err);
    }
  }

  /** A throw on the data path: a catalogued error answers with its code, anything else is PLUGIN_FAILED. */
  failed(rc: ProxyRequest, err: unknown): void {
    try {
      if (err instanceof ProxyError) return sendError(rc, err.code);
      if (clientWentAway(rc, err)) this.log.info({ err: errInfo(err), request_id: rc.id }, 'the client went away');
      else this.log.error({ err: errInfo(err), request_id: rc.id }, 'request failed');
      sendError(rc, 'PLUGIN_FAILED');
    } catch (again) {
      // The error answer itself failed: thrown from here, it would end the process (the callers
      // are the last catch of their async paths). This request's connection ends instead.
      this.log.error({ err: errInfo(again), request_id: rc.id }, 'error answer failed');
      rc.res.destroy();
    }
  }
}

function serve(
  gw: Gateway,
  req: IncomingMessage,
  res: ServerResponse,
  expectContinue: boolean,
  upgradeHead: Buffer | null,
): void {
  gw.serve(req, res, expectContinue, upgradeHead);
}

/** The upstream dispatch of an HTTP/2 request, a turn of the loop later: nothing if its stream has closed. */
function dispatchUnlessReset(gw: Gateway, rc: ProxyRequest, svc: CompiledService): void {
  try {
    dispatch(rc, svc, 0);
  } catch (err) {
    gw.failed(rc, err);
  }
}
