/**
 * The consumer directory plugins get at `create()`: consumers by id, username or custom_id, and
 * every plugin-declared entity kind (`entities(kind)`), frozen, in file order. Built once per
 * config; plugins index what they need from it at create time.
 */
import type { GatewayConfig } from '../config/model.ts';
import type { Consumer, ConsumerDirectory, ConsumerEntity, EntityDefinition, EntityRecord } from './plugin.ts';

const NONE: readonly never[] = Object.freeze([]);

export class Directory implements ConsumerDirectory {
  private readonly byRef = new Map<string, Consumer>();
  private readonly lists = new Map<string, readonly ConsumerEntity<EntityRecord>[]>();
  /** kind → consumer id → entities, built on first use per kind. */
  private readonly perConsumer = new Map<string, Map<string, readonly EntityRecord[]>>();

  constructor(config: Pick<GatewayConfig, 'consumers' | 'plugin_entities'>) {
    const byId = new Map<string, Consumer>();
    for (const c of config.consumers) {
      const consumer: Consumer = Object.freeze({
        id: c.id,
        username: c.username,
        custom_id: c.custom_id,
        tags: Object.freeze([...c.tags]),
      });
      byId.set(c.id, consumer);
      this.byRef.set(c.id, consumer);
    }
    // Kong's `anonymous` and scoped references accept an id or a username: a username therefore
    // wins over another consumer's custom_id whatever the file order (`anonymous: guest` is the
    // consumer named guest, never one whose custom_id is guest).
    for (const c of byId.values())
      if (c.username !== null && !this.byRef.has(c.username)) this.byRef.set(c.username, c);
    for (const c of byId.values())
      if (c.custom_id !== null && !this.byRef.has(c.custom_id)) this.byRef.set(c.custom_id, c);
    for (const [kind, list] of Object.entries(config.plugin_entities)) {
      const out: ConsumerEntity<EntityRecord>[] = [];
      for (const e of list) {
        const consumer = e.consumer === null ? null : (byId.get(e.consumer) ?? null);
        if (e.consumer !== null && consumer === null) continue;
        const { yaml_path: _, ...fields } = e;
        out.push(Object.freeze({ consumer, entity: Object.freeze({ ...fields, tags: Object.freeze([...e.tags]) }) }));
      }
      this.lists.set(kind, Object.freeze(out));
    }
  }

  find(idOrName: string): Consumer | null {
    return this.byRef.get(idOrName) ?? null;
  }

  entities<E extends EntityRecord>(kind: EntityDefinition<E> | string): readonly ConsumerEntity<E>[] {
    const name = typeof kind === 'string' ? kind : kind.name;
    return (this.lists.get(name) ?? NONE) as readonly ConsumerEntity<E>[];
  }

  ofConsumer<E extends EntityRecord>(kind: EntityDefinition<E> | string, consumerId: string): readonly E[] {
    const name = typeof kind === 'string' ? kind : kind.name;
    let index = this.perConsumer.get(name);
    if (index === undefined) {
      const m = new Map<string, EntityRecord[]>();
      for (const { consumer, entity } of this.entities(name)) {
        if (consumer === null) continue;
        let l = m.get(consumer.id);
        if (l === undefined) m.set(consumer.id, (l = []));
        l.push(entity);
      }
      index = m;
      this.perConsumer.set(name, index);
    }
    return (index.get(consumerId) ?? NONE) as readonly E[];
  }
}
