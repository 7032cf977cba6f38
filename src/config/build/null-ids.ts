/**
 * Entities written with `id: null`. The loader drops every null field as unset (Kong's schema
 * does, handle_missing_field in kong/db/schema/init.lua), but not the primary key: Kong's
 * declarative loader derives an id only where the field is absent (`item[pk_name] ~= nil` in
 * get_key_for_uuid_gen, kong/db/schema/others/declarative_config.lua), so the entity keeps null as
 * its id, and its uniqueness pass keys each entity by that id's text: one such entity of a kind
 * loads, a second of the same kind is its primary key declared twice, whatever else it says.
 */
import { formatYamlPath } from '../../errors.ts';
import type { Build, Obj, Path } from './state.ts';

/** Set on a raw entity written with `id: null` (markNullIds), before load drops the field. */
const kNullId = Symbol('tollgate.nullId');

/** Entity lists nest at most three deep in Kong's files (services.routes.plugins). */
const MAX_DEPTH = 3;

/**
 * Marks the entities written with `id: null` in the document's entity lists (`lists`: the core
 * kinds and the plugin-declared ones) and the entity lists nested in them.
 */
export function markNullIds(doc: Obj, lists: ReadonlySet<string>): void {
  markIn(doc, lists, 0);
}

function markIn(node: Obj, lists: ReadonlySet<string>, depth: number): void {
  for (const key of lists) {
    const list: unknown = node[key];
    if (!Array.isArray(list)) continue;
    for (const item of list) {
      if (item === null || typeof item !== 'object' || Array.isArray(item)) continue;
      if ((item as Obj).id === null) (item as { [kNullId]?: true })[kNullId] = true;
      if (depth + 1 < MAX_DEPTH) markIn(item as Obj, lists, depth + 1);
    }
  }
}

/** Whether this raw entity was written with `id: null`. */
export function hasNullId(raw: Obj): boolean {
  return (raw as { [kNullId]?: true })[kNullId] === true;
}

/**
 * Refuses the second and later entities of `kind` written with `id: null`, at their `id`, as Kong
 * does ("primary key set to 'userdata: NULL' already declared"; the text of Lua's null). `derived`
 * says what Tollgate derives the id from once `id: null` is removed.
 */
export function nullIds(b: Build, kind: string, list: readonly { raw: Obj; path: Path }[], derived: string): void {
  let first: Path | null = null;
  for (const e of list) {
    if (!hasNullId(e.raw)) continue;
    if (first === null) {
      first = e.path;
      continue;
    }
    b.err(
      'UNIQUENESS',
      `uniqueness violation: '${kind}' entity with primary key set to null already declared (at ${formatYamlPath(first)}); Kong refuses it too (it keeps \`id: null\` as the id: they share it): remove \`id: null\`, and the id is derived from ${derived}`,
      [...e.path, 'id'],
    );
  }
}

/**
 * Targets and plugins nested without an id under an entity written `id: null`: Kong's loader
 * derives such a child's id from a cache key holding its parent's id (build_cache_key in
 * declarative_config.lua), and a null there fails the whole load (Lua's table.concat refuses it).
 * Refused here too, with the way out, rather than loaded where Kong loads nothing.
 */
export function nullParents(b: Build): void {
  const refuse = (child: string, raw: Obj, path: Path, parentKind: string, parent: { raw: Obj; path: Path }): void => {
    if (raw.id !== undefined || hasNullId(raw) || !hasNullId(parent.raw)) return;
    b.err(
      'SEMANTIC',
      `Kong cannot load this ${child}: its loader derives the id of a ${child} nested without one from its ${parentKind}'s id, written \`id: null\` (at ${formatYamlPath(parent.path)}): remove that \`id: null\`, or give this ${child} an id`,
      path,
    );
  };
  for (const t of b.targets) if (t.upstream !== null) refuse('target', t.raw, t.path, 'upstream', t.upstream);
  for (const p of b.plugins) if (p.parent !== null) refuse('plugin', p.raw, p.path, p.parent.kind, p.parent.entity);
}
