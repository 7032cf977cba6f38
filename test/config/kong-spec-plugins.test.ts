// Kong's plugins and consumers schema specs (spec/01-unit/01-db/01-schema/07-plugins_spec.lua and
// 14-consumers_spec.lua, Kong commit 22246ef2), in what applies to declarative entities, as a Kong
// 3.0 file that `gateway validate` checks. Left out: the spec's made-up subschemas with no_route
// and no_service (no plugin Tollgate ships has those rules: Kong's acme, which has, is refused),
// and an unknown plugin name (Tollgate's message names its plugins, kong-refusals.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { builtinPlugins } from '../../src/plugins/index.ts';
import { validateEntities } from '../support/validate.ts';
import { load, V3 } from './helpers.ts';

/** `path message` of each error, or [] when the file loads. */
async function issues(yaml: string): Promise<string[]> {
  const v = await validateEntities(yaml);
  const found = v.out.split('\n').flatMap((l) => {
    const m = /:\d+:\d+ {2}(\S+) {2}(.*)$/.exec(l);
    return m ? [`${m[1]} ${m[2]}`] : [];
  });
  assert.equal(v.code, found.length === 0 ? 0 : 1, v.out);
  return found;
}

test('consumer usernames of the spec load: ASCII letters, digits and .-_~, and any character past ASCII', async () => {
  const names = ['example', 'EXAMPLE', 'exa.mp.le', '3x4mp13', '3x4-mp-13', '3x4_mp_13', '~3x4~mp~13'];
  names.push('~3..x4~.M-p~1__3_', '孔', 'Конг', '🦍');
  assert.deepEqual(await issues(`consumers:\n${names.map((n) => `  - username: "${n}"\n`).join('')}`), []);
});

test("a plugin's config is checked by its schema, with Kong's message for a value of the wrong type", async () => {
  const services = 'services:\n  - { name: s, host: example.com }\n';
  assert.deepEqual(
    await issues(`${services}plugins:\n  - { name: key-auth, service: s, config: { key_names: [x-kong-key] } }\n`),
    [],
  );
  // Kong: `expected a number`; null is never asked for (it means "not set").
  assert.deepEqual(
    await issues(`${services}plugins:\n  - { name: rate-limiting, service: s, config: { second: hello } }\n`),
    ['plugins[0].config.second expected a number, got a string'],
  );
});

test("a plugin without config gets its schema's defaults, empty lists included", async () => {
  const c = await load(
    `${V3}services:\n  - { name: s, host: example.com }\nplugins:\n  - { name: key-auth, service: s }\n  - { name: response-transformer, service: s }\n`,
    { plugins: builtinPlugins },
  );
  // Kong's spec also lists anonymous and realm as null: unset here, which is the same to the plugin.
  assert.deepEqual(c.plugins[0]!.config, {
    key_names: ['apikey'],
    hide_credentials: false,
    key_in_header: true,
    key_in_query: true,
    key_in_body: false,
    run_on_preflight: true,
  });
  const lists = { headers: [], json: [] };
  const typed = { headers: [], json: [], json_types: [] };
  assert.deepEqual(c.plugins[1]!.config, {
    remove: lists,
    rename: lists,
    replace: typed,
    add: typed,
    append: typed,
  });
});

test("scoping: key-auth on a route or service and rate-limiting on a consumer load; key-auth on a consumer is Kong's no_consumer refusal", async () => {
  assert.deepEqual(
    await issues(`services:
  - name: s
    host: example.com
    routes: [{ name: r, paths: [/] }]
consumers:
  - username: c
plugins:
  - { name: key-auth, route: r }
  - { name: key-auth, service: s }
  - { name: rate-limiting, consumer: c, config: { second: 1 } }
  - { name: cors, consumer: null }
`),
    [],
  );
  const got = await issues(
    'consumers:\n  - username: c\n    plugins: [{ name: key-auth }]\n  - username: d\nplugins:\n  - { name: key-auth, consumer: d }\n',
  );
  assert.deepEqual(
    got.map((l) => l.replace(/^(\S+ value must be null).*$/, '$1')),
    ['consumers[0].plugins[0] value must be null', 'plugins[0].consumer value must be null'],
  );
});
