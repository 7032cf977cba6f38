/**
 * Warnings about a valid config: things that work but are probably not what the operator wants.
 * compileRuntime logs them at every load (so `gateway start` shows them) and `gateway validate`
 * prints them (and fails on them under --strict): one list, so the two never disagree.
 */
import { METHODS } from 'node:http';
import { isIP } from 'node:net';
import { type ConfigIssue, configIssue } from '../errors.ts';
import { hasHeaderControlChar } from '../lib/header-value.ts';
import type { GatewayConfig, ServiceModel } from './model.ts';

const TLS_PROTOCOLS = new Set(['https', 'grpcs', 'wss', 'tls']);

/** The methods node's HTTP/1.1 parser (llhttp) reads; it answers any other 400 before routing. */
const HTTP1_METHODS: ReadonlySet<string> = new Set(METHODS);

export function configWarnings(config: GatewayConfig): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const at = (path: readonly (string | number)[], message: string): void => {
    out.push(configIssue('SEMANTIC', message, path, config.source.locate(path), 'warning'));
  };
  for (const s of config.services) {
    cleartextTlsSettings(config, s, at);
    if (s.tls_verify !== false) continue;
    at(
      [...s.yaml_path, 'tls_verify'],
      TLS_PROTOCOLS.has(s.protocol) || config.upstreams.some((u) => u.name === s.host)
        ? "TLS verification is off (tls_verify: false): the upstream's certificate is not checked, so anyone on the path can impersonate it"
        : `TLS verification is off (tls_verify: false); it has no effect while the protocol is ${s.protocol}, and leaves the upstream unverified if it becomes https`,
    );
  }
  // Kong loads any string as a username or custom_id; its identity headers (X-Consumer-Username,
  // X-Consumer-Custom-ID) cannot carry a control character, so every request this consumer
  // authenticates would fail. Said at load, where the operator can fix the name.
  for (const c of config.consumers) {
    for (const field of ['username', 'custom_id'] as const) {
      const value = c[field];
      if (value !== null && hasHeaderControlChar(value))
        at(
          [...c.yaml_path, field],
          `the consumer's ${field} holds a control character (such as a line break), which no HTTP header can carry: every request this consumer authenticates will fail with a 500 (X-Consumer-${field === 'username' ? 'Username' : 'Custom-ID'} cannot be sent); remove the character`,
        );
    }
  }
  for (const p of config.plugins) {
    const header = p.name === 'correlation-id' ? p.config.header_name : undefined;
    // Read as Kong's get_header reads it, `_` as `-`: X_Request_Id finds X-Request-Id.
    if (
      typeof header === 'string' &&
      header.toLowerCase().replaceAll('_', '-') === config.settings.request_id_header.replaceAll('_', '-')
    )
      at(
        [...p.yaml_path, 'config', 'header_name'],
        `correlation-id's header ${header} is the gateway's own request id header (_tollgate.request_id_header): the gateway puts its request id there before any plugin runs, so a client's id is replaced (unless the client is in trusted_ips) and the generator is never used; Kong 3 keeps its request id in X-Kong-Request-Id, so to keep the plugin's behaviour set _tollgate.request_id_header to x-kong-request-id`,
      );
  }
  // Kong (nginx) takes any method token, so a Kong route may name one of its own (`BREW`); node's
  // HTTP/1.1 parser refuses a method outside its list, so only HTTP/2 requests reach it.
  for (const r of config.routes) {
    r.methods?.forEach((m, i) => {
      if (!HTTP1_METHODS.has(m))
        at(
          [...r.yaml_path, 'methods', i],
          `method ${m} is answered 400 on HTTP/1.1 (the gateway's HTTP parser knows a fixed list of methods, where Kong takes any): only HTTP/2 clients reach this route with it`,
        );
    });
  }
  config.settings.admin_listen?.forEach((addr, i) => {
    const why = exposedAdminListen(addr);
    if (why !== null) at(['_tollgate', 'admin_listen', i], why);
  });
  return out;
}

/**
 * `tls_verify: true`, `tls_verify_depth` or `ca_certificates` on a service that speaks cleartext to
 * its upstream: the operator asked for a verified TLS upstream and gets plain text. Kong refuses
 * these fields unless the protocol is https ("value must be null"); here they load, as
 * `tls_verify: false` does, with a warning. A service naming an `upstreams` entry is left alone:
 * its `type: https` active probes use the service's CAs.
 */
function cleartextTlsSettings(
  config: GatewayConfig,
  s: ServiceModel,
  at: (path: readonly (string | number)[], message: string) => void,
): void {
  if (TLS_PROTOCOLS.has(s.protocol) || config.upstreams.some((u) => u.name === s.host)) return;
  const fields = [
    s.tls_verify === true ? 'tls_verify' : null,
    s.tls_verify_depth !== null ? 'tls_verify_depth' : null,
    s.ca_certificates !== null ? 'ca_certificates' : null,
  ];
  for (const f of fields) {
    if (f === null) continue;
    at(
      [...s.yaml_path, f],
      `${f} has no effect while the protocol is ${s.protocol}: the upstream is reached in cleartext, its certificate is never checked (use protocol ${s.protocol === 'grpc' ? 'grpcs' : 'https'})`,
    );
  }
}

/**
 * The admin API has no access control of its own (as Kong's): whoever reaches it reads the
 * effective config and the route table and triggers reloads. Bound beyond loopback, it is open to
 * the network, which is worth a warning (Kong's docs give the same advice for `admin_listen`).
 * Returns the warning for a listen address that is not loopback, null otherwise.
 */
export function exposedAdminListen(addr: string): string | null {
  const host = listenHost(addr);
  if (host === null || isLoopback(host)) return null;
  return `the admin API listens on ${addr.trim()}, which is not a loopback address, and has no access control (no token, no allow list): anyone who can reach it can read the effective config and routes and trigger reloads; bind it to 127.0.0.1 (the default) and reach it through an SSH tunnel or an authenticating proxy, or keep it on a private network restricted by a firewall or a network policy`;
}

/** The host part of `HOST:PORT[ flags]`, `[v6]:PORT` or `PORT` (all interfaces); null when unparsable. */
function listenHost(addr: string): string | null {
  const first = addr.trim().split(/\s+/)[0] ?? '';
  if (first.startsWith('[')) {
    const close = first.indexOf(']');
    return close < 0 ? null : first.slice(1, close);
  }
  const colon = first.lastIndexOf(':');
  // A bare port listens on every interface.
  return colon < 0 ? '0.0.0.0' : first.slice(0, colon);
}

function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h.startsWith('::ffff:127.') || h === '0:0:0:0:0:0:0:1';
  return false;
}
