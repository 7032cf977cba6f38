/**
 * The lift pass: every entity of the document, nested or top-level, into one flat list per kind,
 * each item keeping its raw node, its YAML path and what it is nested under. Ids and references
 * come in later passes.
 */
import type { ConsumerModel, EntityModel, PluginModel, RouteModel } from '../model.ts';
import { buildService } from './service.ts';
import {
  type Build,
  drain,
  type EntityKind,
  namesEnclosing,
  type Obj,
  orNull,
  type Path,
  type PendingPlugin,
  type Steps,
  tags,
} from './state.ts';
import { liftCertificates } from './tls.ts';
import { liftUpstreams } from './upstream.ts';

const SCOPES = ['service', 'route', 'consumer'] as const;

/** Runs every lift, in file order within each kind. */
export function lift(b: Build): void {
  drain(liftSteps(b));
}

export function* liftSteps(b: Build): Steps {
  yield* liftServices(b);
  yield* liftConsumers(b);
  for (const [p, i] of b.entries(b.doc.plugins)) {
    const path: Path = ['plugins', i];
    b.plugins.push({
      raw: p,
      path,
      model: pluginModel(p, path),
      refs: { service: p.service, route: p.route, consumer: p.consumer },
      parent: null,
    });
    yield;
  }
  liftUpstreams(b);
  liftCertificates(b);
}

function forbidNested(b: Build, raw: Obj, path: Path, field: string, parent: string, parentRaw: Obj): void {
  if (raw[field] === undefined) return;
  if (field === parent && namesEnclosing(raw[field], parentRaw, parent === 'consumer' ? 'username' : 'name')) return;
  // Kong's nested records take no foreign key ("value must be null", its message here too): the parent's is implied,
  // and a second scope (a route's plugin for one consumer) is declared at the top level.
  b.err(
    'SCHEMA',
    field === parent
      ? `value must be null: '${field}' is implied by the enclosing ${parent}; remove it`
      : `value must be null: a plugin nested under a ${parent} cannot also name a ${field} (Kong refuses it too); declare it under the top-level plugins with '${parent}' and '${field}'`,
    [...path, field],
    true,
  );
}

function nestedPlugins(b: Build, list: unknown, path: Path, parent: NonNullable<PendingPlugin['parent']>): void {
  b.each(list, (p, j) => {
    const pp: Path = [...path, 'plugins', j];
    for (const f of SCOPES) forbidNested(b, p, pp, f, parent.kind, parent.entity.raw);
    b.plugins.push({ raw: p, path: pp, model: pluginModel(p, pp), refs: {}, parent });
  });
}

/** `services` with their nested routes and plugins, then top-level `routes`. */
function* liftServices(b: Build): Steps {
  for (const [raw, i] of b.entries(b.doc.services)) {
    const path: Path = ['services', i];
    const service = { raw, path, model: buildService(raw, path, b.err, b.warn) };
    b.services.push(service);
    for (const [r, j] of b.entries(raw.routes)) {
      const rp: Path = [...path, 'routes', j];
      forbidNested(b, r, rp, 'service', 'service', raw);
      liftRoute(b, r, rp, null, service);
      yield;
    }
    nestedPlugins(b, raw.plugins, path, { kind: 'service', entity: service });
    yield;
  }
  for (const [r, i] of b.entries(b.doc.routes)) {
    liftRoute(b, r, ['routes', i], typeof r.service === 'string' ? r.service : null, null);
    yield;
  }
}

function liftRoute(b: Build, r: Obj, path: Path, serviceRef: string | null, parent: Build['services'][number] | null) {
  const headers: Record<string, string[]> | null = r.headers ? {} : null;
  if (r.headers)
    for (const [k, v] of Object.entries(r.headers as Record<string, string[]>)) headers![k.toLowerCase()] = [...v];
  const model: RouteModel = {
    id: '',
    name: orNull(r.name),
    service: null,
    protocols: [...r.protocols],
    methods: r.methods ? [...r.methods] : null,
    hosts: r.hosts ? (r.hosts as string[]).map((h) => h.toLowerCase()) : null,
    paths: r.paths ? [...r.paths] : null,
    headers,
    snis: r.snis ? (r.snis as string[]).map((h) => h.toLowerCase()) : null,
    // Kong's grpc route subschema (routes_subschemas.lua): strip_path defaults to false there.
    strip_path: r.strip_path ?? !(r.protocols as string[]).some((p) => p === 'grpc' || p === 'grpcs'),
    preserve_host: r.preserve_host,
    regex_priority: r.regex_priority,
    path_handling: r.path_handling,
    https_redirect_status_code: r.https_redirect_status_code,
    request_buffering: r.request_buffering,
    response_buffering: r.response_buffering,
    tags: tags(r.tags),
    yaml_path: path,
  };
  const route = { raw: r, path, model, serviceRef, parent };
  b.routes.push(route);
  nestedPlugins(b, r.plugins, path, { kind: 'route', entity: route });
}

export function pluginModel(p: Obj, path: Path): PluginModel {
  const model: PluginModel = {
    id: '',
    name: p.name,
    config: p.config ?? {},
    enabled: p.enabled,
    protocols: [...p.protocols],
    service: null,
    route: null,
    consumer: null,
    tags: tags(p.tags),
    yaml_path: path,
  };
  if (p.instance_name !== undefined) model.instance_name = p.instance_name;
  return model;
}

/** `consumers` with their nested plugins and plugin-declared entities, then the top-level entity lists. */
function* liftConsumers(b: Build): Steps {
  for (const [raw, i] of b.entries(b.doc.consumers)) {
    const path: Path = ['consumers', i];
    if (raw.username === undefined && raw.custom_id === undefined) {
      b.err('SCHEMA', "at least one of these fields must be non-empty: 'custom_id', 'username'", path);
    }
    const model: ConsumerModel = {
      id: '',
      username: orNull(raw.username),
      custom_id: orNull(raw.custom_id),
      tags: tags(raw.tags),
      yaml_path: path,
    };
    const consumer = { raw, path, model };
    b.consumers.push(consumer);
    for (const kind of b.kinds.values()) {
      if (!kind.owned) continue;
      b.each(raw[kind.def.name], (e, j) => {
        const ep: Path = [...path, kind.def.name, j];
        forbidNested(b, e, ep, 'consumer', 'consumer', raw);
        b.entities.push({
          raw: e,
          path: ep,
          model: entityModel(kind, e, ep),
          kind,
          ref: null,
          parent: consumer,
          index: j,
        });
      });
    }
    nestedPlugins(b, raw.plugins, path, { kind: 'consumer', entity: consumer });
    yield;
  }
  for (const kind of b.kinds.values()) {
    for (const [e, i] of b.entries(b.doc[kind.def.name])) {
      const ep: Path = [kind.def.name, i];
      const ref = kind.owned && typeof e.consumer === 'string' ? e.consumer : null;
      b.entities.push({ raw: e, path: ep, model: entityModel(kind, e, ep), kind, ref, parent: null, index: i });
      yield;
    }
  }
}

/** The gateway's fields plus every field the kind's schema declares (absent optional ones as null). */
export function entityModel(kind: EntityKind, raw: Obj, path: Path): EntityModel {
  const model: EntityModel = { id: '', consumer: null, tags: tags(raw.tags), yaml_path: path };
  const props = (kind.def.schema.properties ?? {}) as Record<string, unknown>;
  for (const field of Object.keys(props)) {
    if (field === 'id' || field === 'consumer' || field === 'tags' || field === 'yaml_path') continue;
    model[field] = raw[field] === undefined ? null : raw[field];
  }
  return model;
}
