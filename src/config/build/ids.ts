/**
 * The id passes. An entity's `id` is its own when given (lower-cased); otherwise a UUIDv5 of its
 * kind and natural key (src/config/ids.ts), so ids are the same on every instance and reload.
 * `ownIds` runs before references (it needs nothing else); `scopedIds` after, for the kinds
 * whose natural key includes what they reference (plugins, targets, plugin-declared entities).
 */
import { formatYamlPath } from '../../errors.ts';
import type { EntityPlace } from '../../pipeline/plugin.ts';
import { entityId } from '../ids.ts';
import { type Build, drain, type Obj, type Path, type PendingEntity, type Steps } from './state.ts';

const own = (raw: Obj): string | null => (typeof raw.id === 'string' ? raw.id.toLowerCase() : null);

/** By name when named; unnamed entities by position, stable while the file's shape is. */
function named(kind: string, raw: Obj, path: Path, nameField: string): string {
  return (
    own(raw) ??
    (typeof raw[nameField] === 'string' ? entityId(kind, raw[nameField]) : entityId(kind, `@${formatYamlPath(path)}`))
  );
}

/** Ids of services, routes, consumers, upstreams and certificates. */
export function ownIds(b: Build): void {
  drain(ownIdsSteps(b));
}

export function* ownIdsSteps(b: Build): Steps {
  for (const s of b.services) {
    s.model.id = named('services', s.raw, s.path, 'name');
    yield;
  }
  for (const r of b.routes) {
    r.model.id = named('routes', r.raw, r.path, 'name');
    yield;
  }
  for (const u of b.upstreams) u.model.id = named('upstreams', u.raw, u.path, 'name');
  for (const c of b.consumers) {
    const raw = c.raw;
    c.model.id =
      own(raw) ??
      (typeof raw.username === 'string'
        ? entityId('consumers', raw.username)
        : typeof raw.custom_id === 'string'
          ? entityId('consumers', `custom_id:${raw.custom_id}`)
          : entityId('consumers', `@${formatYamlPath(c.path)}`));
  }
  // Kong puts no uniqueness on a certificate's PEM: the same one may be listed twice (for two sets
  // of snis). A repeat without an id of its own gets the id of its text and its occurrence.
  const seen = new Map<unknown, number>();
  for (const c of b.certificates) {
    const n = seen.get(c.raw.cert) ?? 0;
    seen.set(c.raw.cert, n + 1);
    c.model.id = own(c.raw) ?? entityId('certificates', n === 0 ? `cert:${c.raw.cert}` : `cert:${c.raw.cert}#${n}`);
  }
}

/** Ids of plugins, targets and plugin-declared entities, once their references are resolved. */
export function scopedIds(b: Build): void {
  drain(scopedIdsSteps(b));
}

export function* scopedIdsSteps(b: Build): Steps {
  for (const p of b.plugins) {
    yield;
    const m = p.model;
    m.id =
      own(p.raw) ?? entityId('plugins', `plugins:${m.name}:${m.route ?? ''}:${m.service ?? ''}:${m.consumer ?? ''}`);
  }
  for (const t of b.targets) {
    t.model.id = own(t.raw) ?? (t.upstream ? entityId('targets', `${t.model.target}:${t.upstream.model.id}`) : '');
  }
  for (const e of b.entities) {
    yield;
    const explicit = own(e.raw);
    if (explicit !== null) {
      e.model.id = explicit;
      continue;
    }
    const { def, owned } = e.kind;
    const consumer = e.model.consumer;
    if (owned && consumer === null) {
      // Its consumer reference is broken (reported): any id that cannot collide will do.
      e.model.id = entityId(def.name, `@${formatYamlPath(e.path)}`);
      continue;
    }
    const place = { consumer, nested: e.parent !== null, index: e.index };
    e.model.id = entityId(def.name, def.idKey ? pluginKey(b, e, place) : defaultKey(place));
  }
}

/**
 * A plugin's `idKey()`: one that throws (uncaught, it ended `gateway validate` with a stack trace
 * and the unredacted message) or returns no string is a located error at the entity, which then
 * gets the position's key.
 */
function pluginKey(b: Build, e: PendingEntity, place: EntityPlace): string {
  const { def, plugin } = e.kind;
  try {
    const key: unknown = def.idKey!(e.model, place);
    if (typeof key === 'string') return key;
    b.err('SEMANTIC', `${plugin}: idKey() returned ${key === null ? 'null' : typeof key}, not a string`, e.path);
  } catch (err) {
    b.err('SEMANTIC', `${plugin}: idKey() failed: ${err instanceof Error ? err.message : String(err)}`, e.path);
  }
  return defaultKey(place);
}

/** The owner and the position: never derived from a field that may be secret. */
function defaultKey(place: { consumer: string | null; nested: boolean; index: number }): string {
  return `${place.consumer ?? ''}:${place.nested ? '' : 'top:'}${place.index}`;
}
