// Kong's `POST /config` (kong/api/routes/config.lua): a DB-less node loads a whole declarative
// config sent to its admin API. Here it goes through the same loader and compiler as the file, is
// swapped in as a reload is, and is written nowhere: the next reload from the file replaces it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import { decodeText } from '../config/encoding.ts';
import { CORE_ENTITY_LISTS } from '../config/load.ts';
import { parseYamlOffThread } from '../config/parse-off-thread.ts';
import { secretValues } from '../config/secrets.ts';
import type { ParsedYaml } from '../config/yaml.ts';
import type { ConfigIssue } from '../errors.ts';
import type { TollgateInstance } from '../instance.ts';
import type { ReloadResult } from '../instance-types.ts';
import { readBodyWithin } from '../lib/request-body.ts';
import { builtinEntityOwners, loadBuiltinPlugins } from '../plugins/registry.ts';
import { redactedEntity } from './config-views.ts';

/** Kong's admin server: `client_max_body_size 10m` (kong/templates/nginx_kong.lua). */
export const MAX_CONFIG_POST_BYTES = 10 * 1024 * 1024;

/** An answer to a write: status, JSON body (scrubbed by the caller; none with 204 or 304), headers. */
export interface PostAnswer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Kong's `truthy()` for `flatten_errors`; `check_hash` is older and takes `1` only (config.lua). */
const TRUTHY = new Set(['true', '1', 'on', 'yes']);

/**
 * Lists of entities, at the top level or nested in an entity, which Kong's flattened errors name:
 * the core ones, the built-in plugins' credential kinds, and Kong's `vaults`, which the loader
 * refuses (a custom plugin's kind is reported in `fields` instead).
 */
const ENTITY_LISTS: ReadonlySet<string> = new Set([
  ...CORE_ENTITY_LISTS,
  ...Object.keys(builtinEntityOwners),
  'vaults',
]);
/** Kong's `singular()`: a list's name without its last `s`. */
const PLURAL_S = /s$/;
const UNIQUENESS = 'uniqueness violation: ';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Why an admin API write (`what`: `POST /config`, a target's health) is refused to a client at
 * `peer`, or null. A posted config takes over every route and may name any `${...}` value the
 * node can read (sending it to an upstream of its choosing), and marking targets unhealthy can
 * stop an upstream, so by default only a client on the node itself may write: Kong's own default
 * (`admin_listen 127.0.0.1:8001`) leaves the same power to local clients, and `kubectl
 * port-forward` or `docker exec` arrive on loopback. Reading the admin API stays open to whoever
 * reaches the listener, as before.
 */
export function adminWriteRefusal(
  who: 'loopback' | 'any' | 'off',
  peer: string | undefined,
  what: string,
): string | null {
  if (who === 'any') return null;
  if (who === 'off') return `${what} is turned off on this node (_tollgate.admin_post_config: off)`;
  if (peer !== undefined && isLoopbackAddress(peer)) return null;
  return `${what} is accepted only from a loopback address (_tollgate.admin_post_config: loopback); set admin_post_config: any to accept it from every client that reaches the admin listener`;
}

function isLoopbackAddress(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}

/**
 * When each gateway's posted config began loading. Kong loads one declarative config at a time
 * (a worker mutex, kong/db/declarative/import.lua) and answers another `429 Currently loading
 * previous configuration` with `Retry-After` (its lock's time left, at most 10 s); here, queued
 * behind each other, a stream of large posts would hold the proxying thread compiling for as long
 * as they come.
 */
const loading = new WeakMap<TollgateInstance, number>();
const LOCK_TTL_S = 60;
const RETRY_AFTER_MAX_S = 10;

interface Posted {
  text: string;
  /** Fields of a form or JSON body: Kong's params merge them with the query's. */
  params: Map<string, string>;
}

/**
 * `POST /config`: reads the body (at most MAX_CONFIG_POST_BYTES, within client_body_timeout),
 * loads it as a reload loads the file, and answers as Kong does: 201 with the entities, 304 with
 * `check_hash=1` when it is the config serving, 400 `{"code": 14, ...}` when it is invalid (the
 * serving config stays), 413 when too large.
 */
export async function postConfig(
  inst: TollgateInstance,
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
  entities: () => Record<string, unknown>,
): Promise<PostAnswer> {
  const refused = adminWriteRefusal(
    inst.runtime.config.settings.admin_post_config,
    req.socket.remoteAddress,
    'POST /config',
  );
  if (refused !== null) return { status: 403, body: { message: refused } };
  const announced = Number(req.headers['content-length'] ?? 0);
  // nginx refuses a body announced too large before reading it.
  if (announced > MAX_CONFIG_POST_BYTES) return { status: 413, body: { message: 'Payload too large' } };
  // nginx's client_body_timeout: a body that stops arriving ends the connection, not held for ever
  // (the listener's own timeout handler destroys the socket; see createAdminServer).
  req.socket.setTimeout(inst.runtime.config.settings.client_body_timeout);
  // The admin listener leaves `Expect: 100-continue` to its endpoints (see createAdminServer).
  if (req.headers.expect?.toLowerCase() === '100-continue') res.writeContinue();
  let bytes: Buffer | null;
  try {
    bytes = await readBodyWithin(req, MAX_CONFIG_POST_BYTES, res);
  } finally {
    req.socket.setTimeout(0);
  }
  if (bytes === null) return { status: 413, body: { message: 'Payload too large' } };
  const since = loading.get(inst);
  if (since !== undefined) {
    const left = Math.max(1, Math.min(RETRY_AFTER_MAX_S, Math.ceil(LOCK_TTL_S - (Date.now() - since) / 1000)));
    return {
      status: 429,
      body: { message: 'Currently loading previous configuration' },
      headers: { 'Retry-After': String(left) },
    };
  }
  loading.set(inst, Date.now());
  try {
    return await load(inst, bytes, String(req.headers['content-type'] ?? ''), query, entities);
  } finally {
    loading.delete(inst);
  }
}

/** The posted body loaded, as POST /config answers it. */
async function load(
  inst: TollgateInstance,
  bytes: Buffer,
  contentType: string,
  query: URLSearchParams,
  entities: () => Record<string, unknown>,
): Promise<PostAnswer> {
  const posted = await declarativeText(bytes, contentType);
  const param = (name: string): string => posted.params.get(name) ?? query.get(name) ?? '';
  const checkHash = param('check_hash') === '1';
  if (posted.text.trim() === '') return { status: 400, body: { message: 'expected a declarative configuration' } };
  const flatten = TRUTHY.has(param('flatten_errors').toLowerCase());
  const file = inst.options.configFile;
  const [input, serving] = await Promise.all([
    parseYamlOffThread(posted.text, file),
    parseYamlOffThread(inst.configText, file),
  ]);
  const text = withServingSettings(posted.text, input.data, serving.data);
  const r = await inst.reload({ trigger: 'config', text, checkHash });
  if (r.unchanged === true) return { status: 304, body: null };
  if (r.ok) return { status: 201, body: byId(entities()) };
  if (r.unavailable === true) return { status: 503, body: { message: r.errors[0]?.message ?? 'unavailable' } };
  const unparsed = parseFailure(input);
  if (unparsed !== null) return { status: 400, body: unparsedConfig(r, file, unparsed) };
  const redact = flatten ? await postedRedactor(inst) : undefined;
  return { status: 400, body: invalidConfig(r, file, flatten ? input.data : undefined, redact) };
}

/** An entity as posted, of the list `kind`, redacted as the admin API redacts it. */
type Redact = (kind: string, entity: Record<string, unknown>) => Record<string, unknown>;

/**
 * The redaction of an entity echoed in `flattened_errors`: Kong echoes it whole (a credential's
 * password, a certificate's key); here it shows as GET /config shows an entity, with the secret
 * fields the built-in plugins and the serving config's custom plugins declare for their kinds.
 */
async function postedRedactor(inst: TollgateInstance): Promise<Redact> {
  const serving = inst.runtime.config;
  const fields = new Map<string, ReadonlySet<string>>();
  for (const [kind, info] of Object.entries(serving.entity_kinds)) fields.set(kind, new Set(info.secrets));
  for (const def of (await loadBuiltinPlugins(new Set(Object.values(builtinEntityOwners)))).values())
    for (const kind of def.entities ?? []) fields.set(kind.name, new Set(kind.secrets ?? []));
  const secrets = secretValues(serving.source.secrets);
  return (kind, entity) => redactedEntity(kind, entity, fields.get(kind), secrets);
}

/**
 * Why the posted text is no declarative config at all, in Kong's words where Kong has them, or
 * null: text that does not parse, or parses to something else than an object.
 */
function parseFailure(input: ParsedYaml): string | null {
  // A warning (an unknown tag) leaves the text parsed; a hazard that stops the parse leaves no data.
  const fatal = input.issues.find(
    (i) =>
      i.severity !== 'warning' && (i.code === 'YAML_SYNTAX' || (input.data === undefined && i.code === 'YAML_HAZARD')),
  );
  if (fatal !== undefined) return fatal.message;
  return isMapping(input.data) ? null : 'expected an object';
}

/**
 * Kong's 400 for a body it cannot unserialize (kong/db/declarative/init.lua): one message under
 * `fields.error`, never flattened (config.lua answers before it looks at `flatten_errors`); plus
 * Tollgate's located `errors`.
 */
function unparsedConfig(r: ReloadResult, configFile: string, why: string): Record<string, unknown> {
  const fields = { error: `failed parsing declarative configuration: ${why}` };
  return {
    code: DECLARATIVE_CONFIG,
    name: 'invalid declarative configuration',
    message: `declarative config is invalid: ${luaPretty(fields)}`,
    fields,
    errors: r.errors.map((e) => postedIssue(e, configFile)),
  };
}

/**
 * The declarative config in a body, as Kong's `hydrate_config_from_request` finds it: a JSON body
 * that is the config (has `_format_version`), a `config` field (JSON, form, or multipart as
 * `curl -F config=@kong.yml` sends it), or else the raw body (YAML or JSON).
 */
async function declarativeText(bytes: Buffer, contentType: string): Promise<Posted> {
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  const params = new Map<string, string>();
  if (type === 'multipart/form-data' || type === 'application/x-www-form-urlencoded') {
    let form: FormData;
    try {
      form = await new Response(bytes, { headers: { 'content-type': contentType } }).formData();
    } catch {
      return { text: decoded(bytes), params };
    }
    let text: string | null = null;
    for (const [k, v] of form) {
      if (k === 'config') text = typeof v === 'string' ? v : decoded(Buffer.from(await v.arrayBuffer()));
      else if (typeof v === 'string') params.set(k, v);
    }
    // No `config` field: the raw body, as Kong reads it (`curl --data-binary @kong.yml` sends a
    // YAML file as a form).
    return text === null ? { text: decoded(bytes), params: new Map() } : { text, params };
  }
  const text = decoded(bytes);
  if (type === 'application/json') {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON after all: the loader says where, as for a file.
      return { text, params };
    }
    if (body !== null && typeof body === 'object' && !Array.isArray(body) && !('_format_version' in body)) {
      const fields = body as Record<string, unknown>;
      for (const [k, v] of Object.entries(fields))
        if (k !== 'config' && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'))
          params.set(k, String(v));
      if (typeof fields.config === 'string') return { text: fields.config, params };
    }
  }
  return { text, params };
}

/**
 * The posted config with the serving `_tollgate` when it has none. `_tollgate` holds what Kong
 * keeps in kong.conf (trusted_ips, timeouts, custom_plugins, listeners), which Kong's `POST /config`
 * never changes: a config of entities alone, as Kong tools post it, keeps the node's settings
 * rather than falling back to the defaults. Added as one JSON (flow YAML) line after the posted
 * text, or as a last member of a JSON document, so that errors keep their lines and columns.
 */
function withServingSettings(posted: string, input: unknown, serving: unknown): string {
  if (!isMapping(input) || '_tollgate' in input || !isMapping(serving) || serving._tollgate === undefined)
    return posted;
  const settings = JSON.stringify(serving._tollgate);
  const end = posted.trimEnd();
  if (!posted.trimStart().startsWith('{')) return `${end}\n_tollgate: ${settings}\n`;
  const close = end.lastIndexOf('}');
  const comma = Object.keys(input).length > 0 ? ',' : '';
  return `${end.slice(0, close)}${comma}"_tollgate":${settings}${end.slice(close)}\n`;
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** UTF-8 (or UTF-16 with a byte-order mark), as a file is read; bytes that are neither load as written. */
function decoded(bytes: Buffer): string {
  const d = decodeText(bytes);
  return d.ok ? d.text : bytes.toString('latin1');
}

/**
 * Kong's 201 body: each kind of entity loaded, as a map from id to entity (the entities as
 * `GET /config` shows them, secrets redacted); the settings and empty kinds left out.
 */
function byId(config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [kind, list] of Object.entries(config)) {
    if (!Array.isArray(list) || list.length === 0) continue;
    out[kind] = Object.fromEntries(list.map((e: { id?: unknown }, i) => [String(e.id ?? i), e]));
  }
  return out;
}

/** Kong's error code and name for a declarative config that does not load (kong/db/errors.lua). */
const DECLARATIVE_CONFIG = 14;

/**
 * The issues a 400 answers at most: a posted config of 10 MiB can hold hundreds of thousands of
 * errors, and each flattened entry echoes its entity (20,000 bad services made an 18 MB answer).
 * Those past it are counted in `errors_omitted`; Kong answers every one.
 */
export const MAX_ANSWERED_ISSUES = 1000;

/**
 * Kong's 400 body: `code` 14, `name`, `message` ("declarative config is invalid: " and the fields),
 * and `fields`, each message at the place in the config it concerns; plus Tollgate's located
 * `errors` (line and column in the posted text), as `POST /reload` gives them.
 */
function invalidConfig(r: ReloadResult, configFile: string, input?: unknown, redact?: Redact): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  const flattened = new Map<string, FlatEntry>();
  // past the bound, errors before warnings: what makes the config fail is told first
  const answered =
    r.errors.length <= MAX_ANSWERED_ISSUES
      ? r.errors
      : [...r.errors.filter((e) => e.severity === 'error'), ...r.errors.filter((e) => e.severity !== 'error')].slice(
          0,
          MAX_ANSWERED_ISSUES,
        );
  for (const issue of answered) {
    // A warning (routes that match the same requests, which Kong loads) is no error of Kong's
    // table: it stays in the located `errors` only.
    if (issue.severity !== 'error') continue;
    const path = pathSegments(issue.path);
    const at = input === undefined ? null : entityAt(path, input);
    if (at === null) place(fields, path, issue.message);
    else {
      // Kong's uniqueness violation is the entity's error (`consumers = { nil, "uniqueness ..." }`);
      // here its path names the duplicated field, so that its line and column show the value.
      const rest = issue.message.startsWith(UNIQUENESS) ? [] : path.slice(at.end);
      flattenedEntry(flattened, path, at).located.push({ rest, message: issue.message });
    }
  }
  return {
    code: DECLARATIVE_CONFIG,
    name: 'invalid declarative configuration',
    message: `declarative config is invalid: ${luaPretty(fields)}`,
    fields,
    ...(input === undefined ? {} : { flattened_errors: [...flattened.values()].map((e) => flatEntry(e, redact)) }),
    errors: answered.map((e) => postedIssue(e, configFile)),
    ...(answered.length < r.errors.length ? { errors_omitted: r.errors.length - answered.length } : {}),
  };
}

/**
 * Kong's foreign keys an entity may hold as a nested entity (its `type = "foreign"` fields): their
 * errors are the referenced entity's, in an entry of its own (kong/db/errors.lua, "owned
 * one-to-one relationship"), and the entity keeps only the reference's primary key.
 */
const FOREIGN: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  services: { client_certificate: 'certificates' },
  upstreams: { client_certificate: 'certificates' },
  routes: { service: 'services' },
  plugins: { service: 'services', route: 'routes', consumer: 'consumers', consumer_group: 'consumer_groups' },
  targets: { upstream: 'upstreams' },
  snis: { certificate: 'certificates' },
  ...Object.fromEntries(Object.keys(builtinEntityOwners).map((kind) => [kind, { consumer: 'consumers' }])),
};

/** The innermost entity an issue's path names: where it ends in the path, its list, and how it is held. */
interface EntityAt {
  end: number;
  kind: string;
  node: Record<string, unknown>;
  /** The entity it is nested in (a list of its), null at the top level or for a foreign key. */
  parent: { kind: string; node: Record<string, unknown> } | null;
}

/**
 * The innermost entity an issue's path names (`services[0].routes[1]` of
 * `services[0].routes[1].paths[0]`, `services[0].client_certificate` of
 * `services[0].client_certificate.cert`), or null when it names none: an entity list at the top
 * level or directly in an entity, an entry of it the posted input has, or a foreign key that holds
 * an entity.
 */
function entityAt(path: (string | number)[], input: unknown): EntityAt | null {
  let found: EntityAt | null = null;
  let node = input;
  for (let i = 0; i < path.length && isMapping(node); ) {
    const [field, index] = [path[i]!, path[i + 1]];
    const refKind: string | undefined = found === null ? undefined : FOREIGN[found.kind]?.[String(field)];
    if (refKind !== undefined && isMapping(node[field as string])) {
      node = node[field as string];
      found = { end: i + 1, kind: refKind, node: node as Record<string, unknown>, parent: null };
      i += 1;
      continue;
    }
    if (typeof field !== 'string' || !ENTITY_LISTS.has(field) || typeof index !== 'number') break;
    const items = node[field];
    if (!Array.isArray(items) || !isMapping(items[index])) break;
    const parent: EntityAt['parent'] = found === null ? null : { kind: found.kind, node: found.node };
    node = items[index];
    found = { end: i + 2, kind: field, node: node as Record<string, unknown>, parent };
    i += 2;
  }
  return found;
}

/** Kong's `make_pk`: `{ id }` of an entity whose id is a UUID, else nothing. */
function primaryKey(entity: Record<string, unknown>): { id: string } | undefined {
  return typeof entity.id === 'string' && UUID.test(entity.id) ? { id: entity.id } : undefined;
}

/**
 * Kong's flattened entry for the entity `at` names: its type (the list's name without its `s`),
 * name, id and tags, and the entity as posted, without the entities nested in it (each has its own
 * entry), a foreign key holding an entity as that entity's primary key (or left out), and with
 * its parent's `id` when the parent has one.
 */
function flattenedEntry(entries: Map<string, FlatEntry>, path: (string | number)[], at: EntityAt): FlatEntry {
  const key = JSON.stringify(path.slice(0, at.end));
  const known = entries.get(key);
  if (known !== undefined) return known;
  const { node, parent } = at;
  const type = at.kind.replace(PLURAL_S, '');
  const foreign = FOREIGN[at.kind] ?? {};
  const entity: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (ENTITY_LISTS.has(k)) continue;
    if (Object.hasOwn(foreign, k) && isMapping(v)) {
      const pk = primaryKey(v);
      if (pk !== undefined) entity[k] = pk;
    } else entity[k] = v;
  }
  const parentKey = parent === null ? undefined : primaryKey(parent.node);
  if (parent !== null && parentKey !== undefined) entity[parent.kind.replace(PLURAL_S, '')] ??= parentKey;
  const entry: FlatEntry = {
    kind: at.kind,
    entity_name: typeof node.name === 'string' && node.name !== '' ? node.name : undefined,
    entity_id: typeof node.id === 'string' && UUID.test(node.id) ? node.id : undefined,
    entity_tags: Array.isArray(node.tags) && node.tags.every((t) => typeof t === 'string') ? node.tags : undefined,
    entity_type: type,
    entity,
    located: [],
  };
  entries.set(key, entry);
  return entry;
}

/** A flattened entry while its errors are gathered: `located` holds each one's path in the entity. */
interface FlatEntry {
  kind: string;
  entity_name: string | undefined;
  entity_id: string | undefined;
  entity_tags: unknown[] | undefined;
  entity_type: string;
  entity: Record<string, unknown>;
  located: { rest: (string | number)[]; message: string }[];
}

/** The entry as Kong writes it: the entity redacted, its errors in Kong's order. */
function flatEntry(e: FlatEntry, redact: Redact | undefined): Record<string, unknown> {
  const located = [...e.located].sort((a, b) => kongOrder(a.rest, b.rest));
  return {
    entity_name: e.entity_name,
    entity_id: e.entity_id,
    entity_tags: e.entity_tags,
    entity_type: e.entity_type,
    entity: redact === undefined ? e.entity : redact(e.kind, e.entity),
    errors: located.map((x) => errorEntry(x.rest, x.message)),
  };
}

/**
 * Kong's order of an entity's errors (`categorize_errors` in kong/db/errors.lua): at each level the
 * keys sorted and taken from the last (`drain`), so `tags.4` before `tags.3` and `name` before
 * `config.host`; the entity's own errors (`@entity`, sorted before letters) after its fields'.
 * Messages at one place keep their order (the sort is stable).
 */
function kongOrder(a: (string | number)[], b: (string | number)[]): number {
  for (let i = 0; ; i++) {
    // a path that ends here is the `@entity` of this level (or the field's own message list)
    if (i >= a.length || i >= b.length) return i >= a.length ? (i >= b.length ? 0 : 1) : -1;
    const [x, y] = [a[i]!, b[i]!];
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return y - x;
    return String(x) < String(y) ? 1 : -1;
  }
}

/** One of Kong's flattened errors: a field's (dotted, lists counted from 1 as in Lua) or the entity's. */
function errorEntry(rest: (string | number)[], message: string): Record<string, unknown> {
  if (rest.length === 0) return { type: 'entity', message };
  return { type: 'field', field: rest.map((x) => (typeof x === 'number' ? x + 1 : x)).join('.'), message };
}

/** An issue of the posted text names it, not the file it is not in (referenced files keep their names). */
function postedIssue(e: ConfigIssue, configFile: string): ConfigIssue {
  return e.file === configFile || e.file === resolve(configFile) ? { ...e, file: 'POST /config' } : e;
}

const SEGMENT = /([^.[\]]+)|\[(\d+)\]/g;

/** `services[0].routes[1].paths` as `['services', 0, 'routes', 1, 'paths']`. */
function pathSegments(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const m of path.matchAll(SEGMENT)) out.push(m[2] !== undefined ? Number(m[2]) : m[1]!);
  return out;
}

/**
 * Sets `message` at `path` in Kong's nested error table: lists where the config has lists, several
 * messages at one place as a list, and a message about a whole entry (empty path, or an entry that
 * also has field errors) under Kong's `@entity`.
 */
function place(root: Record<string, unknown>, path: (string | number)[], message: string): void {
  if (path.length === 0) return add(root, '@entity', message);
  let node: Record<string | number, unknown> = root;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i]!;
    let next = node[key];
    if (next === undefined) next = node[key] = typeof path[i + 1] === 'number' ? [] : {};
    else if (typeof next === 'string' || (Array.isArray(next) && next.every((x) => typeof x === 'string')))
      // A message about the whole place, and now one inside it: Kong's `@entity` keeps the first.
      next = node[key] = { '@entity': next };
    node = next as Record<string | number, unknown>;
  }
  add(node, path[path.length - 1]!, message);
}

function add(node: Record<string | number, unknown>, key: string | number, message: string): void {
  const had = node[key];
  if (had === undefined) node[key] = message;
  else if (typeof had === 'string') node[key] = [had, message];
  else if (Array.isArray(had) && had.every((x) => typeof x === 'string')) had.push(message);
  else (had as Record<string, unknown>)['@entity'] = message;
}

const LUA_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A value as Penlight's `pretty.write(v, "")` writes it, which Kong's message quotes. */
function luaPretty(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) {
    const dense = v.every((x) => x !== undefined);
    const items = v.flatMap((x, i) => (x === undefined ? [] : [dense ? luaPretty(x) : `[${i + 1}]=${luaPretty(x)}`]));
    return `{${items.join(',')}}`;
  }
  if (v !== null && typeof v === 'object')
    return `{${Object.entries(v)
      .map(([k, x]) => `${luaKey(k)}=${luaPretty(x)}`)
      .join(',')}}`;
  return String(v);
}

function luaKey(k: string): string {
  return LUA_NAME.test(k) ? k : `[${JSON.stringify(k)}]`;
}
