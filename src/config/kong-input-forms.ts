/**
 * The forms Kong's declarative loader accepts that the schema would refuse, rewritten in place
 * before it validates: `null` for "not set" (decK dumps), and a foreign key written as the Admin
 * API's `{id: ...}`. FOREIGN_KEYS also names the fields whose `{name: ...}` form gets its own hint.
 */

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
export const FOREIGN_KEYS = ['service', 'route', 'consumer', 'upstream'] as const;

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
