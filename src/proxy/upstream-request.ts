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

/** `defaultHost`: the Host sent unless preserve_host or a plugin says otherwise (a balancer target's, or the service's). */
export function buildUpstreamHeaders(rc: ProxyRequest, defaultHost: string): Record<string, HeaderValue> {
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
  const hostOverride = overrides?.get('host');
  out.host =
    typeof hostOverride === 'string'
      ? hostOverride
      : route.preserve_host && rc.hostHeader !== ''
        ? rc.hostHeader
        : defaultHost;
  return out;
}

export function upstreamTarget(rc: RequestContext, svc: CompiledService): string {
  const path = rc.upstreamPath ?? upstreamPath(svc.model.path, rc.compiled!, rc.path, rc.matchedPath);
  const query = rc.upstreamQuery ?? rc.rawQuery;
  return query === '' ? path : `${path}?${query}`;
}
