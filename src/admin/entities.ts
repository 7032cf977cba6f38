/**
 * Kong's Admin API entity endpoints, read-only as in Kong's DB-less mode: `GET /services`,
 * `/services/{id or name}`, `/services/{...}/routes`, `/consumers/{...}/key-auth`,
 * `/upstreams/{...}/targets`, `/upstreams/{...}/health`, ... with Kong's page shape
 * (`data`, `offset`, `next`; `size` 1-1000, 100 by default) and object shape (foreign keys as
 * `{"id": ...}`), so tools written for Kong (decK dumps, dashboards, scripts) read them. Writes
 * answer 405 with the message Kong's DB-less strategy gives. Objects come from the redacted
 * effective config (`GET /config`): no secret reaches these answers.
 */
import type { GatewayConfig } from '../config/model.ts';
import { secretValues } from '../config/secrets.ts';

type Obj = Record<string, unknown>;

/** A collection: its Kong schema name (in messages), its top-level path and its endpoint key. */
export interface Kind {
  schema: string;
  /** Field a non-uuid path segment is looked up by (Kong's `endpoint_key`). */
  key: string | null;
  /** Path segment under `/consumers/{consumer}/` (credentials). */
  nested?: string;
  /** Field a non-uuid segment is looked up by under `/consumers/{consumer}/{nested}/` (an acl's group). */
  nestedKey?: string;
}

/**
 * Kong's admin path of each core collection. The kinds plugins own (credentials, acls) come from
 * their declarations (`adminApi`), per config: see `kindsOf`.
 */
const CORE_KINDS: Readonly<Record<string, Kind>> = {
  services: { schema: 'services', key: 'name' },
  routes: { schema: 'routes', key: 'name' },
  consumers: { schema: 'consumers', key: 'username' },
  // Kong 3's plugins are named by `instance_name` (kong/db/schema/entities/plugins.lua).
  plugins: { schema: 'plugins', key: 'instance_name' },
  upstreams: { schema: 'upstreams', key: 'name' },
  targets: { schema: 'targets', key: 'target' },
  certificates: { schema: 'certificates', key: null },
  ca_certificates: { schema: 'ca_certificates', key: null },
  snis: { schema: 'snis', key: 'name' },
  tags: { schema: 'tags', key: 'tag' },
  // Kong OSS serves these in DB-less mode too; a declarative file here cannot hold any (each is
  // refused at load, docs/kong-compatibility.md), so they are empty, as Kong's are without them.
  // A tool that reads every collection (a decK dump) finds them instead of a 404 that stops it.
  oauth2: { schema: 'oauth2_credentials', key: 'client_id', nested: 'oauth2' },
  vaults: { schema: 'vaults', key: 'prefix' },
  keys: { schema: 'keys', key: 'name' },
  'key-sets': { schema: 'key_sets', key: 'name' },
  'filter-chains': { schema: 'filter_chains', key: 'name' },
};

const kindsByConfig = new WeakMap<GatewayConfig, Readonly<Record<string, Kind>>>();

/** The core collections and those of the entity kinds this config's plugins declare with `adminApi`. */
export function kindsOf(config: GatewayConfig): Readonly<Record<string, Kind>> {
  let kinds = kindsByConfig.get(config);
  if (kinds === undefined) {
    const all: Record<string, Kind> = Object.assign(Object.create(null), CORE_KINDS);
    for (const [schema, info] of Object.entries(config.entity_kinds)) {
      const api = info.adminApi;
      if (api === null || Object.hasOwn(CORE_KINDS, api.name)) continue;
      all[api.name] = {
        schema,
        key: api.endpointKey ?? null,
        ...(api.nestedName ? { nested: api.nestedName } : {}),
        ...(api.nestedKey ? { nestedKey: api.nestedKey } : {}),
      };
    }
    kinds = all;
    kindsByConfig.set(config, kinds);
  }
  return kinds;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;

export interface EntityAnswer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/** Kong's entities in Kong's shape, built once per config (the redacted effective config is the source). */
interface Store {
  lists: Map<string, Obj[]>;
}

const stores = new WeakMap<GatewayConfig, Store>();

const ref = (id: unknown): unknown => (typeof id === 'string' ? { id } : null);

/**
 * The fields of Kong's upstream the model leaves out when the file does: Kong shows every field of
 * an entity, unset ones null (kong/db/schema/entities/upstreams.lua; `use_srv_name` defaults to false).
 */
const UPSTREAM_DEFAULTS: Readonly<Obj> = {
  hash_fallback_header: null,
  hash_on_query_arg: null,
  hash_fallback_query_arg: null,
  hash_on_uri_capture: null,
  hash_fallback_uri_capture: null,
  host_header: null,
  use_srv_name: false,
};

function buildStore(config: GatewayConfig, effective: Obj, compiled: readonly Obj[], loadedAt: number): Store {
  const at = { created_at: loadedAt, updated_at: loadedAt };
  const list = (k: string): Obj[] => (Array.isArray(effective[k]) ? (effective[k] as Obj[]) : []);
  const lists = new Map<string, Obj[]>();
  lists.set(
    'services',
    list('services').map((s) => ({ ...s, client_certificate: ref(s.client_certificate), ...at })),
  );
  // Kong's route objects in the order the router tries them, each with what `GET /routes` has
  // always shown of the compiled route (its order, its service, its plugin chain).
  const kongRoutes = new Map(
    list('routes').map((r) => [r.id, { ...r, service: ref(r.service), sources: null, destinations: null, ...at }]),
  );
  const routes: Obj[] = [];
  for (const c of compiled) {
    const k = kongRoutes.get(c.id);
    if (k === undefined) continue;
    kongRoutes.delete(c.id);
    routes.push({ ...k, ...c });
  }
  lists.set('routes', [...routes, ...kongRoutes.values()]);
  lists.set(
    'consumers',
    list('consumers').map((c) => ({ ...c, ...at })),
  );
  lists.set(
    'plugins',
    list('plugins').map((p) => ({
      instance_name: null,
      ...p,
      service: ref(p.service),
      route: ref(p.route),
      consumer: ref(p.consumer),
      ...at,
    })),
  );
  const targets: Obj[] = [];
  lists.set(
    'upstreams',
    list('upstreams').map((u) => {
      const { targets: ts, ...rest } = u;
      for (const t of Array.isArray(ts) ? (ts as Obj[]) : []) targets.push({ ...t, upstream: { id: u.id }, ...at });
      return { ...UPSTREAM_DEFAULTS, ...rest, client_certificate: ref(u.client_certificate), ...at };
    }),
  );
  lists.set('targets', targets);
  const snis: Obj[] = [];
  const secrets = secretValues(config.source.secrets);
  lists.set(
    'certificates',
    list('certificates').map((c, i) => {
      // Ids and tags from the model (the effective config lists the names only), the tags scrubbed
      // as the effective config's are: `?tags=` must not find an SNI by a secret's value.
      const entities = config.certificates[i]?.sni_entities ?? [];
      (Array.isArray(c.snis) ? (c.snis as unknown[]) : []).forEach((name, j) =>
        snis.push({
          id: entities[j]?.id ?? null,
          name,
          certificate: { id: c.id },
          tags: secrets.scrubDeep(entities[j]?.tags ?? []),
          ...at,
        }),
      );
      return { ...c, created_at: loadedAt };
    }),
  );
  lists.set('snis', snis);
  lists.set(
    'ca_certificates',
    list('ca_certificates').map((c) => ({ ...c, ...at })),
  );
  for (const kind of Object.keys(config.plugin_entities))
    lists.set(
      kind,
      list(kind).map((e) => ({ ...e, consumer: ref(e.consumer), created_at: loadedAt })),
    );
  // Kong's `tags` entity (served in DB-less mode too): one row per tag of each tagged entity.
  const tags: Obj[] = [];
  for (const [schema, entities] of lists)
    for (const e of entities)
      for (const tag of Array.isArray(e.tags) ? (e.tags as unknown[]) : [])
        tags.push({ tag, entity_name: schema, entity_id: e.id });
  lists.set('tags', tags);
  return { lists };
}

type StoreSource = Pick<EntityRequest, 'config' | 'loadedAt' | 'effective' | 'routes'>;

function store(req: StoreSource): Store {
  let s = stores.get(req.config);
  if (s === undefined) {
    s = buildStore(req.config, req.effective(), req.routes(), Math.floor(req.loadedAt.getTime() / 1000));
    stores.set(req.config, s);
  }
  return s;
}

/**
 * The entities by kind as Kong's `POST /config` 201 lists them (kong/api/routes/config.lua): these
 * endpoints' objects (foreign keys `{"id": ...}`, SNIs and targets kinds of their own), routes
 * without the compiled `order`, service and `plugins` `GET /routes` adds; no `tags` rows.
 */
export function loadedEntities(src: StoreSource): Record<string, Obj[]> {
  const out: Record<string, Obj[]> = {};
  for (const [kind, list] of store(src).lists) {
    if (kind === 'tags') continue;
    out[kind] =
      kind !== 'routes'
        ? list
        : list.map((r) => ({
            ...Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'order' && k !== 'plugins')),
            service: ref((r.service as Obj | null)?.id),
          }));
  }
  return out;
}

const notFound = (): EntityAnswer => ({ status: 404, body: { message: 'Not found' } });
/** DB-less: every entity endpoint reads only (RFC 9110: a 405 names what is allowed). */
const ALLOW = { Allow: 'GET, HEAD, OPTIONS' };
const methodNotAllowed = (): EntityAnswer => ({ status: 405, body: { message: 'Method not allowed' }, headers: ALLOW });
/** Kong's DB-less strategy refusing a write (kong/db/strategies/off: OPERATION_UNSUPPORTED, code 12). */
function unsupported(op: string, schema: string, by: string | null): EntityAnswer {
  const how = by === null ? '' : ` by '${by}'`;
  return {
    status: 405,
    headers: ALLOW,
    body: {
      code: 12,
      name: 'operation unsupported',
      message: `cannot ${op} '${schema}' entities${how} when not using a database`,
    },
  };
}

/** Kong's DB-less answer to a write on one entity (the DAO's refusal, or 405 for another method). */
function refusedWrite(method: string, schema: string, by: string | null): EntityAnswer {
  if (method === 'PATCH') return unsupported('update', schema, by);
  if (method === 'PUT') return unsupported('create or update', schema, by);
  if (method === 'DELETE') return unsupported('remove', schema, by);
  return methodNotAllowed();
}

/** The entity `seg` names in `list`: its id, or the value of the kind's endpoint key. */
function find(list: readonly Obj[], kind: Kind | undefined, seg: string): Obj | undefined {
  if (UUID.test(seg)) return list.find((e) => e.id === seg.toLowerCase());
  if (kind === undefined) return undefined;
  if (kind.schema === 'certificates')
    return list.find((e) => Array.isArray(e.snis) && (e.snis as unknown[]).includes(seg.toLowerCase()));
  if (kind.key === null) return undefined;
  return list.find((e) => e[kind.key!] === seg);
}

/** A page of `all` (Kong's `size` and opaque `offset`), with `next` pointing at the following one. */
/**
 * Kong's `?tags=` filter: `a,b` for entities with every tag, `a/b` for entities with one of them
 * (at most 5; a tag is printable ASCII or UTF-8 without `,` and `/`), as decK's `--select-tag` asks.
 */
const TAG = '[\\x20-\\x2B\\x2D\\x2E\\x30-\\x7E\\u0080-\\u{10FFFF}]+';
const TAGS_AND = new RegExp(`^${TAG}(?:,${TAG})*$`, 'u');
const TAGS_OR = new RegExp(`^${TAG}(?:/${TAG})+$`, 'u');
function tagFilter(raw: string): ((e: Obj) => boolean) | EntityAnswer {
  const and = TAGS_AND.test(raw);
  const tags = and ? raw.split(',') : TAGS_OR.test(raw) ? raw.split('/') : null;
  // Kong refuses an empty `?tags=` before its syntax (kong/api/endpoints.lua, extract_options).
  const problem =
    raw === ''
      ? 'cannot be null'
      : tags === null
        ? 'invalid filter syntax'
        : tags.length > 5
          ? 'cannot query more than 5 tags'
          : null;
  if (problem !== null || tags === null)
    return {
      status: 400,
      body: {
        code: 11,
        name: 'invalid options',
        message: `invalid option (tags: ${problem})`,
        fields: { tags: problem },
      },
    };
  return (e) => {
    const has = Array.isArray(e.tags) ? (e.tags as unknown[]) : [];
    return and ? tags.every((t) => has.includes(t)) : tags.some((t) => has.includes(t));
  };
}

function page(everything: readonly Obj[], query: URLSearchParams, base: string): EntityAnswer {
  let all = everything;
  const rawTags = query.get('tags');
  if (rawTags !== null) {
    const keep = tagFilter(rawTags);
    if (typeof keep !== 'function') return keep;
    all = all.filter(keep);
  }
  let size = PAGE_SIZE;
  const rawSize = query.get('size');
  if (rawSize !== null) {
    const n = Number(rawSize);
    if (rawSize.trim() === '' || Number.isNaN(n))
      return { status: 400, body: { code: 9, name: 'invalid size', message: 'size must be a number' } };
    if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE_SIZE)
      return {
        status: 400,
        body: { code: 9, name: 'invalid size', message: `size must be an integer between 1 and ${MAX_PAGE_SIZE}` },
      };
    size = n;
  }
  let start = 0;
  const rawOffset = query.get('offset');
  if (rawOffset !== null) {
    const decoded = /^[A-Za-z0-9+/]+={0,2}$/.test(rawOffset) ? Buffer.from(rawOffset, 'base64').toString('latin1') : '';
    if (!/^[0-9]{1,9}$/.test(decoded))
      return {
        status: 400,
        body: {
          code: 7,
          name: 'invalid offset',
          message: `'${rawOffset.slice(0, 100)}' is not a valid offset: bad base64 encoding`,
        },
      };
    start = Number(decoded);
  }
  const data = all.slice(start, start + size);
  const body: Obj = { data, next: null };
  if (start + size < all.length) {
    const offset = Buffer.from(String(start + size)).toString('base64');
    body.offset = offset;
    const tags = rawTags !== null ? `&tags=${encodeURIComponent(rawTags)}` : '';
    body.next = `${base}?offset=${encodeURIComponent(offset)}${tags}${rawSize !== null ? `&size=${size}` : ''}`;
  }
  return { status: 200, body };
}

/** Whether `path` is one of Kong's entity endpoints (the router tries the others first). */
export function isEntityPath(path: string, config: GatewayConfig): boolean {
  const first = path.split('/')[1] ?? '';
  return Object.hasOwn(kindsOf(config), first);
}

export interface EntityRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  config: GatewayConfig;
  loadedAt: Date;
  /** The redacted effective config (computed only when this config's store is first built). */
  effective: () => Obj;
  /** The compiled route table (`routeTable`'s entries), in the router's order. */
  routes: () => readonly Obj[];
  /** Health of the `upstreams:` entries (for `/upstreams/{...}/health`). */
  upstreamHealth: () => Promise<
    readonly {
      name: string;
      healthy: boolean;
      targets: { target: string; weight: number; healthy: boolean; dns_error: boolean }[];
    }[]
  >;
}

/** Answers a request under one of Kong's collection paths. */
export async function entityEndpoint(req: EntityRequest): Promise<EntityAnswer> {
  const segs = req.path.split('/').slice(1).map(decodeSegment);
  if (segs.some((s) => s === null || s === '')) return notFound();
  const [top, id, sub, subId] = segs as string[];
  // Kong turns off `/targets`, `/targets/{t}` and `/targets/{t}/upstream` for every method
  // (kong/api/routes/targets.lua, endpoints.disable): a target is read under its upstream.
  if (top === 'targets') return notFound();
  const kinds = kindsOf(req.config);
  const kind = kinds[top!]!;
  const s = store(req);
  const all = s.lists.get(kind.schema) ?? [];
  const reading = req.method === 'GET';

  if (id === undefined) {
    if (reading && top === 'consumers' && req.query.has('custom_id')) return byCustomId(all, req.query);
    if (reading) return page(all, req.query, `/${top}`);
    if (req.method === 'POST') return unsupported('create', kind.schema, null);
    return methodNotAllowed();
  }
  // Kong's `/tags/{tag}` is a page: every entity with that tag (kong/api/routes/tags.lua).
  if (top === 'tags' && sub === undefined && reading)
    return page(
      all.filter((t) => t.tag === id),
      req.query,
      `/tags/${encodeURIComponent(id)}`,
    );
  const entity = find(all, kind, id);
  // Kong names a certificate by one of its SNIs, and says so when none has that name, whatever
  // the method but PUT (kong/api/routes/certificates.lua, prepare_params).
  if (entity === undefined && kind.schema === 'certificates' && !UUID.test(id) && req.method !== 'PUT')
    return { status: 404, body: { message: 'SNI not found' } };
  if (sub === undefined) {
    if (reading) return entity === undefined ? notFound() : { status: 200, body: entity };
    const by = UUID.test(id) || kind.key === null ? null : kind.key;
    if (req.method === 'PATCH') return entity === undefined ? notFound() : unsupported('update', kind.schema, by);
    if (req.method === 'PUT') return unsupported('create or update', kind.schema, by);
    // Kong deletes nothing and answers 204 for an entity that does not exist.
    if (req.method === 'DELETE')
      return entity === undefined ? { status: 204, body: null } : unsupported('remove', kind.schema, by);
    return methodNotAllowed();
  }
  if (entity === undefined) return notFound();
  const children = nested(s, kinds, top!, entity, sub);
  if (children === null) {
    if (top === 'upstreams' && sub === 'health' && subId === undefined) {
      if (!reading) return methodNotAllowed();
      return upstreamHealth(entity, s.lists.get('targets') ?? [], req);
    }
    return notFound();
  }
  if (subId !== undefined) {
    if (segs.length > 4) return notFound();
    // Kong's `/upstreams/{u}/targets/all` (kong/api/routes/upstreams.lua): every target of the
    // upstream, weight 0 included, as the plain list has them here too.
    if (top === 'upstreams' && sub === 'targets' && subId === 'all') {
      if (!reading) return methodNotAllowed();
      return page(children.list, req.query, `/upstreams/${encodeURIComponent(id)}/targets/all`);
    }
    const childKind = kinds[children.path];
    // Under its consumer, a kind may be named by a field unique per consumer (an acl's group).
    const byNestedKey = top === 'consumers' && childKind?.nestedKey !== undefined && !UUID.test(subId);
    const child = byNestedKey
      ? children.list.find((e) => e[childKind.nestedKey!] === subId)
      : find(children.list, childKind, subId);
    if (reading) return child === undefined ? notFound() : { status: 200, body: child };
    // Kong looks the parent and the child up before its DB-less DAO refuses the write; PUT upserts
    // whether or not the child is there (kong/api/endpoints.lua). A target, or an acl named by its
    // group, is written by its id (kong/api/routes/upstreams.lua, the acl plugin's api).
    const schema = childKind?.schema ?? children.path;
    if (req.method !== 'PUT' && child === undefined) return notFound();
    if (top === 'upstreams') return refusedWrite(req.method === 'PUT' ? 'PATCH' : req.method, schema, null);
    const by = byNestedKey || UUID.test(subId) || childKind?.key == null ? null : childKind.key;
    return refusedWrite(req.method, schema, by);
  }
  if (children.single) {
    const one = children.list[0];
    if (reading || one === undefined) return one === undefined ? notFound() : { status: 200, body: one };
    // The entity a foreign key names is written by its id; Kong has no DELETE there.
    return req.method === 'DELETE' ? methodNotAllowed() : refusedWrite(req.method, children.path, null);
  }
  if (reading) return page(children.list, req.query, `/${top}/${encodeURIComponent(id)}/${sub}`);
  if (req.method === 'POST') return unsupported('create', kinds[children.path]?.schema ?? children.path, null);
  return methodNotAllowed();
}

/** Kong's `GET /consumers?custom_id=`: the consumer with that custom id (an IdP's subject), as a page of one or none. */
function byCustomId(all: readonly Obj[], query: URLSearchParams): EntityAnswer {
  // Given twice, Kong's argument is a list, which it refuses as it refuses an empty one.
  const given = query.getAll('custom_id');
  const want = given.length === 1 ? given[0]! : '';
  if (want === '') return { status: 400, body: { message: 'custom_id must be an unempty string' } };
  return { status: 200, body: { data: all.filter((c) => c.custom_id === want), next: null } };
}

/** `%2F` and friends decoded; a segment that does not decode is no entity. */
function decodeSegment(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

/** The entities under `/{top}/{entity}/{sub}`, or null when Kong has no such endpoint. */
function nested(
  s: Store,
  kinds: Readonly<Record<string, Kind>>,
  top: string,
  entity: Obj,
  sub: string,
): { list: readonly Obj[]; path: string; single: boolean } | null {
  const id = entity.id;
  const of = (schema: string, field: string): Obj[] =>
    (s.lists.get(schema) ?? []).filter((e) => (e[field] as { id?: unknown } | null)?.id === id);
  const byId = (schema: string, want: unknown): Obj[] =>
    (s.lists.get(schema) ?? []).filter((e) => e.id === (want as { id?: unknown } | null)?.id);
  switch (`${top}/${sub}`) {
    case 'services/routes':
      return { list: of('routes', 'service'), path: 'routes', single: false };
    case 'services/plugins':
      return { list: of('plugins', 'service'), path: 'plugins', single: false };
    case 'routes/plugins':
      return { list: of('plugins', 'route'), path: 'plugins', single: false };
    case 'consumers/plugins':
      return { list: of('plugins', 'consumer'), path: 'plugins', single: false };
    case 'upstreams/targets':
      return { list: of('targets', 'upstream'), path: 'targets', single: false };
    case 'certificates/snis':
      return { list: of('snis', 'certificate'), path: 'snis', single: false };
  }
  if (top === 'consumers') {
    const path = Object.keys(kinds).find((k) => kinds[k]!.nested === sub);
    if (path !== undefined) return { list: of(kinds[path]!.schema, 'consumer'), path, single: false };
  }
  // Kong's foreign entity endpoints (`/routes/{r}/service`, `/plugins/{p}/consumer`,
  // `/key-auths/{k}/consumer`, `/services/{s}/client_certificate`): the entity a foreign key names, 404 when it names none. Kong
  // turns off `/snis/{s}/certificate` (kong/api/routes/snis.lua).
  if (Object.hasOwn(FOREIGN_KEYS, sub) && Object.hasOwn(entity, sub) && top !== 'snis')
    return { list: byId(FOREIGN_KEYS[sub]!, entity[sub]), path: FOREIGN_KEYS[sub]!, single: true };
  return null;
}

/** The foreign keys of Kong's entities (each `{"id": ...}` or null), by the collection they name. */
const FOREIGN_KEYS: Readonly<Record<string, string>> = {
  service: 'services',
  route: 'routes',
  consumer: 'consumers',
  client_certificate: 'certificates',
};

/**
 * Kong's `GET /upstreams/{upstream}/health`: each target with `health` `HEALTHY` or `UNHEALTHY`
 * as the balancer sees it (`/status` shows the same), `HEALTHCHECKS_OFF` when the upstream has
 * neither active nor passive checks (every target then takes traffic) or the target's weight is 0,
 * and `DNS_ERROR`, before any of those, while its name does not resolve (Kong's targets DAO says
 * so of a target the balancer holds no address for).
 */
async function upstreamHealth(upstream: Obj, targets: readonly Obj[], req: EntityRequest): Promise<EntityAnswer> {
  const seen = (await req.upstreamHealth()).find((u) => u.name === upstream.name);
  const off = checksOff(upstream.healthchecks);
  if (req.query.get('balancer_health') === '1') return balancerHealth(upstream, targets, seen, off);
  const data = targets
    .filter((t) => (t.upstream as { id: unknown }).id === upstream.id)
    .map((t) => {
      const h = seen?.targets.find((x) => x.target === t.target);
      // Kong's healthchecker is given only targets of weight above 0: a drained one has no checks.
      const unchecked = off || t.weight === 0;
      const health =
        h?.dns_error === true
          ? 'DNS_ERROR'
          : unchecked
            ? 'HEALTHCHECKS_OFF'
            : h === undefined || h.healthy
              ? 'HEALTHY'
              : 'UNHEALTHY';
      return { ...t, health };
    });
  return page(data, req.query, `/upstreams/${encodeURIComponent(String(upstream.name))}/health`);
}

/**
 * Kong's `GET /upstreams/{upstream}/health?balancer_health=1` (kong/api/routes/upstreams.lua): the
 * balancer as a whole, `health` as above for the upstream, `balancer_health` and `details` as its
 * balancer sees the weight of its targets (an upstream no service names has every target up).
 */
function balancerHealth(
  upstream: Obj,
  targets: readonly Obj[],
  seen: Awaited<ReturnType<EntityRequest['upstreamHealth']>>[number] | undefined,
  off: boolean,
): EntityAnswer {
  let total = 0;
  let unavailable = 0;
  for (const t of targets) {
    if ((t.upstream as { id: unknown }).id !== upstream.id) continue;
    const weight = typeof t.weight === 'number' ? t.weight : 100;
    total += weight;
    const h = seen?.targets.find((x) => x.target === t.target);
    // A target without an address takes no traffic either (Kong counts no weight for it).
    if (h !== undefined && (!h.healthy || h.dns_error)) unavailable += weight;
  }
  const healthy = seen?.healthy ?? total > 0;
  const balancer = healthy ? 'HEALTHY' : 'UNHEALTHY';
  const details = { healthy, weight: { total, available: total - unavailable, unavailable } };
  const data = { health: off ? 'HEALTHCHECKS_OFF' : balancer, balancer_health: balancer, id: upstream.id, details };
  return { status: 200, body: { data, next: null } };
}

/**
 * Kong's test for an upstream without health checks (is_upstream_using_healthcheck): every active
 * interval and passive failure count 0. `passive.healthy.successes` alone takes no target down.
 */
export function checksOff(hc: unknown): boolean {
  const n = (v: unknown): number => (typeof v === 'number' ? v : 0);
  const o = (v: unknown): Obj => (v !== null && typeof v === 'object' ? (v as Obj) : {});
  const active = o(o(hc).active);
  const passive = o(o(hc).passive);
  return (
    n(o(active.healthy).interval) === 0 &&
    n(o(active.unhealthy).interval) === 0 &&
    n(o(passive.unhealthy).http_failures) === 0 &&
    n(o(passive.unhealthy).tcp_failures) === 0 &&
    n(o(passive.unhealthy).timeouts) === 0
  );
}
