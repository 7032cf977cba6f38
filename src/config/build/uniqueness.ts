/**
 * The uniqueness pass (Kong's wording, located at the second declaration) and the format of
 * names. Plugin-declared kinds are checked by their declared `unique` and `uniquePerConsumer`
 * fields; a secret field's value is never quoted.
 */
import { formatYamlPath } from '../../errors.ts';
import { checkName } from '../paths.ts';
import { hasNullId, nullIds, nullParents } from './null-ids.ts';
import { type Build, drain, type Obj, type Path, type Steps } from './state.ts';
import { sameAddressTargets } from './upstream.ts';

/** Remembers values per kind and field; reports a value declared twice. */
export class Uniqueness {
  private readonly seen = new Map<string, Path>();
  constructor(private readonly b: Build) {}

  /** `shown`: how the message quotes the value (the value itself by default). */
  check(kind: string, field: string, value: string, path: Path, shown?: string): boolean {
    const k = `${kind}\u0000${field}\u0000${value}`;
    const first = this.seen.get(k);
    if (first) {
      // Kong names an id declared twice by its role: "with primary key set to '<id>'"
      // (kong/db/schema/others/declarative_config.lua).
      const said = field === 'id' ? 'primary key' : field;
      this.b.err(
        'UNIQUENESS',
        `uniqueness violation: '${kind}' entity with ${said} set to ${shown ?? `'${value}'`} already declared (at ${formatYamlPath(first)})`,
        [...path, field],
      );
      return false;
    }
    this.seen.set(k, path);
    return true;
  }
}

export function uniqueness(b: Build): void {
  drain(uniquenessSteps(b));
}

export function* uniquenessSteps(b: Build): Steps {
  const u = new Uniqueness(b);
  function* ids(kind: string, list: { raw: Obj; path: Path; model: { id: string } }[], derived: string): Steps {
    nullIds(b, kind, list, derived);
    for (const e of list) {
      if (typeof e.raw.id === 'string') u.check(kind, 'id', e.model.id, e.path);
      yield;
    }
  }
  yield* ids('services', b.services, 'its name (or its place in the file)');
  for (const s of b.services) {
    if (s.model.name !== null) u.check('services', 'name', s.model.name, s.path);
    yield;
  }
  yield* ids('routes', b.routes, 'its name (or its place in the file)');
  for (const r of b.routes) {
    if (r.model.name !== null) u.check('routes', 'name', r.model.name, r.path);
    yield;
  }
  yield* ids('consumers', b.consumers, 'its username or custom_id');
  for (const c of b.consumers) {
    yield;
    if (c.model.username !== null) u.check('consumers', 'username', c.model.username, c.path);
    if (c.model.custom_id !== null) u.check('consumers', 'custom_id', c.model.custom_id, c.path);
  }
  yield* ids('upstreams', b.upstreams, 'its name');
  for (const x of b.upstreams) u.check('upstreams', 'name', x.model.name, x.path);
  yield* ids('targets', b.targets, 'the upstream and the target');
  nullParents(b);
  sameAddressTargets(b);
  nullIds(b, 'certificates', b.certificates, 'the certificate');
  for (const c of b.certificates) {
    u.check('certificates', 'id', c.model.id, c.path);
    c.model.snis.forEach((name, k) => u.check('snis', 'name', name, c.sniPaths[k]!));
  }
  entityUniqueness(b, u);
  yield* ids('plugins', b.plugins, 'its name and scope');
  for (const p of b.plugins) {
    yield;
    const m = p.model;
    // A reference that named nothing (already an error) leaves that part of the scope empty: the
    // instance would clash with a wider one it does not repeat.
    const dangling = (['service', 'route', 'consumer'] as const).some((k) => p.refs[k] != null && m[k] === null);
    // So does a nested plugin's refused scope field (lift): two such plugins under one service,
    // each naming its route, are not the same instance twice.
    const refusedScope = p.parent !== null && (['service', 'route', 'consumer'] as const).some((k) => p.raw[k] != null);
    if (!dangling && !refusedScope)
      u.check(
        'plugins',
        'name',
        `${m.name} ${m.service} ${m.route} ${m.consumer}`,
        p.path,
        `'${m.name}' for the same scope`,
      );
    if (m.instance_name) u.check('plugins', 'instance_name', m.instance_name, p.path);
  }
  names(b);
}

/** Plugin-declared entities: their ids and the fields their kind declares unique. */
export function entityUniqueness(b: Build, u: Uniqueness): void {
  // One pass over the entities, not one per kind: an `id: null` is rare.
  const written = b.entities.filter((e) => hasNullId(e.raw));
  if (written.length > 0)
    for (const [name, kind] of b.kinds)
      nullIds(
        b,
        name,
        written.filter((e) => e.kind === kind),
        'its consumer and place',
      );
  for (const e of b.entities) {
    const { name, unique = [], uniquePerConsumer = [], secrets = [] } = e.kind.def;
    if (typeof e.raw.id === 'string') u.check(name, 'id', e.model.id, e.path);
    for (const field of unique) {
      const v = e.model[field];
      if (v === null || v === undefined) continue;
      u.check(name, field, String(v), e.path, secrets.includes(field) ? 'the same value' : undefined);
    }
    if (e.model.consumer === null) continue;
    for (const field of uniquePerConsumer) {
      const v = e.model[field];
      if (v === null || v === undefined) continue;
      const shown = secrets.includes(field) ? 'the same value' : `'${String(v)}'`;
      u.check(name, field, `${e.model.consumer} ${String(v)}`, e.path, `${shown} for this consumer`);
    }
  }
}

/** Kong's name rule for services, routes and plugin instance names. */
export function names(b: Build): void {
  const check = (name: string, path: Path, field: string): void => {
    const p = checkName(name);
    if (p) b.err('SCHEMA', p, [...path, field]);
  };
  for (const s of b.services) if (s.model.name !== null) check(s.model.name, s.path, 'name');
  for (const r of b.routes) if (r.model.name !== null) check(r.model.name, r.path, 'name');
  for (const p of b.plugins) if (p.model.instance_name) check(p.model.instance_name, p.path, 'instance_name');
}
