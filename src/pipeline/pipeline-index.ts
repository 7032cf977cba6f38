/**
 * Each route's pipeline: the plugin instances that apply to it, one slot per plugin name, with
 * Kong's precedence among the scopes an instance of that plugin is configured at resolved.
 *
 * Global instances (no route, no service; with or without a consumer) apply to every route, and
 * their slots are built once and shared by every pipeline. Only a route's own instances (of its
 * route or service) make a pipeline of its own: 10,000 consumers with a consumer-scoped plugin
 * each and 10,000 routes are 10,000 slot entries, not 100 million.
 */
import type { PluginModel, RouteModel } from '../config/model.ts';
import type { CredentialNames, Pipeline, PipelineSlot, PluginInstance } from './runtime.ts';
import { credentialNames } from './runtime.ts';

/**
 * Kong's precedence when one plugin is configured at several scopes, most specific first:
 * consumer+route+service, consumer+route, consumer+service, route+service, consumer, route, service, global.
 * A global instance ranks 1 (no consumer) or 4 (a consumer only); every other rank needs a route
 * or a service, so the two groups never tie.
 */
export function rank(p: PluginModel): number {
  const c = p.consumer !== null;
  const r = p.route !== null;
  const s = p.service !== null;
  if (c && r && s) return 8;
  if (c && r) return 7;
  if (c && s) return 6;
  if (r && s) return 5;
  if (c) return 4;
  if (r) return 3;
  if (s) return 2;
  return 1;
}

const CONSUMER_ONLY = 4;

function applies(p: PluginModel, r: RouteModel): boolean {
  return (p.route === null || p.route === r.id) && (p.service === null || p.service === r.service);
}

/** The instances of one plugin name in a set, by Kong's precedence (the first wins a tie). */
interface Group {
  readonly priority: number;
  fallback: PluginInstance | null;
  perConsumer: Map<string, PluginInstance> | null;
}

function group(instances: Iterable<PluginInstance>): Map<string, Group> {
  const byName = new Map<string, Group>();
  for (const inst of instances) {
    let g = byName.get(inst.name);
    if (g === undefined) byName.set(inst.name, (g = { priority: inst.priority, fallback: null, perConsumer: null }));
    const consumer = inst.model.consumer;
    if (consumer === null) {
      if (g.fallback === null || rank(inst.model) > rank(g.fallback.model)) g.fallback = inst;
    } else {
      const prev = g.perConsumer?.get(consumer);
      if (prev === undefined || rank(inst.model) > rank(prev.model)) (g.perConsumer ??= new Map()).set(consumer, inst);
    }
  }
  return byName;
}

const ACCESS = 1;
const RESPONSE = 2;
const LOG = 4;

function phasesOf(inst: PluginInstance | null): number {
  if (inst === null) return 0;
  const h = inst.handlers;
  return (
    (h.access === undefined ? 0 : ACCESS) | (h.response === undefined ? 0 : RESPONSE) | (h.log === undefined ? 0 : LOG)
  );
}

/** The phases a consumer map's instances have, once per map (the global ones are shared). */
const mapPhases = new WeakMap<ReadonlyMap<string, PluginInstance>, number>();
function phasesOfMap(map: ReadonlyMap<string, PluginInstance> | null): number {
  if (map === null) return 0;
  let p = mapPhases.get(map);
  if (p === undefined) {
    p = 0;
    for (const inst of map.values()) p |= phasesOf(inst);
    mapPhases.set(map, p);
  }
  return p;
}

/** A slot and the phases its instances have. */
interface BuiltSlot {
  readonly slot: PipelineSlot;
  readonly phases: number;
}

function slot(
  name: string,
  priority: number,
  fallback: PluginInstance | null,
  byConsumer: ReadonlyMap<string, PluginInstance> | null,
): BuiltSlot {
  return {
    slot: Object.freeze({ name, priority, fallback, byConsumer }),
    phases: phasesOf(fallback) | phasesOfMap(byConsumer),
  };
}

/**
 * The consumer instances that stand, given the fallback: Kong's more specific non-consumer
 * instance (route+service) wins over a consumer-only one.
 */
function standing(
  perConsumer: ReadonlyMap<string, PluginInstance>,
  fallback: PluginInstance | null,
  into: Map<string, PluginInstance> | null,
): Map<string, PluginInstance> | null {
  const floor = fallback === null ? 0 : rank(fallback.model);
  for (const [consumer, inst] of perConsumer) if (!(floor > rank(inst.model))) (into ??= new Map()).set(consumer, inst);
  return into;
}

/**
 * The slot of a plugin name with a route's own instances, and global ones when `global` (their
 * group and slot) is given.
 */
function mergedSlot(name: string, global: { group: Group; slot: BuiltSlot } | undefined, own: Group): BuiltSlot {
  // Every rank of a route's own instances is above a global one's: the route's wins when present.
  const fallback = own.fallback ?? global?.group.fallback ?? null;
  const floor = fallback === null ? 0 : rank(fallback.model);
  if (own.perConsumer === null && floor <= CONSUMER_ONLY) {
    // Nothing displaces a global consumer instance: the global slot's map, shared, not copied.
    return slot(name, own.priority, fallback, global?.slot.slot.byConsumer ?? null);
  }
  let byConsumer: Map<string, PluginInstance> | null = null;
  if (global?.group.perConsumer) byConsumer = standing(global.group.perConsumer, fallback, byConsumer);
  if (own.perConsumer !== null) byConsumer = standing(own.perConsumer, fallback, byConsumer);
  return slot(name, own.priority, fallback, byConsumer);
}

function pipeline(slots: BuiltSlot[], secrets: CredentialNames): Pipeline {
  // Kong orders its loaded plugins by descending PRIORITY, and equal ones by descending name
  // (kong/db/dao/plugins.lua, sort_by_handler_priority): of two plugins at 800, 'zeta' runs first.
  slots.sort(
    (a, b) => b.slot.priority - a.slot.priority || (a.slot.name > b.slot.name ? -1 : a.slot.name < b.slot.name ? 1 : 0),
  );
  let phases = 0;
  for (const s of slots) phases |= s.phases;
  return Object.freeze({
    slots: Object.freeze(slots.map((s) => s.slot)),
    hasAccess: (phases & ACCESS) !== 0,
    hasResponse: (phases & RESPONSE) !== 0,
    hasLog: (phases & LOG) !== 0,
    ...secrets,
  });
}

/**
 * The pipeline of each route. A route's own instances are found by its id and its service's
 * instead of a scan of every instance per route (which made compiling n routes with a plugin each
 * n²), in the config's order, which breaks ties. Routes with the same own instances share one
 * (frozen) pipeline: in a large config most routes have only the global plugins.
 */
export function pipelineIndex(instances: readonly PluginInstance[]): {
  for(r: RouteModel): Pipeline;
  unmatched: Pipeline;
} {
  const global: PluginInstance[] = [];
  const byRoute = new Map<string, number[]>();
  const byService = new Map<string, number[]>();
  instances.forEach((inst, i) => {
    const m = inst.model;
    const key = m.route ?? m.service;
    if (key === null) return global.push(inst);
    const map = m.route !== null ? byRoute : byService;
    const list = map.get(key);
    if (list === undefined) map.set(key, [i]);
    else list.push(i);
  });
  const secrets = credentialNames(instances);
  const globals = new Map<string, { group: Group; slot: BuiltSlot }>();
  for (const [name, g] of group(global)) {
    // A global fallback (rank 1) displaces no consumer instance (rank 4): the group's map stands whole.
    globals.set(name, { group: g, slot: slot(name, g.priority, g.fallback, g.perConsumer) });
  }
  const everyRoute = pipeline(
    [...globals.values()].map((g) => g.slot),
    secrets,
  );
  const built = new Map<string, Pipeline>();
  return {
    // A request no route matched: the global plugins that name no consumer (none was identified).
    unmatched: pipeline(
      [...group(global.filter((inst) => inst.model.consumer === null))].map(([name, g]) =>
        slot(name, g.priority, g.fallback, null),
      ),
      secrets,
    ),
    for(r) {
      const own = [
        ...(byRoute.get(r.id) ?? []),
        ...(r.service === null ? [] : (byService.get(r.service) ?? [])),
      ].filter((i) => applies(instances[i]!.model, r));
      if (own.length === 0) return everyRoute;
      own.sort((a, b) => a - b);
      const key = own.join(',');
      let p = built.get(key);
      if (p === undefined) {
        const ownGroups = group(own.map((i) => instances[i]!));
        const slots: BuiltSlot[] = [];
        for (const [name, g] of globals) if (!ownGroups.has(name)) slots.push(g.slot);
        for (const [name, g] of ownGroups) slots.push(mergedSlot(name, globals.get(name), g));
        built.set(key, (p = pipeline(slots, secrets)));
      }
      return p;
    },
  };
}
