/**
 * The entity kinds a plugin owns (Kong's `daos.lua`): part of the plugin API, re-exported by
 * `./plugin.ts` and `src/index.ts`.
 */
import type { Consumer, JsonSchema } from './plugin.ts';

/** What every plugin-declared entity carries besides its own fields. */
export interface EntityRecord {
  readonly id: string;
  /** The owning consumer's id; null for a kind that does not belong to consumers. */
  readonly consumer: string | null;
  readonly tags: readonly string[];
}

/** Where an entity was declared, for its deterministic id. */
export interface EntityPlace {
  /** The owning consumer's id (references resolved), or null. */
  readonly consumer: string | null;
  /** Declared under `consumers[]` (true) or in the top-level list (false). */
  readonly nested: boolean;
  /** Its index in the list it was declared in. */
  readonly index: number;
}

/** What an entity kind's `load` hook receives besides the entity. */
export interface EntityLoadContext {
  /** The owning consumer, or null for a kind that does not belong to consumers. */
  readonly consumer: Consumer | null;
  /**
   * Kong's `_transform` (default true): false when the file's entities are already transformed
   * (a dump whose passwords are already hashed), so the hook must not transform them again.
   */
  readonly transform: boolean;
  /** Reports a problem with the entity (or one of its fields), located in the file; the config is refused. */
  error(message: string, field?: string): void;
  /** Reports something the operator should know; the config still loads. */
  warn(message: string, field?: string): void;
}

/**
 * An entity kind a plugin owns (Kong's `daos.lua`), e.g. a credential type. The loader
 * accepts it nested under `consumers[]` and at the top level with a `consumer` reference, gives
 * it a deterministic id, checks the declared uniqueness, validates it with `schema` (defaults
 * applied), runs `load`, redacts the `secrets` fields in the admin API, and the editor schema
 * (schemas/gateway.schema.json) is generated from the declaration. Plugins read the entities
 * with `context.services.consumers.entities(kind)`.
 *
 * @example
 * export const credentials = defineEntity<EntityRecord & { device: string; seed: string }>({
 *   name: 'otp_credentials',
 *   schema: { type: 'object', required: ['device', 'seed'], properties: { device: { type: 'string' }, seed: { type: 'string' } } },
 *   unique: ['device'],
 *   secrets: ['seed'],
 * });
 * export default definePlugin({ name: 'otp-auth', entities: [credentials], ... });
 */
export interface EntityDefinition<E extends EntityRecord = EntityRecord> {
  /** Kong's entity name (a plural, e.g. `otp_credentials`): the key of its list in gateway.yaml. */
  readonly name: string;
  /** One line for editors. */
  readonly description?: string;
  /**
   * JSON Schema (draft-07) of the entity's own fields: `type: 'object'`, `properties`, `required`.
   * `id`, `tags`, `consumer` and Kong's bookkeeping fields are added by the gateway.
   */
  readonly schema: JsonSchema;
  /** Whether entities belong to a consumer (Kong's credentials and acls do). Default true. */
  readonly consumer?: boolean;
  /** Fields whose value may appear only once among all entities of this kind. */
  readonly unique?: readonly string[];
  /** Fields whose value may appear only once per consumer. */
  readonly uniquePerConsumer?: readonly string[];
  /** Secret fields: redacted in the admin API, never quoted in messages. */
  readonly secrets?: readonly string[];
  /**
   * The kind's read-only Admin API endpoints, named as Kong's daos.lua names them: `name`
   * (`admin_api_name`) is the collection `GET /<name>`, `nestedName` (`admin_api_nested_name`)
   * the list under `/consumers/{consumer}/<nestedName>`, `endpointKey` the field a path segment
   * that is no uuid is looked up by (null or left out: by id only). Without it, no endpoint.
   */
  readonly adminApi?: EntityAdminApi;
  /**
   * The natural key the deterministic id derives from (a UUIDv5 of the kind and this key, the way
   * Kong derives declarative ids). Never return a secret. Default: the consumer and the position.
   */
  idKey?(entity: Readonly<Record<string, unknown>>, place: EntityPlace): string;
  /**
   * Checks and transforms an entity at load (Kong's entity checks and `transformations`, e.g.
   * hashing a password); returns the entity plugins will see, or nothing to keep it as is.
   */
  load?(entity: E, context: EntityLoadContext): E | undefined;
}

/** An entity kind's Admin API names (Kong's `admin_api_name`, `admin_api_nested_name`, `endpoint_key`). */
export interface EntityAdminApi {
  readonly name: string;
  readonly nestedName?: string;
  readonly endpointKey?: string | null;
  /**
   * The field a segment that is no uuid is looked up by under `/consumers/{consumer}/<nestedName>/`,
   * unique per consumer (Kong's acl plugin finds a membership by its group there, kong/plugins/acl/api.lua).
   */
  readonly nestedKey?: string;
}

/** Identity helper that gives an entity declaration its types. */
export function defineEntity<E extends EntityRecord>(definition: EntityDefinition<E>): EntityDefinition<E> {
  return definition;
}
