/**
 * Ajv's errors turned into located issues a user can act on: Kong's own words where Kong checks
 * the same (kong/db/schema/init.lua's messages), hints for Kong fields, protocols and kong.conf
 * settings Tollgate lacks, "did you mean" for typos, and the YAML 1.1 booleans and empty tables
 * Kong's parser reads as it does (read in place, with a warning). It also remembers which
 * definition of the gateway schema each schema object is, to name the entity an error is about.
 */
import type { ErrorObject } from 'ajv';
import { FOREIGN_KEYS } from './kong-input-forms.ts';
import { KONG_CONF_SETTINGS, KONG_UNSUPPORTED } from './kong-unsupported.ts';
import type { YamlPath } from './model.ts';
import type { PlainScalarTest } from './schema.ts';
import { suggest } from './suggest.ts';
import type { RawIssue } from './yaml.ts';

/** Schema objects of the gateway schema's definitions → definition name (`top_` prefix dropped). */
const definitionNames = new WeakMap<object, string>();
/**
 * The same by JSON text: a validator evaluated from cached code reports copies of the schema
 * objects as `parentSchema`. Bounded: cleared past MAX_DEFINITION_TEXTS (custom plugins' entity
 * schemas may change on every reload).
 */
const definitionTexts = new Map<string, string>();
const MAX_DEFINITION_TEXTS = 2000;

/** Names a schema object of the gateway schema, so an error reported against it says which entity it is about. */
export function rememberDefinition(def: object, name: string): void {
  definitionNames.set(def, name);
  if (definitionTexts.size >= MAX_DEFINITION_TEXTS) definitionTexts.clear();
  definitionTexts.set(JSON.stringify(def), name);
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

/** Kong Enterprise's WebSocket protocols: what to write instead. */
/** Kong's message for a required field the entity does not have. */
export const REQUIRED_FIELD_MISSING = 'required field missing';

export const WEBSOCKET_HINT =
  '; WebSocket upgrades are proxied by http and https services and routes (http for ws, https for wss)';

const KONG_PROTOCOLS = new Set(['grpc', 'grpcs', 'tcp', 'tls', 'tls_passthrough', 'udp', 'ws', 'wss']);
/** Kong's stream protocols: the way out, as for a stream route's sources and destinations. */
const STREAM_PROTOCOLS = new Set(['tcp', 'tls', 'tls_passthrough', 'udp']);
const STREAM_HINT = '; Tollgate proxies HTTP and gRPC: put a TCP/UDP proxy in front for streams';

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

export function translateErrors(
  errors: ErrorObject[],
  data: unknown,
  base: YamlPath,
  code: RawIssue['code'] = 'SCHEMA',
  plain?: PlainScalarTest,
  reread?: { changed: boolean },
): RawIssue[] {
  const out: RawIssue[] = [];
  const seen = new Set<string>();
  // The length and type failures by place, so that the rules below stay linear in the errors.
  const failed = new Set<string>();
  for (const e of errors)
    if (e.keyword === 'minLength' || e.keyword === 'type') failed.add(`${e.keyword} ${e.instancePath}`);
  for (const err of collapseAlternatives(errors)) {
    // `allOf` wrappers repeat nothing useful; `if` failures are reported by their `then`;
    // `propertyNames` only sums up the error its name rule reported (below, at the key).
    if (err.keyword === 'if' || err.keyword === 'allOf' || err.keyword === 'propertyNames') continue;
    // Kong checks a string's length before its pattern and stops at the first failure
    // (validate_field, kong/db/schema/init.lua): an empty string is told its length alone.
    // Likewise its type before its range: 0.5 for an integer is told `expected an integer` alone.
    if (
      ((err.keyword === 'pattern' && err.data === '') || err.keyword === 'minimum' || err.keyword === 'maximum') &&
      failed.has(`${err.keyword === 'pattern' ? 'minLength' : 'type'} ${err.instancePath}`)
    )
      continue;
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
        // Kong's words, at the missing field's path (`config.location: required field missing`);
        // the location is the nearest enclosing node the file has.
        issue = { code, message: REQUIRED_FIELD_MISSING, path: [...path, field] };
        break;
      }
      case 'type': {
        const t = (err.params as { type: string | string[] }).type;
        const types = Array.isArray(t) ? t : t.split(',');
        // A null is "not set" (Kong's handle_missing_field), never a value Kong asks for: its
        // words name the one type (`expected a number`).
        const named = types.length > 1 ? types.filter((x) => x !== 'null') : types;
        const want = named.map((x) => TYPE_WORDS[x] ?? x).join(' or ');
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
        // Kong's ONE_OF (kong/db/schema/init.lua): the values as written, comma-separated. A
        // nullable field's null is no value Kong lists (null is the field left out).
        const list = allowed
          .filter((a) => a !== null)
          .map((a) => String(a))
          .join(', ');
        // Only a protocol field (a service's `protocol`, a route's or plugin's `protocols`) may name a
        // protocol Kong has and Tollgate lacks: an active health check's `type` takes none beyond
        // its list in Kong either (its schema's one_of), so `udp` there is refused in Kong's words.
        const isProtocolField = path[path.length - 1] === 'protocol' || path[path.length - 2] === 'protocols';
        if (typeof value === 'string' && KONG_PROTOCOLS.has(value) && isProtocolField) {
          issue = {
            code,
            message: `protocol '${value}' is a Kong protocol that Tollgate does not support (expected one of: ${list})${value === 'ws' || value === 'wss' ? WEBSOCKET_HINT : STREAM_PROTOCOLS.has(value) ? STREAM_HINT : ''}`,
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
  // statsd's allow_status_codes (Kong's match REGEX_STATUS_CODE_RANGE).
  '#/properties/allow_status_codes/items/pattern ^[0-9]{3}-[0-9]{3}$',
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
