// Each build pass on its own, on a document with the schema's defaults applied.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { entityChecks } from '../../src/config/build/entities.ts';
import { ownIds, scopedIds } from '../../src/config/build/ids.ts';
import { lift } from '../../src/config/build/lift.ts';
import { pluginChecks } from '../../src/config/build/plugins.ts';
import { references } from '../../src/config/build/references.ts';
import { matchKey, routeChecks } from '../../src/config/build/routes.ts';
import { Build } from '../../src/config/build/state.ts';
import { uniqueness } from '../../src/config/build/uniqueness.ts';
import { PASSES } from '../../src/config/build.ts';
import { entityId } from '../../src/config/ids.ts';
import { validateGateway } from '../../src/config/schema.ts';
import type { RawIssue } from '../../src/config/yaml.ts';
import { defineEntity, definePlugin, type EntityRecord, type PluginDefinition } from '../../src/pipeline/plugin.ts';

interface Token extends EntityRecord {
  readonly label: string;
  readonly token: string;
}
const tokens = defineEntity<Token>({
  name: 'token_credentials',
  schema: {
    type: 'object',
    required: ['label', 'token'],
    properties: { label: { type: 'string' }, token: { type: 'string' }, scope: { type: 'string', default: 'all' } },
  },
  unique: ['token'],
  uniquePerConsumer: ['label'],
  secrets: ['token'],
  load(e, ctx) {
    if (e.token.length < 8) ctx.error('token must be at least 8 characters', 'token');
    return { ...e, token: `hashed:${e.token.length}` };
  },
});
const tokenAuth = definePlugin({
  name: 'token-auth',
  version: '1.0.0',
  priority: 1000,
  schema: { type: 'object', properties: {}, additionalProperties: false },
  entities: [tokens],
  create: () => ({}),
});
const plugins: ReadonlyMap<string, PluginDefinition> = new Map([[tokenAuth.name, tokenAuth]]);

/** A Build over `doc` after the schema pass (defaults applied); fails the test on schema problems. */
function build(doc: Record<string, unknown>): { b: Build; issues: RawIssue[]; messages: () => string[] } {
  const full = { _format_version: '3.0', ...doc };
  const schema = validateGateway(full, [tokens]);
  assert.deepEqual(schema, [], 'the test document passes the schema');
  const issues: RawIssue[] = [];
  const b = new Build(full, plugins, issues);
  return { b, issues, messages: () => issues.map((i) => `${i.path.join('.')}: ${i.message}`) };
}

test('lift: nested routes, plugins and declared entities become flat lists that remember their parent', () => {
  const { b, messages } = build({
    services: [{ name: 's', url: 'http://a', routes: [{ name: 'r', paths: ['/'], service: 'x' }] }],
    consumers: [
      { username: 'c', token_credentials: [{ label: 'ci', token: 'abcdefgh' }], plugins: [{ name: 'token-auth' }] },
    ],
    token_credentials: [{ consumer: 'c', label: 'cd', token: '12345678' }],
  });
  lift(b);
  assert.equal(b.routes[0]!.parent, b.services[0]);
  assert.equal(b.entities.length, 2);
  assert.equal(b.entities[0]!.parent, b.consumers[0]);
  assert.equal(b.entities[1]!.ref, 'c');
  assert.equal(b.entities[0]!.model.scope, 'all', 'declared fields carry their defaults');
  assert.equal(b.plugins[0]!.parent?.kind, 'consumer');
  assert.deepEqual(messages(), [
    "services.0.routes.0.service: value must be null: 'service' is implied by the enclosing service; remove it",
  ]);
});

test('ids: by name, explicit ids lower-cased, unnamed by position; scoped ids after references', () => {
  const { b } = build({
    services: [
      { name: 's', url: 'http://a' },
      { id: 'AAAAAAAA-0000-4000-8000-000000000000', url: 'http://b' },
    ],
    consumers: [{ username: 'c', token_credentials: [{ label: 'ci', token: 'abcdefgh' }] }],
    token_credentials: [{ consumer: 'c', label: 'cd', token: '12345678' }],
  });
  lift(b);
  ownIds(b);
  assert.equal(b.services[0]!.model.id, entityId('services', 's'));
  assert.equal(b.services[1]!.model.id, 'aaaaaaaa-0000-4000-8000-000000000000');
  const consumer = entityId('consumers', 'c');
  assert.equal(b.consumers[0]!.model.id, consumer);
  references(b);
  scopedIds(b);
  // The default natural key is the owner and the position, never a (possibly secret) field.
  assert.equal(b.entities[0]!.model.id, entityId('token_credentials', `${consumer}:0`));
  assert.equal(b.entities[1]!.model.id, entityId('token_credentials', `${consumer}:top:0`));
});

test('references: names or ids resolve; a dangling one is located with a suggestion', () => {
  const { b, messages } = build({
    services: [{ name: 'orders', url: 'http://a' }],
    routes: [{ name: 'r', paths: ['/'], service: 'order' }],
    consumers: [{ username: 'c' }],
    token_credentials: [{ consumer: 'd', label: 'x', token: '12345678' }],
  });
  lift(b);
  ownIds(b);
  references(b);
  assert.equal(b.routes[0]!.model.service, null);
  assert.equal(b.entities[0]!.model.consumer, null);
  assert.deepEqual(messages(), [
    "routes.0.service: invalid reference 'service: order' (no such entry in 'services') (did you mean 'orders'?)",
    "token_credentials.0.consumer: invalid reference 'consumer: d' (no such entry in 'consumers') (did you mean 'c'?)",
  ]);
});

test('uniqueness: declared fields, per consumer or overall; a secret value is never quoted', () => {
  const { b, messages } = build({
    consumers: [
      {
        username: 'a',
        token_credentials: [
          { label: 'ci', token: 'same-token' },
          { label: 'ci', token: 'other-token' },
        ],
      },
      { username: 'b', token_credentials: [{ label: 'ci', token: 'same-token' }] },
    ],
  });
  for (const pass of [lift, ownIds, references, scopedIds, uniqueness]) pass(b);
  assert.deepEqual(messages(), [
    "consumers.0.token_credentials.1.label: uniqueness violation: 'token_credentials' entity with label set to 'ci' for this consumer already declared (at consumers[0].token_credentials[0])",
    "consumers.1.token_credentials.0.token: uniqueness violation: 'token_credentials' entity with token set to the same value already declared (at consumers[0].token_credentials[0])",
  ]);
});

test('route checks: two routes matching the same requests, in any order of their values', () => {
  const { b, messages } = build({
    routes: [
      { name: 'a', paths: ['/x', '/y'], methods: ['GET', 'POST'] },
      { name: 'b', paths: ['/y', '/x'], methods: ['POST', 'GET'] },
      { name: 'c', hosts: ['bad host'] },
    ],
  });
  lift(b);
  assert.equal(matchKey(b.routes[0]!), matchKey(b.routes[1]!));
  routeChecks(b);
  assert.equal(messages().length, 2);
  assert.match(
    messages()[0]!,
    /^routes\.1: route 'b' \(routes\[1\]\) matches exactly the same requests as route 'a' \(routes\[0\]\): 'a' wins/,
  );
  assert.match(messages()[1]!, /^routes\.2\.hosts\.0: /);
});

test('plugin checks: unknown plugins, consumer scoping, config schema', () => {
  const { b, messages } = build({
    plugins: [{ name: 'token-aut' }, { name: 'token-auth', config: { nope: 1 } }],
  });
  lift(b);
  pluginChecks(b);
  assert.deepEqual(messages(), [
    "plugins.0.name: plugin 'token-aut' not enabled (did you mean 'token-auth'?): it is neither built in nor listed in _tollgate.custom_plugins (Kong's 'plugins' configuration property); known plugins: token-auth",
    "plugins.1.config.nope: unknown field 'nope'",
  ]);
});

test("entity checks: the kind's load hook transforms the entity and reports located problems", () => {
  const { b, messages } = build({
    consumers: [
      {
        username: 'a',
        token_credentials: [
          { label: 'ci', token: 'short' },
          { label: 'cd', token: 'long-enough' },
        ],
      },
    ],
  });
  for (const pass of [lift, ownIds, references, scopedIds]) pass(b);
  const before = b.entities[1]!.model.id;
  entityChecks(b);
  assert.deepEqual(messages(), ['consumers.0.token_credentials.0.token: token must be at least 8 characters']);
  assert.equal(b.entities[1]!.model.token, 'hashed:11');
  assert.equal(b.entities[1]!.model.id, before, "the gateway's fields stay");
});

test('the passes run in this order', () => {
  assert.deepEqual(
    PASSES.map((p) => p.name),
    [
      'lift',
      'ownIds',
      'references',
      'scopedIds',
      'upstreamTls',
      'uniqueness',
      'routeChecks',
      'entityChecks',
      'pluginChecks',
    ],
  );
});
