/**
 * Upstreams (Kong's load balancers) and their targets: models and the checks Kong's schema makes
 * on hashing fields.
 */
import { isIP } from 'node:net';
import { formatYamlPath } from '../../errors.ts';
import { hasHeaderControlChar } from '../../lib/header-value.ts';
import { pathProblem } from '../../lib/kong-config.ts';
import type { TargetModel, UpstreamModel } from '../model.ts';
import { checkHost } from '../paths.ts';
import { REQUIRED_FIELD_MISSING } from '../schema-messages.ts';
import { hasNullId } from './null-ids.ts';
import {
  type Build,
  type Err,
  namesEnclosing,
  type Obj,
  orNull,
  type Path,
  type PendingTarget,
  tags,
} from './state.ts';

/** Lifts `upstreams` with their nested targets, then top-level `targets`. */
export function liftUpstreams(b: Build): void {
  b.each(b.doc.upstreams, (raw, i) => {
    const path: Path = ['upstreams', i];
    // Kong's shorthands (kong/db/schema/entities/upstreams.lua), applied in their order:
    // `algorithm` least-connections or latency sets hash_on to none; then a hash_on other than
    // none makes the algorithm consistent-hashing (round-robin and consistent-hashing alike).
    const unhashed = raw.algorithm === 'least-connections' || raw.algorithm === 'latency';
    const hashOn = unhashed ? 'none' : raw.hash_on;
    if (unhashed && raw.hash_on !== undefined && raw.hash_on !== 'none')
      b.warn(
        'SEMANTIC',
        `hash_on '${raw.hash_on}' is ignored: algorithm '${raw.algorithm}' sets hash_on to 'none' (Kong's upstream shorthands); remove hash_on, or set algorithm: consistent-hashing to hash`,
        [...path, 'hash_on'],
      );
    const model: UpstreamModel = {
      id: '',
      name: raw.name,
      algorithm: hashOn !== undefined && hashOn !== 'none' ? 'consistent-hashing' : raw.algorithm,
      hash_on: hashOn,
      hash_fallback: raw.hash_fallback,
      hash_on_header: orNull(raw.hash_on_header),
      hash_on_cookie: orNull(raw.hash_on_cookie),
      hash_on_cookie_path: raw.hash_on_cookie_path,
      slots: raw.slots,
      healthchecks: raw.healthchecks,
      targets: [],
      tags: tags(raw.tags),
      yaml_path: path,
    };
    for (const field of [
      'hash_fallback_header',
      'hash_on_query_arg',
      'hash_fallback_query_arg',
      'hash_on_uri_capture',
      'hash_fallback_uri_capture',
      'host_header',
    ] as const)
      if (raw[field] !== undefined) model[field] = raw[field];
    // decK writes Kong's default, false, in every dump: only asking for SRV is refused.
    if (raw.use_srv_name === true)
      b.err(
        'UNKNOWN_FIELD',
        "'use_srv_name: true' is a Kong setting that Tollgate does not support: DNS SRV resolution is not supported; list the targets' host:port instead",
        [...path, 'use_srv_name'],
      );
    // Kong Gateway 3.11+ has decK write its default, '/', for every upstream; the cookie's path
    // matters only to the sticky-sessions algorithm, which the algorithm check refuses.
    const stickyPath = raw.sticky_sessions_cookie_path;
    if (stickyPath !== undefined && stickyPath !== '/')
      b.err(
        'UNKNOWN_FIELD',
        "'sticky_sessions_cookie_path' is a Kong field that Tollgate does not support: the sticky-sessions algorithm (Kong Enterprise) is not supported; hash_on: cookie with hash_on_cookie_path keeps a client on one target",
        [...path, 'sticky_sessions_cookie_path'],
      );
    const u = { raw, path, model };
    b.upstreams.push(u);
    b.each(raw.targets, (t, j) => {
      const tp: Path = [...path, 'targets', j];
      if (t.upstream !== undefined && !namesEnclosing(t.upstream, raw, 'name'))
        b.err(
          'SCHEMA',
          `value must be null: 'upstream' is implied by the enclosing upstream; remove it`,
          [...tp, 'upstream'],
          true,
        );
      b.targets.push({ raw: t, path: tp, model: targetModel(t, tp, b.err), ref: null, upstream: u });
    });
    checkUpstream(raw, path, b.err);
    // Header names are case-insensitive, and Kong's $http_NAME reads `_` as `-`: Kong loads X-Region
    // and x_region, and the fallback then reads the header hash_on found missing.
    const onHeader = raw.hash_on_header;
    const fallbackHeader = raw.hash_fallback_header;
    if (
      typeof onHeader === 'string' &&
      typeof fallbackHeader === 'string' &&
      onHeader !== fallbackHeader &&
      onHeader.toLowerCase().replaceAll('_', '-') === fallbackHeader.toLowerCase().replaceAll('_', '-')
    )
      b.warn(
        'SEMANTIC',
        "hash_fallback_header names the same header as hash_on_header (header names are case-insensitive, and '_' reads as '-' as in Kong's $http_NAME): the fallback is never used",
        [...path, 'hash_fallback_header'],
      );
  });
  b.each(b.doc.targets, (t, i) => {
    const path: Path = ['targets', i];
    b.targets.push({ raw: t, path, model: targetModel(t, path, b.err), ref: t.upstream, upstream: null });
  });
}

/**
 * Two targets of one upstream at the same address (as normalized: `a` and `a:8000` are one).
 * Kong's declarative loader gives a target without an `id` (absent: `id: null` is one of its own,
 * see kongTargetKey) the id it derives from its cache key,
 * the upstream and the target as written (kong/db/schema/others/declarative_config.lua), so two
 * written alike get one id and Kong refuses the second ("uniqueness violation ... primary key");
 * here too, with the way out. Otherwise (their own ids, or the address spelled two ways) Kong
 * loads both, and its balancer adds each with its weight (kong/runloop/balancer/targets.lua
 * loads every target of the upstream): the address gets the sum. Here they become the first
 * target with that summed weight, and a warning says so.
 */
export function sameAddressTargets(b: Build): void {
  const first = new Map<string, PendingTarget>();
  const merged = new Set<TargetModel>();
  for (const t of b.targets) {
    const u = t.upstream;
    if (!u) continue;
    const key = `${u.model.id} ${t.model.target}`;
    const prev = first.get(key);
    if (!prev) {
      first.set(key, t);
      continue;
    }
    // The same written id (null too, see nullIds) is already Kong's primary key violation.
    if ((typeof t.raw.id === 'string' && t.raw.id === prev.raw.id) || (hasNullId(t.raw) && hasNullId(prev.raw)))
      continue;
    const sum = prev.model.weight + t.model.weight;
    const at = formatYamlPath(prev.path);
    const kongKey = kongTargetKey(t);
    if (kongKey !== null && kongKey === kongTargetKey(prev)) {
      b.err(
        'UNIQUENESS',
        `uniqueness violation: 'targets' entity with target set to '${t.model.target}' already declared (at ${at}); Kong refuses it too (it derives one id for both from the upstream and the target): declare the address once, with the weight of both (${sum}), or remove one`,
        [...t.path, 'target'],
      );
      continue;
    }
    b.warn(
      'SEMANTIC',
      `target '${t.model.target}' is already declared in this upstream (at ${at}): Kong loads both and its balancer gives the address their summed weight; here they are one target (the first) of weight ${sum}: declare the address once, with weight ${sum}`,
      [...t.path, 'target'],
    );
    prev.model.weight = sum;
    merged.add(t.model);
  }
  // Dropped in one pass per upstream: a file repeating one address thousands of times stays linear.
  if (merged.size === 0) return;
  for (const u of b.upstreams) u.model.targets = u.model.targets.filter((m) => !merged.has(m));
}

/**
 * The cache key Kong derives a target's id from when it has none: its upstream as written, and its
 * target. An `id: null` is an id to Kong: its loader derives one only where the field is absent
 * (`get_key_for_uuid_gen` in kong/db/schema/others/declarative_config.lua), so the target keeps
 * null as its primary key.
 */
function kongTargetKey(t: PendingTarget): string | null {
  if (t.raw.id !== undefined || hasNullId(t.raw)) return null;
  return `${t.ref ?? t.upstream?.model.id}\u0000${String(t.raw.target)}`;
}

function targetModel(t: Obj, path: Path, err: Err): TargetModel {
  // Kong Gateway 3.12 has decK write `failover: false` for every target; a failover target (one
  // the balancer uses only when the others are unhealthy) would be balanced as any other here.
  if (t.failover === true)
    err(
      'UNKNOWN_FIELD',
      "'failover: true' is a Kong Gateway setting that Tollgate does not support: failover targets are not supported; remove the target, or keep it with failover removed to balance it with the others (health checks take a failing target out)",
      [...path, 'failover'],
    );
  return {
    id: '',
    target: normalizeTarget(t.target, path, err),
    weight: t.weight,
    tags: tags(t.tags),
    yaml_path: path,
  };
}

/**
 * Kong's message for a target its `normalize_ip` cannot read (a bad host name or IPv6 address, a
 * port above 65535), with the hint for a `$NAME` left by a template when that is the cause.
 */
function invalidTarget(target: string, hostProblem: string | null): string {
  const hint = hostProblem?.includes('`$NAME`') ? `: ${hostProblem}` : '';
  return `Invalid target ('${target}'); not a valid hostname or ip address${hint}`;
}

/**
 * `host[:port]`, `[v6][:port]` or a bare IPv6 address (Kong's `hostname_type`: more than one
 * colon is IPv6, with no port unless in brackets), lower-cased, with Kong's default port 8000.
 */
export function normalizeTarget(target: string, path: Path, err: Err): string {
  const v6 = /^\[([^\]]*)\](?::(\d+))?$/.exec(target) ?? (/:.*:/.test(target) ? [target, target] : null);
  if (v6) {
    if (isIP(v6[1]!) !== 6 || Number(v6[2] ?? 0) > 65535) {
      err('SCHEMA', invalidTarget(target, null), [...path, 'target']);
      return target;
    }
    return `[${v6[1]!.toLowerCase()}]:${v6[2] ?? '8000'}`;
  }
  const m = /^([^:]+)(?::(\d+))?$/.exec(target);
  const problem = m ? checkHost(m[1]!, { wildcard: false, port: false }) : 'invalid target; expected host:port';
  if (problem || (m?.[2] !== undefined && Number(m[2]) > 65535)) {
    err('SCHEMA', invalidTarget(target, problem), [...path, 'target']);
    return target;
  }
  return `${m![1]!.toLowerCase()}:${m![2] ?? '8000'}`;
}

/**
 * Kong's `typedefs.sni` (`https_sni`): a host name, not an IP address (a server name is never one,
 * RFC 6066) nor with a port; with Kong's messages. Such a value was otherwise dropped or sent as
 * is, and every probe failed its certificate check.
 */
function sniProblem(sni: string): string | null {
  if (isIP(sni) !== 0 || isIP(sni.replace(/^\[(.*)\]$/, '$1')) !== 0) return 'must not be an IP';
  const port = /^(.*):\d+$/.exec(sni);
  // Kong's validate_sni tells an address from a name before it looks at the port.
  if (port !== null && isIP(port[1]!.replace(/^\[(.*)\]$/, '$1')) !== 0) return 'must not be an IP';
  if (port !== null && checkHost(port[1]!, { wildcard: false, port: false }) === null) return 'must not have a port';
  return checkHost(sni, { wildcard: false, port: false }) === null ? null : `invalid value: ${sni}`;
}

/**
 * The active probes' `headers`: Kong's `typedefs.headers` refuses a name that is not a header name.
 * A name or a value that cannot be sent (a space in the name, a line break in the value) failed
 * every probe, so every target was marked down, read as a tcp failure.
 */
function checkProbeHeaders(headers: unknown, path: Path, err: Err): void {
  if (headers === null || typeof headers !== 'object') return;
  for (const [name, values] of Object.entries(headers as Record<string, unknown>)) {
    const hp = [...path, 'headers', name];
    if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) err('SCHEMA', `invalid header name '${name}'`, hp);
    else if (Array.isArray(values) && values.some((v) => typeof v === 'string' && hasHeaderControlChar(v)))
      err('SCHEMA', 'a header value cannot contain control characters (tab aside)', hp);
  }
}

/**
 * What is wrong with an upstream's name, in the words of Kong's upstreams schema: a service's host
 * names an upstream, so the name is a host name, never an address (a service whose host is an IP
 * connects to it) nor a name with a port (the service's port is the target's).
 */
function upstreamNameProblem(name: string): string | null {
  const m = /^(\[[^\]]*\]|[^:]*):(\d+)$/.exec(name);
  const host = (m?.[1] ?? name).replace(/^\[(.*)\]$/, '$1');
  if (isIP(host) !== 0 || isIP(name) !== 0) return 'no ip addresses allowed';
  if (m !== null && checkHost(host, { wildcard: false, port: false }) === null) return 'no port allowed';
  return checkHost(name, { wildcard: false, port: false }) ? 'must be a valid hostname' : null;
}

/** The fallbacks Kong's one_of rules allow for the hash_on kinds that have no name, in its order. */
const FALLBACKS_OTHER_THAN = new Map<unknown, string>([
  ['consumer', 'none, ip, header, cookie, path, query_arg, uri_capture'],
  ['ip', 'none, consumer, header, cookie, path, query_arg, uri_capture'],
  ['path', 'none, consumer, header, cookie, query_arg, ip, uri_capture'],
]);

function checkUpstream(raw: Obj, path: Path, err: Err): void {
  const nameProblem =
    typeof raw.name === 'string'
      ? upstreamNameProblem(raw.name)
      : checkHost(raw.name, { wildcard: false, port: false }) && 'must be a valid hostname';
  if (nameProblem) err('SCHEMA', `Invalid name ('${raw.name}'); ${nameProblem}`, [...path, 'name']);
  if (raw.host_header !== undefined) {
    // Kong's typedefs.host_with_optional_port: normalize_ip's own message.
    const problem = checkHost(raw.host_header, { wildcard: false, port: true });
    if (problem)
      err(
        'SCHEMA',
        problem === 'invalid port number'
          ? problem
          : problem === 'invalid IPv4 address'
            ? `invalid ipv4 address: ${raw.host_header}`
            : `invalid hostname: ${raw.host_header}`,
        [...path, 'host_header'],
      );
  }
  const active = (raw.healthchecks as Obj | undefined)?.active;
  checkProbeHeaders(active?.headers, [...path, 'healthchecks', 'active'], err);
  if (typeof active?.http_path === 'string') {
    const problem = pathProblem(active.http_path, true);
    if (problem) err('SCHEMA', problem, [...path, 'healthchecks', 'active', 'http_path']);
  }
  if (typeof raw.hash_on_cookie_path === 'string') {
    const problem = pathProblem(raw.hash_on_cookie_path, true);
    if (problem) err('SCHEMA', problem, [...path, 'hash_on_cookie_path']);
  }
  // Kong's typedefs.header_name: a header name that is not a token is in no request, so every
  // request would silently go without a key (round-robin) instead of sticking to a target.
  for (const field of ['hash_on_header', 'hash_fallback_header'] as const) {
    const name = raw[field];
    if (typeof name === 'string' && !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name))
      err('SCHEMA', `invalid header name '${JSON.stringify(name).slice(1, -1)}'`, [...path, field]);
  }
  // Kong's typedefs.cookie_name: an HTTP token. Another name is set on answers but never comes
  // back as the same cookie, so no client would stay on its target.
  if (typeof raw.hash_on_cookie === 'string' && !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(raw.hash_on_cookie))
    err(
      'SCHEMA',
      // Kong's validate_http_token message (kong/tools/http.lua), then the name as written.
      `contains one or more invalid characters. ASCII control characters (0-31;127), space, tab and the characters ()<>@,;:\\"/?={}[] are not allowed: '${JSON.stringify(raw.hash_on_cookie).slice(1, -1)}'`,
      [...path, 'hash_on_cookie'],
    );
  const sni = (raw.healthchecks as Obj | undefined)?.active?.https_sni;
  if (typeof sni === 'string') {
    const problem = sniProblem(sni);
    if (problem) err('SCHEMA', problem, [...path, 'healthchecks', 'active', 'https_sni']);
  }
  // Kong's entity checks (kong/db/schema/entities/upstreams.lua), in its words: a conditional's
  // error is at its then_field, `required field missing` or the `one_of` it failed.
  const unset = (v: unknown): boolean => v === undefined || v === null;
  for (const which of ['hash_on', 'hash_fallback'] as const) {
    // The name each kind reads: hash_on_header, hash_fallback_query_arg, ...
    for (const kind of ['header', 'query_arg', 'uri_capture'] as const) {
      if (raw[which] === kind && unset(raw[`${which}_${kind}`]))
        err('SCHEMA', `${REQUIRED_FIELD_MISSING}: '${which}' is '${kind}'`, [...path, `${which}_${kind}`]);
    }
    if (raw[which] === 'cookie' && unset(raw.hash_on_cookie))
      err('SCHEMA', `${REQUIRED_FIELD_MISSING}: '${which}' is 'cookie'`, [...path, 'hash_on_cookie']);
  }
  if (raw.hash_on === 'none' && raw.hash_fallback !== 'none')
    err('SCHEMA', "expected one of: none (when 'hash_on' is 'none')", [...path, 'hash_fallback']);
  // Kong's schema: a request without the cookie gets one, so a fallback would never be used.
  if (raw.hash_on === 'cookie' && raw.hash_fallback !== 'none')
    err('SCHEMA', "expected one of: none (when 'hash_on' is 'cookie': a request without the cookie is given one)", [
      ...path,
      'hash_fallback',
    ]);
  // Kong allows the same kind twice for headers, query arguments and captures, with distinct names.
  const others = FALLBACKS_OTHER_THAN.get(raw.hash_on);
  if (others !== undefined && raw.hash_on === raw.hash_fallback) {
    err('SCHEMA', `expected one of: ${others} (hash_fallback must differ from hash_on)`, [...path, 'hash_fallback']);
  }
  for (const kind of ['header', 'query_arg', 'uri_capture'] as const) {
    const on = raw[`hash_on_${kind}`];
    const fallback = raw[`hash_fallback_${kind}`];
    // Kong's `distinct` check compares the strings as written, header names too, and says so in
    // its own words (kong/db/schema's DISTINCT message, which decK and Kong users search for).
    if (on !== undefined && fallback !== undefined && on === fallback)
      err('SCHEMA', `values of these fields must be distinct: 'hash_on_${kind}', 'hash_fallback_${kind}'`, [
        ...path,
        `hash_fallback_${kind}`,
      ]);
  }
}
