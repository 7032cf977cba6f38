// Active health probes (Kong's `healthchecks.active`): a TCP connect, or a GET of `http_path` over
// plain HTTP or TLS as `type` says, whatever protocol the service speaks. As Kong's healthchecker
// does, each probe opens a connection of its own, and `timeout` bounds each step of it: the connect
// and TLS handshake, the answer's head. The body is not read: the connection is closed at the head.
import { isIP, connect as tcpConnect } from 'node:net';
import type { Dispatcher } from 'undici';
import { utf8HeaderText } from '../lib/header-value.ts';
import { urlHost } from '../lib/ip-text.ts';
import { type PoolSettings, TargetPool } from './pool.ts';

/**
 * How a probe ended; the balancer's health counters read it. `cause` is the error code of a failed
 * one (`CERT_HAS_EXPIRED`, `ECONNREFUSED`, ...): a TLS failure counts as a tcp failure, as in Kong's
 * healthchecker, and the code is what tells the operator it was the certificate.
 */
export type ProbeOutcome = { status: number } | { failure: 'tcp' | 'timeout'; cause?: string } | { connected: true };

/** What a probe needs of its target. `Target` has this shape. */
export interface ProbeTarget {
  readonly host: string;
  readonly port: number;
  /** The settings of the target's own pool, which the probes' pool starts from. */
  readonly settings: PoolSettings;
}

/** `healthchecks.active` as a probe reads it. */
export interface ProbeSettings {
  readonly type: 'http' | 'https' | 'tcp';
  /** Milliseconds for each step of a probe. */
  readonly timeout: number;
  readonly path: string;
  /** Kong's `headers` (a list of values per name), names lower-cased and values joined. */
  readonly headers: Readonly<Record<string, string>>;
  /** `https_sni`; without it the TLS server name is the Host's name (Kong: the host header, else the target's host). */
  readonly sni: string | null;
  /** `https_verify_certificate`. */
  readonly verify: boolean;
  /** The upstream's `host_header`, the probes' Host (else the target's host). */
  readonly host: string | null;
}

export function probeSettings(active: Record<string, unknown>, hostHeader: string | null = null): ProbeSettings {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries((active.headers as Record<string, string[]> | undefined) ?? {}))
    headers[k.toLowerCase()] = utf8HeaderText(v.join(', '));
  return {
    type: probeType(active.type),
    timeout: probeTimeout(active.timeout),
    path: typeof active.http_path === 'string' ? active.http_path : '/',
    headers,
    sni: typeof active.https_sni === 'string' ? active.https_sni : null,
    verify: active.https_verify_certificate !== false,
    host: hostHeader,
  };
}

/**
 * `timeout` in milliseconds. Kong's healthchecker hands it to OpenResty's `sock:settimeout()`, where
 * 0 means the `lua_socket_*_timeout` defaults, 60 s: `timeout: 0` is not "no deadline". Without one a
 * probe of a target that accepts and never answers never ended, its round never finished, and no
 * target of that health was probed again.
 */
function probeTimeout(seconds: unknown): number {
  if (typeof seconds !== 'number') return 1000;
  return seconds > 0 ? seconds * 1000 : OPENRESTY_SOCKET_TIMEOUT;
}
const OPENRESTY_SOCKET_TIMEOUT = 60_000;

/** Kong's healthchecker probes `grpc` and `grpcs` targets as `http` and `https` (a GET of `http_path`). */
function probeType(type: unknown): ProbeSettings['type'] {
  if (type === 'grpc' || type === undefined) return 'http';
  if (type === 'grpcs') return 'https';
  return type as ProbeSettings['type'];
}

/** Probes an upstream's targets, each over a pool of the probe's own beside the target's. */
export class Prober {
  /** Probes' own pools (a target whose pool settings differ), made at the first probe. */
  private own: Map<ProbeTarget, TargetPool> | null = null;
  private closed = false;

  constructor(readonly settings: ProbeSettings) {}

  probe(t: ProbeTarget): Promise<ProbeOutcome> {
    if (this.closed) return Promise.resolve({ failure: 'tcp' });
    return this.settings.type === 'tcp' ? this.connectOnly(t) : this.get(t);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.own !== null) await Promise.allSettled([...this.own.values()].map((p) => p.close()));
  }

  private connectOnly(t: ProbeTarget): Promise<ProbeOutcome> {
    return new Promise<ProbeOutcome>((resolve) => {
      const sock = tcpConnect({ port: t.port, host: t.host, lookup: t.settings.lookup });
      const timer = setTimeout(() => {
        sock.destroy();
        resolve({ failure: 'timeout' });
      }, this.settings.timeout);
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.destroy();
        resolve({ connected: true });
      });
      sock.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        resolve(err.code === undefined ? { failure: 'tcp' } : { failure: 'tcp', cause: err.code });
      });
    });
  }

  private async get(t: ProbeTarget): Promise<ProbeOutcome> {
    const s = this.settings;
    const opts: Dispatcher.RequestOptions & { servername?: string } = {
      path: s.path,
      method: 'GET',
      // Kong's healthchecker sends the host_header, else the target's host name, without the
      // target's port (lua-resty-healthcheck: `Host: hostheader or hostname`).
      headers: { host: s.host ?? urlHost(t.host), ...s.headers },
      headersTimeout: s.timeout,
      bodyTimeout: s.timeout,
    };
    // undici takes the TLS server name from the request (else from its Host); an IP is never one (RFC 6066).
    if (s.type === 'https' && s.sni !== null && isIP(s.sni) === 0) opts.servername = s.sni;
    try {
      const res = await this.dispatcher(t).request(opts);
      // The status is the answer, as Kong's healthchecker reads only the status line: the body is
      // not waited for (a target that trickles it would hold a probe connection per interval).
      res.body.on('error', ignore).destroy();
      return { status: res.statusCode };
    } catch (err) {
      // An answer that is no HTTP (another protocol on the port): Kong's healthchecker reads the
      // status line alone, and one it cannot read is status 0, which it counts as an http failure
      // (report_http_status), not a tcp one.
      if ((err as Error).name === 'HTTPParserError') return { status: 0 };
      const code = (err as { code?: string }).code ?? '';
      if (code.includes('TIMEOUT')) return { failure: 'timeout' };
      return code === '' ? { failure: 'tcp' } : { failure: 'tcp', cause: code };
    }
  }

  /**
   * The target's probe pool: the service's CA and client certificate, the probe's protocol,
   * verification and timeout, and no connection kept between probes.
   */
  private dispatcher(t: ProbeTarget): TargetPool {
    let own = this.own?.get(t);
    if (own === undefined) {
      const s = this.settings;
      own = new TargetPool(t.host, t.port, {
        ...t.settings,
        scheme: s.type === 'https' ? 'https' : 'http',
        tlsVerify: s.verify,
        // Kong's healthchecker connects with lua_ssl_verify_depth, not the service's tls_verify_depth.
        verifyDepth: null,
        connectTimeout: s.timeout,
        readTimeout: s.timeout,
        keepaliveIdle: 0,
        maxConnections: 0,
      });
      (this.own ??= new Map()).set(t, own);
    }
    return own;
  }
}

function ignore(): void {}
