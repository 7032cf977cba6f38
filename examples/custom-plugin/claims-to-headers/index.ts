/**
 * claims-to-headers: maps claims of the verified JWT (`req.claims`, set by the jwt plugin) to
 * upstream request headers, with rules per tenant. The upstream trusts these headers instead of
 * parsing the token itself, so the plugin first removes every header it manages from the
 * client's request: a client can never send its own `X-User-Email`.
 *
 * Answers 401 when no verified token was presented, 403 when the token has no usable tenant, a
 * tenant that is not configured (unless `unknown_tenant: defaults`), or lacks a required claim.
 */
import { definePlugin, type GatewayRequest, PluginConfigError } from 'tollgate';
import schema from './schema.json' with { type: 'json' };

interface Rule {
  claim: string;
  header: string;
  required: boolean;
  separator: string;
}

export interface Config {
  tenant_claim: string;
  tenant_header: string | null;
  default_rules: Rule[];
  tenants: Record<string, Rule[]>;
  unknown_tenant: 'reject' | 'defaults';
  debug: boolean;
}

/** A rule ready for requests: header name lower-cased once. */
interface CompiledRule {
  readonly claim: string;
  readonly header: string;
  readonly required: boolean;
  readonly separator: string;
}

// Header values that would break the request line framing or smuggle a second header.
const UNSAFE = /[\u0000-\u0008\u000a-\u001f\u007f]/;

const UNAUTHORIZED = { message: 'Unauthorized' };
const FORBIDDEN = { message: 'You cannot consume this service' };

export default definePlugin<Config>({
  name: 'claims-to-headers',
  version: '1.0.0',
  // After authentication (jwt 1450) and acl (950): only requests already let in are mapped.
  priority: 900,
  schema,
  create(config, { log }) {
    const compile = (rules: Rule[], path: string): CompiledRule[] => {
      const seen = new Set<string>();
      return rules.map((r, i) => {
        const header = r.header.toLowerCase();
        if (seen.has(header))
          throw new PluginConfigError(`${path}.${i}.header`, `header '${r.header}' is mapped twice`);
        if (header === config.tenant_header?.toLowerCase()) {
          throw new PluginConfigError(
            `${path}.${i}.header`,
            `header '${r.header}' already carries the tenant (tenant_header)`,
          );
        }
        seen.add(header);
        return Object.freeze({ claim: r.claim, header, required: r.required, separator: r.separator });
      });
    };
    const defaults = compile(config.default_rules, 'default_rules');
    // Per tenant: the default rules, with the tenant's rule replacing a default for the same header.
    const tenants = new Map<string, readonly CompiledRule[]>();
    for (const [tenant, rules] of Object.entries(config.tenants)) {
      const own = compile(rules, `tenants.${tenant}`);
      const replaced = new Set(own.map((r) => r.header));
      tenants.set(tenant, Object.freeze([...defaults.filter((r) => !replaced.has(r.header)), ...own]));
    }
    const managed = new Set<string>(defaults.map((r) => r.header));
    for (const rules of tenants.values()) for (const r of rules) managed.add(r.header);
    const tenantHeader = config.tenant_header?.toLowerCase() ?? null;
    if (tenantHeader !== null) managed.add(tenantHeader);
    const managedList = [...managed];
    const fallback = config.unknown_tenant === 'defaults' ? defaults : null;

    return {
      access(req: GatewayRequest) {
        for (const h of managedList) if (req.headers[h] !== undefined) req.removeUpstreamHeader(h);
        const claims = req.claims;
        if (claims === null) return req.exit(401, UNAUTHORIZED);
        const tenant = claims[config.tenant_claim];
        if (typeof tenant !== 'string' || tenant === '' || UNSAFE.test(tenant)) {
          log.debug('no usable tenant claim', { claim: config.tenant_claim });
          return req.exit(403, FORBIDDEN);
        }
        const rules = tenants.get(tenant) ?? fallback;
        if (rules === null) {
          log.debug('tenant not configured', { tenant });
          return req.exit(403, FORBIDDEN);
        }
        for (let i = 0; i < rules.length; i++) {
          const rule = rules[i]!;
          const value = headerValue(claims[rule.claim], rule.separator);
          if (value === null) {
            if (rule.required) {
              log.debug('required claim missing or not a scalar', { tenant, claim: rule.claim });
              return req.exit(403, FORBIDDEN);
            }
            continue;
          }
          req.setUpstreamHeader(rule.header, value);
        }
        if (tenantHeader !== null) req.setUpstreamHeader(tenantHeader, tenant);
      },
    };
  },
});

/** A claim as one header value: scalars as text, lists of scalars joined; anything else is no value. */
function headerValue(v: unknown, separator: string): string | null {
  if (typeof v === 'string') return v === '' || UNSAFE.test(v) ? null : v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) {
    const parts: string[] = [];
    for (const item of v) {
      const p = typeof item === 'string' || typeof item === 'number' || typeof item === 'boolean' ? String(item) : null;
      if (p === null || UNSAFE.test(p)) return null;
      parts.push(p);
    }
    return parts.length === 0 ? null : parts.join(separator);
  }
  return null;
}
