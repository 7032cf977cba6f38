// What the listeners (proxy and admin) share about a request node's HTTP parser refuses: which
// errors are requests to answer, which answer each gets, and the answer's head, written on the
// socket itself. The proxy adds its request id, its access log and its metrics (refused.ts).
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type ProxyErrorCode, ProxyErrors } from '../errors.ts';
import { httpDate } from './clock.ts';
import { endLingering } from './linger.ts';

export type ParserError = Error & { code?: string; reason?: string; rawPacket?: Buffer };

const kRefused = Symbol('tollgate.parserRefused');

/**
 * Whether a `clientError` is a request to answer (true), or is dealt with here (false): bytes after
 * a request that closes its connection, a connection reset, or the parser's error reported again.
 */
export function isRefusedRequest(err: ParserError, socket: Duplex): boolean {
  const code = err.code ?? '';
  // Bytes after a request that closes its connection (`Connection: close`, HTTP/1.0 without
  // keep-alive): the parser refuses them as soon as they arrive, which is while that request is
  // still being answered. nginx answers it and ignores the rest; so does the gateway. node ends
  // the connection once that answer is written, and the parser drops whatever comes meanwhile.
  if (code === 'HPE_CLOSED_CONNECTION') {
    if ((socket as Socket & { _httpMessage?: unknown })._httpMessage == null) (socket as Socket).destroySoon();
    return false;
  }
  // Not a request of its own, so nothing to answer or count: a connection reset.
  if (!code.startsWith('HPE_') && code !== 'ERR_HTTP_REQUEST_TIMEOUT') {
    socket.destroy();
    return false;
  }
  // node's parser stays failed and reports its error again for every later read of the connection:
  // only the first is a request (answered once); the connection is already ending.
  const marked = socket as Duplex & { [kRefused]?: true };
  if (marked[kRefused] === true) return false;
  marked[kRefused] = true;
  return true;
}

/** The catalogued answer to a request head the parser refused. */
export function parserRefusal(err: ParserError): ProxyErrorCode {
  const code = err.code ?? '';
  return code === 'HPE_HEADER_OVERFLOW'
    ? 'TOO_MANY_HEADERS'
    : code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? 'REQUEST_TIMEOUT'
      : // llhttp's code for a coding list whose last coding is not chunked, and for a
        // Transfer-Encoding after a Content-Length (a smuggling shape, 400 as nginx's).
        code === 'HPE_INVALID_TRANSFER_ENCODING' && !(err.reason ?? err.message).includes('Content-Length')
        ? 'UNKNOWN_TRANSFER_ENCODING'
        : // llhttp files a request line whose version is read but not followed by CRLF (a bare LF,
          // a trailing space or byte) under HPE_INVALID_VERSION too: a malformed line, not a version.
          code === 'HPE_INVALID_VERSION' && !(err.reason ?? err.message).includes('CRLF after version')
          ? 'BAD_VERSION'
          : 'BAD_REQUEST';
}

/**
 * An answer written on the socket itself, with the head every other answer of the gateway's own
 * has on a closing connection: the same names, spelled and ordered as nginx's own answers, and a
 * `Date`, which nginx puts on every answer (RFC 9110 6.6.1: an origin with a clock must send it).
 * `extra`: header lines (each ending CRLF) between Content-Length and Date, as the proxy's request id.
 */
export function ownAnswer(status: number, body: string, extra = ''): string {
  return `HTTP/1.1 ${status} ${reason(status)}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Date: ${httpDate()}\r\nConnection: close\r\n\r\n${body}`;
}

function reason(status: number): string {
  return status === 431
    ? 'Request Header Fields Too Large'
    : status === 408
      ? 'Request Timeout'
      : status === 505
        ? 'HTTP Version Not Supported'
        : status === 501
          ? 'Not Implemented'
          : 'Bad Request';
}

/**
 * The admin listener's `clientError`: a request head the parser refused gets the proxy's answer
 * (its status and Kong's message, as JSON, with Date) in place of node's bare status line; after
 * the answers to the requests pipelined before it, as nginx answers it.
 */
export function onAdminClientError(err: Error, socket: Duplex): void {
  if (isRefusedRequest(err, socket)) adminAnswerWhenIdle(err, socket as Socket);
}

type AnsweringSocket = Socket & { _httpMessage?: ServerResponse | null };

function adminAnswerWhenIdle(err: ParserError, socket: AnsweringSocket): void {
  if (socket.destroyed) return;
  const current = socket._httpMessage;
  if (current != null) {
    // The body of the request being answered was refused (a malformed chunk): its answer is the
    // 400 if it has not started (node's own rule, and nginx's "client sent invalid chunked body");
    // the endpoint reading that body would wait for the rest until client_body_timeout.
    if (!current.req.complete) return void (current.headersSent ? socket.destroy() : answer(err, socket));
    // A later pipelined request: answered once the answers before it have gone. node hands the
    // socket to the next queued answer in its own 'finish' listener, before this one.
    return void current.once('finish', () => setImmediate(adminAnswerWhenIdle, err, socket));
  }
  answer(err, socket);
}

function answer(err: ParserError, socket: Socket): void {
  if (!socket.writable) return void socket.destroy();
  const def = ProxyErrors[parserRefusal(err)];
  endLingering(socket, ownAnswer(def.status, `{"message":${JSON.stringify(def.message)}}`));
}
