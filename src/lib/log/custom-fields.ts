/**
 * Extra fields for Kong-shaped log entries. Kong's `custom_fields_by_lua` runs Lua, which Tollgate
 * cannot: it is refused with a pointer to `custom_fields`, the declarative equivalent. Each
 * `custom_fields` value is a string with `$(...)` references, resolved per request (Kong's
 * request-transformer template syntax: `${...}` would be read as an environment variable at load):
 *   $(headers.NAME)  $(query_params.NAME)  $(consumer.id|username|custom_id)
 *   $(route.id|name)  $(service.id|name)  $(client_ip)  $(request_id)
 * A dotted field name (`app.tenant`) sets a nested field, as Kong's does. Headers and query
 * parameters are read from the entry's `request.headers` / `request.querystring`, already redacted:
 * `$(headers.authorization)` or `$(query_params.apikey)` gives `REDACTED`, never the credential.
 */
import { PluginConfigError } from '../../errors.ts';
import type { GatewayRequest } from '../../pipeline/plugin.ts';

/** Schema properties every logging plugin accepts. */
export const CUSTOM_FIELDS_SCHEMA = {
  custom_fields_by_lua: {
    type: ['object', 'null'],
    additionalProperties: { type: 'string' },
    default: null,
    description: 'Kong runs Lua here; Tollgate cannot. Only an empty map or null is accepted: use custom_fields.',
  },
  custom_fields: {
    type: ['object', 'null'],
    additionalProperties: { type: 'string', maxLength: 1024 },
    maxProperties: 64,
    default: null,
    description:
      'Tollgate: fields added to every entry; values may reference $(headers.NAME), $(query_params.NAME), $(consumer.username), $(route.name), $(service.name), $(client_ip), $(request_id).',
  },
} as const;

/** The part of a serialized entry the references read: its request's (redacted) headers and query. */
interface LoggedRequest {
  request?: {
    headers?: Record<string, string | string[]>;
    querystring?: Record<string, string | true | (string | true)[]>;
  };
}

type Getter = (req: GatewayRequest, entry: LoggedRequest) => string | null;

/**
 * A header or query value as the entry logs it (credentials already REDACTED by the serializer);
 * an entry without `request` gets nothing rather than the raw, unredacted request's value.
 */
function logged(
  map: Record<string, string | true | (string | true)[]> | undefined,
  name: string,
  join: boolean,
): string | null {
  // Own properties only: `$(query_params.constructor)` must not read Object.prototype.constructor.
  const v = map !== undefined && Object.hasOwn(map, name) ? map[name] : undefined;
  if (v === undefined) return null;
  // An argument without a value (`?debug`, Kong's `true`) reads as empty, as request-transformer's $(query_params.debug).
  const first = Array.isArray(v) ? v[0] : v;
  if (!Array.isArray(v) || !join) return first === undefined ? null : first === true ? '' : first;
  return v.join(', ');
}

const GETTERS: Record<string, (name: string) => Getter | null> = {
  headers: (n) => (_req, e) => logged(e.request?.headers, n.toLowerCase(), true),
  query_params: (n) => (_req, e) => logged(e.request?.querystring, n, false),
  consumer: (n) => (n === 'id' || n === 'username' || n === 'custom_id' ? (req) => req.consumer?.[n] ?? null : null),
  route: (n) => (n === 'id' || n === 'name' ? (req) => req.route?.[n] ?? null : null),
  service: (n) => (n === 'id' || n === 'name' ? (req) => req.service?.[n] ?? null : null),
};

const SIMPLE: Record<string, Getter> = {
  client_ip: (req) => req.clientIp,
  request_id: (req) => req.id,
};

interface Field {
  path: readonly string[];
  parts: readonly (string | Getter)[];
}

export type CustomFields = readonly Field[];

/** Refuses Lua and compiles `custom_fields`; null when there is nothing to add. */
export function compileCustomFields(config: {
  custom_fields_by_lua?: Record<string, string> | null;
  custom_fields?: Record<string, string> | null;
}): CustomFields | null {
  const lua = config.custom_fields_by_lua;
  if (lua !== null && lua !== undefined && Object.keys(lua).length > 0) {
    throw new PluginConfigError(
      'custom_fields_by_lua',
      'custom_fields_by_lua runs Lua code, which Tollgate cannot run: use custom_fields with $(headers.NAME)-style references instead (docs/logging.md)',
    );
  }
  const fields = config.custom_fields;
  if (fields === null || fields === undefined) return null;
  const out: Field[] = [];
  for (const [key, template] of Object.entries(fields)) {
    const path = key.split('.');
    // `__proto__.x` would walk into Object.prototype and set `x` on every object of the process,
    // with a value the client may choose ($(headers.NAME)).
    if (path.some((p) => p === '' || p === '__proto__')) {
      throw new PluginConfigError(`custom_fields.${key}`, 'a field name has no empty part and no __proto__ part');
    }
    out.push({ path, parts: compileTemplate(key, template) });
  }
  return out.length === 0 ? null : out;
}

function compileTemplate(key: string, template: string): (string | Getter)[] {
  const parts: (string | Getter)[] = [];
  let i = 0;
  while (i < template.length) {
    const start = template.indexOf('$(', i);
    if (start === -1) {
      parts.push(template.slice(i));
      break;
    }
    if (start > i) parts.push(template.slice(i, start));
    const end = template.indexOf(')', start);
    if (end === -1) throw new PluginConfigError(`custom_fields.${key}`, `unclosed $( in ${JSON.stringify(template)}`);
    const ref = template.slice(start + 2, end).trim();
    const dot = ref.indexOf('.');
    const getter = dot === -1 ? (SIMPLE[ref] ?? null) : (GETTERS[ref.slice(0, dot)]?.(ref.slice(dot + 1)) ?? null);
    if (getter === null) {
      throw new PluginConfigError(
        `custom_fields.${key}`,
        `unknown reference $(${ref}): use headers.NAME, query_params.NAME, consumer.id|username|custom_id, route.id|name, service.id|name, client_ip or request_id`,
      );
    }
    parts.push(getter);
    i = end + 1;
  }
  return parts;
}

/** A copy of `entry` with the custom fields set (the shared entry itself is never changed). */
export function withCustomFields<T extends object>(entry: T, req: GatewayRequest, fields: CustomFields | null): T {
  if (fields === null) return entry;
  const out = structuredClone(entry) as Record<string, unknown>;
  const source = entry as LoggedRequest;
  for (const f of fields) {
    let value = '';
    for (const p of f.parts) value += typeof p === 'string' ? p : (p(req, source) ?? '');
    let node = out;
    for (let i = 0; i < f.path.length - 1; i++) {
      const k = f.path[i]!;
      const next = node[k];
      node = (node[k] = next !== null && typeof next === 'object' ? next : {}) as Record<string, unknown>;
    }
    node[f.path[f.path.length - 1]!] = value;
  }
  return out as T;
}
