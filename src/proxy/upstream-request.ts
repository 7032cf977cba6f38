// What the upstream is sent: the request target and the header set (the client's, minus hop-by-hop,
// plus plugins' changes and the X-Forwarded-* family). Shared by the undici exchange, the echo
// upstream and WebSocket.
import type { HeaderValue } from '../pipeline/plugin.ts';
import type { RequestContext } from '../pipeline/request.ts';
import type { CompiledService } from '../pipeline/runtime.ts';
import { upstreamPath } from '../router/router.ts';
import { localPort, type ProxyRequest, peerAddress, type TrackedSocket } from './context.ts';
import { forwardedFor } from './request-checks.ts';

const VIA = '1.1 tollgate';

/**
 * The client's headers as forwarded, with the plugins' changes applied: what the upstream gets
 * before the gateway adds its own (X-Forwarded-*, X-Real-IP, Via, the request id, Host). The
 * test kit reports exactly this as `upstreamHeaders`.
 */
export function pluginUpstreamHeaders(rc: RequestContext): Record<string, HeaderValue> {
  const src = rc.headers as Record<string, HeaderValue | undefined>;
  const overrides = rc.headerOverrides;
  const out: Record<string, HeaderValue> = {};
  for (const name in src) {
    const v = src[name];
    if (
      v !== undefined &&
      name !== 'transfer-encoding' &&
      name !== 'proxy-authorization' &&
      (overrides === null || !overrides.has(name))
    )
      out[name] = v;
  }
  if (overrides !== null) {
    for (const [name, v] of overrides) if (v !== null) out[name] = v;
  }
  return out;
}

/** The Host sent upstream: a plugin's, else the client's under preserve_host, else `defaultHost`. */
export function upstreamHost(rc: RequestContext, defaultHost: string): string {
  const hostOverride = rc.headerOverrides?.get('host');
  return typeof hostOverride === 'string'
    ? hostOverride
    : rc.compiled!.preserve_host && rc.hostHeader !== ''
      ? rc.hostHeader
      : defaultHost;
}

/** `defaultHost`: the Host sent unless preserve_host or a plugin says otherwise (a balancer target's, or the service's). */
export function buildUpstreamHeaders(rc: ProxyRequest, defaultHost: string): Record<string, HeaderValue> {
  const src = rc.headers as Record<string, HeaderValue | undefined>;
  const overrides = rc.headerOverrides;
  const out = pluginUpstreamHeaders(rc);
  const route = rc.compiled!;
  const peer = peerAddress(rc.raw.socket as TrackedSocket);
  // Only addresses flow onward: a client's X-Forwarded-For with anything else in it is replaced, and
  // a Forwarded header whose `for=` is not an address is dropped.
  const xff = rc.forwardedFor;
  out['x-forwarded-for'] = xff === null ? peer : `${xff.join(', ')}, ${peer}`;
  const fwd = src.forwarded;
  if (fwd !== undefined && (overrides === null || !overrides.has('forwarded')) && forwardedFor(fwd) === null)
    delete out.forwarded;
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
  out.host = upstreamHost(rc, defaultHost);
  return out;
}

/** The path sent upstream: a plugin's, else the request path joined to the service path (strip_path applied). */
export function upstreamPathOf(rc: RequestContext, svc: CompiledService): string {
  return rc.upstreamPath ?? upstreamPath(svc.model.path, rc.compiled!, rc.path, rc.matchedPath);
}

export function upstreamTarget(rc: RequestContext, svc: CompiledService): string {
  const path = upstreamPathOf(rc, svc);
  const query = rc.upstreamQuery ?? rc.rawQuery;
  return query === '' ? path : `${path}?${query}`;
}
