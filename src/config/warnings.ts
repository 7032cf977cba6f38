/**
 * Warnings about a valid config: things that work but are probably not what the operator wants.
 * compileRuntime logs them at every load (so `gateway start` shows them) and `gateway validate`
 * prints them (and fails on them under --strict): one list, so the two never disagree.
 */
import { type ConfigIssue, configIssue } from '../errors.ts';
import type { GatewayConfig, RouteModel } from './model.ts';

const TLS_PROTOCOLS = new Set(['https', 'grpcs', 'wss', 'tls']);

export function configWarnings(config: GatewayConfig): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const at = (path: readonly (string | number)[], message: string): void => {
    out.push(configIssue('SEMANTIC', message, path, config.source.locate(path), 'warning'));
  };
  for (const s of config.services) {
    if (s.tls_verify !== false) continue;
    at(
      [...s.yaml_path, 'tls_verify'],
      TLS_PROTOCOLS.has(s.protocol) || config.upstreams.some((u) => u.name === s.host)
        ? "TLS verification is off (tls_verify: false): the upstream's certificate is not checked, so anyone on the path can impersonate it"
        : `TLS verification is off (tls_verify: false); it has no effect while the protocol is ${s.protocol}, and leaves the upstream unverified if it becomes https`,
    );
  }
  // Routes that match exactly the same requests: Kong's order then decides, and one never matches.
  const seen = new Map<string, RouteModel>();
  for (const r of config.routes) {
    const key = routeKey(r);
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, r);
      continue;
    }
    const loc = config.source.locate(first.yaml_path);
    at(
      r.yaml_path,
      `duplicate route: ${label(r)} matches exactly the requests of ${label(first)} (line ${loc.line}); one of them never receives traffic`,
    );
  }
  return out;
}

function label(r: RouteModel): string {
  return r.name === null ? `route ${r.id}` : `route '${r.name}'`;
}

function routeKey(r: RouteModel): string {
  const sorted = (l: readonly string[] | null): string[] | null => (l === null ? null : [...l].sort());
  const headers =
    r.headers === null
      ? null
      : Object.keys(r.headers)
          .sort()
          .map((k) => [k, sorted(r.headers![k]!)]);
  return JSON.stringify([
    sorted(r.protocols),
    sorted(r.methods),
    sorted(r.hosts?.map((h) => h.toLowerCase()) ?? null),
    sorted(r.paths),
    headers,
    sorted(r.snis),
    r.regex_priority,
  ]);
}
