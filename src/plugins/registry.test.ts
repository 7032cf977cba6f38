import assert from 'node:assert/strict';
import { test } from 'node:test';
import { builtinPlugins } from './index.ts';
import { builtinEntityOwners, builtinPluginNames, builtinPluginsUsedBy, loadBuiltinPlugins } from './registry.ts';

test('the on-demand registry loads the same definitions as the eager list', async () => {
  assert.deepEqual([...builtinPluginNames].sort(), [...builtinPlugins.keys()].sort());
  const all = await loadBuiltinPlugins();
  for (const [name, def] of builtinPlugins) assert.equal(all.get(name), def, name);
});

test('every entity kind a built-in declares loads that plugin', () => {
  const declared = [...builtinPlugins.values()].flatMap((p) => (p.entities ?? []).map((e) => [e.name, p.name]));
  assert.deepEqual(Object.fromEntries(declared), builtinEntityOwners);
  for (const def of builtinPlugins.values()) {
    for (const entity of def.entities ?? []) {
      const used = builtinPluginsUsedBy({ consumers: [{ username: 'u', [entity.name]: [{}] }] });
      assert.deepEqual([...(used ?? [])], [def.name], entity.name);
      assert.deepEqual([...(builtinPluginsUsedBy({ [entity.name]: [] }) ?? [])], [def.name], entity.name);
    }
  }
});

test('a config uses the plugins of its plugin entries, wherever they are', () => {
  const doc = {
    _format_version: '3.0',
    plugins: [{ name: 'correlation-id' }],
    services: [
      {
        name: 's',
        plugins: [{ name: 'cors', config: { plugins: [{ name: 'not-a-plugin' }] } }],
        routes: [{ name: 'r', plugins: [{ name: 'jwt' }] }],
      },
    ],
    routes: [{ name: 'top', plugins: [{ name: 'rate-limiting' }] }],
    consumers: [{ username: 'u', plugins: [{ name: 'request-termination' }] }],
    consumer_groups: [{ name: 'g', plugins: [{ name: 'key-auth' }] }],
  };
  assert.deepEqual([...(builtinPluginsUsedBy(doc) ?? [])].sort(), [
    'correlation-id',
    'cors',
    'jwt',
    'key-auth',
    'rate-limiting',
    'request-termination',
  ]);
});

test('a plugin name that is not built in needs every built-in, unless it is a custom plugin', () => {
  const doc = { plugins: [{ name: 'jwtt' }, { name: 'cors' }] };
  assert.equal(builtinPluginsUsedBy(doc), null);
  assert.deepEqual([...(builtinPluginsUsedBy(doc, new Set(['jwtt'])) ?? [])], ['cors']);
});
