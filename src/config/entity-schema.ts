/**
 * The gateway schema's part for plugin-declared entity kinds, generated from the declarations:
 * for each kind, the entity definition (its own fields plus `id`, `tags`, Kong's bookkeeping
 * fields and, for consumer-owned kinds, `consumer`), the top-level list (with `consumer`
 * required) and the list nested under `consumers[]`. Used for the editor schema
 * (schemas/gateway.schema.json, written by src/config/plugin-schema-refs.ts) and, at load, to
 * validate the kinds of the installed plugins, custom ones included.
 */
import type { EntityDefinition } from '../pipeline/plugin.ts';

type Schema = { properties: Record<string, unknown>; definitions: Record<string, Record<string, any>> };

/** Top-level fields that are not plugin-declared entity lists. */
const CORE_ROOT = new Set([
  '_format_version',
  '_transform',
  '_workspace',
  '_comment',
  '_ignore',
  '_tollgate',
  'parameters',
  'services',
  'routes',
  'consumers',
  'plugins',
  'upstreams',
  'targets',
  'certificates',
  'snis',
  'ca_certificates',
  'vaults',
]);

/** Consumer fields that are not nested entity lists. */
const CORE_CONSUMER = new Set([
  'id',
  'username',
  'custom_id',
  'tags',
  'plugins',
  'created_at',
  'updated_at',
  '_comment',
  '_ignore',
]);

/** Field names the gateway owns in every declared entity. */
export const RESERVED_ENTITY_FIELDS = ['id', 'tags', 'consumer', 'created_at', 'updated_at', '_comment', '_ignore'];

/**
 * Returns a copy of `schema` whose entity-kind parts are exactly `defs` (kinds of plugins not in
 * `defs` are removed, so a file using them is refused by the schema).
 */
export function withEntities<T extends object>(schema: T, defs: readonly EntityDefinition<any>[]): T {
  const out = structuredClone(schema) as unknown as Schema;
  const consumer = out.definitions.consumer!;
  for (const name of Object.keys(out.properties)) {
    if (CORE_ROOT.has(name)) continue;
    delete out.properties[name];
    delete out.definitions[name];
    delete out.definitions[`top_${name}`];
  }
  for (const name of Object.keys(consumer.properties)) if (!CORE_CONSUMER.has(name)) delete consumer.properties[name];
  for (const def of [...defs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const owned = def.consumer !== false;
    out.definitions[def.name] = entityDefinition(def, owned);
    if (owned) {
      out.definitions[`top_${def.name}`] = {
        type: 'object',
        allOf: [{ $ref: `#/definitions/${def.name}` }],
        required: ['consumer'],
      };
      consumer.properties[def.name] = { type: 'array', items: { $ref: `#/definitions/${def.name}` } };
    }
    out.properties[def.name] = {
      type: 'array',
      items: { $ref: `#/definitions/${owned ? `top_${def.name}` : def.name}` },
    };
  }
  return out as unknown as T;
}

function entityDefinition(def: EntityDefinition<any>, owned: boolean): Record<string, unknown> {
  const own = def.schema as { properties?: Record<string, unknown>; required?: string[] };
  const out: Record<string, unknown> = { type: 'object' };
  if (def.description) out.description = def.description;
  out.additionalProperties = false;
  if (own.required?.length) out.required = [...own.required];
  out.properties = {
    id: { $ref: '#/definitions/id' },
    ...structuredClone(own.properties ?? {}),
    tags: { $ref: '#/definitions/tags' },
    created_at: { $ref: '#/definitions/timestamp' },
    _comment: { $ref: '#/definitions/comment' },
    _ignore: { $ref: '#/definitions/ignore' },
    ...(owned
      ? {
          consumer: {
            $ref: '#/definitions/reference',
            description: 'Top-level entries only: the consumer (name or id).',
          },
        }
      : {}),
  };
  return out;
}

/** A problem with an entity declaration itself (checked when a custom plugin loads), or null. */
export function entityDeclarationProblem(def: EntityDefinition<any>, core: ReadonlySet<string>): string | null {
  if (typeof def !== 'object' || def === null) return 'an entity declaration must be an object';
  if (typeof def.name !== 'string' || !/^[a-z][a-z0-9_]*$/.test(def.name))
    return `entity name ${JSON.stringify(def.name)} must be lower-case letters, digits and _ (like Kong's entity names)`;
  if (CORE_ROOT.has(def.name) || core.has(def.name)) return `entity name '${def.name}' is already taken`;
  const s = def.schema as { type?: unknown; properties?: unknown } | undefined;
  if (s === null || typeof s !== 'object' || s.type !== 'object')
    return `entity '${def.name}': its schema must describe a mapping (type: 'object')`;
  for (const f of Object.keys((s.properties ?? {}) as object)) {
    if (RESERVED_ENTITY_FIELDS.includes(f)) return `entity '${def.name}': field '${f}' is the gateway's; remove it`;
  }
  const fields = new Set(Object.keys((s.properties ?? {}) as object));
  for (const list of ['unique', 'uniquePerConsumer', 'secrets'] as const) {
    const v = def[list];
    if (v === undefined) continue;
    if (!Array.isArray(v)) return `entity '${def.name}': '${list}' must be a list of field names`;
    for (const f of v)
      if (!fields.has(f)) return `entity '${def.name}': '${list}' names '${f}', which is not in its schema`;
  }
  for (const hook of ['idKey', 'load'] as const) {
    if (def[hook] !== undefined && typeof def[hook] !== 'function')
      return `entity '${def.name}': '${hook}' must be a function`;
  }
  return null;
}
