/**
 * Warnings about a valid config: things that work but are probably not what the operator wants.
 * compileRuntime logs them at every load (so `gateway start` shows them) and `gateway validate`
 * prints them (and fails on them under --strict): one list, so the two never disagree.
 */
import { type ConfigIssue, configIssue } from '../errors.ts';
import type { GatewayConfig } from './model.ts';

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
  return out;
}
