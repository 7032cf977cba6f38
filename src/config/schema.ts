/**
 * JSON Schema validation: the file format (schemas/gateway.schema.json) and each plugin's
 * `config` (the plugin definition's own schema), with Ajv errors turned into located issues
 * whose messages a user can act on ("unknown field 'strip_paht' (did you mean 'strip_path'?)").
 */
import { createRequire } from 'node:module';
import type { ErrorObject, ValidateFunction } from 'ajv';
import gatewaySchema from '../../schemas/gateway.schema.json' with { type: 'json' };
import type { EntityDefinition, PluginDefinition } from '../pipeline/plugin.ts';
import { compiledValidator } from './compiled-validators.ts';
import { withEntities } from './entity-schema.ts';
import { KONG_CONF_SETTINGS, KONG_UNSUPPORTED } from './kong-unsupported.ts';
import type { YamlPath } from './model.ts';
import type { RawIssue } from './yaml.ts';

const require = createRequire(import.meta.url);

/** ajv-formats, loaded only when a schema is compiled (a cached validator needs its formats module only). */
function addFormats(ajv: unknown): void {
  // ajv-formats is CommonJS; its default export arrives either as the function or as its module.
  const m = require('ajv-formats') as { default?: (a: unknown) => void } & ((a: unknown) => void);
  (m.default ?? m)(ajv);
}

/** The gateway schema as Ajv validates it: plugin `config` subschemas are checked separately. */
function loadSchema(entities: readonly EntityDefinition<any>[]): Record<string, unknown> {
  const copy = withEntities(gatewaySchema, entities) as { definitions: Record<string, Record<string, unknown>> };
  // The if/then entries exist for editors; at load time each plugin's own (registered) schema decides.
  delete copy.definitions.plugin!.allOf;
  return copy;
}

/** Compiled gateway validators by the entity kinds they include (the built-ins' set, plus any custom plugins' sets). */
const gatewayValidators = new Map<string, ValidateFunction>();
const MAX_VALIDATORS = 8;
/** Schema objects of the gateway schema's definitions → definition name (`top_` prefix dropped). */
const definitionNames = new WeakMap<object, string>();
/**
 * The same by JSON text: a validator evaluated from cached code reports copies of the schema
 * objects as `parentSchema`. Bounded: cleared past MAX_DEFINITION_TEXTS (custom plugins' entity
 * schemas may change on every reload).
 */
const definitionTexts = new Map<string, string>();
const MAX_DEFINITION_TEXTS = 2000;

function rememberDefinition(def: object, name: string): void {
  definitionNames.set(def, name);
  if (definitionTexts.size >= MAX_DEFINITION_TEXTS) definitionTexts.clear();
  definitionTexts.set(JSON.stringify(def), name);
}

/**
 * Whether the string `word` at `path` was written as a plain (unquoted, untagged) YAML scalar: Kong's
 * YAML 1.1 parser reads a plain yes/no/on/off as a boolean, a quoted one as a string.
 */
export type PlainScalarTest = (path: YamlPath, word: string) => boolean;

/**
 * Validates the whole file (defaults applied in place) against the schema with these entity kinds,
 * and returns issues. With `plain`, a YAML 1.1 boolean word written plain in a boolean field is
 * read as that boolean, in place, with a warning.
 */
export function validateGateway(
  data: unknown,
  entities: readonly EntityDefinition<any>[] = [],
  plain?: PlainScalarTest,
): RawIssue[] {
  const key = JSON.stringify(entities.map((d) => [d.name, d.description, d.consumer, d.schema]));
  let gatewayValidate = gatewayValidators.get(key);
  if (!gatewayValidate) {
    const schema = loadSchema(entities) as { definitions: Record<string, object> };
    rememberDefinition(schema, 'root');
    for (const [name, def] of Object.entries(schema.definitions)) rememberDefinition(def, name.replace(/^top_/, ''));
    gatewayValidate = compiledValidator(
      schema,
      'draft-07',
      {
        allErrors: true,
        useDefaults: true,
        strictSchema: true,
        strictNumbers: true,
        strictTypes: true,
        strictTuples: true,
        strictRequired: false,
        allowUnionTypes: true,
        verbose: true,
      },
      addFormats,
    );
    if (gatewayValidators.size >= MAX_VALIDATORS) gatewayValidators.delete(gatewayValidators.keys().next().value!);
    gatewayValidators.set(key, gatewayValidate);
  }
  return check(gatewayValidate, data, [], 'SCHEMA', plain);
}

/**
 * Validates `data` and translates the errors. YAML 1.1 booleans read in place (the warnings) change
 * the data, so it is validated again: a rule may depend on them (`if` a flag is true, `then` ...).
 */
function check(v: ValidateFunction, data: unknown, base: YamlPath, code: RawIssue['code'], plain?: PlainScalarTest) {
  if (v(data)) return [];
  const reread = { changed: false };
  const issues = translateErrors(v.errors ?? [], data, base, code, plain, reread);
  if (!reread.changed) return issues;
  const read = issues.filter((i) => i.severity === 'warning');
  return v(data) ? read : [...read, ...translateErrors(v.errors ?? [], data, base, code)];
}

/**
 * An empty `{}` where a list is wanted, or `[]` where a mapping is: both are an empty Lua table
 * to Kong, whatever the field, and Kong's own exports write either (`kong config db_export` and
 * the admin API's `/config` dump with lyaml, which wrote an empty table as `{}` before 6.2.7,
 * Kong 2.3, and as `[]` since, empty mappings included). The other empty container, or
 * undefined when the value is neither.
 */
function emptyTableAs(value: unknown, types: readonly string[]): unknown {
  if (value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) return value.length === 0 && types.includes('object') ? {} : undefined;
  return Object.keys(value).length === 0 && types.includes('array') ? [] : undefined;
}

const pluginValidators = new WeakMap<PluginDefinition, ValidateFunction | Error>();

/** The compiled validator of a plugin's config schema, compiled once per definition. */
export function pluginValidator(def: PluginDefinition): ValidateFunction | Error {
  let v = pluginValidators.get(def);
  if (v) return v;
  try {
    const schema = def.schema as Record<string, unknown>;
    const opts = {
      allErrors: true,
      useDefaults: true,
      strict: true,
      strictTypes: false,
      strictTuples: false,
      allowUnionTypes: true,
      verbose: true,
    } as const;
    // One Ajv per definition: two plugins (or two versions of a custom one) may share a $id.
    const dialect = typeof schema.$schema === 'string' && schema.$schema.includes('2020-12') ? '2020-12' : 'draft-07';
    v = compiledValidator(schema, dialect, opts, addFormats);
  } catch (e) {
    v = new Error(`plugin '${def.name}' has an invalid config schema: ${(e as Error).message}`);
  }
  pluginValidators.set(def, v);
  return v;
}

/**
 * Kong reads `null` in a plugin's config as "not set", at any depth (decK dumps write every field
 * of the schema, `null` for the unset ones, e.g. rate-limiting's flat `redis_*` fields): the key
 * is dropped, so the schema's default applies. Nulls inside lists are values and stay.
 */
export function dropNullFields(value: unknown): void {
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const item of value) dropNullFields(item);
    return;
  }
  const obj = value as Record<string, unknown>;
  for (const k of Object.keys(obj)) {
    if (obj[k] === null) delete obj[k];
    else dropNullFields(obj[k]);
  }
}

/** Foreign-key fields of Kong's entities. */
const FOREIGN_KEYS = ['service', 'route', 'consumer', 'upstream'] as const;

/**
 * Kong takes a foreign key written as the Admin API's `{id: ...}` (declarative_config.lua reads
 * `key.id or key`): such a reference in an entity list, top-level or nested one level, becomes
 * its id before the schema sees it.
 */
export function flattenForeignKeys(doc: Record<string, unknown>): void {
  for (const list of Object.values(doc)) {
    if (!Array.isArray(list)) continue;
    for (const entity of list) {
      if (entity === null || typeof entity !== 'object' || Array.isArray(entity)) continue;
      flattenEntityKeys(entity as Record<string, unknown>);
      for (const nested of Object.values(entity as Record<string, unknown>)) {
        if (!Array.isArray(nested)) continue;
        for (const child of nested)
          if (child !== null && typeof child === 'object' && !Array.isArray(child))
            flattenEntityKeys(child as Record<string, unknown>);
      }
    }
  }
}

function flattenEntityKeys(entity: Record<string, unknown>): void {
  for (const field of FOREIGN_KEYS) {
    const ref = entity[field];
    if (ref === null || typeof ref !== 'object' || Array.isArray(ref)) continue;
    const keys = Object.keys(ref);
    const id = (ref as { id?: unknown }).id;
    if (keys.length === 1 && typeof id === 'string') entity[field] = id;
  }
}

/** Validates a plugin config (nulls dropped, defaults applied in place); issue paths are prefixed with `base`. */
export function validatePluginConfig(
  def: PluginDefinition,
  config: unknown,
  base: YamlPath,
  plain?: PlainScalarTest,
): RawIssue[] {
  const v = pluginValidator(def);
  if (v instanceof Error) return [{ code: 'PLUGIN_CONFIG', message: v.message, path: base }];
  dropNullFields(config);
  return check(v, config, base, 'PLUGIN_CONFIG', plain);
}

/** JSON pointer → YAML path, using the data to tell array indexes from map keys. */
function pointerToPath(pointer: string, data: unknown): (string | number)[] {
  if (pointer === '') return [];
  const out: (string | number)[] = [];
  let node: unknown = data;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      const i = Number(seg);
      out.push(i);
      node = node[i];
    } else {
      out.push(seg);
      node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[seg] : undefined;
    }
  }
  return out;
}

/** Replaces the value at `path` (relative to `data`, which holds it). */
function setAt(data: unknown, path: readonly (string | number)[], value: unknown): void {
  let node = data as Record<string | number, unknown>;
  for (const seg of path.slice(0, -1)) node = node[seg] as Record<string | number, unknown>;
  node[path[path.length - 1]!] = value;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a number';
  if (typeof v === 'string') return 'a string';
  return `a ${typeof v}`;
}

/** YAML 1.1's other spellings of true and false, which Kong's lyaml resolves and YAML 1.2 does not. */
const YAML11_BOOLEANS: ReadonlyMap<string, boolean> = new Map(
  ['yes', 'Yes', 'YES', 'on', 'On', 'ON', 'no', 'No', 'NO', 'off', 'Off', 'OFF'].map((w) => [w, /^(yes|on)$/i.test(w)]),
);

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'a boolean (true or false)',
  object: 'a mapping',
  array: 'an array',
  null: 'null',
};

/** Which definition of the gateway schema an error came from, e.g. `route`. */
function definitionOf(err: ErrorObject): string {
  const byObject = err.parentSchema
    ? (definitionNames.get(err.parentSchema) ?? definitionTexts.get(JSON.stringify(err.parentSchema)))
    : undefined;
  if (byObject) return byObject;
  const m = /^#\/definitions\/([^/]+)\//.exec(err.schemaPath);
  return m ? m[1]!.replace(/^top_/, '') : '';
}

/**
 * Edits from `a` to `b`: insertions, deletions, substitutions, and swaps of two neighbouring
 * letters (optimal string alignment), so `naem` is one edit from `name` as `nmae` is, the commonest
 * typo. Names whose lengths differ by more than any suggestion allows are not compared.
 */
function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return Infinity;
  let before: number[] = [];
  let prev: number[] = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      row.push(d);
    }
    before = prev;
    prev = row;
  }
  return prev[b.length]!;
}

/** The closest known field name, if one is close enough to be a typo. */
export function suggest(name: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const k of known) {
    const dd = distance(name.toLowerCase(), k.toLowerCase());
    if (dd < bestD) {
      bestD = dd;
      best = k;
    }
  }
  return best !== null && bestD <= (best.length <= 4 ? 1 : best.length < 12 ? 2 : 3) ? best : null;
}

/** Kong Enterprise's WebSocket protocols: what to write instead. */
export const WEBSOCKET_HINT =
  '; WebSocket upgrades are proxied by http and https services and routes (http for ws, https for wss)';

const KONG_PROTOCOLS = new Set(['grpc', 'grpcs', 'tcp', 'tls', 'tls_passthrough', 'udp', 'ws', 'wss']);

/**
 * A value that fails a `oneOf`/`anyOf` gets one error, not one per alternative plus the summary:
 * a too-short `session_secret` string is "length must be at least 32", not also
 * "expected an array" and "must match exactly one schema". The alternatives whose type the value
 * has are the ones meant; when it has none of their types, one "expected A or B" says so.
 */
function collapseAlternatives(errors: ErrorObject[]): ErrorObject[] {
  const drop = new Set<ErrorObject>();
  const replace = new Map<ErrorObject, ErrorObject>();
  for (const alt of errors) {
    if (alt.keyword !== 'oneOf' && alt.keyword !== 'anyOf') continue;
    const prefix = `${alt.schemaPath}/`;
    const branches = new Map<string, ErrorObject[]>();
    for (const e of errors) {
      if (!e.schemaPath.startsWith(prefix)) continue;
      const branch = e.schemaPath.slice(prefix.length).split('/')[0]!;
      let list = branches.get(branch);
      if (list === undefined) branches.set(branch, (list = []));
      list.push(e);
    }
    // Branches without errors here (a $ref'd alternative reports elsewhere): keep Ajv's errors.
    if (branches.size === 0) continue;
    const wrongType = (list: ErrorObject[]): boolean =>
      list.some((e) => e.keyword === 'type' && e.instancePath === alt.instancePath);
    const meant = [...branches.values()].filter((list) => !wrongType(list));
    for (const list of branches.values()) for (const e of list) drop.add(e);
    if (meant.length > 0) {
      drop.add(alt);
      for (const e of meant[0]!) drop.delete(e);
    } else {
      const types = [...branches.values()].flatMap((list) =>
        list
          .filter((e) => e.keyword === 'type' && e.instancePath === alt.instancePath)
          .flatMap((e) => {
            const t = (e.params as { type: string | string[] }).type;
            return Array.isArray(t) ? t : t.split(',');
          }),
      );
      replace.set(alt, { ...alt, keyword: 'type', params: { type: [...new Set(types)] } });
    }
  }
  return errors.filter((e) => !drop.has(e)).map((e) => replace.get(e) ?? e);
}

function translateErrors(
  errors: ErrorObject[],
  data: unknown,
  base: YamlPath,
  code: RawIssue['code'] = 'SCHEMA',
  plain?: PlainScalarTest,
  reread?: { changed: boolean },
): RawIssue[] {
  const out: RawIssue[] = [];
  const seen = new Set<string>();
  for (const err of collapseAlternatives(errors)) {
    // `allOf` wrappers repeat nothing useful; `if` failures are reported by their `then`;
    // `propertyNames` only sums up the error its name rule reported (below, at the key).
    if (err.keyword === 'if' || err.keyword === 'allOf' || err.keyword === 'propertyNames') continue;
    const path = [...base, ...pointerToPath(err.instancePath, data)];
    const badKey = (err as ErrorObject & { propertyName?: string }).propertyName;
    if (badKey !== undefined) {
      const rule =
        err.keyword === 'pattern'
          ? `must match the pattern ${(err.params as { pattern: string }).pattern}`
          : err.message;
      out.push({
        code,
        message: `invalid name '${badKey}': ${rule}`,
        path: [...path, badKey],
        atKey: true,
      });
      continue;
    }
    const value = err.data;
    let issue: RawIssue;
    switch (err.keyword) {
      case 'additionalProperties': {
        const field = (err.params as { additionalProperty: string }).additionalProperty;
        const kind = code === 'SCHEMA' ? definitionOf(err) : '';
        // Own keys only: a field named toString or hasOwnProperty is just unknown.
        const table = KONG_UNSUPPORTED[kind];
        const why = table !== undefined && Object.hasOwn(table, field) ? table[field] : undefined;
        const conf = kind === 'settings' ? KONG_CONF_SETTINGS[field] : undefined;
        const parent = err.parentSchema as { properties?: Record<string, unknown> } | undefined;
        let message: string;
        if (why) message = `'${field}' is a Kong field that Tollgate does not support: ${why}`;
        else if (conf !== undefined && Object.hasOwn(KONG_CONF_SETTINGS, field))
          message = `'${field}' is a kong.conf setting: ${conf}`;
        else {
          const hint = suggest(field, Object.keys(parent?.properties ?? {}));
          message = `unknown field '${field}'${hint ? ` (did you mean '${hint}'?)` : ''}`;
        }
        issue = {
          code: why || code === 'SCHEMA' ? 'UNKNOWN_FIELD' : code,
          message,
          path: [...path, field],
          atKey: true,
        };
        if (code === 'PLUGIN_CONFIG') issue.code = 'PLUGIN_CONFIG';
        break;
      }
      case 'required': {
        const field = (err.params as { missingProperty: string }).missingProperty;
        issue = { code, message: `missing required field '${field}'`, path };
        break;
      }
      case 'type': {
        const t = (err.params as { type: string | string[] }).type;
        const types = Array.isArray(t) ? t : t.split(',');
        const want = types.map((x) => TYPE_WORDS[x] ?? x).join(' or ');
        // Kong's YAML 1.1 parser (lyaml) reads yes/no/on/off as booleans; here they are strings.
        const yaml11 = typeof value === 'string' && types.includes('boolean') ? YAML11_BOOLEANS.get(value) : undefined;
        // decK's `service: {name: svc1}`: decK resolves it when it syncs; Kong's loader reads a
        // name or id (or `{id: ...}`), so the file says the name.
        const field = path[path.length - 1];
        const byName =
          typeof field === 'string' &&
          (FOREIGN_KEYS as readonly string[]).includes(field) &&
          value !== null &&
          typeof value === 'object' &&
          !Array.isArray(value) &&
          Object.keys(value).length === 1 &&
          typeof (value as { name?: unknown }).name === 'string'
            ? (value as { name: string }).name
            : undefined;
        const empty = reread ? emptyTableAs(value, types) : undefined;
        if (empty !== undefined) {
          setAt(data, pointerToPath(err.instancePath, data), empty);
          reread!.changed = true;
          continue;
        }
        if (yaml11 !== undefined && plain?.(path, value as string) === true) {
          if (reread) reread.changed = true;
          setAt(data, pointerToPath(err.instancePath, data), yaml11);
          issue = {
            code,
            message: `the unquoted ${value} is read as ${yaml11}, as Kong's YAML 1.1 parser reads it (YAML 1.2 reads a string): write ${yaml11}`,
            path,
            severity: 'warning',
          };
          break;
        }
        issue = {
          code,
          message:
            byName !== undefined
              ? `expected ${want}, got a mapping: write '${field}: ${byName}' (decK resolves {name: ...} when it syncs; Kong's declarative loader, like Tollgate, reads a name or an id)`
              : types.length === 1 && types[0] === 'null'
                ? // Kong's `eq = null` (a field another one rules out): its words, EQ in kong/db/schema/init.lua.
                  'value must be null'
                : yaml11 === undefined
                  ? `expected ${want}, got ${typeName(value)}`
                  : `expected ${want}, got the string '${value}': write ${yaml11} (Kong's YAML 1.1 parser reads an unquoted ${value} as ${yaml11}, YAML 1.2 as a string)`,
          path,
        };
        break;
      }
      case 'enum': {
        const allowed = (err.params as { allowedValues: unknown[] }).allowedValues;
        // Kong's ONE_OF (kong/db/schema/init.lua): the values as written, comma-separated.
        const list = allowed.map((a) => String(a)).join(', ');
        // Only a protocol field (a service's `protocol`, a route's or plugin's `protocols`) may name a
        // protocol Kong has and Tollgate lacks: an active health check's `type` takes none beyond
        // its list in Kong either (its schema's one_of), so `udp` there is refused in Kong's words.
        const isProtocolField = path[path.length - 1] === 'protocol' || path[path.length - 2] === 'protocols';
        if (typeof value === 'string' && KONG_PROTOCOLS.has(value) && isProtocolField) {
          issue = {
            code,
            message: `protocol '${value}' is a Kong protocol that Tollgate does not support (expected one of: ${list})${value === 'ws' || value === 'wss' ? WEBSOCKET_HINT : ''}`,
            path,
          };
        } else if (value === 'sticky-sessions' && path[path.length - 1] === 'algorithm') {
          issue = {
            code,
            message: `algorithm 'sticky-sessions' is Kong Enterprise's, which Tollgate does not support (expected one of: ${list}); hash_on: cookie with hash_on_cookie keeps a client on one target`,
            path,
          };
        } else issue = { code, message: `expected one of: ${list}`, path };
        break;
      }
      // Kong's LEN_MIN and LEN_MAX (kong/db/schema/init.lua), for strings (an empty one too: Kong
      // takes no empty string, "length must be at least 1") as for lists.
      case 'minLength':
      case 'minItems':
        issue = { code, message: `length must be at least ${(err.params as { limit: number }).limit}`, path };
        break;
      case 'maxLength':
      case 'maxItems':
        issue = { code, message: `length must be at most ${(err.params as { limit: number }).limit}`, path };
        break;
      case 'minimum':
      case 'maximum':
      case 'exclusiveMinimum':
        issue = { code, message: rangeMessage(err), path };
        break;
      case 'format': {
        const format = (err.params as { format: string }).format;
        // Kong's message for an id that is not a UUID (kong/db/schema/init.lua, UUID).
        issue = { code, message: format === 'uuid' ? 'expected a valid UUID' : `must be a valid ${format}`, path };
        break;
      }
      case 'pattern':
        issue = {
          code,
          message: patternMessage(err.schemaPath, (err.params as { pattern: string }).pattern, value),
          path,
        };
        break;
      default:
        issue = { code, message: err.message ?? `fails the schema's ${err.keyword} rule`, path };
    }
    const key = `${issue.path.join('\u0000')}\u0001${issue.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(issue);
  }
  return out;
}

/**
 * A number out of its range, in Kong's words (kong/db/schema/init.lua): `value should be between
 * 0 and 32767` for a field with both bounds, `value must be greater than 0` for an exclusive lower
 * one; Ajv's own (`must be >= 1`) for a single inclusive bound, which Kong never declares alone.
 */
function rangeMessage(err: ErrorObject): string {
  const rule = err.parentSchema as { minimum?: unknown; maximum?: unknown; exclusiveMinimum?: unknown } | undefined;
  if (rule !== undefined && typeof rule.minimum === 'number' && typeof rule.maximum === 'number')
    return `value should be between ${rule.minimum} and ${rule.maximum}`;
  if (err.keyword === 'exclusiveMinimum')
    return `value must be greater than ${(err.params as { limit: number }).limit}`;
  return err.message ?? `fails the schema's ${err.keyword} rule`;
}

/** The pattern of the schemas' Kong header names (typedefs.header_name). */
const HEADER_NAME_PATTERN = '^[A-Za-z0-9_-]+$';

/** Fields whose pattern is a Kong `match` rule (schema path, as ajv gives it, and pattern): Kong's message for it, "invalid value: <value>". */
const KONG_MATCH_FIELDS: ReadonlySet<string> = new Set([
  // A route's methods (typedefs.http_method), a vault's prefix, the env vault's config.prefix.
  '#/properties/methods/items/pattern ^[A-Z]+$',
  '#/properties/prefix/pattern ^[a-z][a-z0-9-]*[a-z0-9]$',
  '#/then/properties/config/properties/prefix/pattern ^[A-Za-z_-][A-Za-z0-9_-]*$',
  // request-transformer's http_method (typedefs.http_method); the `name:value` lists Kong's
  // transformers check with a match: their headers, response-transformer's json.
  '#/properties/http_method/pattern ^[A-Z]+$',
  ...['rename', 'replace', 'add', 'append'].flatMap((op) =>
    ['headers', 'json'].map((list) => `#/properties/${op}/properties/${list}/items/pattern ^[^:]+:.*$`),
  ),
  // datadog's metric tags: a tag must not end with `:` (Kong's match `^.*[^:]$`), nor hold a line
  // break, which would split the DogStatsD packet.
  '#/properties/metrics/items/properties/tags/items/pattern ^[^\\r\\n]*[^:\\r\\n]$',
]);

/** request-transformer's body and querystring `name:value` lists: Kong's check_for_value, not a match, refuses `name`. */
const KONG_NO_VALUE_FIELDS: ReadonlySet<string> = new Set(
  ['rename', 'replace', 'add', 'append'].flatMap((op) =>
    ['body', 'querystring'].map((list) => `#/properties/${op}/properties/${list}/items/pattern ^[^:]+:.*$`),
  ),
);

/**
 * A value that fails its field's pattern, in Kong's words where Kong checks the same
 * (kong/db/schema/init.lua's validation_errors, kong/db/schema/typedefs.lua), with the rule.
 */
function patternMessage(schemaPath: string, pattern: string, value: unknown): string {
  // Kong's tag validator and its message.
  if (schemaPath === '#/definitions/tags/items/pattern')
    return `invalid tag '${String(value)}': expected printable ascii (except \`,\` and \`/\`) or valid utf-8 sequences`;
  // typedefs.path's `starts_with` (STARTS_WITH).
  if (pattern === '^/') return 'should start with: /';
  // typedefs.header_name (rate-limiting's header_name, key-auth's key_names): Kong's
  // validate_header_name in kong/tools/http.lua, and its message.
  if (pattern === HEADER_NAME_PATTERN)
    return `bad header name '${String(value)}', allowed characters are A-Z, a-z, 0-9, '_', and '-'`;
  if (KONG_MATCH_FIELDS.has(`${schemaPath} ${pattern}`))
    return `invalid value: ${String(value)}: must match the pattern ${pattern}`;
  if (typeof value === 'string' && !value.includes(':') && KONG_NO_VALUE_FIELDS.has(`${schemaPath} ${pattern}`))
    return `key '${value}' has no value`;
  return `must match the pattern ${pattern}`;
}
