/**
 * The state the build passes share: the document, the installed plugins, the entities lifted so
 * far (each with its raw node, its YAML path and its model), and the issue sink.
 */
import type { EntityDefinition, PluginDefinition } from '../../pipeline/plugin.ts';
import type {
  CaCertificateModel,
  CertificateModel,
  ConsumerModel,
  EntityModel,
  PluginModel,
  RouteModel,
  ServiceModel,
  TargetModel,
  UpstreamModel,
} from '../model.ts';
import type { PlainScalarTest } from '../schema.ts';
import type { RawIssue } from '../yaml.ts';

export type Obj = Record<string, any>;

/**
 * A pass written as a generator yields after each entity, so that a large config can be built in
 * slices (buildEntities yields to the event loop between them); `drain` runs one in one go.
 */
export type Steps = Generator<void, void, void>;

export function drain(steps: Steps): void {
  while (steps.next().done !== true);
}
export type Path = (string | number)[];

/** An entity on its way to the model: its raw node, where it is, and the model being built. */
export interface Pending<T> {
  raw: Obj;
  path: Path;
  model: T;
}

export interface PendingRoute extends Pending<RouteModel> {
  /** The `service` reference of a top-level route. */
  serviceRef: string | null;
  /** The service a nested route is declared under. */
  parent: Pending<ServiceModel> | null;
}

export interface PluginRefs {
  service?: unknown;
  route?: unknown;
  consumer?: unknown;
}

export interface PendingPlugin extends Pending<PluginModel> {
  /** References of a top-level plugin (names or ids). */
  refs: PluginRefs;
  /** The entity a nested plugin is declared under. */
  parent: { kind: 'service' | 'route' | 'consumer'; entity: Pending<{ id: string }> } | null;
}

/** A plugin-declared entity kind and the plugin that declared it. */
export interface EntityKind {
  readonly def: EntityDefinition;
  readonly plugin: string;
  /** Whether its entities belong to consumers (`def.consumer`, default true). */
  readonly owned: boolean;
}

export interface PendingEntity extends Pending<EntityModel> {
  kind: EntityKind;
  /** The `consumer` reference of a top-level entity. */
  ref: string | null;
  /** The consumer a nested entity is declared under. */
  parent: Pending<ConsumerModel> | null;
  /** Its index in the list it was declared in. */
  index: number;
}

export interface PendingTarget extends Pending<TargetModel> {
  /** The `upstream` reference of a top-level target. */
  ref: string | null;
  /** The upstream it belongs to (nested, or once resolved). */
  upstream: Pending<UpstreamModel> | null;
}

export interface PendingCertificate extends Pending<CertificateModel> {
  /** SNIs with the path they were declared at (checked for uniqueness later). */
  sniPaths: Path[];
}

export type Err = (code: RawIssue['code'], message: string, path: Path, atKey?: boolean) => void;
export type Warn = (code: RawIssue['code'], message: string, path: Path) => void;

export const tags = (v: unknown): string[] => (Array.isArray(v) ? [...(v as string[])] : []);
export const orNull = <T>(v: T | undefined): T | null => (v === undefined ? null : v);

/**
 * Whether a nested entity's foreign key names the entity it is nested under, by its id (a string
 * or `{ id }`) or by its `key` (`name`, a consumer's `username`): Kong's flatten resolves it and
 * attaches the entity to its parent, so its spec accepts a nested credential that names its own
 * consumer (spec/01-unit/01-db/01-schema/11-declarative_config/03-flatten_spec.lua).
 */
export function namesEnclosing(value: unknown, parent: Obj, key: string): boolean {
  if (typeof value === 'string') return value === parent.id || value === parent[key];
  const id = (value as { id?: unknown } | null)?.id;
  return (
    typeof value === 'object' &&
    value !== null &&
    Object.keys(value).length === 1 &&
    id === parent.id &&
    id !== undefined
  );
}

/** The plugin-declared entity kinds of a plugin set, by name (the first declaration of a name wins). */
export function entityKinds(plugins: ReadonlyMap<string, PluginDefinition>): Map<string, EntityKind> {
  const out = new Map<string, EntityKind>();
  for (const p of plugins.values()) {
    for (const def of p.entities ?? []) {
      if (!out.has(def.name)) out.set(def.name, { def, plugin: p.name, owned: def.consumer !== false });
    }
  }
  return out;
}

/** What the passes share. */
export class Build {
  readonly legacy: boolean;
  readonly services: Pending<ServiceModel>[] = [];
  readonly routes: PendingRoute[] = [];
  readonly plugins: PendingPlugin[] = [];
  readonly consumers: Pending<ConsumerModel>[] = [];
  readonly entities: PendingEntity[] = [];
  readonly upstreams: Pending<UpstreamModel>[] = [];
  readonly targets: PendingTarget[] = [];
  readonly certificates: PendingCertificate[] = [];
  readonly caCertificates: CaCertificateModel[] = [];
  /** Tells a plain YAML scalar (Kong reads a plain yes as true) for plugin configs; none: strings stay strings. */
  plain: PlainScalarTest | undefined;

  constructor(
    readonly doc: Obj,
    readonly installed: ReadonlyMap<string, PluginDefinition>,
    readonly issues: RawIssue[],
    readonly broken: WeakSet<object> = new WeakSet(),
    readonly kinds: ReadonlyMap<string, EntityKind> = entityKinds(installed),
  ) {
    this.legacy = doc._format_version === '1.1' || doc._format_version === '2.1';
  }

  /** The items of an entity list with their indexes, skipping items the schema rejected (as `each`). */
  *entries(list: unknown): Generator<[Obj, number], void, void> {
    if (!Array.isArray(list)) return;
    for (let i = 0; i < list.length; i++) {
      const item: unknown = list[i];
      if (item !== null && typeof item === 'object' && !Array.isArray(item) && !this.broken.has(item))
        yield [item as Obj, i];
    }
  }

  /** Iterates an entity list, skipping items the schema rejected (their errors are already reported). */
  each(list: unknown, fn: (item: Obj, i: number) => void): void {
    if (!Array.isArray(list)) return;
    list.forEach((item: unknown, i) => {
      if (item !== null && typeof item === 'object' && !Array.isArray(item) && !this.broken.has(item))
        fn(item as Obj, i);
    });
  }

  readonly err: Err = (code, message, path, atKey = false) => {
    this.issues.push({ code, message, path, atKey });
  };

  readonly warn: Warn = (code, message, path) => {
    this.issues.push({ code, message, path, severity: 'warning' });
  };
}
