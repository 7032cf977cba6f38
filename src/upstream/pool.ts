// The one upstream factory: every connection pool to a target (a plain service's host, or a target of
// an `upstreams:` entry) is built here, from the service, the gateway settings and the certificates.
//
// Kong's keep-alive pool (`upstream_keepalive_pool_size`) bounds the connections kept IDLE, never the
// requests in flight: a slow endpoint that holds many connections must not starve a fast endpoint of
// the same service. undici's Pool caps connections instead, so the pool is built here from undici
// Clients (one connection each): a stack of idle, connected clients (most recently used first, whose
// sockets are the least likely to have been closed by the upstream), capped at the pool size; more
// idle connections are closed at once. An optional concurrency limit (`upstream_max_connections`,
// nginx's `max_conns`) queues the excess in a bounded queue whose wait counts against the request's
// timeouts.
import { isIP, type Socket } from 'node:net';
import { buildConnector, Client, Dispatcher, errors } from 'undici';
import type { GatewayConfig, ServiceModel } from '../config/model.ts';
import { urlHost } from '../lib/ip-text.ts';
import { type HostResolver, hostResolver } from './dns.ts';
import { guardH2Streams } from './h2-streams.ts';
import { depthChecker } from './verify-depth.ts';
// Loaded for its effect: every undici connection's parser stops at a head past its limit.
import './header-overflow.ts';

/** Everything a target's pool needs, derived once per service by `poolSettings()`. */
export interface PoolSettings {
  readonly scheme: 'http' | 'https';
  /** HTTP/2 to the targets (a grpc or grpcs service): by ALPN over TLS, prior knowledge (h2c) without. */
  readonly h2: boolean;
  readonly connectTimeout: number;
  readonly readTimeout: number;
  readonly tlsVerify: boolean;
  readonly ca: readonly string[] | null;
  /** The longest chain accepted (`tls_verify_depth`: intermediates between the leaf and the CA); null: any. */
  readonly verifyDepth: number | null;
  /** The client certificate presented for mutual TLS (`client_certificate`). */
  readonly cert: string | null;
  readonly key: string | null;
  /** Idle keep-alive connections kept per target; 0 closes each connection after its request. */
  readonly keepaliveIdle: number;
  /** Milliseconds an idle connection is kept. */
  readonly keepaliveTimeout: number;
  /** Requests sent over one connection before it is closed; 0 = unlimited. */
  readonly keepaliveMaxRequests: number;
  /** Connections (requests in flight) per target; 0 = unlimited. */
  readonly maxConnections: number;
  /** Requests that may wait for a connection when `maxConnections` is reached. */
  readonly queueSize: number;
  /** Resolves upstream names for new connections (net.connect's `lookup`). */
  readonly lookup: HostResolver['lookup'];
}

/**
 * The pool settings of a service: its timeouts and TLS, the gateway's keep-alive settings, and the
 * client certificate of that id (the service's, else its upstream's, as Kong picks it).
 */
export function poolSettings(s: ServiceModel, config: GatewayConfig, clientCertificate: string | null): PoolSettings {
  const st = config.settings;
  const scheme = s.protocol === 'https' || s.protocol === 'grpcs' || s.protocol === 'wss' ? 'https' : 'http';
  const cert = clientCertificate === null ? undefined : config.certificates.find((c) => c.id === clientCertificate);
  return {
    scheme,
    h2: s.protocol === 'grpc' || s.protocol === 'grpcs',
    connectTimeout: s.connect_timeout,
    readTimeout: s.read_timeout,
    tlsVerify: s.tls_verify ?? true,
    ca: s.ca_certificates,
    verifyDepth: s.tls_verify_depth,
    cert: cert?.cert ?? null,
    key: cert?.key ?? null,
    keepaliveIdle: st.upstream_keepalive_pool_size,
    keepaliveTimeout: st.upstream_keepalive_idle_timeout,
    keepaliveMaxRequests: st.upstream_keepalive_max_requests,
    maxConnections: st.upstream_max_connections,
    queueSize: st.upstream_queue_size,
    lookup: hostResolver(st).lookup,
  };
}

/**
 * `connect` with a deadline of `ms` on the lookup, TCP connect and TLS handshake, kept by a native
 * timer. undici's own connect timeout runs on its coarse timers (a tick every 499 ms), which fire
 * up to a second late: a connect_timeout of 100 ms gave up after a second.
 */
function timedConnector(connect: buildConnector.connector, ms: number): buildConnector.connector {
  // 0: no deadline, as undici reads it (no setting leads here: a probe's `timeout: 0` is 60 s).
  if (!(ms > 0)) return connect;
  return (opts, callback) => {
    let done = false;
    // undici's connector returns the socket it makes (its type says void).
    const socket = connect(opts, (err, sock) => {
      if (done) {
        // Connected after the deadline: nobody waits for it.
        sock?.destroy();
        return;
      }
      done = true;
      clearTimeout(timer);
      if (err !== null) callback(err, null);
      else callback(null, sock!);
    }) as unknown as Socket | undefined;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      socket?.destroy();
      const where = `${opts.hostname}:${opts.port || (opts.protocol === 'https:' ? 443 : 80)}`;
      callback(
        new errors.ConnectTimeoutError(`Connect Timeout Error (attempted address: ${where}, timeout: ${ms}ms)`),
        null,
      );
    }, ms);
    timer.unref();
  };
}

/** Error codes a pool answers with before any connection is used (mapped to catalogued errors by the gateway). */
export const POOL_FULL = 'UPSTREAM_QUEUE_FULL';
export const POOL_QUEUE_TIMEOUT = 'UPSTREAM_QUEUE_TIMEOUT';

class PoolError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** One upstream connection: an undici Client and whether its socket is up. */
class Conn {
  readonly client: Client;
  connected = false;
  idle = false;
  /** The client is no longer reusable (upgraded, failed, or closing). */
  dead = false;
  /** Requests sent over this connection (nginx's `keepalive_requests` counts them). */
  served = 0;
  constructor(client: Client) {
    this.client = client;
  }
}

interface Waiting {
  opts: Dispatcher.DispatchOptions;
  handler: Dispatcher.DispatchHandler;
  since: number;
  timer: NodeJS.Timeout | null;
  done: boolean;
}

/** What `/status` and metrics show of a pool. */
export interface PoolStats {
  active: number;
  idle: number;
  queued: number;
}

function noop(): void {}

/** What closing a pool with nothing to wait for returns: one settled promise, not one per pool. */
export const CLOSED: Promise<void> = Promise.resolve();

/** What a pool's connections share: the clients' options, and the listeners that track each one's state. */
interface Wiring {
  readonly options: Client.Options;
  readonly conns: WeakMap<Dispatcher, Conn>;
  readonly onConnect: (origin: URL, targets: readonly Dispatcher[]) => void;
  readonly onDisconnect: (origin: URL, targets: readonly Dispatcher[]) => void;
}

/**
 * The connection pool of one target. An undici Dispatcher: `dispatch()` for the data path,
 * `request()` and `upgrade()` (undici's API on top of it) for health probes and tests.
 * Handlers use undici's classic callbacks (`onConnect`, `onHeaders`, `onData`, `onComplete`, `onError`, `onUpgrade`).
 */
export class TargetPool extends Dispatcher {
  readonly origin: string;
  readonly settings: PoolSettings;
  private readonly host: string;
  private readonly idleConns: Conn[] = [];
  private readonly queue: Waiting[] = [];
  private queueHead = 0;
  private active = 0;
  private closed = false;
  /** Built at the first connection: a config of thousands of services holds none for those never used. */
  private wiring: Wiring | null = null;

  constructor(host: string, port: number, settings: PoolSettings) {
    super();
    const hostForUrl = urlHost(host);
    this.origin = `${settings.scheme}://${hostForUrl}:${port}`;
    this.host = host;
    this.settings = settings;
  }

  /** The clients' options (undici's connector among them) and their event listeners. */
  private wire(): Wiring {
    const settings = this.settings;
    const host = this.host;
    const idleMs = Math.max(settings.keepaliveTimeout, 1);
    const conns = new WeakMap<Dispatcher, Conn>();
    const options: Client.Options = {
      // One request per connection at a time: a slow response never holds up another request.
      pipelining: 1,
      keepAliveTimeout: idleMs,
      keepAliveMaxTimeout: idleMs,
      headersTimeout: settings.readTimeout,
      bodyTimeout: settings.readTimeout,
      // gRPC needs HTTP/2: offered by ALPN over TLS, spoken from the first byte (h2c) without it.
      ...(settings.h2 ? { allowH2: true, useH2c: settings.scheme === 'http' } : {}),
      connect: timedConnector(
        buildConnector({
          // The deadline is timedConnector's.
          timeout: 0,
          ...(settings.h2 ? { allowH2: true, useH2c: settings.scheme === 'http' } : {}),
          lookup: settings.lookup,
          rejectUnauthorized: settings.tlsVerify,
          ...(settings.ca !== null ? { ca: settings.ca as string[] } : {}),
          ...(settings.verifyDepth !== null ? { checkServerIdentity: depthChecker(settings.verifyDepth) } : {}),
          ...(settings.cert !== null && settings.key !== null ? { cert: settings.cert, key: settings.key } : {}),
          ...(settings.scheme === 'https' && isIP(host) === 0 ? { servername: host } : {}),
        } as buildConnector.BuildOptions),
        settings.connectTimeout,
      ),
    };
    const onConnect = (_origin: URL, targets: readonly Dispatcher[]): void => {
      const c = conns.get(targets[0]!);
      if (c !== undefined) c.connected = true;
      if (c !== undefined && settings.h2) guardH2Streams(targets[0]!, settings.readTimeout, () => this.goneAway(c));
    };
    const onDisconnect = (_origin: URL, targets: readonly Dispatcher[]): void => {
      const c = conns.get(targets[0]!);
      if (c === undefined) return;
      c.connected = false;
      // An idle connection the upstream (or the idle timer) closed is dropped from the stack.
      if (c.idle) {
        const i = this.idleConns.indexOf(c);
        if (i >= 0) this.idleConns.splice(i, 1);
        this.discard(c);
      }
    };
    this.wiring = { options, conns, onConnect, onDisconnect };
    return this.wiring;
  }

  /** The upstream's graceful GOAWAY: the request in flight finishes, no other one is sent there. */
  private goneAway(c: Conn): void {
    c.dead = true;
    if (!c.idle) return;
    const i = this.idleConns.indexOf(c);
    if (i >= 0) this.idleConns.splice(i, 1);
    c.idle = false;
    queueMicrotask(() => void c.client.destroy().catch(noop));
  }

  stats(): PoolStats {
    return { active: this.active, idle: this.idleConns.length, queued: this.queue.length - this.queueHead };
  }

  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if (this.closed) {
      handler.onError?.(new PoolError('UND_ERR_CLOSED', 'the upstream pool is closed'));
      return false;
    }
    const max = this.settings.maxConnections;
    if (max > 0 && this.active >= max) return this.enqueue(opts, handler);
    this.active++;
    this.run(this.takeIdle() ?? this.newConn(), opts, handler);
    return true;
  }

  private takeIdle(): Conn | null {
    const c = this.idleConns.pop();
    if (c === undefined) return null;
    c.idle = false;
    return c;
  }

  private newConn(): Conn {
    const w = this.wiring ?? this.wire();
    const client = new Client(this.origin, w.options);
    const c = new Conn(client);
    w.conns.set(client, c);
    client.on('connect', w.onConnect);
    client.on('disconnect', w.onDisconnect);
    // Connection errors reach the request's handler; the event needs a listener only to not be unhandled.
    client.on('connectionError', noop);
    return c;
  }

  private run(c: Conn, opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): void {
    c.served++;
    const lease = new Lease(this, c, handler, opts);
    // The lease keeps the head deadline of a bodiless request; undici's timer, which may fire
    // hundreds of milliseconds early or late, is off for it.
    c.client.dispatch(lease.keepsHeadDeadline ? { ...opts, headersTimeout: 0 } : opts, lease);
  }

  private enqueue(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if (this.queue.length - this.queueHead >= this.settings.queueSize) {
      handler.onError?.(new PoolError(POOL_FULL, 'every upstream connection is busy and the queue is full'));
      return false;
    }
    const w: Waiting = { opts, handler, since: performance.now(), timer: null, done: false };
    // Waiting for a connection is the connect phase: it may take no longer than connect_timeout.
    w.timer = setTimeout(() => this.expire(w), this.settings.connectTimeout);
    w.timer.unref();
    this.queue.push(w);
    return false;
  }

  private expire(w: Waiting): void {
    if (w.done) return;
    w.done = true;
    w.handler.onError?.(new PoolError(POOL_QUEUE_TIMEOUT, 'no upstream connection became free within connect_timeout'));
    this.compactQueue();
  }

  private nextWaiting(): Waiting | null {
    while (this.queueHead < this.queue.length) {
      const w = this.queue[this.queueHead]!;
      this.queue[this.queueHead++] = undefined as never;
      if (!w.done) {
        this.compactQueue();
        return w;
      }
    }
    this.compactQueue();
    return null;
  }

  private compactQueue(): void {
    if (this.queueHead === this.queue.length) {
      this.queue.length = 0;
      this.queueHead = 0;
    } else if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
  }

  /** A request on `c` ended; `reusable` when its connection may carry another. */
  release(c: Conn, reusable: boolean): void {
    this.active--;
    // nginx's keepalive_requests: the connection closes once its last allowed request ends.
    // (undici's maxRequestsPerClient lets one more request through before it closes.)
    const max = this.settings.keepaliveMaxRequests;
    if (!reusable || c.dead || this.closed || (max > 0 && c.served >= max)) return this.discard(c);
    const w = this.nextWaiting();
    if (w !== null) return this.serveWaiting(w, c);
    if (!c.connected || this.idleConns.length >= this.settings.keepaliveIdle) return this.discard(c);
    c.idle = true;
    this.idleConns.push(c);
  }

  /** A connection slot freed without a reusable connection: a queued request gets a new one. */
  private discard(c: Conn): void {
    c.dead = true;
    c.idle = false;
    if (this.wiring !== null) c.client.removeListener('connect', this.wiring.onConnect);
    // Closing inside an undici callback would re-enter the client: close once the callback returned.
    queueMicrotask(() => void c.client.destroy().catch(noop));
    if (this.closed) return;
    const max = this.settings.maxConnections;
    if (max > 0 && this.active < max) {
      const w = this.nextWaiting();
      if (w !== null) this.serveWaiting(w, this.newConn());
    }
  }

  /** A queued request runs on `c`; the time it spent queued comes off its wait for the response head. */
  private serveWaiting(w: Waiting, c: Conn): void {
    w.done = true;
    if (w.timer !== null) clearTimeout(w.timer);
    this.active++;
    const waited = performance.now() - w.since;
    const budget = Math.max(1, (w.opts.headersTimeout ?? this.settings.readTimeout) - waited);
    this.run(c, { ...w.opts, headersTimeout: budget }, w.handler);
  }

  /** Closes the idle connections; those carrying a request close when it ends (`release`). */
  override close(): Promise<void> {
    if (this.closed) return CLOSED;
    this.closed = true;
    let w = this.nextWaiting();
    while (w !== null) {
      w.done = true;
      if (w.timer !== null) clearTimeout(w.timer);
      w.handler.onError?.(new PoolError('UND_ERR_CLOSED', 'the upstream pool is closed'));
      w = this.nextWaiting();
    }
    // Most pools of a large config never connected: nothing to wait for, and no promise per pool.
    if (this.idleConns.length === 0) return CLOSED;
    const idle = this.idleConns.splice(0);
    return Promise.allSettled(idle.map((c) => c.client.close())).then(noop);
  }

  override async destroy(): Promise<void> {
    await this.close();
  }
}

/**
 * Head deadlines up to this long are kept by a native timer per request; longer ones (the default
 * read_timeout is 60 s) by undici's coarse timers, whose half-second tick is then under 5 % of the
 * wait and which cost no timer of their own per request.
 */
const NATIVE_HEAD_TIMER_MAX_MS = 10_000;

function headTimedOut(lease: Lease): void {
  lease.headTimer = null;
  lease.abort?.(new errors.HeadersTimeoutError());
}

/**
 * Forwards one request's undici callbacks to its handler and gives the connection back to the pool
 * when the exchange ends (complete, failed, or upgraded into a tunnel the connection now belongs to).
 */
class Lease implements Dispatcher.DispatchHandler {
  private readonly pool: TargetPool;
  private readonly conn: Conn;
  private readonly handler: Dispatcher.DispatchHandler;
  private ended = false;
  /**
   * The deadline for the response head of a request without a body, kept by a native timer:
   * undici's own runs on its coarse timers, which tick every 499 ms (a 150 ms timeout fired after
   * 500 to 1,000 ms, a 1,200 ms one sometimes before 1,200). A request with a body keeps undici's,
   * which waits for its last byte to be sent (nginx's read timeout starts once the request is sent).
   */
  private readonly headMs: number;
  headTimer: NodeJS.Timeout | null = null;
  abort: ((err?: Error) => void) | null = null;
  private interim = false;

  constructor(pool: TargetPool, conn: Conn, handler: Dispatcher.DispatchHandler, opts: Dispatcher.DispatchOptions) {
    this.pool = pool;
    this.conn = conn;
    this.handler = handler;
    const ms = opts.headersTimeout ?? pool.settings.readTimeout;
    this.headMs = opts.body == null && ms <= NATIVE_HEAD_TIMER_MAX_MS ? ms : 0;
  }

  get keepsHeadDeadline(): boolean {
    return this.headMs > 0;
  }

  private clearHead(): void {
    if (this.headTimer === null) return;
    clearTimeout(this.headTimer);
    this.headTimer = null;
  }

  private end(reusable: boolean): void {
    if (this.ended) return;
    this.ended = true;
    this.pool.release(this.conn, reusable);
  }

  onConnect(abort: (err?: Error) => void): void {
    // The request is written now: the wait for its answer starts.
    if (this.headMs > 0) {
      this.abort = abort;
      this.headTimer = setTimeout(headTimedOut, this.headMs, this);
      this.headTimer.unref();
    }
    this.handler.onConnect?.(abort);
  }

  onHeaders(status: number, headers: Buffer[], resume: () => void, statusText: string): boolean {
    if (status >= 200) this.clearHead();
    else if (!this.interim) {
      // The final head must follow the first interim (1xx) response within the timeout.
      this.interim = true;
      this.headTimer?.refresh();
    }
    return this.handler.onHeaders?.(status, headers, resume, statusText) ?? true;
  }

  onBodySent(chunkSize: number, totalBytesSent: number): void {
    this.handler.onBodySent?.(chunkSize, totalBytesSent);
  }

  onData(chunk: Buffer): boolean {
    return this.handler.onData?.(chunk) ?? true;
  }

  onComplete(trailers: string[] | null): void {
    this.clearHead();
    // Release first: the handler may dispatch again (a retry) on a free slot.
    this.end(true);
    this.handler.onComplete?.(trailers);
  }

  onError(err: Error): void {
    this.clearHead();
    this.end(false);
    this.handler.onError?.(err);
  }

  onUpgrade(status: number, headers: Buffer[] | string[] | null, socket: import('node:stream').Duplex): void {
    this.clearHead();
    this.conn.dead = true;
    this.end(false);
    this.handler.onUpgrade?.(status, headers, socket);
  }

  onResponseStarted(): void {
    (this.handler as { onResponseStarted?: () => void }).onResponseStarted?.();
  }
}
