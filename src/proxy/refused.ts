// Requests node's HTTP parser refuses before the gateway sees them (bad header bytes, a head over
// the size limit, a head that never completes): answered with the catalogued error and, like every
// other request, written to the access log and counted in the metrics.
import { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ProxyErrors } from '../errors.ts';
import {
  kCtx,
  ProxyRequest,
  peerAddress,
  type TrackedMessage,
  type TrackedResponse,
  type TrackedSocket,
} from './context.ts';
import type { Gateway } from './gateway.ts';
import { endLingering } from './linger.ts';
import { isRefusedRequest, ownAnswer, type ParserError, parserRefusal } from './parser-refusal.ts';
import { nextRequestId, refuseClientBody } from './request-checks.ts';
import { finishRefused } from './request-end.ts';
import { answerSpelling } from './response-head.ts';

/** Longest path kept from a refused request line, for the log. */
const PATH_LIMIT = 256;
/** Longest query kept from it (whole parameters only), for the log plugins' querystring. */
const QUERY_LIMIT = 2048;

export function onClientError(gw: Gateway, err: ParserError, socket: Duplex): void {
  if (!isRefusedRequest(err, socket)) return;
  const code = err.code ?? '';
  const current = (socket as Socket & { _httpMessage?: TrackedResponse | null })._httpMessage;
  if (current == null) {
    // The client closed during the body of a request already answered (an early 401, a 413):
    // that request was logged; the parser's complaint about the cut body is not another one.
    if (code === 'HPE_INVALID_EOF_STATE' && parsingAnsweredRequest(socket)) return void socket.destroy();
    return refuseHead(gw, err, socket as Socket);
  }
  const rc = current[kCtx];
  // A request being answered whose body the parser refused (a malformed chunk): that request's
  // answer is a 400 if it has not started (nginx: "client sent invalid chunked body").
  if (rc !== undefined && !rc.raw.complete) return refuseClientBody(rc, err.message, code, socket as Socket);
  // The body of a later pipelined request, waiting for its turn: it is refused at its turn, as it
  // would be were it alone. Handled as usual, it went upstream with a body that never ends.
  const parsing = parsingMessage(socket);
  if (parsing !== null && !parsing.complete && parsing !== rc?.raw) {
    (parsing as RefusedMessage)[kBodyRefused] = { message: err.message, cause: code };
    return;
  }
  // A later pipelined request the parser refused: answered, as nginx does, once the answers
  // before it have gone.
  answerWhenIdle(gw, err, socket as Socket);
}

/** The message node's parser was reading on `socket` last, if any. */
function parsingMessage(socket: Duplex): TrackedMessage | null {
  return (socket as Duplex & { parser?: { incoming?: TrackedMessage | null } | null }).parser?.incoming ?? null;
}

/** Whether the message node's parser was reading on `socket` is a request the gateway handled. */
function parsingAnsweredRequest(socket: Duplex): boolean {
  const incoming = parsingMessage(socket);
  return incoming !== null && incoming[kCtx] !== undefined;
}

const kBodyRefused = Symbol('tollgate.bodyRefused');
type RefusedMessage = IncomingMessage & { [kBodyRefused]?: { message: string; cause: string } };

/**
 * Why the parser refused the body of pipelined request `req` before its turn came (see
 * onClientError), or undefined: such a request is answered with refuseClientBody at its turn.
 */
export function refusedBodyOf(req: IncomingMessage): { message: string; cause: string } | undefined {
  return (req as RefusedMessage)[kBodyRefused];
}

function answerWhenIdle(gw: Gateway, err: ParserError, socket: Socket): void {
  if (socket.destroyed) return;
  const current = (socket as Socket & { _httpMessage?: TrackedResponse | null })._httpMessage;
  if (current == null) return refuseHead(gw, err, socket);
  // node hands the socket to the next queued answer in its own 'finish' listener, before this one.
  current.once('finish', () => setImmediate(answerWhenIdle, gw, err, socket));
}

/** Answers a request head the parser refused, on a connection with no answer under way. */
function refuseHead(gw: Gateway, err: ParserError, socket: Socket): void {
  const code = err.code ?? '';
  const answer = parserRefusal(err);
  const def = ProxyErrors[answer];
  const rc = refusedRequest(gw, socket, err.rawPacket);
  rc.error = { code: answer, message: err.message, cause: code };
  if (socket.writable) {
    const body = `{"message":${JSON.stringify(def.message)},"request_id":"${rc.id}"}`;
    rc.status = def.status;
    rc.bytesSent = body.length;
    endLingering(socket, proxyAnswer(gw, def.status, rc.id, body));
  } else {
    rc.status = 499;
    socket.destroy();
  }
  finishRefused(rc);
}

/**
 * A connection to a TLS listener whose first bytes are an HTTP request line (a client or load
 * balancer health check configured with http:// for the https port): answered 400 in cleartext,
 * as nginx does, rather than closed without a word by the TLS layer.
 */
export function refusePlainHttp(gw: Gateway, socket: Socket, first: Buffer): void {
  const def = ProxyErrors.PLAIN_HTTP_ON_TLS;
  const rc = refusedRequest(gw, socket, first);
  rc.error = { code: 'PLAIN_HTTP_ON_TLS', message: def.message };
  const body = `{"message":${JSON.stringify(def.message)},"request_id":"${rc.id}"}`;
  rc.status = def.status;
  rc.bytesSent = body.length;
  // No parser reads this socket: discard what the client still sends, and let an error (a reset)
  // end the connection rather than the process.
  socket.on('error', () => socket.destroy());
  socket.resume();
  endLingering(socket, proxyAnswer(gw, 400, rc.id, body));
  finishRefused(rc);
}

/** The proxy's own answer on the socket: its request id among the head's names (answerSpelling). */
function proxyAnswer(gw: Gateway, status: number, id: string, body: string): string {
  return ownAnswer(
    status,
    body,
    `${answerSpelling(gw.runtime.config.settings.request_id_header).requestId}: ${id}\r\n`,
  );
}

/** A request record for what the parser refused: method and path from the request line when they are readable. */
function refusedRequest(gw: Gateway, socket: Socket, packet: Buffer | undefined): ProxyRequest {
  const req = new IncomingMessage(socket);
  const res = new ServerResponse(req);
  const rc = new ProxyRequest(gw, gw.runtime, req, res, performance.now());
  rc.id = nextRequestId();
  rc.clientIp = rc.peerIp = peerAddress(socket as TrackedSocket);
  rc.method = '';
  rc.path = '';
  rc.bytesReceived = packet?.length ?? 0;
  if (packet !== undefined) readRequestLine(rc, packet);
  return rc;
}

function readRequestLine(rc: ProxyRequest, packet: Buffer): void {
  const end = Math.min(packet.length, 8 * 1024);
  const sp1 = packet.indexOf(32, 0);
  if (sp1 < 1 || sp1 > 20) return;
  for (let i = 0; i < sp1; i++) {
    const c = packet[i]!;
    if (c < 65 || c > 90) return; // methods are upper-case letters
  }
  rc.method = packet.toString('latin1', 0, sp1);
  if (packet[sp1 + 1] !== 47 /* / */) return;
  let i = sp1 + 1;
  while (i < end && i - sp1 - 1 < PATH_LIMIT) {
    const c = packet[i]!;
    if (c === 32 || c === 63 /* ? */ || c === 13 || c === 10) break;
    i++;
  }
  rc.path = packet.toString('latin1', sp1 + 1, i);
  if (packet[i] === 63 /* ? */) rc.rawQuery = readQuery(packet, i + 1, end);
}

/**
 * The query of a refused request line, as Kong's log serializer reads it on nginx's error page for
 * a head too large (`request.querystring`, `request.uri`; a credential in it is redacted there as
 * in any entry). Past QUERY_LIMIT bytes, cut after the last whole parameter.
 */
function readQuery(packet: Buffer, start: number, end: number): string {
  let i = start;
  let lastAmp = -1;
  while (i < end) {
    const c = packet[i]!;
    if (c === 32 || c === 13 || c === 10) break;
    if (c === 38 /* & */) lastAmp = i;
    if (i - start >= QUERY_LIMIT) {
      i = lastAmp < 0 ? start : lastAmp;
      break;
    }
    i++;
  }
  return packet.toString('latin1', start, i);
}
