// Kong's debug header: with `_tollgate.debug_header: true` (Kong's `allow_debug_header`), a request
// carrying `Kong-Debug: 1` gets response headers naming the matched route and service, as Kong
// sends them, and the plugins that ran for it (Tollgate-Plugins), so an operator can see with curl
// what served one request. Off by default: the names tell a client about the gateway's config.
import { utf8HeaderText } from '../lib/header-value.ts';
import type { HeaderValue } from '../pipeline/plugin.ts';
import type { ProxyRequest } from './context.ts';
import { pick } from './phases.ts';

/** Whether this request asked for the debug view and the gateway allows it. */
export function wantsDebug(rc: ProxyRequest): boolean {
  return rc.runtime.config.settings.debug_header && rc.headers['kong-debug'] === '1';
}

/** The debug headers, as name/value pairs. */
export function debugHeaders(rc: ProxyRequest): [string, string][] {
  const route = rc.compiled;
  if (route === null) return [];
  const out: [string, string][] = [['kong-route-id', route.info.id]];
  // A name past ASCII goes as its UTF-8 bytes, as Kong sends it: node throws on a char past U+00FF.
  if (route.info.name !== null) out.push(['kong-route-name', utf8HeaderText(route.info.name)]);
  const svc = route.service?.info;
  if (svc !== undefined) {
    out.push(['kong-service-id', svc.id]);
    if (svc.name !== null) out.push(['kong-service-name', utf8HeaderText(svc.name)]);
  }
  // The plugins that applied to this request, by priority: every one up to the plugin that
  // answered; after it, only those that still run (their response or log handlers).
  const names: string[] = [];
  let stopped = false;
  for (const slot of route.pipeline.slots) {
    const inst = pick(slot, rc);
    if (inst === null) continue;
    if (!stopped || inst.handlers.response !== undefined || inst.handlers.log !== undefined) names.push(inst.name);
    if (inst.name === rc.source) stopped = true;
  }
  out.push(['tollgate-plugins', names.join(', ')]);
  return out;
}

/** Adds the debug headers to a response head built as an object. */
export function addDebugHeaders(rc: ProxyRequest, headers: Record<string, HeaderValue | undefined>): void {
  for (const [k, v] of debugHeaders(rc)) headers[k] = v;
}
