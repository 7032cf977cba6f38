// What a plugin's exit() answers: the status, head and body the gateway sends for it. One function
// for the gateway (reply.ts) and the test kit (runPlugin), so that a response phase sees the same
// head in both (content-type, content-length) and an exit that cannot be sent fails in both.
import type { HeaderValue } from '../pipeline/plugin.ts';
import type { RequestContext } from '../pipeline/request.ts';
import { headValue } from '../pipeline/response.ts';
import { ERROR_CONTENT_TYPES, errorBodyText, errorFormat } from './error-body.ts';

/**
 * The one rule for plugins' error bodies: an error answer (status 400 or more) whose body is a JSON
 * object (Kong's `{"message": ...}`, jwt's `{"exp": ...}`) carries the request id, as the gateway's
 * own errors do, so a client's report can be found in the logs. Other bodies (arrays, text a config
 * wrote) and bodies that already have a `request_id` are sent as given.
 */
export function errorBodyWithRequestId(status: number, body: unknown, requestId: string): unknown {
  if (status < 400 || typeof body !== 'object' || body === null || Array.isArray(body)) return body;
  const proto = Object.getPrototypeOf(body);
  if ((proto !== Object.prototype && proto !== null) || Object.hasOwn(body, 'request_id')) return body;
  return { ...(body as Record<string, unknown>), request_id: requestId };
}

export interface ExitAnswer {
  status: number;
  headers: Record<string, HeaderValue | undefined>;
  body: Buffer | string | null;
  /**
   * The names of the exit's headers the plugin wrote in another case than lower, as it wrote them:
   * they go out so on HTTP/1.1, as nginx writes the names `kong.response.exit` was given. Null when none.
   */
  spelling: Map<string, string> | null;
}

/** The answer to the exit() of `rc`, or the error that makes it the plugin's failure (a bad status, a body that does not serialize). */
export function exitAnswer(rc: RequestContext): ExitAnswer | Error {
  const headers: Record<string, HeaderValue | undefined> = {};
  let spelling: Map<string, string> | null = null;
  if (rc.exitHeaders !== null)
    for (const k in rc.exitHeaders) {
      const lower = k.toLowerCase();
      headers[lower] = headValue(lower, rc.exitHeaders[k]);
      if (lower !== k) (spelling ??= new Map()).set(lower, k);
      else if (spelling !== null) spelling.delete(lower);
    }
  let body: Buffer | string | null = null;
  const b = rc.exitBody;
  const st = rc.exitStatus;
  if (!Number.isInteger(st) || st < 200 || st > 599)
    return new Error(`exit() status must be an integer from 200 to 599, not ${String(st)}`);
  // Kong's kong.response.error raises for a status below 400: the client gets a 500, not a
  // success or redirect carrying an error message.
  if (rc.exitIsError && st < 400)
    return new Error(`exitError() status must be an integer from 400 to 599, not ${String(st)}`);
  // RFC 9110 15.3.5 and 15.4.5: no content in a 204 or 304, and no Content-Length on a 204
  // (8.6); nginx's header filter also drops a 204's type. A body given with either is not sent.
  if (st === 204 || st === 304) return { status: st, headers: bodilessHead(headers, st), body: null, spelling };
  const format = rc.exitIsError ? errorFormat(rc.raw.headers.accept) : 'json';
  if (format !== 'json') {
    body = errorBodyText(format, (b as { message: string }).message, rc.id);
    headers['content-type'] ??= ERROR_CONTENT_TYPES[format];
    headers['content-length'] = String(Buffer.byteLength(body));
  } else if (b !== undefined && b !== null) {
    if (typeof b === 'string' || Buffer.isBuffer(b)) {
      body = b;
      headers['content-type'] ??= 'text/plain; charset=utf-8';
    } else {
      // Kong's kong.response.exit raises for a body that is no string or table. A stream's JSON
      // would be node's internals (`_readableState`, ...) sent to the client as the answer, and a
      // function's is no text at all.
      if (typeof (b as { pipe?: unknown }).pipe === 'function') return notJson('a stream');
      try {
        body = JSON.stringify(errorBodyWithRequestId(st, b, rc.id));
      } catch (err) {
        return err instanceof Error ? err : new Error(String(err));
      }
      if (body === undefined) return notJson(typeof b);
      headers['content-type'] ??= 'application/json; charset=utf-8';
    }
    headers['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : body.length);
  } else if (!(rc.method === 'HEAD' && headers['content-length'] !== undefined)) {
    // A HEAD answer may announce the length its GET would have (RFC 9110 9.3.2): a plugin's stays.
    headers['content-length'] = '0';
  }
  return { status: st, headers, body, spelling };
}

function notJson(kind: string): TypeError {
  return new TypeError(`exit() body must be a string, a Buffer or a JSON value, not ${kind}`);
}

function bodilessHead(headers: Record<string, HeaderValue | undefined>, status: number): typeof headers {
  const head: typeof headers = {};
  for (const k in headers) if (k !== 'content-length' && (status !== 204 || k !== 'content-type')) head[k] = headers[k];
  return head;
}
