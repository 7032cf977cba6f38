// The proxy's per-request object: the plugin-facing RequestContext plus the gateway it runs in,
// given at construction so every module of the data path reaches its logger and settings directly.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Consumer } from '../pipeline/plugin.ts';
import { RequestContext } from '../pipeline/request.ts';
import type { PipelineSlot, Runtime } from '../pipeline/runtime.ts';
import type { HashCookie, Target } from '../upstream/balancer.ts';
import type { Gateway } from './gateway.ts';

export class ProxyRequest extends RequestContext {
  readonly gw: Gateway;
  /** Where per-connection facts are cached: the socket, or on HTTP/2 the session (see `sessionConnection`). */
  readonly conn: TrackedSocket;
  /** An HTTP/2 stream: `conn` is its session, and the socket's byte counts are the whole session's. */
  readonly onSession: boolean;
  /** The client's X-Forwarded-For addresses after its last entry that is not one (canonical); null when there are none. */
  forwardedFor: string[] | null = null;
  /** The balancer's hashing cookie made for this request (hash_on cookie, none sent): its answer sets it. */
  hashCookie: HashCookie | null = null;
  /** Targets earlier attempts of this request failed on: least-connections retries go elsewhere. */
  failedTargets: Target[] | null = null;
  /** A gRPC request on a gRPC route: plugins for grpc/grpcs run, the upstream's trailers are relayed. */
  grpc = false;
  /**
   * The request is a gRPC call (`te: trailers` sent upstream, the upstream's trailers relayed): on
   * a gRPC route from its admission, or a gRPC call an http route sends to a grpc service, from
   * its dispatch.
   */
  grpcCall = false;
  /** The consumer each consumer-scoped slot was chosen with in the access phase (see `pick`); null until one was. */
  consumersSeen: Map<PipelineSlot, Consumer | null> | null = null;
  /** While the client's connection is full: the send_timeout that disconnects a client that stopped reading. */
  sendTimer: NodeJS.Timeout | null = null;
  /** Bytes of the answer queued when the send timer was armed: less at its end means the client took some. */
  sendQueued = 0;
  /** Ended with bytes still queued: watched by the send-timeout sweep since `sendSince` (ms). */
  unsentWatched = false;
  sendSince = 0;
  /** The service's write_timeout while the client's body streams to the upstream (0: not streaming). */
  upstreamWriteTimeout = 0;
  /** While a plugin's body stream is sent upstream: write_timeout without a byte of it (see plugin-body.ts). */
  pluginBodyTimer: NodeJS.Timeout | null = null;
  /** The write_timeout that timer runs for; 0 when the stream is not watched (or is done). */
  pluginBodyTimeout = 0;
  constructor(gw: Gateway, runtime: Runtime, raw: IncomingMessage, res: ServerResponse, now: number) {
    super(runtime, raw, res, now);
    this.gw = gw;
    const session = sessionOf(raw);
    this.onSession = session !== undefined;
    this.conn = session === undefined ? (raw.socket as TrackedSocket) : sessionConnection(session);
  }

  /** From the connection's cached facts: on HTTP/2 the stream's socket is gone by the log phase. */
  override get port(): number {
    return Number(localPort(this.conn)) || 0;
  }

  /** Read once per connection (on HTTP/2 when the session is first seen: its socket is gone by the log phase). */
  override get tls(): TlsFacts | null {
    return tlsFacts(this.conn, this.raw.socket);
  }
}

/** Where the request lives on its response (and on a request with a body timer): listeners are shared functions. */
export const kCtx = Symbol('tollgate.request');
export type TrackedResponse = ServerResponse & { [kCtx]?: ProxyRequest };
export type TrackedMessage = IncomingMessage & { [kCtx]?: ProxyRequest };

export const kTrustRuntime = Symbol('tollgate.trustRuntime');
export const kTrusted = Symbol('tollgate.trusted');
export const kPeer = Symbol('tollgate.peer');
export const kLocalPort = Symbol('tollgate.localPort');
/** An HTTP/2 session's connection is TLS (h2 by ALPN), not h2c. */
export const kTls = Symbol('tollgate.tls');
/** The TLS server name the client sent, lower-case; '' when it sent none; null on cleartext. */
export const kSni = Symbol('tollgate.sni');
/** Per-connection facts cached on the socket (or HTTP/2 session): each socket getter is a call into libuv. */
/** The connection's TLS version and cipher, null on cleartext (undefined: not read yet). */
export const kTlsFacts = Symbol('tollgate.tlsFacts');
export type TlsFacts = { readonly version: string; readonly cipher: string };

function tlsFacts(conn: TrackedSocket, socket: Socket | null | undefined): TlsFacts | null {
  let facts = conn[kTlsFacts];
  if (facts === undefined) {
    const s = socket as { encrypted?: boolean; getProtocol?(): string | null; getCipher?(): { name?: string } } | null;
    const version = s?.encrypted === true ? s.getProtocol?.() : null;
    const cipher = s?.encrypted === true ? s.getCipher?.()?.name : undefined;
    // A socket already closed answers nothing: not cached, as a later read cannot do better.
    if (version == null || cipher === undefined) return null;
    conn[kTlsFacts] = facts = { version, cipher };
  }
  return facts;
}

export type TrackedSocket = Socket & {
  [kTlsFacts]?: TlsFacts | null;
  [kTrustRuntime]?: Runtime;
  [kTrusted]?: boolean;
  [kPeer]?: string;
  [kLocalPort]?: string;
  [kTls]?: boolean;
  [kSni]?: string | null;
};

type Session = { socket: Socket };

/** The HTTP/2 session of a request's stream; undefined on HTTP/1.1 (or once the stream left its session). */
function sessionOf(req: IncomingMessage): Session | undefined {
  return (req as { stream?: { session?: Session } }).stream?.session;
}

/**
 * Per-connection facts of an HTTP/2 request are cached on its session, not its socket: there
 * `req.socket` is a Proxy that node makes for every stream, and each read through it is a trap
 * into the session's socket. The session is one plain object per connection, given its peer
 * address and local port when first seen.
 */
function sessionConnection(session: Session): TrackedSocket {
  const conn = session as unknown as TrackedSocket;
  if (conn[kPeer] === undefined) {
    const socket = session.socket;
    conn[kPeer] = socket.remoteAddress ?? '';
    conn[kLocalPort] = String(socket.localPort ?? '');
    conn[kTls] = (socket as { encrypted?: boolean }).encrypted === true;
    conn[kTlsFacts] = conn[kTls] ? tlsFacts(conn, socket) : null;
  }
  return conn;
}

/** The TLS server name (SNI) of the request's connection, for routes with `snis`; see kSni. */
export function serverName(rc: ProxyRequest): string | null {
  const conn = rc.conn;
  let sni = conn[kSni];
  if (sni === undefined) {
    const socket = (rc.onSession ? (conn as unknown as Session).socket : conn) as {
      encrypted?: boolean;
      servername?: unknown;
    };
    sni =
      socket.encrypted !== true ? null : typeof socket.servername === 'string' ? socket.servername.toLowerCase() : '';
    conn[kSni] = sni;
  }
  return sni;
}

export function localPort(socket: TrackedSocket): string {
  return (socket[kLocalPort] ??= String(socket.localPort ?? ''));
}

export function peerAddress(socket: TrackedSocket): string {
  return (socket[kPeer] ??= socket.remoteAddress ?? '');
}

/**
 * The error is the client going away (a reset, a body cut short) and the client is gone: worth an
 * info line, not an error with a stack, since any client can cause it at will.
 */
export function clientWentAway(rc: ProxyRequest, err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  const abort =
    code === 'ECONNRESET' ||
    code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    (err instanceof Error && err.message === 'aborted');
  return (
    abort &&
    (rc.finished ||
      rc.res.destroyed ||
      rc.raw.socket?.destroyed === true ||
      (rc.raw as { aborted?: boolean }).aborted === true)
  );
}

export function errInfo(err: unknown): { message: string; code?: string; stack?: string } {
  if (err instanceof Error) {
    return { message: err.message, code: (err as { code?: string }).code, stack: err.stack };
  }
  return { message: String(err) };
}
