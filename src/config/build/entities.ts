/**
 * Plugin-declared entities at load: each kind's `load` hook checks an entity and may transform it
 * (Kong's entity checks and transformations, a password hashed, say). Problems it reports are
 * located at the entity or its field.
 */
import type { Consumer, EntityLoadContext, EntityRecord } from '../../pipeline/plugin.ts';
import type { EntityModel } from '../model.ts';
import type { Build } from './state.ts';

export function entityChecks(b: Build): void {
  const consumers = new Map<string, Consumer>();
  for (const c of b.consumers) {
    const { id, username, custom_id, tags } = c.model;
    consumers.set(id, Object.freeze({ id, username, custom_id, tags: Object.freeze([...tags]) }));
  }
  for (const e of b.entities) {
    const load = e.kind.def.load;
    if (!load) continue;
    const at = (field?: string) => (field ? [...e.path, field] : e.path);
    const context: EntityLoadContext = {
      consumer: e.model.consumer === null ? null : (consumers.get(e.model.consumer) ?? null),
      transform: b.doc._transform !== false,
      error: (message, field) => b.err('SEMANTIC', message, at(field)),
      warn: (message, field) => b.warn('SEMANTIC', message, at(field)),
    };
    let out: EntityRecord | undefined;
    try {
      out = load.call(e.kind.def, e.model as unknown as EntityRecord, context);
    } catch (err) {
      b.err('SEMANTIC', `${e.kind.plugin}: ${(err as Error).message}`, e.path);
      continue;
    }
    // Anything but an entity (null, a string) would reach the plugins as one: their create() or
    // their requests failed on it instead of the load.
    if (out !== undefined && (out === null || typeof out !== 'object' || Array.isArray(out))) {
      const what = out === null ? 'null' : Array.isArray(out) ? 'a list' : typeof out;
      b.err(
        'SEMANTIC',
        `${e.kind.plugin}: load() returned ${what}, not the entity (return nothing to keep it)`,
        e.path,
      );
      continue;
    }
    if (out !== undefined && out !== (e.model as unknown)) {
      // The gateway's fields stay the gateway's.
      const { id, consumer, tags, yaml_path } = e.model;
      e.model = { ...(out as unknown as EntityModel), id, consumer, tags, yaml_path };
    }
  }
}
