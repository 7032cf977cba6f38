/**
 * From the schema-validated document (defaults applied) to the flat GatewayConfig entities:
 * nested entities lifted, references resolved to ids, ids derived, and the semantic checks the
 * schema cannot express (uniqueness, dangling references, paths, duplicate routes, keys).
 */
import { createPrivateKey, createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { formatYamlPath } from '../errors.ts';
import type { PluginDefinition } from '../pipeline/plugin.ts';
import { entityId } from './ids.ts';
import type {
  AclModel,
  CertificateModel,
  ConfigEntities,
  ConsumerModel,
  JwtSecretModel,
  KeyAuthCredentialModel,
  PluginModel,
  RouteModel,
  ServiceModel,
  TargetModel,
  UpstreamModel,
} from './model.ts';
import { checkHost, checkName, checkRoutePath, migrateLegacyPath } from './paths.ts';
import { suggest, validatePluginConfig } from './schema.ts';
import type { RawIssue } from './yaml.ts';

type Obj = Record<string, any>;
type Path = (string | number)[];

/** Every entity list of a config (the model's `ConfigEntities`). */
export type Entities = ConfigEntities;

interface Pending<T> {
  raw: Obj;
  path: Path;
  model: T;
}

const tags = (v: unknown): string[] => (Array.isArray(v) ? [...(v as string[])] : []);
const orNull = <T>(v: T | undefined): T | null => (v === undefined ? null : v);

/** Builds the flat entities from a validated document, appending problems to `issues`. */
export function buildEntities(
  doc: Obj,
  plugins: ReadonlyMap<string, PluginDefinition>,
  issues: RawIssue[],
  broken: WeakSet<object> = new WeakSet(),
): Entities {
  /** Iterates an entity list, skipping items the schema rejected (their errors are already reported). */
  const each = (list: unknown, fn: (item: Obj, i: number) => void): void => {
    if (!Array.isArray(list)) return;
    list.forEach((item: unknown, i) => {
      if (item !== null && typeof item === 'object' && !Array.isArray(item) && !broken.has(item)) fn(item as Obj, i);
    });
  };
  const legacy = doc._format_version === '1.1' || doc._format_version === '2.1';
  const err = (code: RawIssue['code'], message: string, path: Path, atKey = false): void => {
    issues.push({ code, message, path, atKey });
  };
  const warn = (code: RawIssue['code'], message: string, path: Path): void => {
    issues.push({ code, message, path, severity: 'warning' });
  };

  /** Kong's wording, located at the second declaration. */
  const uniq = new Map<string, Path>();
  const unique = (kind: string, field: string, value: string, path: Path, shown: string = `'${value}'`): boolean => {
    const k = `${kind}\u0000${field}\u0000${value}`;
    const first = uniq.get(k);
    if (first) {
      err(
        'UNIQUENESS',
        `uniqueness violation: '${kind}' entity with ${field} set to ${shown} already declared (at ${formatYamlPath(first)})`,
        [...path, field],
      );
      return false;
    }
    uniq.set(k, path);
    return true;
  };

  const named = (kind: string, raw: Obj, path: Path, nameField: string | null): string => {
    if (typeof raw.id === 'string') return raw.id.toLowerCase();
    if (nameField && typeof raw[nameField] === 'string') return entityId(kind, raw[nameField]);
    // Unnamed entities get an id from their position: stable while the file's shape is.
    return entityId(kind, `@${formatYamlPath(path)}`);
  };

  const forbidNested = (raw: Obj, path: Path, field: string, parent: string): void => {
    if (raw[field] !== undefined)
      err('SCHEMA', `'${field}' is implied by the enclosing ${parent}; remove it`, [...path, field], true);
  };

  // ---- services (and their nested routes and plugins) -------------------------------------
  const services: Pending<ServiceModel>[] = [];
  const routes: (Pending<RouteModel> & { serviceRef: string | null; servicePath: Path | null })[] = [];
  type PluginScope = { service?: string | null; route?: string | null; consumer?: string | null };
  const pluginsPending: (Pending<PluginModel> & { refs: PluginScope; nested: PluginScope })[] = [];

  each(doc.services, (raw, i) => {
    const path: Path = ['services', i];
    const model = buildService(raw, path, err);
    model.id = named('services', raw, path, 'name');
    services.push({ raw, path, model });
    each(raw.routes, (r, j) => {
      const rp: Path = [...path, 'routes', j];
      forbidNested(r, rp, 'service', 'service');
      routes.push({ raw: r, path: rp, model: routeModel(r, rp), serviceRef: null, servicePath: path });
    });
    each(raw.plugins, (p, j) => {
      const pp: Path = [...path, 'plugins', j];
      for (const f of ['service', 'route', 'consumer']) forbidNested(p, pp, f, 'service');
      pluginsPending.push({ raw: p, path: pp, model: pluginModel(p, pp), refs: {}, nested: { service: model.id } });
    });
  });

  each(doc.routes, (r, i) => {
    const rp: Path = ['routes', i];
    routes.push({
      raw: r,
      path: rp,
      model: routeModel(r, rp),
      serviceRef: typeof r.service === 'string' ? r.service : null,
      servicePath: null,
    });
  });

  function routeModel(r: Obj, path: Path): RouteModel {
    const headers: Record<string, string[]> | null = r.headers ? {} : null;
    if (r.headers)
      for (const [k, v] of Object.entries(r.headers as Record<string, string[]>)) headers![k.toLowerCase()] = [...v];
    const model: RouteModel = {
      id: named('routes', r, path, 'name'),
      name: orNull(r.name),
      service: null,
      protocols: [...r.protocols],
      methods: r.methods ? [...r.methods] : null,
      hosts: r.hosts ? (r.hosts as string[]).map((h) => h.toLowerCase()) : null,
      paths: r.paths ? [...r.paths] : null,
      headers,
      snis: r.snis ? (r.snis as string[]).map((h) => h.toLowerCase()) : null,
      strip_path: r.strip_path,
      preserve_host: r.preserve_host,
      regex_priority: r.regex_priority,
      path_handling: r.path_handling,
      https_redirect_status_code: r.https_redirect_status_code,
      request_buffering: r.request_buffering,
      response_buffering: r.response_buffering,
      tags: tags(r.tags),
      yaml_path: path,
    };
    each(r.plugins, (p, j) => {
      const pp: Path = [...path, 'plugins', j];
      for (const f of ['service', 'route', 'consumer']) forbidNested(p, pp, f, 'route');
      pluginsPending.push({ raw: p, path: pp, model: pluginModel(p, pp), refs: {}, nested: { route: model.id } });
    });
    return model;
  }

  function pluginModel(p: Obj, path: Path): PluginModel {
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

  // ---- consumers and credentials ----------------------------------------------------------
  const consumers: Pending<ConsumerModel>[] = [];
  const jwts: (Pending<JwtSecretModel> & { ref: string | null })[] = [];
  const keyauths: (Pending<KeyAuthCredentialModel> & { ref: string | null })[] = [];
  const acls: (Pending<AclModel> & { ref: string | null })[] = [];

  const jwtModel = (c: Obj, path: Path, consumer: string): JwtSecretModel => ({
    id: typeof c.id === 'string' ? c.id.toLowerCase() : entityId('jwt_secrets', c.key),
    consumer,
    key: c.key,
    algorithm: c.algorithm,
    secret: orNull(c.secret),
    rsa_public_key: orNull(c.rsa_public_key),
    jwks_uri: orNull(c.jwks_uri),
    tags: tags(c.tags),
    yaml_path: path,
  });
  // Not Kong's scheme (a UUIDv5 of the key itself): an id must not be a hash of a secret.
  const keyauthModel = (c: Obj, path: Path, consumer: string, n: number): KeyAuthCredentialModel => ({
    id:
      typeof c.id === 'string'
        ? c.id.toLowerCase()
        : consumer
          ? entityId('keyauth_credentials', `${consumer}:${n}`)
          : '',
    consumer,
    key: c.key,
    ttl: orNull(c.ttl),
    tags: tags(c.tags),
    yaml_path: path,
  });
  const aclModel = (c: Obj, path: Path, consumer: string): AclModel => ({
    id: typeof c.id === 'string' ? c.id.toLowerCase() : consumer ? entityId('acls', `acls:${consumer}:${c.group}`) : '',
    consumer,
    group: c.group,
    tags: tags(c.tags),
    yaml_path: path,
  });

  each(doc.consumers, (raw, i) => {
    const path: Path = ['consumers', i];
    if (raw.username === undefined && raw.custom_id === undefined) {
      err('SCHEMA', "at least one of these fields must be non-empty: 'custom_id', 'username'", path);
    }
    const id =
      typeof raw.id === 'string'
        ? raw.id.toLowerCase()
        : typeof raw.username === 'string'
          ? entityId('consumers', raw.username)
          : typeof raw.custom_id === 'string'
            ? entityId('consumers', `custom_id:${raw.custom_id}`)
            : entityId('consumers', `@${formatYamlPath(path)}`);
    consumers.push({
      raw,
      path,
      model: {
        id,
        username: orNull(raw.username),
        custom_id: orNull(raw.custom_id),
        tags: tags(raw.tags),
        yaml_path: path,
      },
    });
    each(raw.jwt_secrets, (c, j) => {
      const p: Path = [...path, 'jwt_secrets', j];
      forbidNested(c, p, 'consumer', 'consumer');
      jwts.push({ raw: c, path: p, model: jwtModel(c, p, id), ref: null });
    });
    each(raw.keyauth_credentials, (c, j) => {
      const p: Path = [...path, 'keyauth_credentials', j];
      forbidNested(c, p, 'consumer', 'consumer');
      keyauths.push({ raw: c, path: p, model: keyauthModel(c, p, id, j), ref: null });
    });
    each(raw.acls, (c, j) => {
      const p: Path = [...path, 'acls', j];
      forbidNested(c, p, 'consumer', 'consumer');
      acls.push({ raw: c, path: p, model: aclModel(c, p, id), ref: null });
    });
    each(raw.plugins, (p, j) => {
      const pp: Path = [...path, 'plugins', j];
      for (const f of ['service', 'route', 'consumer']) forbidNested(p, pp, f, 'consumer');
      pluginsPending.push({ raw: p, path: pp, model: pluginModel(p, pp), refs: {}, nested: { consumer: id } });
    });
  });
  each(doc.jwt_secrets, (c, i) =>
    jwts.push({ raw: c, path: ['jwt_secrets', i], model: jwtModel(c, ['jwt_secrets', i], ''), ref: c.consumer }),
  );
  each(doc.keyauth_credentials, (c, i) =>
    keyauths.push({
      raw: c,
      path: ['keyauth_credentials', i],
      model: keyauthModel(c, ['keyauth_credentials', i], '', i),
      ref: c.consumer,
    }),
  );
  each(doc.acls, (c, i) =>
    acls.push({ raw: c, path: ['acls', i], model: aclModel(c, ['acls', i], ''), ref: c.consumer }),
  );

  each(doc.plugins, (p, i) => {
    const pp: Path = ['plugins', i];
    pluginsPending.push({
      raw: p,
      path: pp,
      model: pluginModel(p, pp),
      refs: { service: p.service, route: p.route, consumer: p.consumer },
      nested: {},
    });
  });

  // ---- upstreams and targets --------------------------------------------------------------
  const upstreams: Pending<UpstreamModel>[] = [];
  const targets: (Pending<TargetModel> & { ref: string | null; upstream: Pending<UpstreamModel> | null })[] = [];
  each(doc.upstreams, (raw, i) => {
    const path: Path = ['upstreams', i];
    const model: UpstreamModel = {
      id: named('upstreams', raw, path, 'name'),
      name: raw.name,
      algorithm: raw.algorithm,
      hash_on: raw.hash_on,
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
    if (raw.hash_fallback_header !== undefined) model.hash_fallback_header = raw.hash_fallback_header;
    const u = { raw, path, model };
    upstreams.push(u);
    each(raw.targets, (t, j) => {
      const tp: Path = [...path, 'targets', j];
      forbidNested(t, tp, 'upstream', 'upstream');
      targets.push({ raw: t, path: tp, model: targetModel(t, tp), ref: null, upstream: u });
    });
    checkUpstream(raw, path);
  });
  each(doc.targets, (t, i) =>
    targets.push({
      raw: t,
      path: ['targets', i],
      model: targetModel(t, ['targets', i]),
      ref: t.upstream,
      upstream: null,
    }),
  );

  function targetModel(t: Obj, path: Path): TargetModel {
    return {
      id: typeof t.id === 'string' ? t.id.toLowerCase() : '',
      target: normalizeTarget(t.target, path),
      weight: t.weight,
      tags: tags(t.tags),
      yaml_path: path,
    };
  }
  function normalizeTarget(target: string, path: Path): string {
    const v6 = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(target);
    if (v6) return `[${v6[1]!.toLowerCase()}]:${v6[2] ?? '8000'}`;
    const m = /^([^:]+)(?::(\d+))?$/.exec(target);
    const problem = m ? checkHost(m[1]!, { wildcard: false, port: false }) : 'invalid target; expected host:port';
    if (problem || (m?.[2] !== undefined && Number(m[2]) > 65535)) {
      err('SCHEMA', `invalid target '${target}': ${problem ?? 'invalid port'}`, [...path, 'target']);
      return target;
    }
    return `${m![1]!.toLowerCase()}:${m![2] ?? '8000'}`;
  }
  function checkUpstream(raw: Obj, path: Path): void {
    const hostProblem = checkHost(raw.name, { wildcard: false, port: false });
    if (hostProblem) err('SCHEMA', `Invalid name ('${raw.name}'); must be a valid hostname`, [...path, 'name']);
    for (const which of ['hash_on', 'hash_fallback'] as const) {
      if (raw[which] === 'header' && !raw[which === 'hash_on' ? 'hash_on_header' : 'hash_fallback_header']) {
        err('SCHEMA', `must set '${which}_header' when '${which}' is set to 'header'`, [...path, which]);
      }
      if (raw[which] === 'cookie' && !raw.hash_on_cookie)
        err('SCHEMA', `must set 'hash_on_cookie' when '${which}' is set to 'cookie'`, [...path, which]);
    }
    if (raw.hash_on === 'none' && raw.hash_fallback !== 'none')
      err('SCHEMA', "hash_fallback must be 'none' when hash_on is 'none'", [...path, 'hash_fallback']);
    if (raw.hash_on !== 'none' && raw.hash_on === raw.hash_fallback && raw.hash_on !== 'header') {
      err('SCHEMA', 'hash_fallback must differ from hash_on', [...path, 'hash_fallback']);
    }
  }

  // ---- certificates -----------------------------------------------------------------------
  const certificates: CertificateModel[] = [];
  each(doc.certificates, (raw, i) => {
    const path: Path = ['certificates', i];
    const snis: string[] = [];
    each(raw.snis, (s, j) => {
      const sp: Path = [...path, 'snis', j];
      const name = String(s.name).toLowerCase();
      const p = checkHost(name, { wildcard: true, port: false });
      if (p) err('SCHEMA', p, [...sp, 'name']);
      else if (unique('snis', 'name', name, sp)) snis.push(name);
    });
    checkCertificate(raw, path, err, warn);
    const id = typeof raw.id === 'string' ? raw.id.toLowerCase() : entityId('certificates', `cert:${raw.cert}`);
    certificates.push({
      id,
      cert: raw.cert,
      key: raw.key,
      cert_alt: orNull(raw.cert_alt),
      key_alt: orNull(raw.key_alt),
      snis,
      tags: tags(raw.tags),
      yaml_path: path,
    });
  });

  resolveUpstreamTls(doc, services, certificates, each, err);

  // ---- references ---------------------------------------------------------------------------
  const index = <T extends { id: string }>(items: Pending<T>[], nameField: keyof T | null): Map<string, Pending<T>> => {
    const m = new Map<string, Pending<T>>();
    for (const it of items) {
      m.set(it.model.id, it);
      const n = nameField ? it.model[nameField] : null;
      if (typeof n === 'string' && !m.has(n)) m.set(n, it);
    }
    return m;
  };
  const servicesBy = index(services, 'name');
  const consumersBy = index(consumers, 'username');
  const upstreamsBy = index(upstreams, 'name');
  const routesBy = index(routes, 'name');
  const resolve = <T extends { id: string }>(
    by: Map<string, Pending<T>>,
    ref: string,
    field: string,
    kind: string,
    path: Path,
  ): string | null => {
    const hit = by.get(ref) ?? by.get(ref.toLowerCase());
    if (!hit) {
      const names = [...by.keys()].filter((k) => !/^[0-9a-f]{8}-/.test(k));
      const hint = suggest(ref, names);
      err(
        'REFERENCE',
        `invalid reference '${field}: ${ref}' (no such entry in '${kind}')${hint ? ` (did you mean '${hint}'?)` : ''}`,
        [...path, field],
      );
      return null;
    }
    return hit.model.id;
  };

  for (const r of routes) {
    if (r.servicePath) r.model.service = services.find((s) => s.path === r.servicePath)!.model.id;
    else if (r.serviceRef !== null) r.model.service = resolve(servicesBy, r.serviceRef, 'service', 'services', r.path);
  }
  for (const c of jwts)
    if (c.ref !== null) c.model.consumer = resolve(consumersBy, c.ref, 'consumer', 'consumers', c.path) ?? '';
  for (const c of keyauths) {
    if (c.ref !== null) {
      c.model.consumer = resolve(consumersBy, c.ref, 'consumer', 'consumers', c.path) ?? '';
      if (!c.raw.id && c.model.consumer)
        c.model.id = entityId('keyauth_credentials', `${c.model.consumer}:top:${c.path[1]}`);
    }
  }
  for (const c of acls) {
    if (c.ref !== null) {
      c.model.consumer = resolve(consumersBy, c.ref, 'consumer', 'consumers', c.path) ?? '';
      if (!c.raw.id && c.model.consumer) c.model.id = entityId('acls', `acls:${c.model.consumer}:${c.model.group}`);
    }
  }
  for (const t of targets) {
    let upstream = t.upstream;
    if (!upstream && t.ref !== null) {
      const id = resolve(upstreamsBy, t.ref, 'upstream', 'upstreams', t.path);
      upstream = id ? upstreams.find((u) => u.model.id === id)! : null;
    }
    if (!upstream) continue;
    if (!t.raw.id) t.model.id = entityId('targets', `${t.model.target}:${upstream.model.id}`);
    if (unique('targets', 'target', `${upstream.model.id} ${t.model.target}`, t.path, `'${t.model.target}'`))
      upstream.model.targets.push(t.model);
  }
  for (const p of pluginsPending) {
    const m = p.model;
    m.service =
      p.nested.service ??
      (typeof p.refs.service === 'string' ? resolve(servicesBy, p.refs.service, 'service', 'services', p.path) : null);
    m.route =
      p.nested.route ??
      (typeof p.refs.route === 'string' ? resolve(routesBy, p.refs.route, 'route', 'routes', p.path) : null);
    m.consumer =
      p.nested.consumer ??
      (typeof p.refs.consumer === 'string'
        ? resolve(consumersBy, p.refs.consumer, 'consumer', 'consumers', p.path)
        : null);
    m.id =
      typeof p.raw.id === 'string'
        ? p.raw.id.toLowerCase()
        : entityId('plugins', `plugins:${m.name}:${m.route ?? ''}:${m.service ?? ''}:${m.consumer ?? ''}`);
  }

  // ---- uniqueness ---------------------------------------------------------------------------
  for (const s of services) {
    if (typeof s.raw.id === 'string') unique('services', 'id', s.model.id, s.path);
    if (s.model.name !== null) unique('services', 'name', s.model.name, s.path);
  }
  for (const r of routes) {
    if (typeof r.raw.id === 'string') unique('routes', 'id', r.model.id, r.path);
    if (r.model.name !== null) unique('routes', 'name', r.model.name, r.path);
  }
  for (const c of consumers) {
    if (typeof c.raw.id === 'string') unique('consumers', 'id', c.model.id, c.path);
    if (c.model.username !== null) unique('consumers', 'username', c.model.username, c.path);
    if (c.model.custom_id !== null) unique('consumers', 'custom_id', c.model.custom_id, c.path);
  }
  for (const u of upstreams) {
    if (typeof u.raw.id === 'string') unique('upstreams', 'id', u.model.id, u.path);
    unique('upstreams', 'name', u.model.name, u.path);
  }
  for (const c of jwts) {
    if (typeof c.raw.id === 'string') unique('jwt_secrets', 'id', c.model.id, c.path);
    unique('jwt_secrets', 'key', c.model.key, c.path);
  }
  for (const c of keyauths) {
    if (typeof c.raw.id === 'string') unique('keyauth_credentials', 'id', c.model.id, c.path);
    // The key is a secret: the message names the place, never the value.
    unique('keyauth_credentials', 'key', c.model.key, c.path, 'the same value');
  }
  for (const c of acls) {
    if (typeof c.raw.id === 'string') unique('acls', 'id', c.model.id, c.path);
    if (c.model.consumer)
      unique('acls', 'group', `${c.model.consumer} ${c.model.group}`, c.path, `'${c.model.group}' for this consumer`);
  }
  for (const t of targets) if (typeof t.raw.id === 'string') unique('targets', 'id', t.model.id, t.path);
  for (const c of certificates) unique('certificates', 'id', c.id, c.yaml_path as Path);
  for (const p of pluginsPending) {
    if (typeof p.raw.id === 'string') unique('plugins', 'id', p.model.id, p.path);
    const m = p.model;
    unique(
      'plugins',
      'name',
      `${m.name} ${m.service} ${m.route} ${m.consumer}`,
      p.path,
      `'${m.name}' for the same scope`,
    );
    if (m.instance_name) unique('plugins', 'instance_name', m.instance_name, p.path);
  }

  // ---- names ------------------------------------------------------------------------------
  for (const s of services) if (s.model.name !== null) nameCheck(s.model.name, [...s.path, 'name']);
  for (const r of routes) if (r.model.name !== null) nameCheck(r.model.name, [...r.path, 'name']);
  for (const p of pluginsPending)
    if (p.model.instance_name) nameCheck(p.model.instance_name, [...p.path, 'instance_name']);
  function nameCheck(name: string, path: Path): void {
    const p = checkName(name);
    if (p) err('SCHEMA', p, path);
  }

  // ---- routes -----------------------------------------------------------------------------
  const matchKeys = new Map<string, Path>();
  for (const r of routes) {
    const m = r.model;
    const proto = m.protocols.includes('https') ? 'https' : 'http';
    if (!m.methods && !m.hosts && !m.headers && !m.paths && !(m.snis && proto === 'https')) {
      err(
        'SCHEMA',
        `must set one of 'methods', 'hosts', 'headers', 'paths'${proto === 'https' ? ", 'snis'" : ''} when 'protocols' is '${proto}'`,
        r.path,
      );
    }
    if (m.snis && !m.protocols.includes('https'))
      err('SCHEMA', "'snis' can only be set when 'protocols' is 'https'", [...r.path, 'snis']);
    m.paths?.forEach((p, k) => {
      const pp = [...r.path, 'paths', k];
      if (legacy) {
        const migrated = migrateLegacyPath(p);
        if (migrated) {
          m.paths![k] = migrated;
          warn(
            'FORMAT_VERSION',
            `_format_version ${doc._format_version}: this path is read as the regex '${migrated}' (Kong 3.x's migration rule); write it with '~' and set _format_version to "3.0"`,
            pp,
          );
          p = migrated;
        }
      }
      const problem = checkRoutePath(p);
      if (problem) err('SEMANTIC', problem, pp);
    });
    m.hosts?.forEach((h, k) => {
      const p = checkHost(h, { wildcard: true, port: true });
      if (p) err('SEMANTIC', p, [...r.path, 'hosts', k]);
    });
    m.snis?.forEach((h, k) => {
      const p = checkHost(h, { wildcard: true, port: false });
      if (p) err('SEMANTIC', p, [...r.path, 'snis', k]);
    });
    if (r.raw.headers) {
      for (const [name, values] of Object.entries(r.raw.headers as Record<string, string[]>)) {
        const hp = [...r.path, 'headers', name];
        if (name.toLowerCase() === 'host')
          err('SEMANTIC', "cannot contain 'host' header, which must be specified in the 'hosts' attribute", hp, true);
        else if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name))
          err('SEMANTIC', `invalid header name '${name}'`, hp, true);
        values.forEach((v, k) => {
          if (v.startsWith('~*')) {
            try {
              new RegExp(v.slice(2), 'iu');
            } catch (e) {
              err(
                'SEMANTIC',
                `invalid regex: ${(e as Error).message.replace(/^Invalid regular expression: \/.*\/\w*: /s, '')}`,
                [...hp, k],
              );
            }
          }
        });
      }
    }
    const sorted = (a: readonly string[] | null) => (a ? [...a].sort() : null);
    const key = JSON.stringify([
      sorted(m.protocols),
      sorted(m.methods),
      sorted(m.hosts),
      sorted(m.paths),
      m.headers
        ? Object.entries(m.headers)
            .map(([k, v]) => [k, [...v].sort()])
            .sort()
        : null,
      sorted(m.snis),
    ]);
    const first = matchKeys.get(key);
    if (first)
      err(
        'SEMANTIC',
        `this route matches exactly the same requests as the route at ${formatYamlPath(first)}, so one of them can never match`,
        r.path,
      );
    else matchKeys.set(key, r.path);
  }

  // ---- credentials ------------------------------------------------------------------------
  for (const c of jwts) checkJwtSecret(c.model, c.path, err, warn);

  // ---- plugins ----------------------------------------------------------------------------
  for (const p of pluginsPending) {
    const def = plugins.get(p.model.name);
    if (!def) {
      const known = [...plugins.keys()].sort();
      const hint = suggest(p.model.name, known);
      err(
        'UNKNOWN_PLUGIN',
        `plugin '${p.model.name}' is not installed${hint ? ` (did you mean '${hint}'?)` : ''}; ${known.length ? `known plugins: ${known.join(', ')}` : 'no plugins are installed'}`,
        [...p.path, 'name'],
      );
      continue;
    }
    if (p.model.consumer && def.consumerScoped === false) {
      err(
        'SEMANTIC',
        `plugin '${def.name}' cannot be applied to a consumer`,
        p.nested.consumer ? p.path : [...p.path, 'consumer'],
      );
    }
    issues.push(...validatePluginConfig(def, p.model.config, [...p.path, 'config']));
  }

  return {
    services: services.map((s) => s.model),
    routes: routes.map((r) => r.model),
    consumers: consumers.map((c) => c.model),
    jwt_secrets: jwts.map((c) => c.model),
    keyauth_credentials: keyauths.map((c) => c.model),
    acls: acls.map((c) => c.model),
    plugins: pluginsPending.map((p) => p.model),
    upstreams: upstreams.map((u) => u.model),
    certificates,
  };
}

type Err = (code: RawIssue['code'], message: string, path: Path, atKey?: boolean) => void;

const DEFAULT_PORTS: Record<string, number> = { http: 80, https: 443, echo: 0 };

function buildService(raw: Obj, path: Path, err: Err): ServiceModel {
  let protocol: ServiceModel['protocol'] = raw.protocol ?? 'http';
  let host: string = raw.host ?? '';
  let port: number | undefined = raw.port;
  let svcPath: string | null = raw.path ?? null;
  if (raw.url !== undefined) {
    const clash = ['protocol', 'host', 'port', 'path'].filter((f) => raw[f] !== undefined);
    if (clash.length)
      err(
        'SCHEMA',
        `'url' cannot be combined with ${clash.map((f) => `'${f}'`).join(', ')}; use one or the other`,
        [...path, clash[0]!],
        true,
      );
    const parsed = parseServiceUrl(raw.url);
    if (typeof parsed === 'string') err('SCHEMA', parsed, [...path, 'url']);
    else ({ protocol, host, port, path: svcPath } = parsed);
  } else if (protocol === 'echo') {
    host = raw.host ?? 'echo';
  } else if (raw.host === undefined) {
    err('SCHEMA', "missing required field 'host' (or give 'url')", path);
  }
  if (host && protocol !== 'echo') {
    const p = checkHost(host, { wildcard: false, port: false });
    if (p && !isIP(host.replace(/^\[|\]$/g, ''))) err('SCHEMA', p, [...path, raw.url !== undefined ? 'url' : 'host']);
  }
  if (svcPath !== null && raw.url === undefined) {
    const p = svcPath.startsWith('/') ? null : 'should start with: /';
    if (p) err('SCHEMA', p, [...path, 'path']);
  }
  return {
    id: '',
    name: orNull(raw.name),
    protocol,
    host,
    port: port ?? DEFAULT_PORTS[protocol] ?? 80,
    path: svcPath,
    connect_timeout: raw.connect_timeout,
    write_timeout: raw.write_timeout,
    read_timeout: raw.read_timeout,
    retries: raw.retries,
    enabled: raw.enabled,
    tags: tags(raw.tags),
    tls_verify: orNull(raw.tls_verify),
    tls_verify_depth: orNull(raw.tls_verify_depth),
    ca_certificates: null,
    client_certificate: null,
    yaml_path: path,
  };
}

/** Kong's `url` shorthand: `http(s)://host[:port][/path]`, plus `echo://` for the built-in echo upstream. */
export function parseServiceUrl(
  url: string,
): { protocol: ServiceModel['protocol']; host: string; port: number; path: string | null } | string {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(.*)$/.exec(url);
  if (!m) return `invalid url: expected scheme://host[:port][/path]`;
  const scheme = m[1]!.toLowerCase();
  if (m[4]) return 'the url must not have a query string or fragment';
  if (scheme === 'echo') return { protocol: 'echo', host: 'echo', port: 0, path: m[3] ? m[3] : null };
  if (scheme !== 'http' && scheme !== 'https') {
    return `unsupported url scheme '${scheme}': Tollgate services speak http, https (and echo:// for the built-in echo upstream)`;
  }
  const authority = m[2]!;
  if (authority.includes('@')) return 'the url must not contain credentials';
  const hp = /^(\[[0-9a-fA-F:.]+\]|[^:]*)(?::(\d*))?$/.exec(authority);
  if (!hp?.[1]) return 'the url has no host';
  let port = DEFAULT_PORTS[scheme]!;
  if (hp[2] !== undefined) {
    port = Number(hp[2]);
    if (hp[2] === '' || port > 65535) return 'invalid port in url';
  }
  return { protocol: scheme as 'http' | 'https', host: hp[1].toLowerCase(), port, path: m[3] ? m[3] : null };
}

const CURVES: Record<string, string> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };

function keyKind(k: KeyObject): string {
  const t = k.asymmetricKeyType;
  if (t === 'ec') return `an EC (${k.asymmetricKeyDetails?.namedCurve ?? 'unknown curve'}) key`;
  if (t === 'rsa' || t === 'rsa-pss') return 'an RSA key';
  return `an ${t ?? 'unknown'} key`;
}

function checkJwtSecret(
  m: JwtSecretModel,
  path: Path,
  err: Err,
  warn: (c: RawIssue['code'], msg: string, p: Path) => void,
): void {
  const alg = m.algorithm;
  if (alg.startsWith('HS')) {
    if (m.jwks_uri)
      err('SEMANTIC', `jwks_uri needs an asymmetric algorithm (RS*, PS*, ES*, EdDSA), not ${alg}`, [
        ...path,
        'jwks_uri',
      ]);
    if (m.secret === null)
      err(
        'SEMANTIC',
        `'secret' is required when algorithm is ${alg} (Kong would generate a random one, which no client could know)`,
        path,
      );
    if (m.rsa_public_key !== null)
      warn('SEMANTIC', `rsa_public_key is ignored when algorithm is ${alg}`, [...path, 'rsa_public_key']);
    return;
  }
  if (m.rsa_public_key === null) {
    if (!m.jwks_uri) err('SEMANTIC', `'rsa_public_key' (or 'jwks_uri') is required when algorithm is ${alg}`, path);
    return;
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: m.rsa_public_key, format: 'pem' });
  } catch {
    err('SEMANTIC', `rsa_public_key is not a valid PEM public key`, [...path, 'rsa_public_key']);
    return;
  }
  const t = key.asymmetricKeyType;
  const ok = alg.startsWith('RS')
    ? t === 'rsa'
    : alg.startsWith('PS')
      ? t === 'rsa' || t === 'rsa-pss'
      : alg.startsWith('ES')
        ? t === 'ec' && key.asymmetricKeyDetails?.namedCurve === CURVES[alg]
        : t === 'ed25519' || t === 'ed448';
  if (!ok) {
    const want =
      alg.startsWith('RS') || alg.startsWith('PS')
        ? 'an RSA key'
        : alg.startsWith('ES')
          ? `an EC key on curve ${CURVES[alg]}`
          : 'an Ed25519 or Ed448 key';
    err('SEMANTIC', `rsa_public_key is ${keyKind(key)}, but ${alg} needs ${want}`, [...path, 'rsa_public_key']);
  }
}

function checkCertificate(
  raw: Obj,
  path: Path,
  err: Err,
  warn: (c: RawIssue['code'], msg: string, p: Path) => void,
): void {
  const pair = (certField: string, keyField: string): void => {
    let cert: X509Certificate | null = null;
    try {
      cert = new X509Certificate(raw[certField]);
    } catch {
      err('SEMANTIC', `${certField} is not a valid PEM certificate`, [...path, certField]);
    }
    let key: KeyObject | null = null;
    try {
      key = createPrivateKey(raw[keyField]);
    } catch {
      err('SEMANTIC', `${keyField} is not a valid PEM private key (encrypted keys are not supported)`, [
        ...path,
        keyField,
      ]);
    }
    if (cert && key && !cert.checkPrivateKey(key))
      err('SEMANTIC', `${keyField} does not match ${certField}`, [...path, keyField]);
    // TLS (issue 10): an expired certificate still serves (clients decide), but the operator should know.
    if (cert) certificateDates(cert, [...path, certField], warn);
  };
  pair('cert', 'key');
  if ((raw.cert_alt === undefined) !== (raw.key_alt === undefined)) {
    err(
      'SCHEMA',
      "'cert_alt' and 'key_alt' must be given together",
      [...path, raw.cert_alt === undefined ? 'key_alt' : 'cert_alt'],
      true,
    );
  } else if (raw.cert_alt !== undefined) pair('cert_alt', 'key_alt');
}

/** Warns about a certificate outside its validity period. */
function certificateDates(
  cert: X509Certificate,
  path: Path,
  warn: (c: RawIssue['code'], msg: string, p: Path) => void,
): void {
  const now = Date.now();
  const to = Date.parse(cert.validTo);
  const from = Date.parse(cert.validFrom);
  if (to < now) warn('SEMANTIC', `certificate expired on ${new Date(to).toISOString()}; clients will refuse it`, path);
  else if (from > now)
    warn(
      'SEMANTIC',
      `certificate is not valid before ${new Date(from).toISOString()}; clients will refuse it until then`,
      path,
    );
}

// ---- upstream TLS (issue 10): CA certificates and client certificates of services ---------------

/**
 * Resolves each service's `ca_certificates` (ids of `ca_certificates` entities, or PEM text) to PEMs,
 * and `client_certificate` (an id of `certificates`, or `{id}`) to the certificate's id.
 */
function resolveUpstreamTls(
  doc: Obj,
  services: { raw: Obj; path: Path; model: ServiceModel }[],
  certificates: readonly CertificateModel[],
  each: (list: unknown, fn: (item: Obj, i: number) => void) => void,
  err: Err,
): void {
  const cas = new Map<string, string>();
  each(doc.ca_certificates, (raw, i) => {
    const path: Path = ['ca_certificates', i];
    const id = typeof raw.id === 'string' ? raw.id.toLowerCase() : entityId('ca_certificates', `ca:${raw.cert}`);
    let cert: X509Certificate | null = null;
    try {
      cert = new X509Certificate(raw.cert);
    } catch {
      err('SEMANTIC', 'cert is not a valid PEM certificate', [...path, 'cert']);
    }
    if (cert !== null && !cert.ca)
      err('SEMANTIC', 'certificate does not appear to be a CA because it is missing the "CA" basic constraint', [
        ...path,
        'cert',
      ]);
    else if (cert !== null && Date.parse(cert.validTo) < Date.now())
      err('SEMANTIC', 'expired certificate', [...path, 'cert']);
    if (cas.has(id))
      err('UNIQUENESS', `uniqueness violation: 'ca_certificates' entity with id set to '${id}' already declared`, [
        ...path,
        'id',
      ]);
    cas.set(id, raw.cert);
  });
  const certIds = new Set(certificates.map((c) => c.id));
  for (const s of services) {
    const list = s.raw.ca_certificates;
    if (Array.isArray(list)) {
      const pems: string[] = [];
      list.forEach((ref: string, k: number) => {
        const p: Path = [...s.path, 'ca_certificates', k];
        if (ref.trimStart().startsWith('-----BEGIN')) {
          try {
            new X509Certificate(ref);
            pems.push(ref);
          } catch {
            err('SEMANTIC', 'not a valid PEM certificate', p);
          }
          return;
        }
        const pem = cas.get(ref.toLowerCase());
        if (pem === undefined)
          err('REFERENCE', `invalid reference 'ca_certificates: ${ref}' (no such entry in 'ca_certificates')`, p);
        else pems.push(pem);
      });
      s.model.ca_certificates = pems;
    }
    const cc = s.raw.client_certificate;
    if (cc !== undefined) {
      const ref = String(typeof cc === 'object' && cc !== null ? cc.id : cc).toLowerCase();
      const p: Path =
        typeof cc === 'object' ? [...s.path, 'client_certificate', 'id'] : [...s.path, 'client_certificate'];
      if (!certIds.has(ref))
        err('REFERENCE', `invalid reference 'client_certificate: ${ref}' (no such entry in 'certificates')`, p);
      else s.model.client_certificate = ref;
      if (s.model.protocol !== 'https')
        err('SEMANTIC', `client_certificate needs protocol 'https' (this service speaks '${s.model.protocol}')`, p);
    }
  }
}
