/**
 * The consumer directory plugins get at `create()`: consumers by id, username or custom_id, and
 * every plugin-declared entity kind (`entities(kind)`), frozen, in file order. Built once per
 * config; plugins index what they need from it at create time, once for all their instances
 * (`index(kind, key, build)`).
 */
import type { GatewayConfig } from '../config/model.ts';
import type {
  CertificateDirectory,
  CertificatePair,
  Consumer,
  ConsumerDirectory,
  ConsumerEntity,
  EntityDefinition,
  EntityRecord,
} from './plugin.ts';

const NONE: readonly never[] = Object.freeze([]);

export class Directory implements ConsumerDirectory {
  private readonly byRef = new Map<string, Consumer>();
  private readonly lists = new Map<string, readonly ConsumerEntity<EntityRecord>[]>();
  /** kind → consumer id → entities, built on first use per kind. */
  private readonly perConsumer = new Map<string, Map<string, readonly EntityRecord[]>>();
  /** kind and key → what `index` built (or the error it threw), for every instance asking again. */
  private readonly indexes = new Map<string, { ok: true; value: unknown } | { ok: false; error: unknown }>();

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

  index<E extends EntityRecord, T>(
    kind: EntityDefinition<E> | string,
    key: string,
    build: (entities: readonly ConsumerEntity<E>[]) => T,
  ): T {
    const name = typeof kind === 'string' ? kind : kind.name;
    const id = `${name}\u0000${key}`;
    let built = this.indexes.get(id);
    if (built === undefined) {
      try {
        built = { ok: true, value: build(this.entities(kind)) };
      } catch (error) {
        // Every instance asking fails as the first did (a credential the plugin cannot use).
        built = { ok: false, error };
      }
      this.indexes.set(id, built);
    }
    if (!built.ok) throw built.error;
    return built.value as T;
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

/**
 * The certificate directory plugins get at `create()`: the config's `certificates` by id, as
 * Kong's foreign keys to them (`client_certificate: {id}`) name them. Each pair is made on first
 * lookup, its key not enumerable: a plugin that logs or serializes the pair does not print it.
 */
export function certificateDirectory(config: Pick<GatewayConfig, 'certificates'>): CertificateDirectory {
  let byId: Map<string, CertificatePair> | null = null;
  return Object.freeze({
    get(id: string): CertificatePair | undefined {
      if (byId === null) {
        byId = new Map();
        for (const c of config.certificates) {
          const pair = { cert: c.cert };
          Object.defineProperty(pair, 'key', { value: c.key, enumerable: false });
          byId.set(c.id, Object.freeze(pair) as CertificatePair);
        }
      }
      // Ids are uuids, compared in lower case as Kong's are (the model holds them so).
      return byId.get(String(id).toLowerCase());
    },
  });
}
