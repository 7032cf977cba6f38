/**
 * From the schema-validated document (defaults applied) to the flat GatewayConfig entities, in
 * named passes over one shared state (src/config/build/): lift nested entities, give ids, resolve
 * references, give the ids that depend on references, check uniqueness, routes, TLS references,
 * plugin-declared entities and plugins. Each pass appends located problems; none stops the others.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { PluginDefinition } from '../pipeline/plugin.ts';
import { entityChecks } from './build/entities.ts';
import { ownIds, ownIdsSteps, scopedIds, scopedIdsSteps } from './build/ids.ts';
import { lift, liftSteps } from './build/lift.ts';
import { pluginChecks, pluginChecksSteps } from './build/plugins.ts';
import { references, referencesSteps } from './build/references.ts';
import { routeChecks, routeChecksSteps } from './build/routes.ts';
import { Build, type Obj, type Steps } from './build/state.ts';
import { upstreamTls } from './build/tls.ts';
import { uniqueness, uniquenessSteps } from './build/uniqueness.ts';
import type { ConfigEntities, EntityKindInfo, EntityModel } from './model.ts';
import type { PlainScalarTest } from './schema.ts';
import type { RawIssue } from './yaml.ts';

export { parseServiceUrl } from './build/service.ts';

/** Every entity list of a config (the model's `ConfigEntities`). */
export type Entities = ConfigEntities;

/** The passes, in order. */
export const PASSES: readonly ((b: Build) => void)[] = [
  lift,
  ownIds,
  references,
  scopedIds,
  upstreamTls,
  uniqueness,
  routeChecks,
  entityChecks,
  pluginChecks,
];

/** The passes that go over every entity, as generators that yield after each one. */
const STEPS = new Map<(b: Build) => void, (b: Build) => Steps>([
  [lift, liftSteps],
  [ownIds, ownIdsSteps],
  [references, referencesSteps],
  [scopedIds, scopedIdsSteps],
  [uniqueness, uniquenessSteps],
  [routeChecks, routeChecksSteps],
  [pluginChecks, pluginChecksSteps],
]);

/** The longest a pass runs before it lets the event loop serve requests. */
const SLICE_MS = 20;

/** Runs a pass's steps, yielding to the event loop every SLICE_MS. */
async function runSliced(steps: Steps): Promise<void> {
  let since = performance.now();
  while (steps.next().done !== true) {
    if (performance.now() - since >= SLICE_MS) {
      await yieldToLoop();
      since = performance.now();
    }
  }
}

/**
 * Builds the flat entities from a validated document, appending problems to `issues`. The passes
 * over every entity run in slices of SLICE_MS, with a yield to the event loop between passes too:
 * on a reload of a large file, requests on the serving config are answered meanwhile.
 */
export async function buildEntities(
  doc: Obj,
  plugins: ReadonlyMap<string, PluginDefinition>,
  issues: RawIssue[],
  broken: WeakSet<object> = new WeakSet(),
  plain?: PlainScalarTest,
): Promise<Entities> {
  const b = new Build(doc, plugins, issues, broken);
  b.plain = plain;
  for (const pass of PASSES) {
    const steps = STEPS.get(pass);
    if (steps === undefined) pass(b);
    else await runSliced(steps(b));
    await yieldToLoop();
  }
  const plugin_entities: Record<string, EntityModel[]> = {};
  const entity_kinds: Record<string, EntityKindInfo> = {};
  for (const [name, kind] of b.kinds) {
    plugin_entities[name] = [];
    entity_kinds[name] = {
      plugin: kind.plugin,
      secrets: [...(kind.def.secrets ?? [])],
      adminApi: kind.def.adminApi ?? null,
    };
  }
  for (const e of b.entities) plugin_entities[e.kind.def.name]!.push(e.model);
  return {
    services: b.services.map((s) => s.model),
    routes: b.routes.map((r) => r.model),
    consumers: b.consumers.map((c) => c.model),
    plugin_entities,
    entity_kinds,
    plugins: b.plugins.map((p) => p.model),
    upstreams: b.upstreams.map((u) => u.model),
    certificates: b.certificates.map((c) => c.model),
    ca_certificates: b.caCertificates,
  };
}
