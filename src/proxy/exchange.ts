// The upstream exchange: one undici dispatch per attempt, its handler streaming the upstream's
// answer to the client with backpressure, the response phase in between, retries of attempts that
// never reached an upstream.
import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import { bodyFailure, hasRequestBody } from '../lib/request-body.ts';
import type { HeaderValue } from '../pipeline/plugin.ts';
import { ResponseContext } from '../pipeline/response.ts';
import type { CompiledService } from '../pipeline/runtime.ts';
import { hstsHeader } from '../tls.ts';
import type { Target } from '../upstream/balancer.ts';
import { attemptFailed, lastAttemptFailed, recordAttempt } from './attempts.ts';
import { addCharset, relayedValue } from './charset.ts';
import { batchChunk, flushBatch } from './chunk-batch.ts';
import { ClientBody, clientBody } from './client-body.ts';
import type { ProxyRequest } from './context.ts';
import { debugHeaders, wantsDebug } from './debug.ts';
import { isGrpcCall, isGrpcType, trailerObject } from './grpc.ts';
import {
  appendHeader,
  connectionTokens,
  hopByHopName,
  rawHeaderStrings,
  unrelayedCoding,
  upstreamResponseHeaders,
} from './headers.ts';
import { endIfBodyUnread } from './linger.ts';
import { runPhase } from './phases.ts';
import {
  isPluginBodyError,
  pluginBodyFailed,
  pluginBodyMoved,
  pluginBodyStream,
  watchPluginBody,
} from './plugin-body.ts';
import { noteRelayed } from './relay-gc.ts';
import { edgeHeaders, sendError, transformFailed } from './reply.ts';
import { UPSTREAM_WRITE_TIMEOUT, watchUpstreamWrite } from './request-checks.ts';
import {
  answerSpelling,
  type HeadSpelling,
  relayableReason,
  relayedName,
  takeBackHead,
  writeResponseHead,
} from './response-head.ts';
import { waitForDrain, watchUnsent } from './send-timeout.ts';
import {
  INTERIM_MESSAGES,
  InterimCount,
  isConnectFailure,
  isRetryableFailure,
  passiveAnswer,
  passiveFailure,
  upstreamErrorCode,
} from './upstream-failures.ts';
import { upstreamHeaderList, upstreamTarget } from './upstream-request.ts';

const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

export function dispatch(rc: ProxyRequest, svc: CompiledService, attempt: number): void {
  if (rc.finished) return;
  let body = rc.upstreamBody as Dispatcher.DispatchOptions['body'];
  // The client's own body goes as what each read of it brought, not chunk by chunk (client-body.ts).
  const own = body === null ? hasRequestBody(rc) : body === rc.raw;
  if (own) body = clientBody(rc.raw);
  if (attempt === 0) rc.upstreamStartedAt = performance.now();
  const stream = pluginBodyStream(rc);
  if (stream !== null) {
    // A replacement body that already failed would leave undici waiting for bytes that never come.
    const failed = bodyFailure(stream);
    if (failed !== null) return pluginBodyFailed(rc, failed);
    watchPluginBody(rc, stream, svc.writeTimeout);
  }
  // Every http service has a balancer (a plain service: of one target); it picks a healthy target,
  // whose pool carries the request.
  const target = svc.balancer === null ? null : svc.balancer.pick(rc);
  if (target === null) return sendError(rc, 'UPSTREAM_UNAVAILABLE');
  recordAttempt(rc, target.host, target.port);
  const headers = upstreamHeaderList(rc, target.hostHeader, target.poolSendsHostHeader) as string[];
  rc.grpcCall = isGrpcCall(rc, svc); // gRPC servers ask for `te: trailers` (RFC 9113 8.2.2 keeps it)
  if (rc.grpcCall && rc.headerOverrides?.get('te') !== 'trailers') headers.push('te', 'trailers');
  const opts: Dispatcher.DispatchOptions = {
    path: upstreamTarget(rc, svc),
    method: (rc.upstreamMethod ?? rc.method) as Dispatcher.HttpMethod,
    headers,
    body,
    headersTimeout: svc.readTimeout,
    bodyTimeout: svc.readTimeout,
  };
  if (own) watchUpstreamWrite(rc, body as ClientBody, svc.writeTimeout);
  const ex = new UpstreamExchange(rc, svc, attempt, body);
  target.inflight++;
  ex.target = target;
  target.pool.dispatch(opts, ex);
}

/** undici dispatch handler for one attempt: streams the upstream response to the client with backpressure. */
class UpstreamExchange implements Dispatcher.DispatchHandler {
  readonly rc: ProxyRequest;
  readonly svc: CompiledService;
  readonly attempt: number;
  readonly retryable: boolean;
  /** The client's body streams to the upstream: if the answer ends first, the rest is never read. */
  readonly sendsClientBody: boolean;
  started = false;
  /** undici took the request onto a connection (it writes the request next): a failure after this may have reached the upstream. */
  connected = false;
  /** The client already got its answer (an error we chose); later upstream events are ignored. */
  settled = false;
  /** Body chunks held for a response-phase body transform; null when streaming straight through. */
  held: Buffer[] | null = null;
  /** How the names edgeHeaders added to the head go out on HTTP/1.1; null when it added none. */
  private edgeSpelling: HeadSpelling = null;
  heldBytes = 0;
  /** A response plugin filters the body as it streams (`filterBody`): the answer has a body to filter. */
  filtering = false;
  /** The upstream's reason phrase, relayed with its status (`relayableReason`). */
  reason = '';
  /** The upstream's Content-Length, before the response phase (`streamedLength`). */
  upstreamLength: HeaderValue | undefined = undefined;
  /** The balancer target of this attempt (upstreams with targets), released when the exchange ends. */
  target: Target | null = null;
  /** When the attempt was dispatched (performance.now()), for a latency balancer; else 0. */
  readonly sentAt: number;
  readonly interim = new InterimCount();
  /** Body chunks relayed so far; past the first, each turn's are written as one (`batchChunk`). */
  chunks = 0;
  batch: Buffer[] | null = null;
  batchBytes = 0;

  constructor(rc: ProxyRequest, svc: CompiledService, attempt: number, body: unknown) {
    this.rc = rc;
    this.svc = svc;
    this.attempt = attempt;
    this.retryable = body === null && IDEMPOTENT.has(rc.upstreamMethod ?? rc.method);
    // Also a plugin's stream over it (grpc-web's base64 decoding, request-size-limiting's count):
    // the client's bytes are just as unread when the answer ends first.
    this.sendsClientBody =
      body instanceof ClientBody || (body !== null && !Buffer.isBuffer(body) && hasRequestBody(rc));
    this.sentAt = svc.balancer?.byLatency === true ? performance.now() : 0;
  }

  onConnect(abort: (err?: Error) => void): void {
    this.connected = true;
    if (this.rc.finished) return abort();
    this.rc.abortUpstream = abort;
    if (this.rc.pluginBodyTimeout !== 0) pluginBodyMoved(this.rc);
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void, statusText?: string): boolean {
    const rc = this.rc;
    if (status < 200) {
      // 1xx interim responses are not relayed; an endless run of them is not waited on.
      const refused = this.interim.next(this.svc);
      return refused === null ? true : this.refuseAnswer(INTERIM_MESSAGES[refused], refused);
    }
    this.started = true;
    rc.upstreamStatus = status;
    if (this.target !== null) this.svc.balancer!.report(this.target, passiveAnswer(status));
    rc.upstreamLatency = performance.now() - rc.upstreamStartedAt;
    if (status > 599) return this.refuseAnswer(`upstream answered status ${status}`, 'UPSTREAM_BAD_RESPONSE');
    const coding = unrelayedCoding(raw);
    if (coding !== null)
      return this.refuseAnswer(`upstream sent unknown Transfer-Encoding: "${coding}"`, 'UPSTREAM_BAD_RESPONSE');
    rc.resumeUpstream = resume;
    this.reason = relayableReason(statusText);
    if (!rc.compiled!.pipeline.hasResponse) {
      const refused = writeHeadDirect(rc, status, raw, this.reason);
      if (refused !== null) return this.refuseHead(refused);
      rc.upstreamAnswered = true;
      return true;
    }
    rc.upstreamAnswered = true;
    // How the upstream spelled its header names, for the head that goes out (`spelledHead`).
    const spelling = new Map<string, string>();
    const headers: Record<string, HeaderValue | undefined> = upstreamResponseHeaders(raw, spelling);
    this.upstreamLength = headers['content-length'];
    const res = new ResponseContext(status, headers, false, spelling);
    rc.response = res;
    if (rc.compiled!.pipeline.hasResponse) {
      const r = runPhase(rc, 'response', res);
      if (r === false) {
        this.abandon();
        return false;
      }
      if (r !== true) {
        r.then((ok) => (ok ? this.writeHead(true) : this.abandon()));
        return false;
      }
    }
    return this.writeHead(false);
  }

  writeHead(paused: boolean): boolean {
    const rc = this.rc;
    if (rc.finished || rc.res.headersSent) return false;
    const r = rc.response!;
    const settings = rc.runtime.config.settings;
    r.headers[settings.request_id_header] = rc.id;
    addCharset(r.headers, r.status, settings.nginx_http_charset);
    this.edgeSpelling = edgeHeaders(rc, r.headers);
    if (rc.hashCookie !== null)
      appendHeader(r.headers as Record<string, HeaderValue>, 'set-cookie', rc.hashCookie.setCookie);
    rc.status = r.status;
    const bodyful = rc.method !== 'HEAD' && r.status !== 204 && r.status !== 205 && r.status !== 304;
    this.filtering = r.bodyFilters !== null && bodyful;
    if (r.bodyTransforms !== null && bodyful) {
      // A plugin rewrites the body: hold the head until the whole body is here.
      this.held = [];
      if (paused && rc.resumeUpstream !== null) rc.resumeUpstream();
      return true;
    }
    this.streamedLength();
    if (!this.head(r.status, r.headers)) return false;
    if (paused && rc.resumeUpstream !== null) rc.resumeUpstream();
    return true;
  }

  /**
   * Writes the upstream answer's head; false when it could not go out and the client got an
   * error instead. A header value node refuses can only come from a response plugin (the
   * upstream's were parsed already): that is the plugin's failure, a 500, not an aborted upstream.
   */
  private head(status: number, headers: Record<string, HeaderValue | undefined>): boolean {
    let refused: string | null;
    try {
      // A response plugin that changed the status changed the line: the upstream's reason goes with its status only.
      const reason = status === this.rc.upstreamStatus ? this.reason : '';
      refused = writeResponseHead(this.rc, status, headers, reason, this.rc.response!.spelling, this.edgeSpelling);
    } catch (err) {
      const message = `a response header cannot be sent: ${(err as Error).message}`;
      this.rc.gw.log.error({ phase: 'response', request_id: this.rc.id, err: { message } }, 'plugin failed');
      return this.refuseAnswer(message, 'PLUGIN_FAILED');
    }
    if (refused !== null) return this.refuseHead(refused);
    return true;
  }

  /**
   * The upstream's body goes out as it comes, unchanged: its Content-Length is the upstream's,
   * which undici holds the body to, whatever a response plugin set; without one (a chunked
   * answer), a plugin's is dropped and chunked framing carries the body. A wrong length cut the
   * answer short, or left bytes the client read as the start of its next answer on the connection
   * (a desync). A plugin that removed the header leaves it removed (chunked framing is right for
   * any body). A HEAD answer's may announce its GET's (RFC 9110 9.3.2), and a 204 or 304 has no body.
   */
  private streamedLength(): void {
    const r = this.rc.response!;
    if (this.filtering) {
      // A filter changes the body's length as it goes: chunked framing carries it.
      delete r.headers['content-length'];
      return;
    }
    const set = r.headers['content-length'];
    if (set === undefined || set === this.upstreamLength) return;
    if (this.rc.method === 'HEAD' || r.status === 204 || r.status === 304) return;
    if (this.upstreamLength === undefined) delete r.headers['content-length'];
    else r.headers['content-length'] = this.upstreamLength;
  }

  /** Counts held bytes against the process's budget; false when it is spent and the client got the 503. */
  private holds(bytes: number): boolean {
    try {
      this.rc.holdBody(bytes);
      return true;
    } catch {
      this.held = null;
      this.refuseAnswer('the budget for bodies held in memory is spent', 'BODY_MEMORY_FULL');
      return false;
    }
  }

  /** Node refused the head (HTTP/2: a header repeated that must have one value). */
  refuseHead(why: string): false {
    return this.refuseAnswer(`the response head cannot go out on HTTP/2: ${why}`, 'UPSTREAM_BAD_RESPONSE');
  }

  /** The upstream's answer cannot be relayed: the client gets the gateway's 502 (or 504), the upstream exchange ends. */
  refuseAnswer(
    message: string,
    code: 'UPSTREAM_BAD_RESPONSE' | 'UPSTREAM_TIMEOUT' | 'PLUGIN_FAILED' | 'BODY_MEMORY_FULL',
  ): false {
    const rc = this.rc;
    this.settled = true;
    rc.resumeUpstream = null;
    rc.upstreamAnswered = false;
    rc.error = { code, message };
    sendError(rc, code);
    const abort = rc.abortUpstream;
    rc.abortUpstream = null;
    abort?.(new Error(message));
    return false;
  }

  /** The response phase answered the client itself (a plugin failed): the upstream's answer is dropped. */
  abandon(): void {
    const rc = this.rc;
    this.settled = true;
    const abort = rc.abortUpstream;
    rc.abortUpstream = null;
    abort?.(new Error('response phase failed'));
  }

  /** A request body chunk written to the upstream: its buffer, too, waits for a scavenge. */
  onBodySent(sent: number): void {
    // undici passes the chunk it wrote (its type declarations say a size): count either.
    noteRelayed(typeof sent === 'number' ? sent : (sent as { length: number }).length);
    if (this.rc.pluginBodyTimer !== null) this.rc.pluginBodyTimer.refresh();
  }

  onData(chunk: Buffer): boolean {
    const rc = this.rc;
    // A 205 has no content (RFC 9110 15.3.6: a server must not send any); what an upstream sends
    // after its head is dropped. node ends an HTTP/2 stream at a 205's head: a write after it
    // reset the stream, and the client never saw the 205.
    if (rc.status === 205) return true;
    if (this.filtering) {
      try {
        chunk = rc.response!.filterChunk(chunk, rc);
      } catch (err) {
        return this.filterFailed(err);
      }
      if (chunk.length === 0) return true;
    }
    if (this.held !== null) {
      this.heldBytes += chunk.length;
      if (this.heldBytes <= rc.response!.bodyLimit) {
        // A body held for a rewrite cannot go out unrewritten (remove.json may hide a field): with
        // the process's budget for held bodies spent, the answer is the 503 instead.
        if (!this.holds(chunk.length)) return false;
        this.held.push(chunk);
        return true;
      }
      this.held.push(chunk);
      // Too large to rewrite: send it as the upstream sent it.
      const held = this.held;
      this.held = null;
      rc.response!.bodyTransforms = null;
      this.streamedLength();
      if (!this.head(rc.response!.status, rc.response!.headers)) return false;
      let ok = true;
      for (const c of held) {
        rc.bytesSent += c.length;
        ok = rc.res.write(c);
      }
      if (!ok) waitForDrain(rc);
      return ok;
    }
    rc.bytesSent += chunk.length;
    noteRelayed(chunk.length);
    if (++this.chunks > 1) return batchChunk(this, chunk);
    const ok = rc.res.write(chunk);
    if (!ok) waitForDrain(rc);
    return ok;
  }

  onComplete(trailers?: unknown): void {
    flushBatch(this);
    if (this.target !== null) {
      // Kong's latency balancer times the whole answer, to its last byte (nginx's response time).
      if (this.sentAt !== 0) this.svc.balancer!.answeredIn(this.target, this.sentAt);
      this.target = releaseTarget(this.target);
    }
    const rc = this.rc;
    if (rc.grpcCall && !relayTrailers(rc, trailers)) return;
    rc.abortUpstream = null;
    rc.resumeUpstream = null;
    let tail: Buffer | null = null;
    if (this.filtering) {
      try {
        tail = rc.response!.filterEnd(trailerObject(trailers), rc);
      } catch (err) {
        this.held = null;
        return transformFailed(rc, err);
      }
      if (tail.length === 0) tail = null;
      else if (this.held !== null) {
        // Held with the body for the rewrite, so counted as its chunks are (past a rewrite's own
        // limit, applyTransforms skips it).
        if (!this.holds(tail.length)) return;
        this.held.push(tail);
        this.heldBytes += tail.length;
        tail = null;
      }
    }
    if (this.held !== null) {
      const r = rc.response!;
      let body: Buffer;
      try {
        body = r.applyTransforms(Buffer.concat(this.held, this.heldBytes));
      } catch (err) {
        this.held = null;
        return transformFailed(rc, err);
      }
      this.held = null;
      delete r.headers['transfer-encoding'];
      r.headers['content-length'] = String(body.length);
      if (!this.head(r.status, r.headers)) return;
      rc.bytesSent += body.length;
      rc.res.end(body);
      this.ended();
      return;
    }
    if (tail !== null) rc.bytesSent += tail.length;
    rc.res.end(tail ?? undefined);
    this.ended();
  }

  /** A response plugin's body filter failed on a chunk: the upstream exchange ends, the plugin's failure answers (or cuts) it. */
  private filterFailed(err: unknown): false {
    const rc = this.rc;
    this.settled = true;
    this.held = null;
    rc.resumeUpstream = null;
    const abort = rc.abortUpstream;
    rc.abortUpstream = null;
    transformFailed(rc, err);
    abort?.(new Error('a response body filter failed'));
    return false;
  }

  /** The answer is out: watched until the client has it, its connection ended if its body is still coming. */
  ended(): void {
    watchUnsent(this.rc);
    if (this.sendsClientBody) endIfBodyUnread(this.rc);
  }

  onError(err: Error): void {
    const rc = this.rc;
    rc.abortUpstream = null;
    const code = (err as { code?: string }).code ?? '';
    const failed = this.target;
    // The plugin's body stream failed: nothing to say about the upstream.
    const plugins = isPluginBodyError(rc, err);
    if (this.target !== null) {
      // A client that went away says nothing about the target's health. A write timeout ends the
      // request itself (its 504 is out first), but the silence was the target's: Kong counts a
      // timeout while sending the request, as nginx's 504 it is.
      const outcome = plugins ? null : passiveFailure(code);
      if ((!rc.finished || code === UPSTREAM_WRITE_TIMEOUT) && !this.settled && !this.started && outcome !== null) {
        this.svc.balancer!.report(this.target, outcome);
        // A failed attempt's time counts too, as Kong times a request that failed: a target that
        // times out scores its read_timeout.
        if (this.sentAt !== 0) this.svc.balancer!.answeredIn(this.target, this.sentAt);
      }
      if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') this.svc.balancer!.unresolved(this.target);
      this.target = releaseTarget(this.target);
    }
    if (rc.finished || this.settled || rc.res.writableEnded) return;
    if (plugins) {
      this.held = null;
      return pluginBodyFailed(rc, err);
    }
    if (!this.started && !rc.res.headersSent) {
      // nginx's proxy_next_upstream: a request that never went out (its connection could not be
      // made) is retried whatever its method or body, its body still unread; one that went out
      // only when idempotent and bodiless.
      if (
        this.attempt < this.svc.retries &&
        ((this.retryable && isRetryableFailure(code, err)) || (!this.connected && isConnectFailure(code, this.svc)))
      ) {
        if (failed !== null) (rc.failedTargets ??= []).push(failed);
        attemptFailed(rc, upstreamErrorCode(code) === 'UPSTREAM_TIMEOUT');
        return dispatch(rc, this.svc, this.attempt + 1);
      }
      const answer = upstreamErrorCode(code);
      rc.error = { code: answer, message: err.message, cause: code };
      lastAttemptFailed(rc, answer);
      sendError(rc, answer);
      if (this.sendsClientBody) endIfBodyUnread(rc);
      return;
    }
    if (this.held !== null) {
      // The body was held for a rewrite and nothing has gone out: the client can still get a clean
      // error instead of a reset with no status (a read timeout mid-body is the 504 it would be
      // before the head, any other failure the 502).
      this.held = null;
      const answer = upstreamErrorCode(code);
      rc.error = {
        code: answer,
        message: `the upstream failed in a body held for rewriting: ${err.message}`,
        cause: code,
      };
      lastAttemptFailed(rc, answer);
      sendError(rc, answer);
      if (this.sendsClientBody) endIfBodyUnread(rc);
      return;
    }
    // A 204, 205 or 304 has no body whatever the upstream sent after its head (nginx relays it so):
    // the answer is complete, the upstream's extra bytes are its own fault.
    if (rc.status === 204 || rc.status === 205 || rc.status === 304) {
      rc.res.end();
      return;
    }
    if (takeBackHead(rc)) {
      const answer = upstreamErrorCode(code);
      rc.error = { code: answer, message: `the upstream failed before any of its body: ${err.message}`, cause: code };
      rc.upstreamAnswered = false;
      lastAttemptFailed(rc, answer);
      sendError(rc, answer);
      if (this.sendsClientBody) endIfBodyUnread(rc);
      return;
    }
    // The response already started: a clean end would pass a truncated body off as complete.
    rc.error = { code: 'UPSTREAM_ABORTED', message: err.message, cause: code };
    rc.res.destroy(err);
  }
}

const STS = 'strict-transport-security';

/**
 * The common case (no response-phase plugin): the upstream head goes to the client as a flat
 * name/value list, without building a header object (on HTTP/2, `writeResponseHead` makes the
 * stream's head from it; the connection-specific headers HTTP/2 forbids, RFC 9113 8.2.2, are all
 * hop-by-hop, so they are gone already). On https the gateway's Strict-Transport-Security, when
 * configured, replaces the upstream's. Null once sent, else why node refused the head.
 */
function writeHeadDirect(rc: ProxyRequest, status: number, raw: Buffer[], reason: string): string | null {
  const flat: string[] = [];
  const settings = rc.runtime.config.settings;
  const hsts = rc.scheme === 'https' ? hstsHeader(settings) : null;
  let connection: string | undefined;
  const text = rawHeaderStrings(raw);
  for (let i = 0; i < text.length; i += 2) {
    const name = text[i]!;
    const hop = hopByHopName(name);
    if (hop !== null) {
      // Every line counts: two Connection lines are one list (RFC 9110 5.3).
      if (hop === 'connection') connection = connection === undefined ? text[i + 1]! : `${connection}, ${text[i + 1]!}`;
      continue;
    }
    if (hsts !== null && name.length === STS.length && name.toLowerCase() === STS) continue;
    flat.push(relayedName(name), relayedValue(name, text[i + 1]!, status, settings.nginx_http_charset));
  }
  if (connection !== undefined) {
    const drop = connectionTokens(connection);
    if (drop.length > 0) {
      for (let i = flat.length - 2; i >= 0; i -= 2) if (drop.includes(flat[i]!.toLowerCase())) flat.splice(i, 2);
    }
  }
  const spelling = answerSpelling(settings.request_id_header);
  flat.push(spelling.requestId, rc.id);
  if (hsts !== null) flat.push('Strict-Transport-Security', hsts);
  if (rc.hashCookie !== null) flat.push('set-cookie', rc.hashCookie.setCookie);
  if (wantsDebug(rc)) for (const [k, v] of debugHeaders(rc)) flat.push(spelling.edge.get(k) ?? k, v);
  const refused = writeResponseHead(rc, status, flat, reason);
  if (refused === null) rc.status = status;
  return refused;
}

/** gRPC: the upstream's trailers (grpc-status, grpc-message) go out after the body. False when the answer was cut instead. */
function relayTrailers(rc: ProxyRequest, trailers: unknown): boolean {
  const t = trailerObject(trailers);
  if (rc.res.writableEnded) return true;
  if (t === null) {
    // A gRPC answer ends with its status, in the trailers or (Trailers-Only) in the head. undici
    // reports an upstream RST_STREAM after the head as a clean end without trailers: relayed as
    // such, the client would take a cut stream for a complete one. It is reset, as nginx does.
    // Not a non-200 answer: a client fails it whatever follows, by its HTTP status (503 is
    // UNAVAILABLE, which it may retry), where a reset would make it INTERNAL.
    const head = rc.streamResponseHeaders;
    const type = head?.['content-type'];
    if (
      head === null ||
      typeof type !== 'string' ||
      !isGrpcType(type) ||
      head['grpc-status'] !== undefined ||
      rc.status !== 200
    )
      return true;
    cutAnswer(rc, 'the upstream ended its gRPC answer without a grpc-status (its stream was reset)');
    return false;
  }
  try {
    rc.res.addTrailers(t);
    return true;
  } catch (err) {
    // A trailer node refuses to send (an invalid name or value): the answer cannot end as the
    // upstream ended it, so it does not end cleanly.
    cutAnswer(rc, (err as Error).message);
    return false;
  }
}

/** Ends an answer that cannot end cleanly: the client's stream is reset (INTERNAL_ERROR). */
function cutAnswer(rc: ProxyRequest, message: string): void {
  rc.error = { code: 'UPSTREAM_ABORTED', message };
  rc.abortUpstream = null;
  rc.resumeUpstream = null;
  rc.res.destroy(new Error(message));
}

function releaseTarget(t: Target): null {
  t.inflight--;
  return null;
}
