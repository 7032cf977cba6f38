/**
 * The `jwt-claims` plugin: checks the claims of the identity an authentication plugin verified
 * (`req.claims`: the jwt plugin's token, the oidc plugin's ID token or bearer token), never a
 * token read again from the request, so an unverified token can never satisfy it. Runs at
 * priority 999, after every authentication plugin (jwt 1450 ... oidc 1000), whichever of them
 * authenticated the request. Optionally forwards claims upstream as headers.
 * See docs/plugins/jwt-claims.md.
 */
import { isDeepStrictEqual } from 'node:util';
import schema from '../../../schemas/plugins/jwt-claims.schema.json' with { type: 'json' };
import type { GatewayRequest, PluginHandlers } from '../../index.ts';
import { assertLinearRegex, definePlugin, PluginConfigError, utf8HeaderText } from '../../index.ts';

/** One claim's rule; every condition given must hold. */
export interface ClaimRule {
  equals?: unknown;
  one_of?: unknown[];
  contains?: unknown;
  pattern?: string;
  present?: boolean;
  absent?: boolean;
}

/** The jwt-claims plugin's config, defaults applied. */
export interface JwtClaimsConfig {
  claims: Record<string, ClaimRule>;
  status: number;
  forward_claims: Record<string, string>;
}

/**
 * Just below the last of Kong's authentication plugins (oidc, 1000): the claims of whichever of
 * them authenticated the request are set by then; before ip-restriction (990), acl (950) and
 * rate-limiting (910).
 */
export const JWT_CLAIMS_PRIORITY = 999;

interface CompiledRule {
  readonly claim: string;
  readonly mustBePresent: boolean;
  readonly mustBeAbsent: boolean;
  readonly hasEquals: boolean;
  readonly equals: unknown;
  readonly oneOf: readonly unknown[] | null;
  readonly hasContains: boolean;
  readonly contains: unknown;
  readonly pattern: RegExp | null;
  /** Bodies built once: they name the claim, never the expected value. */
  readonly missing: { message: string };
  readonly rejected: { message: string };
  readonly unexpected: { message: string };
}

// Headers whose meaning belongs to the gateway or the connection, not to a claim.
const RESERVED_HEADERS = new Set([
  'host',
  'connection',
  'content-length',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'keep-alive',
  'proxy-connection',
  'expect',
  'content-type',
  'authorization',
  'cookie',
]);

const UNAUTHORIZED = { message: 'Unauthorized' };

class JwtClaims implements PluginHandlers {
  private readonly rules: readonly CompiledRule[];
  private readonly status: number;
  private readonly forward: readonly (readonly [claim: string, header: string])[];

  constructor(rules: CompiledRule[], status: number, forward: [string, string][]) {
    this.rules = rules;
    this.status = status;
    this.forward = forward;
  }

  access(req: GatewayRequest): void {
    const claims = req.claims;
    for (const [, header] of this.forward) req.removeUpstreamHeader(header);
    if (claims === null) return req.exitError(401, UNAUTHORIZED.message, null, 'NO_CREDENTIALS');
    for (const rule of this.rules) {
      const body = check(rule, claims);
      if (body !== null) return req.exitError(this.status, body.message, null, 'CLAIMS_DENIED');
    }
    for (const [claim, header] of this.forward) {
      const value = headerValue(claims[claim]);
      if (value !== null) req.setUpstreamHeader(header, value);
    }
  }
}

function check(rule: CompiledRule, claims: Readonly<Record<string, unknown>>): { message: string } | null {
  const present = Object.hasOwn(claims, rule.claim);
  if (rule.mustBeAbsent) return present ? rule.unexpected : null;
  if (!present) return rule.mustBePresent ? rule.missing : null;
  const value = claims[rule.claim];
  if (rule.hasEquals && !isDeepStrictEqual(value, rule.equals)) return rule.rejected;
  if (rule.oneOf && !rule.oneOf.some((v) => isDeepStrictEqual(value, v))) return rule.rejected;
  if (rule.hasContains && !contains(value, rule.contains)) return rule.rejected;
  if (rule.pattern && (typeof value !== 'string' || !rule.pattern.test(value))) return rule.rejected;
  return null;
}

function contains(value: unknown, wanted: unknown): boolean {
  if (Array.isArray(value)) return value.some((v) => isDeepStrictEqual(v, wanted));
  if (typeof value === 'string' && typeof wanted === 'string') {
    return value === wanted || value.split(' ').includes(wanted);
  }
  return false;
}

/** A claim as a header value: strings as is, numbers and booleans printed, the rest as JSON. */
function headerValue(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  const text = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  // A signed claim is still client-chosen text: no control characters may reach a header.
  if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(text)) return null;
  // Text past ASCII is sent as its UTF-8 bytes, as Kong sends the claim's bytes: always, so that
  // `Zoë` is not one byte 0xEB while `Zoë 日本` is UTF-8 (an upstream could not tell which).
  return utf8HeaderText(text);
}

function compileRule(claim: string, rule: ClaimRule): CompiledRule {
  const path = `claims.${claim}`;
  if (rule.absent === true && rule.present === true)
    throw new PluginConfigError(path, 'a claim cannot be both present and absent');
  const mustBeAbsent = rule.absent === true || rule.present === false;
  const hasValueRule =
    'equals' in rule || rule.one_of !== undefined || 'contains' in rule || rule.pattern !== undefined;
  if (mustBeAbsent && hasValueRule) throw new PluginConfigError(path, 'an absent claim cannot have a value rule');
  let pattern: RegExp | null = null;
  if (rule.pattern !== undefined) {
    try {
      pattern = new RegExp(rule.pattern, 'u');
    } catch (err) {
      throw new PluginConfigError(`${path}.pattern`, `invalid regular expression: ${(err as Error).message}`);
    }
  }
  return {
    claim,
    mustBePresent: rule.present === true || hasValueRule,
    mustBeAbsent,
    hasEquals: 'equals' in rule,
    equals: rule.equals,
    oneOf: rule.one_of ?? null,
    hasContains: 'contains' in rule,
    contains: rule.contains,
    pattern,
    missing: { message: `Claim '${claim}' is missing` },
    rejected: { message: `Claim '${claim}' is not accepted` },
    unexpected: { message: `Claim '${claim}' is not allowed` },
  };
}

export default definePlugin<JwtClaimsConfig>({
  name: 'jwt-claims',
  version: '1.0.0',
  priority: JWT_CLAIMS_PRIORITY,
  schema,
  async create(config, context) {
    const rules = Object.entries(config.claims ?? {}).map(([claim, rule]) => compileRule(claim, rule));
    // Patterns run on claim values: text whoever obtained a token can influence.
    for (const r of rules) if (r.pattern) await assertLinearRegex(r.pattern, `claims.${r.claim}.pattern`, context.log);
    const forward: [string, string][] = [];
    const seen = new Set<string>();
    for (const [claim, header] of Object.entries(config.forward_claims ?? {})) {
      const name = header.toLowerCase();
      if (
        RESERVED_HEADERS.has(name) ||
        name.startsWith('x-consumer-') ||
        name === 'x-credential-identifier' ||
        name === 'x-anonymous-consumer'
      ) {
        throw new PluginConfigError(`forward_claims.${claim}`, `header ${header} is reserved`);
      }
      if (seen.has(name))
        throw new PluginConfigError(`forward_claims.${claim}`, `header ${header} is used for two claims`);
      seen.add(name);
      forward.push([claim, name]);
    }
    if (rules.length === 0 && forward.length === 0) {
      throw new PluginConfigError('claims', 'give at least one claim rule or forwarded claim');
    }
    return new JwtClaims(rules, config.status, forward);
  },
});
