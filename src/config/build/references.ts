/**
 * The references pass: what each entity is nested under or names (`service`, `route`,
 * `consumer`, `upstream`, by name or id) becomes an id; a dangling reference is a located error
 * with a suggestion.
 */
import type { ServiceModel, UpstreamModel } from '../model.ts';
import { suggest } from '../suggest.ts';
import { urlNumericHostProblem } from './service.ts';
import { type Build, drain, type Obj, type Path, type Pending, type Steps } from './state.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Id, and name where the kind has one, → entity. */
function index<T extends { id: string }>(items: Pending<T>[], nameField: keyof T | null): Map<string, Pending<T>> {
  const m = new Map<string, Pending<T>>();
  for (const it of items) {
    m.set(it.model.id, it);
    const n = nameField ? it.model[nameField] : null;
    if (typeof n === 'string' && !m.has(n)) m.set(n, it);
  }
  return m;
}

export function references(b: Build): void {
  drain(referencesSteps(b));
}

export function* referencesSteps(b: Build): Steps {
  const resolve = <T extends { id: string }>(
    by: Map<string, Pending<T>>,
    ref: unknown,
    field: string,
    kind: string,
    path: Path,
  ): Pending<T> | null => {
    if (typeof ref !== 'string') return null;
    // Ids are kept lower-cased, so an id is found in any case; a name only as written, as Kong's
    // loader looks it up (`service: SVC1` names no service 'svc1').
    const hit = by.get(ref) ?? (UUID.test(ref) ? by.get(ref.toLowerCase()) : undefined);
    if (hit) return hit;
    const names = [...by.keys()].filter((k) => !/^[0-9a-f]{8}-/.test(k));
    const hint = suggest(ref, names);
    b.err(
      'REFERENCE',
      `invalid reference '${field}: ${ref}' (no such entry in '${kind}')${hint ? ` (did you mean '${hint}'?)` : ''}`,
      [...path, field],
    );
    return null;
  };
  const services = index(b.services, 'name');
  const consumers = index(b.consumers, 'username');
  const upstreams = index(b.upstreams, 'name');
  const routes = index(b.routes, 'name');

  for (const r of b.routes) {
    yield;
    const s = r.parent ?? resolve(services, r.serviceRef, 'service', 'services', r.path);
    r.model.service = s?.model.id ?? null;
  }
  for (const e of b.entities) {
    yield;
    const c = e.parent ?? resolve(consumers, e.ref, 'consumer', 'consumers', e.path);
    e.model.consumer = c?.model.id ?? null;
  }
  for (const t of b.targets) {
    t.upstream ??= resolve(upstreams, t.ref, 'upstream', 'upstreams', t.path);
    t.upstream?.model.targets.push(t.model);
  }
  refuseNumericHosts(b, upstreams);
  warnPlainProbesOfTls(b, upstreams);
  warnGrpcOverHttp1(b, services);
  for (const p of b.plugins) {
    yield;
    const m = p.model;
    const nested = p.parent;
    const scoped = (kind: 'service' | 'route' | 'consumer', found: Pending<{ id: string }> | null): string | null =>
      nested?.kind === kind ? nested.entity.model.id : (found?.model.id ?? null);
    m.service = scoped('service', nested ? null : resolve(services, p.refs.service, 'service', 'services', p.path));
    m.route = scoped('route', nested ? null : resolve(routes, p.refs.route, 'route', 'routes', p.path));
    m.consumer = scoped(
      'consumer',
      nested ? null : resolve(consumers, p.refs.consumer, 'consumer', 'consumers', p.path),
    );
  }
}

/**
 * The hosts the gateway connects to (a service's host that names no upstream, a target's) must
 * not end in a number: undici's origins are URLs, which read such a name as an IPv4 address.
 */
function refuseNumericHosts(b: Build, upstreams: Map<string, Pending<UpstreamModel>>): void {
  for (const s of b.services) {
    if (s.model.protocol === 'echo' || upstreams.get(s.model.host)?.model.name === s.model.host) continue;
    const problem = urlNumericHostProblem(s.model.host);
    if (problem) b.err('SCHEMA', problem, [...s.path, s.raw.url !== undefined ? 'url' : 'host']);
  }
  for (const t of b.targets) {
    const host = /^([^:[\]]+):\d+$/.exec(t.model.target)?.[1];
    const problem = host === undefined ? null : urlNumericHostProblem(host);
    if (problem) b.err('SCHEMA', problem, [...t.path, 'target']);
  }
}

const TLS_PROTOCOLS = new Set(['https', 'grpcs', 'wss']);

/**
 * Kong probes in the protocol `healthchecks.active.type` names (`http` by default), whatever the
 * service speaks: a TLS service whose upstream probes in plain HTTP sees its targets marked down.
 */
function warnPlainProbesOfTls(b: Build, upstreams: Map<string, Pending<UpstreamModel>>): void {
  const warned = new Set<string>();
  for (const s of b.services) {
    // The index holds ids too; a service's host names its upstream by name only.
    const u = upstreams.get(s.model.host);
    if (
      u === undefined ||
      u.model.name !== s.model.host ||
      warned.has(u.model.name) ||
      !TLS_PROTOCOLS.has(s.model.protocol)
    )
      continue;
    const active =
      (u.model.healthchecks as { active?: { type?: string; healthy?: Obj; unhealthy?: Obj } }).active ?? {};
    const probing = Number(active.healthy?.interval ?? 0) > 0 || Number(active.unhealthy?.interval ?? 0) > 0;
    if (!probing || (active.type ?? 'http') !== 'http') continue;
    warned.add(u.model.name);
    b.warn(
      'SEMANTIC',
      `service '${s.model.name ?? s.model.id}' speaks ${s.model.protocol} but this upstream's active probes use plain http (Kong's default type); set 'type: https'`,
      [...u.path, 'healthchecks', 'active'],
    );
  }
}

/** A gRPC route needs HTTP/2 to its upstream: Kong proxies it with grpc_pass, which a http service does not get. */
function warnGrpcOverHttp1(b: Build, services: Map<string, Pending<{ id: string }>>): void {
  for (const r of b.routes) {
    if (!r.model.protocols.some((p) => p === 'grpc' || p === 'grpcs') || r.model.service === null) continue;
    const s = (services.get(r.model.service) as Pending<ServiceModel> | undefined)?.model;
    if (s === undefined || s.protocol === 'grpc' || s.protocol === 'grpcs' || s.protocol === 'echo') continue;
    b.warn(
      'SEMANTIC',
      `route '${r.model.name ?? r.model.id}' takes gRPC, but its service '${s.name ?? s.id}' speaks ${s.protocol}: gRPC needs HTTP/2 to the upstream, a grpc or grpcs service`,
      r.path,
    );
  }
}
